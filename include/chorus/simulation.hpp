// Deterministic reply scripting, sans-IO: shared by the fake LLM server (tests/support/fake_llm)
// and by the library's in-process `simulated` provider. Directives written inside the last user
// message ("[[lorem:50]]", "[[status:429 retry-after=1 times=2]]", ...) choose the reply and the
// faults; everything else is derived from the prompt by stable hashing, so the same input gives
// the same output on every machine and in every binding. See docs/fake-llm.md for the grammar.
#pragma once

#include <chorus/config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chorus::sim {

/// `[[status:CODE retry-after=S retry-after-ms=MS times=N]]`: fail with that HTTP status.
struct StatusDirective {
  int code = 500;                              ///< HTTP status, 100..999.
  std::optional<std::int64_t> retry_after_s;   ///< `retry-after` header, seconds.
  std::optional<std::int64_t> retry_after_ms;  ///< `retry-after-ms` header (and Gemini's
                                               ///< RetryInfo when retry_after_s is unset).
  std::optional<std::int64_t> times;           ///< Only the first N requests fail; unset =
                                               ///< every request fails.
  std::string key;  ///< The directive's exact text, "[[status:...]]": identifies "the same
                    ///< directive" for `times` counting (add e.g. `id=x` to separate tests).
};

/// Everything the directives of one text ask for. Unset = not asked.
struct Directives {
  std::optional<std::string> reply;                  ///< `[[reply:TEXT]]`: this exact reply.
  std::optional<std::int64_t> lorem;                 ///< `[[lorem:N]]`: N tokens of lorem ipsum.
  bool echo = false;                                 ///< `[[echo]]`: reply with `text`.
  std::optional<StatusDirective> status;             ///< `[[status:...]]`.
  std::optional<std::int64_t> cut;                   ///< `[[cut:N]]`: close the connection after N
                                                     ///< stream tokens / N body bytes.
  bool malformed = false;                            ///< `[[malformed]]`: invalid JSON body/data.
  std::optional<std::chrono::milliseconds> slow;     ///< `[[slow:MS]]`: between bytes.
  std::optional<std::chrono::milliseconds> latency;  ///< `[[latency:MS]]`: before the head.
  std::optional<std::chrono::milliseconds> token_delay;  ///< `[[token-delay:MS]]`.
  std::optional<std::string> content_type;  ///< `[[content-type:X]]`: wrong content type.
  bool midstream_error = false;             ///< `[[midstream-error]]`.
  bool usage_off = false;                   ///< `[[usage:off]]`: omit usage.

  std::string text;                  ///< The input with every `[[...]]` directive removed.
  std::vector<std::string> ignored;  ///< Directives that were removed but had no effect
                                     ///< (unknown name or bad argument), as written.
};

/// Parses the directives of `text` (see docs/fake-llm.md). A directive is `[[name]]` or
/// `[[name:ARG key=value ...]]` with a name of [A-Za-z0-9_-] starting with a letter
/// (compared case-insensitively). Every such directive is removed from
/// `text`; unknown names and bad arguments are listed in `ignored` and have no effect. Text that
/// does not form a directive (no closing `]]`, a bad name) is left as it is. When a directive is
/// repeated the last one wins. Never throws on any input (except std::bad_alloc).
CHORUS_API Directives parse_directives(std::string_view text);

/// Copies every directive set in `from` over `into` (`from` wins); `text` and `ignored` are kept
/// from `into`, with `from.ignored` appended. Used to combine the x-fake-directives header, a
/// script file and the message.
CHORUS_API void merge_directives(Directives& into, const Directives& from);

/// The end (exclusive) of the token that starts at `pos`, pos < reply.size(): the whitespace at
/// `pos`, then either a run of word characters (ASCII letters, digits, `'`, `_` and any non-ASCII
/// UTF-8 sequence, kept whole) or one other character. Trailing whitespace forms its own token.
CHORUS_API std::size_t token_end(std::string_view reply, std::size_t pos) noexcept;

/// Calls `on_token(std::string_view)` for each word-ish token of `reply`, leading whitespace
/// included ("Hello", " world", ","). Concatenating the tokens gives `reply` back exactly. No
/// allocation. Returns the number of tokens.
template <class F>
std::size_t split_tokens(std::string_view reply, F&& on_token) {
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < reply.size();) {
    const std::size_t end = token_end(reply, pos);
    on_token(reply.substr(pos, end - pos));
    ++count;
    pos = end;
  }
  return count;
}

/// The number of tokens split_tokens() yields for `reply`.
CHORUS_API std::size_t count_tokens(std::string_view reply) noexcept;

/// 64-bit FNV-1a of `bytes`, continuing from `seed` (the FNV offset basis by default).
CHORUS_API std::uint64_t fnv1a(std::string_view bytes,
                               std::uint64_t seed = 0xcbf29ce484222325ULL) noexcept;

/// A deterministic, plausible answer of 30 to 80 words that reuses the words of the prompt,
/// seeded by FNV-1a of the three inputs. Same inputs, same answer, everywhere.
CHORUS_API std::string default_reply(std::string_view system_prompt, std::string_view user_text,
                                     std::string_view model);

/// `n` tokens (as split_tokens counts them) of classic lorem ipsum, ending with "."; "" for n <= 0.
CHORUS_API std::string lorem(std::int64_t n);

/// Answers a classification prompt offline. When `user_text` ends with a line
/// "Answer with exactly one of: a, b, c" (the form Chorus's classify routers write), returns the
/// label whose name and "- label: description" line share the most word stems (first five
/// letters) with the text between "<<<" and ">>>"; ties go to the earlier label, and no overlap
/// at all picks the first. nullopt for any other prompt.
CHORUS_API std::optional<std::string> classify_reply(std::string_view user_text);

/// The reply a request gets: `reply`, else `lorem`, else the echoed `text`, else
/// classify_reply(d.text), else default_reply(system_prompt, d.text, model).
CHORUS_API std::string make_reply(const Directives& d, std::string_view system_prompt,
                                  std::string_view model);

/// ceil(UTF-8 code points / 4); at least 1 for non-empty text, 0 for empty text.
CHORUS_API std::int64_t estimate_tokens(std::string_view text) noexcept;

/// Counts `times=N` per directive (StatusDirective::key) for one server / provider instance.
/// Thread-safe.
class CHORUS_API FailureCounter {
 public:
  /// Whether this request, carrying `status`, must fail: always when `times` is unset, else only
  /// for the first `times` requests with the same key.
  bool should_fail(const StatusDirective& status);
  /// Forgets all counts.
  void reset();

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> seen_;
};

}  // namespace chorus::sim
