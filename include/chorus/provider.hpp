// The provider layer: one interface for every LLM vendor. A Provider turns a ChatRequest into a
// ChatResponse (or a stream of deltas then a ChatResponse) with exact usage and cost.
#pragma once

#include <chorus/config.hpp>
#include <chorus/error.hpp>
#include <chorus/retry.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus {

namespace asio = boost::asio;

/// Who speaks a message.
enum class Role { system, user, assistant };
CHORUS_API std::string_view to_string(Role r) noexcept;

/// One message of a conversation.
struct Message {
  Role role = Role::user;
  std::string content;
};

/// How to call a model (the seed's LLMConfig).
struct ModelConfig {
  std::string model;                       ///< Vendor model id, e.g. "gpt-4o-mini".
  std::optional<double> temperature;       ///< Omitted from the request when unset.
  std::optional<std::int64_t> max_tokens;  ///< Output cap; Anthropic requires one (default 4096).
  std::string system_prompt;               ///< Prepended as the system message / instruction.
  std::vector<std::string> stop;           ///< Stop sequences.
  bool json_mode = false;                  ///< Ask for a JSON object answer where supported.
  std::optional<boost::json::value>
      response_schema;  ///< JSON Schema of the answer, where supported.
  std::optional<std::chrono::milliseconds> timeout;  ///< Total deadline of the call.
  boost::json::object extra;                         ///< Vendor parameters passed through verbatim.
};

/// A chat call: config plus messages.
struct ChatRequest {
  ModelConfig config;
  std::vector<Message> messages;
  std::string api_key;  ///< Overrides the provider's key for this call (per-run / per-user keys).
};

/// Token counts, normalised across vendors (see docs/providers.md).
struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;  ///< Includes reasoning/thinking tokens.
  std::int64_t total_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;  ///< Part of prompt_tokens served from cache.
  std::int64_t reasoning_tokens = 0;      ///< Part of completion_tokens spent thinking.
  bool reported = false;   ///< The vendor reported usage (else all zero or estimated).
  bool estimated = false;  ///< Counts are our estimate; the vendor gave none.

  Usage& operator+=(const Usage& other) noexcept;
};

/// Why generation stopped, normalised.
enum class FinishReason { unknown, stop, length, content_filter, tool_calls, error };
CHORUS_API std::string_view to_string(FinishReason r) noexcept;

/// A function call the model asked for.
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  ///< JSON text.
};

/// The result of a call (the seed's LLMResponse). On failure the completion's error_code is set,
/// `error` holds the details, and `content` holds whatever text arrived before the failure.
struct ChatResponse {
  std::string content;
  std::string reasoning;  ///< Reasoning text (DeepSeek reasoner), never in content.
  std::vector<ToolCall> tool_calls;
  Usage usage;
  std::optional<double> cost;            ///< USD; nullopt when the model has no known price.
  std::chrono::microseconds latency{0};  ///< Request start to response complete.
  std::optional<std::chrono::microseconds> time_to_first_token;  ///< Streams only.
  FinishReason finish_reason = FinishReason::unknown;
  std::string finish_reason_raw;  ///< The vendor's own value ("end_turn", "MAX_TOKENS", ...).
  std::string model;              ///< The model id as the response reports it.
  std::string provider;           ///< The provider id that served it.
  std::string request_id;         ///< The vendor's request/response id.
  int attempts = 1;               ///< Attempts made, retries included.
  Error error;                    ///< Empty on success.
};

/// A piece of a streamed answer. Views are valid only during the callback.
struct StreamDelta {
  std::string_view text;       ///< Answer text to append.
  std::string_view reasoning;  ///< Reasoning text to append (DeepSeek reasoner).
};

/// Called for each delta of a stream, on the provider's executor.
using DeltaHandler = std::function<void(const StreamDelta&)>;

/// What a provider says about one of its models.
struct ModelInfo {
  std::string id;
  std::optional<double> input_per_mtok;         ///< USD per 1M prompt tokens.
  std::optional<double> output_per_mtok;        ///< USD per 1M completion tokens.
  std::optional<double> cached_input_per_mtok;  ///< USD per 1M cached prompt tokens.
  std::optional<std::int64_t> context_window;   ///< Tokens.
};

/// The interface of every LLM vendor. Async operations take any Asio completion token; behind
/// them the handler is type-erased once and the work happens in the implementation (.cpp), so
/// providers stay virtual and headers stay small. Blocking wrappers throw chorus::Exception.
class CHORUS_API Provider {
 public:
  using executor_type = asio::any_io_executor;
  using complete_signature = void(error_code, ChatResponse);
  using validate_signature = void(error_code, Error);

  virtual ~Provider() = default;

  /// Stable id used in workflow documents: "openai", "anthropic", "simulated", ...
  virtual std::string_view id() const noexcept = 0;
  /// Display name: "OpenAI", "Simulated (no network)", ...
  virtual std::string_view name() const noexcept = 0;
  /// Known models with prices and context windows (may be empty for openai-compatible servers).
  virtual std::vector<ModelInfo> models() const = 0;
  /// The executor completions run on.
  virtual executor_type get_executor() const noexcept = 0;

  /// One chat completion. Completes with void(error_code, ChatResponse).
  template <asio::completion_token_for<complete_signature> Token>
  auto async_complete(ChatRequest req, Token&& token) {
    return asio::async_initiate<Token, complete_signature>(
        [this](auto handler, ChatRequest r) { do_complete(std::move(r), {}, std::move(handler)); },
        token, std::move(req));
  }

  /// A streamed chat completion: `on_delta` gets text as it arrives; the completion carries the
  /// assembled response with usage and cost. Cancellation (per-operation slot) stops the stream
  /// and completes with errc::cancelled, keeping the text received so far.
  template <asio::completion_token_for<complete_signature> Token>
  auto async_stream(ChatRequest req, DeltaHandler on_delta, Token&& token) {
    return asio::async_initiate<Token, complete_signature>(
        [this](auto handler, ChatRequest r, DeltaHandler d) {
          do_complete(std::move(r), std::move(d), std::move(handler));
        },
        token, std::move(req), std::move(on_delta));
  }

  /// Checks an API key with the vendor (a cheap authenticated call). Completes with
  /// void(error_code, Error): errc::auth for a rejected key.
  template <asio::completion_token_for<validate_signature> Token>
  auto async_validate_key(std::string key, Token&& token) {
    return asio::async_initiate<Token, validate_signature>(
        [this](auto handler, std::string k) { do_validate_key(std::move(k), std::move(handler)); },
        token, std::move(key));
  }

  /// Blocking wrappers for scripts: run the operation on the provider's executor and wait, so
  /// another thread must be running its io_context (docs/decisions/providers-blocking.md). Called
  /// from a thread that runs it, they fail at once with errc::invalid_argument instead of
  /// deadlocking. Throw chorus::Exception.
  ChatResponse complete(ChatRequest req);
  ChatResponse stream(ChatRequest req, DeltaHandler on_delta);
  /// Non-throwing forms: failures land in `ec` and the returned response's `error`.
  ChatResponse complete(ChatRequest req, error_code& ec);

 protected:
  /// The one virtual entry point of a call; `on_delta` empty means non-streamed.
  virtual void do_complete(ChatRequest req, DeltaHandler on_delta,
                           asio::any_completion_handler<complete_signature> handler) = 0;
  virtual void do_validate_key(std::string key,
                               asio::any_completion_handler<validate_signature> handler) = 0;
};

/// Cleans prompt text: "\r\n" and "\r" become "\n", control characters other than "\n" and
/// "\t" (C0, DEL and C1) are removed, leading and trailing whitespace is trimmed.
CHORUS_API std::string clean_prompt_text(std::string_view text);

/// Estimated prompt tokens of a request (system prompt + every message), by
/// chorus::sim::estimate_tokens (ceil(code points / 4)).
CHORUS_API std::int64_t estimate_prompt_tokens(const ChatRequest& req);

/// What every built-in provider does before sending: cleans the system prompt and messages,
/// checks the fields (model, messages, temperature 0..2, max_tokens > 0) and, when
/// `context_window` is known, that the estimated prompt plus max_tokens fits. Returns an empty
/// Error on success, else errc::invalid_argument naming the field, or errc::context_length.
CHORUS_API Error prepare_request(ChatRequest& req, std::optional<std::int64_t> context_window);

/// Settings shared by the built-in providers.
struct ProviderOptions {
  std::string api_key;   ///< Empty: taken from the vendor's environment variable.
  std::string base_url;  ///< Empty: the vendor's *_BASE_URL variable, then the official URL.
  RetryPolicy retry;     ///< Retries of retryable failures before any text reached the caller.
  std::chrono::milliseconds timeout{600'000};  ///< Default total deadline per call.
  std::string id;            ///< Registers the provider under another id (e.g. "ollama" for an
                             ///< openai-compatible server); empty: the built-in id.
  std::string display_name;  ///< Overrides name(); empty: the built-in name.
  /// Extra HTTP headers sent with every request (OpenRouter's HTTP-Referer / X-Title, a gateway's
  /// routing header, ...). Values are treated as secrets in error messages.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Simulated provider only: delay between streamed tokens. Empty:
  /// $CHORUS_SIMULATED_TOKEN_DELAY_MS, else 2 ms. A `[[token-delay:MS]]` directive in the prompt
  /// wins.
  std::optional<std::chrono::milliseconds> token_delay;
};

/// Creates one built-in provider: `kind` is "openai", "anthropic", "gemini", "deepseek",
/// "openai-compatible" or "simulated". Empty options are filled from the environment as
/// with_builtins() does. Throws chorus::Exception (unknown_provider) for another kind.
CHORUS_API std::shared_ptr<Provider> make_provider(std::string_view kind, asio::any_io_executor ex,
                                                   ProviderOptions options = {});

/// Providers by id. Thread-safe. Built-ins: openai, anthropic, gemini, deepseek,
/// openai-compatible (needs a base URL) and simulated (in-process, no network).
class CHORUS_API ProviderRegistry {
 public:
  ProviderRegistry() = default;

  /// A registry with every built-in provider, configured from the environment
  /// (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY, DEEPSEEK_API_KEY,
  /// OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GEMINI_BASE_URL, DEEPSEEK_BASE_URL,
  /// OPENAI_COMPATIBLE_BASE_URL, OPENAI_COMPATIBLE_API_KEY) plus `overrides` per provider id.
  static std::shared_ptr<ProviderRegistry> with_builtins(
      asio::any_io_executor ex, const std::map<std::string, ProviderOptions>& overrides = {});

  /// Adds or replaces the provider registered under provider->id().
  void add(std::shared_ptr<Provider> provider);
  /// The provider with that id; nullptr when none.
  std::shared_ptr<Provider> find(std::string_view id) const;
  /// Ids of all registered providers, sorted.
  std::vector<std::string> ids() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Provider>, std::less<>> providers_;
};

}  // namespace chorus
