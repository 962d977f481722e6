// Sans-IO wire formats of the built-in vendors: request building, whole-response parsing, stream
// assembly from SSE events and error classification. No sockets, no timers: the async provider
// (http_provider.cpp) moves bytes through these, and the tests feed them recorded transcripts.
#pragma once

#include <chorus/error.hpp>
#include <chorus/http.hpp>
#include <chorus/provider.hpp>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace chorus::providers {

namespace fast {
struct EventReaders;
}

/// The wire dialects.
enum class Vendor { openai, anthropic, gemini, deepseek, openai_compatible };

/// Stable provider id of a vendor: "openai", ..., "openai-compatible".
std::string_view vendor_id(Vendor v) noexcept;

/// Where and how to call a vendor. `base_url` follows each official SDK: OpenAI and
/// openai-compatible include "/v1", Anthropic, Gemini and DeepSeek do not.
struct Endpoint {
  Vendor vendor = Vendor::openai;
  std::string base_url;
  std::string api_key;
};

/// The official base URL of a vendor ("" for openai-compatible).
std::string_view default_base_url(Vendor v) noexcept;

/// Anthropic's required max_tokens when the caller sets none.
inline constexpr std::int64_t anthropic_default_max_tokens = 4096;

/// The HTTP request of a chat call. `req` must already be cleaned and validated.
http::Request build_chat_request(const Endpoint& endpoint, const ChatRequest& req, bool stream);

/// The cheap authenticated request used to check a key (GET the model list).
http::Request build_validate_request(const Endpoint& endpoint, std::string_view key);

/// Which JSON reader the parsers use: `fast` reads only the fields needed and hands anything
/// unusual to `dom` (Boost.JSON DOM, the reference); `dom` forces the reference (for tests).
enum class JsonPath { fast, dom };

/// Parses a whole 2xx body into `out` (content, usage, finish reason, model, ids). A body that is
/// not the vendor's JSON sets out.error to errc::protocol; a Gemini block with no text sets
/// errc::content_filter (status 0).
void parse_chat_response(Vendor vendor, std::string_view body, ChatResponse& out,
                         JsonPath path = JsonPath::fast);

/// Classifies a non-2xx response (fixtures README rules): kind, vendor message and code, request
/// id, retry-after (retry-after-ms, retry-after, Gemini RetryInfo), a redacted body excerpt.
Error classify_error(Vendor vendor, int status, const http::Headers& headers, std::string_view body,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Anthropic's error kind from error.type (and message / status for invalid_request_error);
/// status 0 for an in-stream `event: error`.
errc anthropic_error_kind(std::string_view type, std::string_view message, int status);

/// Kind of an OpenAI-style `{"error": ...}` object inside a 200 stream.
errc openai_stream_error_kind(std::string_view code);

/// Normalised finish reasons of each vendor's raw value.
FinishReason map_finish_reason(Vendor vendor, std::string_view raw) noexcept;

/// Usage numbers of an OpenAI-style `usage` object (absent or mistyped numbers: nullopt).
struct OpenAiUsageFields {
  std::optional<std::int64_t> prompt, completion, total, cache_hit, cached, reasoning;
  bool prompt_details = false;      ///< prompt_tokens_details is an object (`cached` is in it)
  bool completion_details = false;  ///< completion_tokens_details is an object (`reasoning`)
};
OpenAiUsageFields read_openai_usage_fields(const boost::json::object& usage);
void apply_openai_usage(const OpenAiUsageFields& f, Usage& out);

/// Usage numbers of an Anthropic `usage` object.
struct AnthropicUsageFields {
  std::optional<std::int64_t> input, cache_creation, cache_read, output;
};
AnthropicUsageFields read_anthropic_usage_fields(const boost::json::object& usage);
/// Output tokens are cumulative; `final_output` marks the usage as reported.
void apply_anthropic_usage(const AnthropicUsageFields& f, Usage& out, bool final_output);

/// Assembles a streamed answer from SSE events (name + data) into a ChatResponse. Appends text as
/// it comes and calls `on_delta` (may be empty) for each piece; tracks usage, finish reason,
/// model, ids; records an in-stream error in out.error (status 0). Events are read by a reused
/// field-selective parser (fast_json.hpp), so steady-state events allocate nothing beyond the
/// appended text; unusual events (tool calls, errors) go through the Boost.JSON DOM.
class StreamAssembler {
 public:
  StreamAssembler(Vendor vendor, ChatResponse& out, const DeltaHandler* on_delta = nullptr,
                  JsonPath path = JsonPath::fast);
  ~StreamAssembler();
  StreamAssembler(const StreamAssembler&) = delete;
  StreamAssembler& operator=(const StreamAssembler&) = delete;

  /// One SSE event: `event` is the event name ("message" when none), `data` its data.
  void on_event(std::string_view event, std::string_view data);

  /// End of body: completes tool calls and, when the stream ended without its terminal event and
  /// without an error, sets errc::connection_closed. Gemini blocks become content_filter errors.
  void finish();

  /// Whether the vendor's terminal event was seen ([DONE], message_stop, Gemini finishReason).
  bool complete() const noexcept { return complete_; }
  /// Whether any answer or reasoning text was delivered.
  bool delivered_text() const noexcept { return delivered_; }

 private:
  void on_openai(const boost::json::value& v);
  void on_anthropic(std::string_view event, const boost::json::value& v);
  void on_gemini(const boost::json::value& v);
  // The fast path of each vendor: false when the event must go through the DOM.
  bool fast_event(std::string_view event, std::string_view data);
  bool fast_openai(std::string_view data);
  bool fast_anthropic(std::string_view event, std::string_view data);
  bool fast_gemini(std::string_view data);
  void dom_event(std::string_view event, std::string_view data);
  void emit(std::string_view text, std::string_view reasoning);
  void fail(Error error);
  struct DomReader;

  Vendor vendor_;
  ChatResponse& out_;
  const DeltaHandler* on_delta_;
  bool complete_ = false;
  bool delivered_ = false;
  bool saw_message_stop_ = false;
  bool finished_ = false;
  std::map<std::int64_t, std::size_t> tool_index_;  // vendor index -> out_.tool_calls slot
  std::map<std::int64_t, std::string> block_type_;  // Anthropic content block types
  std::unique_ptr<fast::EventReaders> fast_;        // null with JsonPath::dom
  std::unique_ptr<DomReader> dom_;                  // created by the first event that needs it
};

/// Applies a Gemini GenerateContentResponse (a whole body or one stream chunk) to `out`.
/// Returns the text it appended (a view into out.content) for delta reporting.
struct GeminiChunk {
  std::string_view text;
  std::string_view reasoning;
};
GeminiChunk apply_gemini_chunk(const boost::json::object& chunk, ChatResponse& out);

/// After a Gemini response completed: a content_filter finish with no text becomes an error.
void finish_gemini(ChatResponse& out);

// Per-vendor pieces, used by the dispatchers above (and directly by tests). The parse_* functions
// are the Boost.JSON DOM reference; parse_chat_response tries fast_json.hpp first.
std::string join_url(std::string_view base, std::string_view path);
http::Request build_openai_request(const Endpoint& ep, const ChatRequest& req, bool stream);
http::Request build_anthropic_request(const Endpoint& ep, const ChatRequest& req, bool stream);
http::Request build_gemini_request(const Endpoint& ep, const ChatRequest& req, bool stream);
http::Request build_openai_validate_request(const Endpoint& ep, std::string_view key);
http::Request build_anthropic_validate_request(const Endpoint& ep, std::string_view key);
http::Request build_gemini_validate_request(const Endpoint& ep, std::string_view key);
void parse_openai_response(Vendor vendor, std::string_view body, ChatResponse& out);
void parse_anthropic_response(std::string_view body, ChatResponse& out);
void parse_gemini_response(std::string_view body, ChatResponse& out);
void read_openai_usage_value(const boost::json::value* usage, Usage& out);

}  // namespace chorus::providers
