// Dispatch over the vendors, and the vendor-independent half of the stream assembler.
#include "fast_json.hpp"
#include "json_util.hpp"
#include "wire.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>

namespace chorus::providers {
namespace json = boost::json;

http::Request build_chat_request(const Endpoint& endpoint, const ChatRequest& req, bool stream) {
  switch (endpoint.vendor) {
    case Vendor::anthropic:
      return build_anthropic_request(endpoint, req, stream);
    case Vendor::gemini:
      return build_gemini_request(endpoint, req, stream);
    default:
      return build_openai_request(endpoint, req, stream);
  }
}

http::Request build_validate_request(const Endpoint& endpoint, std::string_view key) {
  switch (endpoint.vendor) {
    case Vendor::anthropic:
      return build_anthropic_validate_request(endpoint, key);
    case Vendor::gemini:
      return build_gemini_validate_request(endpoint, key);
    default:
      return build_openai_validate_request(endpoint, key);
  }
}

void parse_chat_response(Vendor vendor, std::string_view body, ChatResponse& out, JsonPath path) {
  // The fast readers write nothing when they decline; the DOM code then reads the body.
  const bool fast = path == JsonPath::fast;
  switch (vendor) {
    case Vendor::anthropic:
      if (!fast || !fast::parse_anthropic_response(body, out)) parse_anthropic_response(body, out);
      break;
    case Vendor::gemini:
      if (!fast || !fast::parse_gemini_response(body, out)) parse_gemini_response(body, out);
      break;
    default:
      if (!fast || !fast::parse_openai_response(vendor, body, out))
        parse_openai_response(vendor, body, out);
      break;
  }
  if (out.error && out.error.provider.empty()) out.error.provider = std::string(vendor_id(vendor));
}

// The DOM reader of events the fast path declines: parses into member buffers, so events that fit
// in them allocate nothing.
struct StreamAssembler::DomReader {
  unsigned char parse_buffer[4096];   // the parser's temporary storage
  unsigned char value_buffer[16384];  // the parsed value's storage (monotonic, reset per event)
  json::parser parser{json::storage_ptr(), json::parse_options(), parse_buffer,
                      sizeof parse_buffer};
};

StreamAssembler::StreamAssembler(Vendor vendor, ChatResponse& out, const DeltaHandler* on_delta,
                                 JsonPath path)
    : vendor_(vendor), out_(out), on_delta_(on_delta) {
  if (path != JsonPath::fast) return;
  fast_ = std::make_unique<fast::EventReaders>();
  switch (vendor) {
    case Vendor::anthropic:
      fast_->anthropic.emplace();
      break;
    case Vendor::gemini:
      fast_->gemini.emplace();
      break;
    default:
      fast_->openai.emplace();
      fast_->openai->handler().set_stream(true);
      break;
  }
}

StreamAssembler::~StreamAssembler() = default;

void StreamAssembler::emit(std::string_view text, std::string_view reasoning) {
  if (text.empty() && reasoning.empty()) return;
  out_.content.append(text);
  out_.reasoning.append(reasoning);
  delivered_ = true;
  if (on_delta_ && *on_delta_) (*on_delta_)(StreamDelta{text, reasoning});
}

void StreamAssembler::fail(Error error) {
  if (out_.error) return;  // keep the first failure
  error.provider = std::string(vendor_id(vendor_));
  error.status = 0;
  if (error.message.empty()) error.message = error.code.message();
  out_.error = std::move(error);
  out_.finish_reason = FinishReason::error;
}

void StreamAssembler::on_event(std::string_view event, std::string_view data) {
  if (finished_) return;
  if (vendor_ != Vendor::anthropic && vendor_ != Vendor::gemini && data == "[DONE]") {
    complete_ = true;
    return;
  }
  if (fast_ && fast_event(event, data)) return;
  dom_event(event, data);
}

void StreamAssembler::dom_event(std::string_view event, std::string_view data) {
  if (!dom_) dom_ = std::make_unique<DomReader>();
  json::parser& parser = dom_->parser;
  json::monotonic_resource resource(dom_->value_buffer, sizeof dom_->value_buffer);
  parser.reset(json::storage_ptr(&resource));
  boost::system::error_code ec;
  parser.write(data.data(), data.size(), ec);
  if (ec) {
    parser.reset();
    Error e = make_error(errc::protocol, "malformed JSON in stream event: " + ec.message());
    e.body_excerpt = redact_secrets(data.substr(0, 512));
    fail(std::move(e));
    return;
  }
  const json::value value = parser.release();
  switch (vendor_) {
    case Vendor::anthropic:
      on_anthropic(event, value);
      break;
    case Vendor::gemini:
      on_gemini(value);
      break;
    default:
      on_openai(value);
      break;
  }
}

void StreamAssembler::finish() {
  if (finished_) return;
  finished_ = true;
  for (ToolCall& tc : out_.tool_calls)
    if (tc.arguments.empty()) tc.arguments = "{}";
  if (vendor_ == Vendor::gemini) {
    finish_gemini(out_);
    if (out_.error && out_.error.status == 0 && out_.finish_reason == FinishReason::content_filter)
      return;
  }
  if (out_.error) return;
  // OpenAI-style streams end with [DONE]; some openai-compatible servers omit it but still send
  // a finish_reason, which is enough. Anthropic ends with message_stop.
  const bool ended = complete_ || (vendor_ != Vendor::anthropic && !out_.finish_reason_raw.empty());
  if (!ended) {
    Error e =
        make_error(errc::connection_closed, "the stream ended before the answer was complete");
    fail(std::move(e));
  }
}

}  // namespace chorus::providers
