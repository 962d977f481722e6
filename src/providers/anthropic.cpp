// Anthropic messages API.
#include "json_util.hpp"
#include "json_write.hpp"
#include "wire.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chorus::providers {
namespace json = boost::json;

namespace {
constexpr std::string_view anthropic_version = "2023-06-01";

void read_anthropic_usage(const json::object& u, Usage& usage, bool final_output) {
  apply_anthropic_usage(read_anthropic_usage_fields(u), usage, final_output);
}
}  // namespace

AnthropicUsageFields read_anthropic_usage_fields(const json::object& u) {
  AnthropicUsageFields f;
  f.input = int_at(u, "input_tokens");
  f.cache_creation = int_at(u, "cache_creation_input_tokens");
  f.cache_read = int_at(u, "cache_read_input_tokens");
  f.output = int_at(u, "output_tokens");
  return f;
}

void apply_anthropic_usage(const AnthropicUsageFields& f, Usage& usage, bool final_output) {
  if (f.input) {
    const std::int64_t read = f.cache_read.value_or(0);
    usage.prompt_tokens = *f.input + f.cache_creation.value_or(0) + read;
    usage.cached_prompt_tokens = read;
  }
  if (f.output) usage.completion_tokens = *f.output;  // cumulative
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  if (final_output) usage.reported = true;
}

http::Request build_anthropic_request(const Endpoint& ep, const ChatRequest& req, bool stream) {
  http::Request r;
  r.method = "POST";
  r.url = join_url(ep.base_url, "/v1/messages");
  r.headers.reserve(4);
  if (!ep.api_key.empty()) {
    r.headers.emplace_back("x-api-key", ep.api_key);
    r.secrets.push_back(ep.api_key);
  }
  r.headers.emplace_back("anthropic-version", std::string(anthropic_version));
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Accept", stream ? "text/event-stream" : "application/json");

  // Written directly (see build_openai_request); vendor extras win over our fields.
  const ModelConfig& c = req.config;
  const json::object& extra = c.extra;
  auto ours = [&](std::string_view key) { return extra.empty() || !extra.contains(key); };
  std::string& b = r.body;
  b.reserve(request_body_estimate(req));
  bool first = true;
  b.push_back('{');
  if (ours("model")) {
    append_json_key(b, "model", first);
    append_json_string(b, c.model);
  }
  if (ours("max_tokens")) {
    append_json_key(b, "max_tokens", first);
    append_json_number(b, c.max_tokens.value_or(anthropic_default_max_tokens));
  }
  // The system prompt is a top-level field; system messages of the conversation join it.
  if (ours("system")) {
    bool joined = false;
    std::string system;
    for (const Message& m : req.messages) {
      if (m.role != Role::system) continue;
      if (!joined) system = c.system_prompt;
      joined = true;
      if (!system.empty()) system += "\n\n";
      system += m.content;
    }
    const std::string_view text = joined ? std::string_view(system) : c.system_prompt;
    if (!text.empty()) {
      append_json_key(b, "system", first);
      append_json_string(b, text);
    }
  }
  if (ours("messages")) {
    append_json_key(b, "messages", first);
    b.push_back('[');
    bool first_message = true;
    for (const Message& m : req.messages) {
      if (m.role == Role::system) continue;
      if (!first_message) b.push_back(',');
      first_message = false;
      b.append("{\"role\":");
      append_json_string(b, to_string(m.role));
      b.append(",\"content\":");
      append_json_string(b, m.content);
      b.push_back('}');
    }
    b.push_back(']');
  }
  if (c.temperature && ours("temperature")) {
    append_json_key(b, "temperature", first);
    append_json_number(b, *c.temperature);
  }
  if (!c.stop.empty() && ours("stop_sequences")) {
    append_json_key(b, "stop_sequences", first);
    b.push_back('[');
    for (std::size_t i = 0; i < c.stop.size(); ++i) {
      if (i) b.push_back(',');
      append_json_string(b, c.stop[i]);
    }
    b.push_back(']');
  }
  if (stream && ours("stream")) {
    append_json_key(b, "stream", first);
    b.append("true");
  }
  for (const auto& [k, v] : extra) {
    append_json_key(b, k, first);
    append_json_value(b, v);
  }
  b.push_back('}');
  return r;
}

http::Request build_anthropic_validate_request(const Endpoint& ep, std::string_view key) {
  http::Request r;
  r.method = "GET";
  r.url = join_url(ep.base_url, "/v1/models");
  if (!key.empty()) {
    r.headers.emplace_back("x-api-key", std::string(key));
    r.secrets.emplace_back(key);
  }
  r.headers.emplace_back("anthropic-version", std::string(anthropic_version));
  return r;
}

void parse_anthropic_response(std::string_view body, ChatResponse& out) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  const json::object* root = ec ? nullptr : doc.if_object();
  const json::array* content = root ? arr_at(*root, "content") : nullptr;
  if (!root || !content) {
    out.error = make_error(errc::protocol, "response is not an Anthropic message (no content)");
    out.error.provider = "anthropic";
    out.error.body_excerpt = redact_secrets(body.substr(0, 512));
    return;
  }
  out.model = std::string(str_at(*root, "model"));
  if (out.request_id.empty()) out.request_id = std::string(str_at(*root, "id"));
  for (const auto& b : *content) {
    const auto* block = b.if_object();
    if (!block) continue;
    std::string_view type = str_at(*block, "type");
    if (type == "text") {
      out.content.append(str_at(*block, "text"));
    } else if (type == "thinking") {
      out.reasoning.append(str_at(*block, "thinking"));
    } else if (type == "tool_use") {
      ToolCall tc;
      tc.id = std::string(str_at(*block, "id"));
      tc.name = std::string(str_at(*block, "name"));
      const json::value* input = block->if_contains("input");
      tc.arguments = input ? json::serialize(*input) : "{}";
      out.tool_calls.push_back(std::move(tc));
    }
  }
  out.finish_reason_raw = std::string(str_at(*root, "stop_reason"));
  out.finish_reason = map_finish_reason(Vendor::anthropic, out.finish_reason_raw);
  if (const auto* u = obj_at(*root, "usage")) read_anthropic_usage(*u, out.usage, true);
}

void StreamAssembler::on_anthropic(std::string_view event, const json::value& v) {
  const json::object* root = v.if_object();
  if (!root) {
    fail(make_error(errc::protocol, "stream event is not a JSON object"));
    return;
  }
  std::string_view type = str_at(*root, "type");
  if (type.empty()) type = event;
  if (type == "ping" || type == "content_block_stop") return;
  if (type == "message_start") {
    if (const auto* m = obj_at(*root, "message")) {
      out_.model.assign(str_at(*m, "model"));
      if (out_.request_id.empty()) out_.request_id.assign(str_at(*m, "id"));
      if (const auto* u = obj_at(*m, "usage")) read_anthropic_usage(*u, out_.usage, false);
    }
  } else if (type == "content_block_start") {
    const std::int64_t index = int_at(*root, "index").value_or(0);
    if (const auto* cb = obj_at(*root, "content_block")) {
      std::string_view bt = str_at(*cb, "type");
      block_type_[index] = std::string(bt);
      if (bt == "text") {
        emit(str_at(*cb, "text"), {});
      } else if (bt == "tool_use") {
        tool_index_[index] = out_.tool_calls.size();
        ToolCall tc;
        tc.id = std::string(str_at(*cb, "id"));
        tc.name = std::string(str_at(*cb, "name"));
        out_.tool_calls.push_back(std::move(tc));
      } else if (bt == "thinking") {
        emit({}, str_at(*cb, "thinking"));
      }
    }
  } else if (type == "content_block_delta") {
    const std::int64_t index = int_at(*root, "index").value_or(0);
    if (const auto* d = obj_at(*root, "delta")) {
      std::string_view dt = str_at(*d, "type");
      if (dt == "text_delta") {
        emit(str_at(*d, "text"), {});
      } else if (dt == "thinking_delta") {
        emit({}, str_at(*d, "thinking"));
      } else if (dt == "input_json_delta") {
        if (auto it = tool_index_.find(index); it != tool_index_.end())
          out_.tool_calls[it->second].arguments.append(str_at(*d, "partial_json"));
      }
    }
  } else if (type == "message_delta") {
    if (const auto* d = obj_at(*root, "delta"); d && has_str(*d, "stop_reason")) {
      out_.finish_reason_raw.assign(str_at(*d, "stop_reason"));
      out_.finish_reason = map_finish_reason(Vendor::anthropic, out_.finish_reason_raw);
    }
    if (const auto* u = obj_at(*root, "usage")) read_anthropic_usage(*u, out_.usage, true);
  } else if (type == "message_stop") {
    saw_message_stop_ = true;
    complete_ = true;
  } else if (type == "error") {
    Error e;
    if (const auto* err = obj_at(*root, "error")) {
      e.vendor_code = std::string(str_at(*err, "type"));
      e.message = redact_secrets(str_at(*err, "message"));
      e.code = anthropic_error_kind(e.vendor_code, e.message, 0);
    } else {
      e.code = errc::server;
      e.message = "error event without details";
    }
    fail(std::move(e));
  }
  // Unknown event types are ignored, as Anthropic's versioning policy asks of clients.
}

}  // namespace chorus::providers
