// Field-selective JSON reading of vendor responses and stream events (the fast path).
//
// A small strict JSON scanner walks the document once and hands a handler only the values on the
// paths it tracks (content delta, finish reason, usage, ids, model): no DOM, no allocation once
// the few reused strings have grown, untracked values are validated and skipped. It accepts a
// subset of what Boost.JSON accepts: anything it is unsure of (exponents, long numbers, deep
// nesting, invalid UTF-8 or escapes, trailing data) and anything the handler finds unusual (tool
// calls, error objects, a repeated key on a tracked path, a root that is not an object) makes it
// decline, and the caller runs the Boost.JSON DOM code instead, which stays the reference for
// every case (and reports malformed JSON). The field structs mirror the DOM helpers of
// json_util.hpp: absent and mistyped fields read as empty / nullopt.
#pragma once

#include "wire.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace chorus::providers::fast {

enum class Kind : std::uint8_t { leaf, object, array };

/// The first byte at or after `p` that ends a plain run of string bytes: '"', '\\', a control
/// character or a non-ASCII byte; `end` when there is none.
inline const char* find_special(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: control characters and bytes >= 0x80 (negative) are both "< 0x20".
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmplt_epi8(v, space));
    if (const int mask = _mm_movemask_epi8(hit))
      return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return p;
  }
  return end;
}

/// Length of the well-formed UTF-8 sequence at `p` (Unicode table 3-7), 0 if there is none.
inline int utf8_length(const char* p, const char* end) noexcept {
  const auto b = [&](std::ptrdiff_t i) { return static_cast<unsigned char>(p[i]); };
  const std::ptrdiff_t left = end - p;
  const unsigned char c = b(0);
  auto cont = [&](std::ptrdiff_t i) { return (b(i) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

/// `key == lit` for a string literal, with the length known at compile time (inlined compare).
template <std::size_t N>
inline bool is(std::string_view key, const char (&lit)[N]) noexcept {
  return key.size() == N - 1 && std::memcmp(key.data(), lit, N - 1) == 0;
}

/// A string value read from a document: a view of the document, or of its own copy when the JSON
/// had escapes (the scanner's decoding buffer is reused by the next string). Valid as long as the
/// document; keeps its capacity from document to document.
class Text {
 public:
  void set(std::string_view s, bool escaped) {
    escaped_ = escaped;
    if (escaped) {
      copy_.assign(s);
      view_ = copy_;
    } else {
      view_ = s;
    }
  }
  void clear() noexcept {
    view_ = {};
    escaped_ = false;
  }
  std::string_view view() const noexcept { return view_; }
  /// Whether view() is a view of the document (rather than of the copy).
  bool in_document() const noexcept { return !escaped_; }
  bool empty() const noexcept { return view_.empty(); }

 private:
  std::string_view view_;
  std::string copy_;
  bool escaped_ = false;
};

/// Pieces of text joined in order (Gemini parts, Anthropic content blocks): a view of the
/// document while there is a single piece of it, a joined copy otherwise.
class Joined {
 public:
  void add(std::string_view s, bool in_document) {
    if (s.empty()) return;
    if (view_.empty() && in_document) {
      view_ = s;
      return;
    }
    if (!owned_) {
      buf_.assign(view_);
      owned_ = true;
    }
    buf_.append(s);
    view_ = buf_;
  }
  void clear() noexcept {
    view_ = {};
    owned_ = false;
  }
  std::string_view view() const noexcept { return view_; }

 private:
  std::string_view view_;
  std::string buf_;
  bool owned_ = false;
};

/// The scanner, with the path-following part of a handler. `Derived` supplies, for its node ids
/// (0 = ignored, 1 = the root, every id < 64):
///   Kind kind(int node);                       the container kind a node must have
///   int child(int object_node, string_view);   the node of an object member (0: ignore)
///   int element(int array_node, size_t index); the node of an array element (0: ignore)
///   void open(int node), close(int node);      a container of the expected kind starts / ends
///   void string(int node, string_view, bool escaped), integer(int node, int64_t),
///   void boolean(int node, bool);              a scalar at a node (any node: check it)
/// and sets `decline = true` when the DOM path must handle the document. A key that repeats in a
/// tracked object declines too (the DOM keeps the last one), as does a tracked number that is
/// not a plain integer of at most 18 digits (the DOM reads it through a double). String views
/// handed to the handler are valid until the next string (escaped) or as long as the document.
template <class Derived>
class Selective {
 public:
  bool decline = false;

  /// True when `json` is one JSON document this scanner accepts and the handler did not decline.
  bool scan(std::string_view json) {
    end_ = json.data() + json.size();
    const char* p = value(json.data(), 1, 0);
    if (!p) return false;
    p = skip_ws(p);
    return p == end_ && !decline;
  }

 private:
  static constexpr int kMaxDepth = 24;  // Boost.JSON allows 32: deeper documents go to the DOM

  Derived& d() { return static_cast<Derived&>(*this); }

  // The parsing functions take the position and return the one after what they read, or null
  // when the document is not accepted.

  [[gnu::always_inline]] const char* skip_ws(const char* p) const noexcept {
    while (p != end_ && static_cast<unsigned char>(*p) <= ' ' &&
           (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
      ++p;
    return p;
  }

  [[gnu::always_inline]] const char* value(const char* p, int node, int depth) {
    if (p == end_) return nullptr;
    if (static_cast<unsigned char>(*p) <= ' ') {
      p = skip_ws(p);
      if (p == end_) return nullptr;
    }
    switch (*p) {
      case '"': {
        std::string_view s;
        bool escaped;
        p = read_string(p, s, escaped, node != 0);
        if (p && node) d().string(node, s, escaped);
        return p;
      }
      case '{':
        return object(p, node && d().kind(node) == Kind::object ? node : 0, depth);
      case '[':
        return array(p, node && d().kind(node) == Kind::array ? node : 0, depth);
      case 't':
        return literal(p, "true", 4, node, true);
      case 'f':
        return literal(p, "false", 5, node, false);
      case 'n':
        return literal(p, "null", 4, 0, false);
      default:
        return number(p, node);
    }
  }

  const char* literal(const char* p, const char* text, std::size_t n, int node, bool b) {
    if (static_cast<std::size_t>(end_ - p) < n || std::memcmp(p, text, n) != 0) return nullptr;
    if (node) d().boolean(node, b);
    return p + n;
  }

  // The separators of compact JSON come first; whitespace is skipped only when present.
  [[gnu::always_inline]] const char* expect(const char* p, char c) const noexcept {
    if (p != end_ && *p == c) return p + 1;
    p = skip_ws(p);
    return p != end_ && *p == c ? p + 1 : nullptr;
  }

  [[gnu::noinline]] const char* object(const char* p, int node, int depth) {
    if (depth >= kMaxDepth) return nullptr;
    if (node) d().open(node);
    std::uint64_t seen = 0;
    p = skip_ws(p + 1);
    if (p == end_) return nullptr;
    if (*p != '}') {
      for (;;) {
        if (p == end_ || *p != '"') {
          p = skip_ws(p);
          if (p == end_ || *p != '"') return nullptr;
        }
        std::string_view key;
        bool escaped;
        p = read_string(p, key, escaped, node != 0);
        if (!p) return nullptr;
        int member = 0;
        if (node && (member = d().child(node, key)) != 0) {
          const std::uint64_t bit = std::uint64_t{1} << member;
          if (seen & bit) return nullptr;  // a repeated key: the DOM keeps the last one
          seen |= bit;
        }
        if (!(p = expect(p, ':'))) return nullptr;
        if (!(p = value(p, member, depth + 1))) return nullptr;
        if (p != end_ && *p == ',') {
          ++p;
          continue;
        }
        p = skip_ws(p);
        if (p != end_ && *p == ',') {
          ++p;
          continue;
        }
        if (p == end_ || *p != '}') return nullptr;
        break;
      }
    }
    if (node) d().close(node);
    return p + 1;
  }

  [[gnu::noinline]] const char* array(const char* p, int node, int depth) {
    if (depth >= kMaxDepth) return nullptr;
    if (node) d().open(node);
    p = skip_ws(p + 1);
    if (p == end_) return nullptr;
    if (*p != ']') {
      for (std::size_t index = 0;; ++index) {
        if (!(p = value(p, node ? d().element(node, index) : 0, depth + 1))) return nullptr;
        if (p != end_ && *p == ',') {
          ++p;
          continue;
        }
        p = skip_ws(p);
        if (p != end_ && *p == ',') {
          ++p;
          continue;
        }
        if (p == end_ || *p != ']') return nullptr;
        break;
      }
    }
    if (node) d().close(node);
    return p + 1;
  }

  // p at the opening quote. The result views the input, or scratch_ when the string has escapes
  // (`escaped`) and `decode` is set.
  [[gnu::always_inline]] const char* read_string(const char* p, std::string_view& out,
                                                 bool& escaped, bool decode) {
    const char* start = p + 1;
    p = find_special(start, end_);
    if (p != end_ && *p == '"') {  // the common case: plain ASCII, no escape
      out = std::string_view(start, static_cast<std::size_t>(p - start));
      escaped = false;
      return p + 1;
    }
    return read_string_slow(start, p, out, escaped, decode);
  }

  // From `p`, the first special byte of the string that starts at `run`.
  [[gnu::noinline]] const char* read_string_slow(const char* run, const char* p,
                                                 std::string_view& out, bool& escaped,
                                                 bool decode) {
    escaped = false;
    for (;; p = find_special(p, end_)) {
      if (p == end_) return nullptr;
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        if (!escaped) {
          out = std::string_view(run, static_cast<std::size_t>(p - run));
        } else if (decode) {
          scratch_.append(run, p);
          out = scratch_;
        }
        return p + 1;
      }
      if (c >= 0x80) {
        const int n = utf8_length(p, end_);
        if (!n) return nullptr;
        p += n;
        continue;
      }
      if (c < 0x20) return nullptr;
      // A backslash escape.
      if (decode) {
        if (!escaped) scratch_.clear();
        scratch_.append(run, p);
      }
      escaped = true;
      if (++p == end_) return nullptr;
      char ch;
      switch (*p++) {
        case '"':
          ch = '"';
          break;
        case '\\':
          ch = '\\';
          break;
        case '/':
          ch = '/';
          break;
        case 'b':
          ch = '\b';
          break;
        case 'f':
          ch = '\f';
          break;
        case 'n':
          ch = '\n';
          break;
        case 'r':
          ch = '\r';
          break;
        case 't':
          ch = '\t';
          break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(p, cp)) return nullptr;
          p += 4;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return nullptr;  // a lone trailing surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low;
            if (end_ - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, low) || low < 0xDC00 ||
                low > 0xDFFF)
              return nullptr;
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          if (decode) append_utf8(cp);
          run = p;
          continue;
        }
        default:
          return nullptr;
      }
      if (decode) scratch_.push_back(ch);
      run = p;
    }
  }

  bool hex4(const char* p, std::uint32_t& v) const noexcept {
    if (end_ - p < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = p[i];
      std::uint32_t h;
      if (c >= '0' && c <= '9')
        h = static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        h = static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        h = static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return false;
      v = v << 4 | h;
    }
    return true;
  }

  void append_utf8(std::uint32_t cp) {
    if (cp < 0x80) {
      scratch_.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      scratch_.push_back(static_cast<char>(0xC0 | cp >> 6));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      scratch_.push_back(static_cast<char>(0xE0 | cp >> 12));
      scratch_.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      scratch_.push_back(static_cast<char>(0xF0 | cp >> 18));
      scratch_.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      scratch_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)? ; exponents, more than 18 integer digits or 24 fraction digits
  // are left to the DOM (Boost.JSON's rules for them, e.g. exponent_overflow, are not repeated).
  const char* number(const char* p, int node) {
    const bool negative = *p == '-';
    if (negative && ++p == end_) return nullptr;
    std::uint64_t v = 0;
    int digits = 0;
    if (*p == '0') {
      ++p;
      digits = 1;
    } else if (*p >= '1' && *p <= '9') {
      for (; p != end_ && *p >= '0' && *p <= '9'; ++p, ++digits)
        if (digits < 19) v = v * 10 + static_cast<std::uint64_t>(*p - '0');
    } else {
      return nullptr;
    }
    if (digits > 18) return nullptr;
    bool integral = true;
    if (p != end_ && *p == '.') {
      ++p;
      int fraction = 0;
      for (; p != end_ && *p >= '0' && *p <= '9'; ++p)
        ++fraction;
      if (fraction == 0 || fraction > 24) return nullptr;
      integral = false;
    }
    if (p != end_ && (*p == 'e' || *p == 'E')) return nullptr;
    if (node) {
      if (!integral) return nullptr;  // the DOM reads it as a double
      const auto i = static_cast<std::int64_t>(v);
      d().integer(node, negative ? -i : i);
    }
    return p;
  }

  const char* end_ = nullptr;
  std::string scratch_;  // strings with escapes, decoded
};

/// OpenAI-style chat completion (whole body, `message`) or chunk (stream, `delta`).
struct OpenAiFields {
  bool root_object = false;
  bool choices_array = false;
  bool choice_object = false;   // choices[0]
  bool message_object = false;  // choices[0].message or .delta
  bool usage_object = false;
  Text model, id, content, reasoning, finish_reason;
  OpenAiUsageFields usage;
};

class OpenAiHandler : public Selective<OpenAiHandler> {
 public:
  OpenAiFields f;
  /// Chunks of a stream read `delta` (and `error`), whole bodies `message`.
  void set_stream(bool stream) noexcept { stream_ = stream; }

  void clear();
  Kind kind(int node) const noexcept;
  int child(int node, std::string_view key) noexcept;
  int element(int node, std::size_t index) noexcept;
  void open(int node) noexcept;
  void close(int) noexcept {}
  void string(int node, std::string_view s, bool escaped);
  void integer(int node, std::int64_t v) noexcept;
  void boolean(int, bool) noexcept {}

 private:
  bool stream_ = false;
};

/// One Anthropic stream event (every event type's fields; the type picks the ones that count).
struct AnthropicEventFields {
  bool root_object = false;
  bool message_object = false;
  bool message_usage_object = false;
  bool block_object = false;  // content_block
  bool delta_object = false;
  bool stop_reason_set = false;  // delta.stop_reason is a string
  bool usage_object = false;
  Text type, model, id, block_type, block_text, block_thinking, delta_type, delta_text,
      delta_thinking, partial_json, stop_reason;
  std::optional<std::int64_t> index;
  AnthropicUsageFields message_usage, usage;
};

class AnthropicEventHandler : public Selective<AnthropicEventHandler> {
 public:
  AnthropicEventFields f;

  void clear();
  Kind kind(int node) const noexcept;
  int child(int node, std::string_view key) const noexcept;
  int element(int, std::size_t) const noexcept { return 0; }
  void open(int node) noexcept;
  void close(int) noexcept {}
  void string(int node, std::string_view s, bool escaped);
  void integer(int node, std::int64_t v) noexcept;
  void boolean(int, bool) noexcept {}
};

/// A whole Anthropic message.
struct AnthropicMessageFields {
  bool root_object = false;
  bool content_array = false;
  bool usage_object = false;
  Text model, id, stop_reason;
  Joined text, thinking;
  AnthropicUsageFields usage;
};

class AnthropicMessageHandler : public Selective<AnthropicMessageHandler> {
 public:
  AnthropicMessageFields f;

  void clear();
  Kind kind(int node) const noexcept;
  int child(int node, std::string_view key) const noexcept;
  int element(int node, std::size_t) const noexcept;
  void open(int node) noexcept;
  void close(int node);
  void string(int node, std::string_view s, bool escaped);
  void integer(int node, std::int64_t v) noexcept;
  void boolean(int, bool) noexcept {}

 private:
  Text block_type_, block_text_, block_thinking_;
};

/// A Gemini GenerateContentResponse (whole body or stream chunk).
struct GeminiFields {
  bool root_object = false;
  bool feedback_object = false;
  bool usage_object = false;
  Joined text, thought;
  Text finish_reason, block_reason, model_version, response_id;
  std::optional<std::int64_t> prompt, candidates, total, thoughts, cached;
};

class GeminiHandler : public Selective<GeminiHandler> {
 public:
  GeminiFields f;

  void clear();
  Kind kind(int node) const noexcept;
  int child(int node, std::string_view key) noexcept;
  int element(int node, std::size_t index) const noexcept;
  void open(int node) noexcept;
  void close(int node);
  void string(int node, std::string_view s, bool escaped);
  void integer(int node, std::int64_t v) noexcept;
  void boolean(int node, bool b) noexcept;

 private:
  Text part_text_;
  bool part_has_text_ = false;
  bool part_thought_ = false;
};

/// A handler reused from document to document (its strings keep their capacity).
template <class Handler>
class Reader {
 public:
  /// True when `json` was read and the fields are in `handler().f`; false: use the DOM.
  bool read(std::string_view json) {
    handler_.clear();
    return handler_.scan(json);
  }
  Handler& handler() noexcept { return handler_; }

 private:
  Handler handler_;
};

/// The stream assembler's reader (the one of its vendor is engaged).
struct EventReaders {
  std::optional<Reader<OpenAiHandler>> openai;
  std::optional<Reader<AnthropicEventHandler>> anthropic;
  std::optional<Reader<GeminiHandler>> gemini;
};

/// The fast whole-response parsers: false when the DOM path must run (nothing written then).
bool parse_openai_response(Vendor vendor, std::string_view body, ChatResponse& out);
bool parse_anthropic_response(std::string_view body, ChatResponse& out);
bool parse_gemini_response(std::string_view body, ChatResponse& out);

/// The fields of a Gemini chunk applied to `out` (apply_gemini_chunk's rules).
GeminiChunk apply_gemini_fields(const GeminiFields& f, ChatResponse& out);

}  // namespace chorus::providers::fast
