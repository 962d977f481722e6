// Vendor-independent parts of the wire layer: ids, base URLs, finish reasons, error
// classification (the rules of tests/fixtures/providers/README.md).
#include "json_util.hpp"
#include "wire.hpp"

#include <chorus/retry.hpp>

#include <boost/json/parse.hpp>

#include <cmath>
#include <cstdlib>

namespace chorus::providers {
namespace json = boost::json;

std::string_view vendor_id(Vendor v) noexcept {
  switch (v) {
    case Vendor::openai:
      return "openai";
    case Vendor::anthropic:
      return "anthropic";
    case Vendor::gemini:
      return "gemini";
    case Vendor::deepseek:
      return "deepseek";
    case Vendor::openai_compatible:
      return "openai-compatible";
  }
  return "unknown";
}

std::string_view default_base_url(Vendor v) noexcept {
  switch (v) {
    case Vendor::openai:
      return "https://api.openai.com/v1";
    case Vendor::anthropic:
      return "https://api.anthropic.com";
    case Vendor::gemini:
      return "https://generativelanguage.googleapis.com";
    case Vendor::deepseek:
      return "https://api.deepseek.com";
    case Vendor::openai_compatible:
      return "";
  }
  return "";
}

FinishReason map_finish_reason(Vendor vendor, std::string_view raw) noexcept {
  if (raw.empty()) return FinishReason::unknown;
  switch (vendor) {
    case Vendor::openai:
    case Vendor::deepseek:
    case Vendor::openai_compatible:
      if (raw == "stop") return FinishReason::stop;
      if (raw == "length") return FinishReason::length;
      if (raw == "tool_calls" || raw == "function_call") return FinishReason::tool_calls;
      if (raw == "content_filter") return FinishReason::content_filter;
      if (raw == "insufficient_system_resource") return FinishReason::error;
      return FinishReason::unknown;
    case Vendor::anthropic:
      if (raw == "end_turn" || raw == "stop_sequence") return FinishReason::stop;
      if (raw == "max_tokens") return FinishReason::length;
      if (raw == "tool_use") return FinishReason::tool_calls;
      if (raw == "refusal") return FinishReason::content_filter;
      return FinishReason::unknown;
    case Vendor::gemini:
      if (raw == "STOP") return FinishReason::stop;
      if (raw == "MAX_TOKENS") return FinishReason::length;
      if (raw == "SAFETY" || raw == "RECITATION" || raw == "BLOCKLIST" ||
          raw == "PROHIBITED_CONTENT" || raw == "SPII" || raw == "IMAGE_SAFETY" ||
          raw == "LANGUAGE")
        return FinishReason::content_filter;
      if (raw == "MALFORMED_FUNCTION_CALL") return FinishReason::error;
      return FinishReason::unknown;
  }
  return FinishReason::unknown;
}

namespace {

std::string_view header_of(const http::Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < k.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(k[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return v;
  }
  return {};
}

// "17s", "1.5s" (protobuf Duration as JSON) -> milliseconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s.size() < 2 || s.back() != 's') return std::nullopt;
  s.remove_suffix(1);
  std::string text(s);
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !(seconds >= 0) || seconds > 1e9) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

errc kind_from_status(int status) {
  if (status == 401 || status == 403) return errc::auth;
  if (status == 402) return errc::quota_exceeded;
  if (status == 429) return errc::rate_limited;
  if (status == 503 || status == 529) return errc::overloaded;
  if (status >= 500) return errc::server;
  return errc::bad_request;
}

}  // namespace

errc anthropic_error_kind(std::string_view type, std::string_view message, int status) {
  if (type == "authentication_error" || type == "permission_error") return errc::auth;
  if (type == "billing_error") return errc::quota_exceeded;
  if (type == "rate_limit_error") return errc::rate_limited;
  if (type == "overloaded_error") return errc::overloaded;
  if (type == "api_error" || type == "timeout_error") return errc::server;
  if (message.find("prompt is too long") != std::string_view::npos) return errc::context_length;
  if (status >= 500) return errc::server;
  return status == 0 ? errc::bad_request : kind_from_status(status);
}

errc openai_stream_error_kind(std::string_view code) {
  return code == "rate_limit_exceeded" ? errc::rate_limited : errc::server;
}

Error classify_error(Vendor vendor, int status, const http::Headers& headers, std::string_view body,
                     std::chrono::system_clock::time_point now) {
  Error e;
  e.provider = std::string(vendor_id(vendor));
  e.status = status;
  e.body_excerpt = redact_secrets(body.substr(0, 512));
  for (std::string_view name : {"x-request-id", "request-id", "x-goog-request-id", "cf-ray"}) {
    if (auto id = header_of(headers, name); !id.empty()) {
      e.request_id = std::string(id);
      break;
    }
  }
  e.retry_after = parse_retry_after(header_of(headers, "retry-after-ms"),
                                    header_of(headers, "retry-after"), now);

  errc kind = kind_from_status(status);
  json::value doc;
  {
    boost::system::error_code ec;
    std::string_view trimmed = body;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
      trimmed.remove_prefix(1);
    doc = json::parse(trimmed, ec);
    if (ec) doc = nullptr;
  }
  // Some gateways wrap the error in a one-element array (Gemini did in v1beta for a while).
  if (doc.is_array() && !doc.get_array().empty()) doc = json::value(doc.get_array()[0]);
  const json::object* root = doc.if_object();
  const json::object* err = root ? obj_at(*root, "error") : nullptr;
  if (err) {
    e.message = std::string(str_at(*err, "message"));
    switch (vendor) {
      case Vendor::openai:
      case Vendor::deepseek:
      case Vendor::openai_compatible: {
        std::string_view code = str_at(*err, "code");
        std::string_view type = str_at(*err, "type");
        e.vendor_code = std::string(!code.empty() ? code : type);
        if (status == 429 && (code == "insufficient_quota" || type == "insufficient_quota"))
          kind = errc::quota_exceeded;
        else if (status >= 400 && status < 500 && status != 401 && status != 403 && status != 402 &&
                 status != 429 &&
                 (code == "context_length_exceeded" ||
                  e.message.find("maximum context length") != std::string::npos))
          kind = errc::context_length;
        break;
      }
      case Vendor::anthropic: {
        std::string_view type = str_at(*err, "type");
        e.vendor_code = std::string(type);
        kind = anthropic_error_kind(type, e.message, status);
        if (e.request_id.empty()) e.request_id = std::string(str_at(*root, "request_id"));
        break;
      }
      case Vendor::gemini: {
        std::string_view st = str_at(*err, "status");
        e.vendor_code = std::string(st);
        bool key_invalid = false;
        std::optional<std::chrono::milliseconds> retry_info;
        if (const auto* details = arr_at(*err, "details")) {
          for (const auto& d : *details) {
            const auto* detail = d.if_object();
            if (!detail) continue;
            std::string_view type = str_at(*detail, "@type");
            if (type.ends_with("google.rpc.ErrorInfo") &&
                str_at(*detail, "reason") == "API_KEY_INVALID")
              key_invalid = true;
            if (type.ends_with("google.rpc.RetryInfo"))
              retry_info = parse_duration(str_at(*detail, "retryDelay"));
          }
        }
        if (key_invalid || st == "UNAUTHENTICATED" || st == "PERMISSION_DENIED" || status == 401 ||
            status == 403)
          kind = errc::auth;
        else if (st == "RESOURCE_EXHAUSTED" || status == 429)
          kind = errc::rate_limited;
        else if (st == "UNAVAILABLE" || status == 503)
          kind = errc::overloaded;
        else if (status >= 500)
          kind = errc::server;
        else if (e.message.find("exceeds the maximum number of tokens") != std::string::npos)
          kind = errc::context_length;
        else
          kind = errc::bad_request;
        if (!e.retry_after && retry_info) e.retry_after = retry_info;
        break;
      }
    }
  }
  e.code = kind;
  // The vendor's code (and Anthropic's request_id) are echoed from the body too: they get the same
  // redaction as the message.
  if (!e.vendor_code.empty()) e.vendor_code = redact_secrets(e.vendor_code);
  if (!e.request_id.empty()) e.request_id = redact_secrets(e.request_id);
  if (e.message.empty()) {
    e.message = "HTTP " + std::to_string(status);
    if (!body.empty()) e.message += ": " + redact_secrets(body.substr(0, 200));
  } else {
    e.message = redact_secrets(e.message);
  }
  return e;
}

}  // namespace chorus::providers
