#include <chorus/simulation.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace chorus::sim {
namespace {

constexpr std::int64_t max_lorem_tokens = 1'000'000;  // keeps a typo from exhausting memory
constexpr std::int64_t max_delay_ms = 600'000;        // ten minutes

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool is_word_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' ||
         c == '_' || u >= 0x80;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// A whole, non-negative decimal integer no larger than `max`.
std::optional<std::int64_t> parse_count(std::string_view s, std::int64_t max) noexcept {
  s = trim(s);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < 0 || v > max)
    return std::nullopt;
  return v;
}

// Splits "CODE k=v k=v" into the first word and the key=value pairs; false on a pair with no '='.
struct Args {
  std::string_view first;
  std::array<std::pair<std::string_view, std::string_view>, 8> pairs{};
  std::size_t count = 0;
};

bool split_args(std::string_view arg, Args& out) noexcept {
  arg = trim(arg);
  std::size_t pos = 0;
  bool first = true;
  while (pos < arg.size()) {
    while (pos < arg.size() && is_space(arg[pos]))
      ++pos;
    std::size_t end = pos;
    while (end < arg.size() && !is_space(arg[end]))
      ++end;
    if (end == pos) break;
    std::string_view word = arg.substr(pos, end - pos);
    pos = end;
    const auto eq = word.find('=');
    if (first && eq == std::string_view::npos) {
      out.first = word;
      first = false;
      continue;
    }
    first = false;
    if (eq == std::string_view::npos || eq == 0 || out.count == out.pairs.size()) return false;
    out.pairs[out.count++] = {word.substr(0, eq), word.substr(eq + 1)};
  }
  return true;
}

std::optional<std::chrono::milliseconds> parse_delay(std::string_view arg) noexcept {
  if (auto v = parse_count(arg, max_delay_ms)) return std::chrono::milliseconds(*v);
  return std::nullopt;
}

std::optional<StatusDirective> parse_status(std::string_view arg, std::string_view whole) {
  Args args;
  if (!split_args(arg, args)) return std::nullopt;
  auto code = parse_count(args.first, 999);
  if (!code || *code < 100) return std::nullopt;
  StatusDirective s;
  s.code = static_cast<int>(*code);
  for (std::size_t i = 0; i < args.count; ++i) {
    auto [key, value] = args.pairs[i];
    std::optional<std::int64_t>* field = nullptr;
    std::int64_t max = max_delay_ms;
    if (iequals(key, "retry-after")) {
      field = &s.retry_after_s;
      max = 86'400;
    } else if (iequals(key, "retry-after-ms")) {
      field = &s.retry_after_ms;
    } else if (iequals(key, "times")) {
      field = &s.times;
      max = 1'000'000'000;
    }
    if (!field) continue;  // e.g. id=x: only makes the key distinct
    *field = parse_count(value, max);
    if (!*field) return std::nullopt;
  }
  s.key = std::string(whole);
  return s;
}

// Applies one directive; false when it is unknown or its argument is bad.
bool apply(Directives& d, std::string_view name, std::optional<std::string_view> arg,
           std::string_view whole) {
  auto no_arg = [&] { return !arg || trim(*arg).empty(); };
  if (iequals(name, "reply")) {
    if (!arg) return false;
    d.reply = std::string(*arg);
    return true;
  }
  if (iequals(name, "lorem")) {
    auto n = arg ? parse_count(*arg, max_lorem_tokens) : std::nullopt;
    if (!n) return false;
    d.lorem = *n;
    return true;
  }
  if (iequals(name, "echo")) {
    if (!no_arg()) return false;
    d.echo = true;
    return true;
  }
  if (iequals(name, "status")) {
    auto s = arg ? parse_status(*arg, whole) : std::nullopt;
    if (!s) return false;
    d.status = std::move(*s);
    return true;
  }
  if (iequals(name, "cut")) {
    auto n = arg ? parse_count(*arg, INT64_MAX) : std::nullopt;
    if (!n) return false;
    d.cut = *n;
    return true;
  }
  if (iequals(name, "malformed")) {
    if (!no_arg()) return false;
    d.malformed = true;
    return true;
  }
  if (iequals(name, "midstream-error")) {
    if (!no_arg()) return false;
    d.midstream_error = true;
    return true;
  }
  if (iequals(name, "slow") || iequals(name, "latency") || iequals(name, "token-delay")) {
    auto ms = arg ? parse_delay(*arg) : std::nullopt;
    if (!ms) return false;
    if (iequals(name, "slow"))
      d.slow = ms;
    else if (iequals(name, "latency"))
      d.latency = ms;
    else
      d.token_delay = ms;
    return true;
  }
  if (iequals(name, "content-type")) {
    if (!arg || trim(*arg).empty()) return false;
    d.content_type = std::string(trim(*arg));
    return true;
  }
  if (iequals(name, "usage")) {
    if (!arg) return false;
    if (iequals(trim(*arg), "off")) {
      d.usage_off = true;
      return true;
    }
    if (iequals(trim(*arg), "on")) {
      d.usage_off = false;
      return true;
    }
    return false;
  }
  return false;
}

// Small deterministic generator (splitmix64) for default_reply.
struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }
};

constexpr std::string_view stop_words[] = {
    "about",     "above",  "after",   "again",     "against", "also",      "answer",    "because",
    "been",      "before", "being",   "below",     "between", "both",      "could",     "does",
    "doing",     "down",   "each",    "explain",   "from",    "further",   "give",      "have",
    "having",    "here",   "input",   "into",      "just",    "like",      "make",      "more",
    "most",      "much",   "only",    "other",     "over",    "please",    "question",  "same",
    "should",    "some",   "such",    "tell",      "than",    "that",      "their",     "them",
    "then",      "there",  "these",   "they",      "this",    "those",     "very",      "what",
    "write",     "writes", "written", "describe",  "discuss", "summarize", "summarise", "list",
    "using",     "want",   "need",    "know",      "think",   "help",      "provide",   "short",
    "brief",     "draft",  "rewrite", "following", "text",    "words",     "sentence",  "sentences",
    "paragraph", "when",   "where",   "which",     "will",    "with",      "would"};

bool is_stop_word(std::string_view w) noexcept {
  return std::find(std::begin(stop_words), std::end(stop_words), w) != std::end(stop_words);
}

void collect_keywords(std::string_view text, std::vector<std::string>& out, std::size_t limit) {
  std::size_t pos = 0;
  while (pos < text.size() && out.size() < limit) {
    while (pos < text.size() && !is_word_char(text[pos]))
      ++pos;
    std::size_t end = pos;
    while (end < text.size() && is_word_char(text[end]) && text[end] != '\'')
      ++end;
    if (end == pos) break;
    std::string word(text.substr(pos, end - pos));
    pos = end;
    while (pos < text.size() && is_word_char(text[pos]))
      ++pos;  // skip "'s" and the like
    if (word.size() < 4 || word.size() > 40) continue;
    bool digits_only =
        std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits_only) continue;
    std::transform(word.begin(), word.end(), word.begin(), lower);
    if (is_stop_word(word)) continue;
    if (std::find(out.begin(), out.end(), word) != out.end()) continue;
    out.push_back(std::move(word));
  }
}

// Sentence templates: '@' is replaced by a keyword, '#' by another keyword.
constexpr std::string_view openers[] = {
    "Here is a short answer about @.",       "Good question: @ is worth a careful look.",
    "Let me walk through @ step by step.",   "In short, the answer turns on @ and #.",
    "Looking at @, a few points stand out.", "The heart of the matter is @.",
};

constexpr std::string_view middles[] = {
    "The key point is that @ depends on #, so it helps to look at both together.",
    "In practice, @ and # interact in ways that are easy to overlook.",
    "A good first step is to pin down what @ means in this context.",
    "Then compare @ with # and note where they differ.",
    "Most of the difficulty comes from @, not from #.",
    "If @ changes, expect # to change with it.",
    "One useful example is @ applied to #.",
    "It also pays to check the assumptions behind @ before going further.",
    "Treat @ as the main constraint and # as a detail to revisit later.",
    "Evidence from similar cases suggests that @ matters more than it first appears.",
    "A common mistake is to ignore # while optimising @.",
    "Keep @ simple at first; refine # once the basics work.",
    "Seen this way, # is a consequence of @ rather than a separate issue.",
    "Measuring @ early makes every later decision about # easier.",
};

constexpr std::string_view closers[] = {
    "To sum up: focus on @, check #, and keep the result simple.",
    "That should give you a solid starting point on @.",
    "Start with @, and the rest will follow.",
    "In the end, @ and # are best handled together.",
    "I hope this clarifies @.",
};

constexpr std::string_view fallback_words[] = {"context", "scope",     "goals",
                                               "details", "tradeoffs", "constraints"};

std::size_t count_words(std::string_view s) noexcept {
  std::size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    if (is_space(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

void render(std::string_view tpl, const std::vector<std::string>& words, SplitMix& rng,
            std::string& out) {
  const std::size_t a = rng.below(words.size());
  std::size_t b = rng.below(words.size());
  if (b == a && words.size() > 1) b = (a + 1) % words.size();
  for (char c : tpl) {
    if (c == '@')
      out += words[a];
    else if (c == '#')
      out += words[b];
    else
      out += c;
  }
}

constexpr std::string_view lorem_words[] = {
    "lorem",     "ipsum",     "dolor",    "sit",       "amet",    "consectetur",  "adipiscing",
    "elit",      "sed",       "do",       "eiusmod",   "tempor",  "incididunt",   "ut",
    "labore",    "et",        "dolore",   "magna",     "aliqua",  "ut",           "enim",
    "ad",        "minim",     "veniam",   "quis",      "nostrud", "exercitation", "ullamco",
    "laboris",   "nisi",      "ut",       "aliquip",   "ex",      "ea",           "commodo",
    "consequat", "duis",      "aute",     "irure",     "dolor",   "in",           "reprehenderit",
    "in",        "voluptate", "velit",    "esse",      "cillum",  "dolore",       "eu",
    "fugiat",    "nulla",     "pariatur", "excepteur", "sint",    "occaecat",     "cupidatat",
    "non",       "proident",  "sunt",     "in",        "culpa",   "qui",          "officia",
    "deserunt",  "mollit",    "anim",     "id",        "est",     "laborum"};

}  // namespace

Directives parse_directives(std::string_view text) {
  Directives d;
  d.text.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("[[", pos);
    if (open == std::string_view::npos) {
      d.text.append(text.substr(pos));
      break;
    }
    d.text.append(text.substr(pos, open - pos));
    std::size_t p = open + 2;
    std::size_t name_end = p;
    while (name_end < text.size() && is_name_char(text[name_end]))
      ++name_end;
    const std::string_view name = text.substr(p, name_end - p);
    std::optional<std::string_view> arg;
    std::size_t close = std::string_view::npos;
    const bool named =
        !name.empty() && ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'));
    if (!named) {
      // no directive here
    } else if (text.substr(name_end, 2) == "]]") {
      close = name_end;
    } else if (name_end < text.size() && text[name_end] == ':') {
      close = text.find("]]", name_end + 1);
      if (close != std::string_view::npos) arg = text.substr(name_end + 1, close - name_end - 1);
    }
    if (close == std::string_view::npos) {  // not a directive: keep the '[' and look again
      d.text += '[';
      pos = open + 1;
      continue;
    }
    const std::string_view whole = text.substr(open, close + 2 - open);
    if (!apply(d, name, arg, whole)) d.ignored.emplace_back(whole);
    pos = close + 2;
    // "a [[x]] b" leaves "a b", not "a  b".
    if (pos < text.size() && is_space(text[pos]) && (d.text.empty() || is_space(d.text.back())))
      ++pos;
  }
  const std::string_view trimmed = trim(d.text);
  if (trimmed.size() != d.text.size()) d.text = std::string(trimmed);
  return d;
}

void merge_directives(Directives& into, const Directives& from) {
  if (from.reply) into.reply = from.reply;
  if (from.lorem) into.lorem = from.lorem;
  if (from.echo) into.echo = true;
  if (from.status) into.status = from.status;
  if (from.cut) into.cut = from.cut;
  if (from.malformed) into.malformed = true;
  if (from.slow) into.slow = from.slow;
  if (from.latency) into.latency = from.latency;
  if (from.token_delay) into.token_delay = from.token_delay;
  if (from.content_type) into.content_type = from.content_type;
  if (from.midstream_error) into.midstream_error = true;
  if (from.usage_off) into.usage_off = true;
  into.ignored.insert(into.ignored.end(), from.ignored.begin(), from.ignored.end());
}

std::size_t token_end(std::string_view reply, std::size_t pos) noexcept {
  const std::size_t n = reply.size();
  while (pos < n && is_space(reply[pos]))
    ++pos;
  if (pos >= n) return n;
  if (!is_word_char(reply[pos])) return pos + 1;
  while (pos < n && is_word_char(reply[pos]))
    ++pos;
  return pos;
}

std::size_t count_tokens(std::string_view reply) noexcept {
  return split_tokens(reply, [](std::string_view) {});
}

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t seed) noexcept {
  std::uint64_t h = seed;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string default_reply(std::string_view system_prompt, std::string_view user_text,
                          std::string_view model) {
  // Separators keep ("ab", "c") and ("a", "bc") apart.
  std::uint64_t seed = fnv1a(system_prompt);
  seed = fnv1a(std::string_view("\x1f", 1), seed);
  seed = fnv1a(user_text, seed);
  seed = fnv1a(std::string_view("\x1f", 1), seed);
  seed = fnv1a(model, seed);
  SplitMix rng{seed};

  std::vector<std::string> words;
  collect_keywords(user_text, words, 10);
  if (words.size() < 3) collect_keywords(system_prompt, words, 4);
  for (std::size_t i = rng.below(std::size(fallback_words)); words.size() < 2; ++i)
    words.emplace_back(fallback_words[i % std::size(fallback_words)]);

  // Templates have at most 16 words and keywords are single words: stopping once the target
  // (30..56) is reached, then adding a closer, keeps the answer within 30..80 words.
  const std::size_t target = 30 + rng.below(27);
  std::string out;
  out.reserve(512);
  render(openers[rng.below(std::size(openers))], words, rng, out);
  std::array<bool, std::size(middles)> used{};
  std::size_t n_used = 0;
  while (count_words(out) < target && n_used < std::size(middles)) {
    std::size_t i = rng.below(std::size(middles));
    while (used[i])
      i = (i + 1) % std::size(middles);
    used[i] = true;
    ++n_used;
    out += ' ';
    render(middles[i], words, rng, out);
  }
  out += ' ';
  render(closers[rng.below(std::size(closers))], words, rng, out);
  return out;
}

std::string lorem(std::int64_t n) {
  std::string out;
  if (n <= 0) return out;
  out.reserve(static_cast<std::size_t>(std::min<std::int64_t>(n, max_lorem_tokens)) * 7);
  // Sentences of up to 11 words; the final token is always "." when n >= 2.
  std::size_t word = 0;
  std::int64_t in_sentence = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const bool last = i == n - 1;
    if ((last && n >= 2) || in_sentence == 11) {
      out += '.';
      in_sentence = 0;
      continue;
    }
    if (!out.empty()) out += ' ';
    std::string_view w = lorem_words[word++ % std::size(lorem_words)];
    if (in_sentence == 0) {
      out += static_cast<char>(w[0] - 'a' + 'A');
      out.append(w.substr(1));
    } else {
      out.append(w);
    }
    ++in_sentence;
  }
  return out;
}

namespace {

// Lower-cased stems (first five letters) of the words of at least three letters in `text`.
std::vector<std::string> word_stems(std::string_view text) {
  std::vector<std::string> stems;
  std::string word;
  auto flush = [&] {
    if (word.size() >= 3) stems.push_back(word.substr(0, 5));
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flush();
    }
  }
  flush();
  return stems;
}

}  // namespace

std::optional<std::string> classify_reply(std::string_view user_text) {
  static constexpr std::string_view marker = "Answer with exactly one of: ";
  const auto at = user_text.rfind(marker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view list = user_text.substr(at + marker.size());
  if (list.find('\n') != std::string_view::npos) return std::nullopt;  // not the last line

  std::vector<std::string> labels;
  while (!list.empty()) {
    const auto comma = list.find(", ");
    std::string_view label = list.substr(0, comma);
    if (!label.empty()) labels.emplace_back(label);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 2);
  }
  if (labels.empty()) return std::nullopt;

  std::string_view text = user_text.substr(0, at);
  const auto open = text.find("<<<");
  const auto close = text.rfind(">>>");
  std::string_view subject =
      open != std::string_view::npos && close != std::string_view::npos && close > open
          ? text.substr(open + 3, close - open - 3)
          : text;
  const auto subject_stems = word_stems(subject);

  std::size_t best = 0;
  std::size_t best_score = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    // The label's own line in the "Labels:" list carries its description.
    std::string described = labels[i];
    const std::string line_start = "- " + labels[i];
    if (auto pos = text.find(line_start); pos != std::string_view::npos && pos < open) {
      const auto end = text.find('\n', pos);
      described = std::string(text.substr(pos, end == std::string_view::npos ? end : end - pos));
    }
    std::size_t score = 0;
    const auto label_stems = word_stems(described);
    for (const auto& s : subject_stems)
      if (std::find(label_stems.begin(), label_stems.end(), s) != label_stems.end()) ++score;
    if (score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return labels[best];
}

std::string make_reply(const Directives& d, std::string_view system_prompt,
                       std::string_view model) {
  if (d.reply) return *d.reply;
  if (d.lorem) return lorem(*d.lorem);
  if (d.echo) return d.text;
  if (auto label = classify_reply(d.text)) return *label;
  return default_reply(system_prompt, d.text, model);
}

std::int64_t estimate_tokens(std::string_view text) noexcept {
  std::int64_t points = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++points;
  return (points + 3) / 4;
}

bool FailureCounter::should_fail(const StatusDirective& status) {
  if (!status.times) return true;
  std::lock_guard lock(mutex_);
  auto& seen = seen_[status.key];
  if (seen >= *status.times) return false;
  ++seen;
  return true;
}

void FailureCounter::reset() {
  std::lock_guard lock(mutex_);
  seen_.clear();
}

}  // namespace chorus::sim
