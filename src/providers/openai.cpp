// OpenAI chat completions, also spoken by DeepSeek and openai-compatible servers.
#include "json_util.hpp"
#include "json_write.hpp"
#include "wire.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chorus::providers {
namespace json = boost::json;

std::string join_url(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/')
    base.remove_suffix(1);
  std::string url(base);
  url += path;
  return url;
}

http::Request build_openai_request(const Endpoint& ep, const ChatRequest& req, bool stream) {
  http::Request r;
  r.method = "POST";
  r.url = join_url(ep.base_url, "/chat/completions");
  r.headers.reserve(3);
  if (!ep.api_key.empty()) {
    std::string auth = "Bearer ";
    auth += ep.api_key;
    r.headers.emplace_back("Authorization", std::move(auth));
    r.secrets.push_back(ep.api_key);
  }
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Accept", stream ? "text/event-stream" : "application/json");

  // The body is written directly (no boost::json::value). Vendor extras win over our fields: a
  // field they name is left out here and written with the extras, verbatim.
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
  if (ours("messages")) {
    append_json_key(b, "messages", first);
    b.push_back('[');
    bool first_message = true;
    auto message = [&](std::string_view role, std::string_view content) {
      if (!first_message) b.push_back(',');
      first_message = false;
      b.append("{\"role\":");
      append_json_string(b, role);
      b.append(",\"content\":");
      append_json_string(b, content);
      b.push_back('}');
    };
    if (!c.system_prompt.empty()) message("system", c.system_prompt);
    for (const Message& m : req.messages)
      message(to_string(m.role), m.content);
    b.push_back(']');
  }
  if (c.temperature && ours("temperature")) {
    append_json_key(b, "temperature", first);
    append_json_number(b, *c.temperature);
  }
  if (c.max_tokens) {
    // OpenAI deprecated max_tokens (o-series reject it); the others still document max_tokens.
    const std::string_view key =
        ep.vendor == Vendor::openai ? "max_completion_tokens" : "max_tokens";
    if (ours(key)) {
      append_json_key(b, key, first);
      append_json_number(b, *c.max_tokens);
    }
  }
  if (!c.stop.empty() && ours("stop")) {
    append_json_key(b, "stop", first);
    b.push_back('[');
    for (std::size_t i = 0; i < c.stop.size(); ++i) {
      if (i) b.push_back(',');
      append_json_string(b, c.stop[i]);
    }
    b.push_back(']');
  }
  if ((c.response_schema || c.json_mode) && ours("response_format")) {
    append_json_key(b, "response_format", first);
    if (c.response_schema) {
      b.append("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"response\",\"schema\":");
      append_json_value(b, *c.response_schema);
      b.append("}}");
    } else {
      b.append("{\"type\":\"json_object\"}");
    }
  }
  if (stream) {
    if (ours("stream")) {
      append_json_key(b, "stream", first);
      b.append("true");
    }
    if (ours("stream_options")) {
      append_json_key(b, "stream_options", first);
      b.append("{\"include_usage\":true}");
    }
  }
  for (const auto& [k, v] : extra) {
    append_json_key(b, k, first);
    append_json_value(b, v);
  }
  b.push_back('}');
  return r;
}

namespace {

void read_openai_usage(const json::object& u, Usage& usage) {
  apply_openai_usage(read_openai_usage_fields(u), usage);
}

}  // namespace

OpenAiUsageFields read_openai_usage_fields(const json::object& u) {
  OpenAiUsageFields f;
  f.prompt = int_at(u, "prompt_tokens");
  f.completion = int_at(u, "completion_tokens");
  f.total = int_at(u, "total_tokens");
  f.cache_hit = int_at(u, "prompt_cache_hit_tokens");
  if (const auto* d = obj_at(u, "prompt_tokens_details")) {
    f.prompt_details = true;
    f.cached = int_at(*d, "cached_tokens");
  }
  if (const auto* d = obj_at(u, "completion_tokens_details")) {
    f.completion_details = true;
    f.reasoning = int_at(*d, "reasoning_tokens");
  }
  return f;
}

void apply_openai_usage(const OpenAiUsageFields& f, Usage& usage) {
  usage.prompt_tokens = f.prompt.value_or(0);
  usage.completion_tokens = f.completion.value_or(0);
  usage.total_tokens = f.total.value_or(usage.prompt_tokens + usage.completion_tokens);
  usage.cached_prompt_tokens = 0;
  usage.reasoning_tokens = 0;
  if (f.cache_hit)
    usage.cached_prompt_tokens = *f.cache_hit;  // DeepSeek
  else if (f.prompt_details)
    usage.cached_prompt_tokens = f.cached.value_or(0);
  if (f.completion_details) usage.reasoning_tokens = f.reasoning.value_or(0);
  usage.reported = true;
  usage.estimated = false;
}

void read_openai_usage_value(const json::value* u, Usage& usage) {
  if (u && u->is_object()) read_openai_usage(u->get_object(), usage);
}

void parse_openai_response(Vendor vendor, std::string_view body, ChatResponse& out) {
  boost::system::error_code ec;
  json::value doc =
      json::parse(body, ec);  // leading blank lines (DeepSeek keep-alive) are JSON whitespace
  const json::object* root = ec ? nullptr : doc.if_object();
  const json::array* choices = root ? arr_at(*root, "choices") : nullptr;
  if (!root || !choices) {
    out.error = make_error(errc::protocol, "response is not a chat completion (no choices)");
    out.error.provider = std::string(vendor_id(vendor));
    out.error.body_excerpt = redact_secrets(body.substr(0, 512));
    out.error.code = errc::protocol;
    return;
  }
  out.model = std::string(str_at(*root, "model"));
  if (out.request_id.empty()) out.request_id = std::string(str_at(*root, "id"));
  if (!choices->empty() && (*choices)[0].is_object()) {
    const json::object& choice = (*choices)[0].get_object();
    if (const auto* msg = obj_at(choice, "message")) {
      out.content.append(str_at(*msg, "content"));
      out.reasoning.append(str_at(*msg, "reasoning_content"));
      if (const auto* calls = arr_at(*msg, "tool_calls")) {
        for (const auto& c : *calls) {
          const auto* call = c.if_object();
          if (!call) continue;
          ToolCall tc;
          tc.id = std::string(str_at(*call, "id"));
          if (const auto* fn = obj_at(*call, "function")) {
            tc.name = std::string(str_at(*fn, "name"));
            tc.arguments = std::string(str_at(*fn, "arguments"));
          }
          out.tool_calls.push_back(std::move(tc));
        }
      }
    }
    out.finish_reason_raw = std::string(str_at(choice, "finish_reason"));
    out.finish_reason = map_finish_reason(vendor, out.finish_reason_raw);
  }
  read_openai_usage_value(root->if_contains("usage"), out.usage);
}

http::Request build_openai_validate_request(const Endpoint& ep, std::string_view key) {
  http::Request r;
  r.method = "GET";
  r.url = join_url(ep.base_url, "/models");
  if (!key.empty()) {
    r.headers.emplace_back("Authorization", "Bearer " + std::string(key));
    r.secrets.emplace_back(key);
  }
  r.body.clear();
  return r;
}

void StreamAssembler::on_openai(const json::value& v) {
  const json::object* root = v.if_object();
  if (!root) {
    Error e = make_error(errc::protocol, "stream chunk is not a JSON object");
    fail(std::move(e));
    return;
  }
  if (const auto* err = obj_at(*root, "error")) {
    Error e;
    e.code = openai_stream_error_kind(str_at(*err, "code"));
    e.message = redact_secrets(str_at(*err, "message"));
    e.vendor_code =
        std::string(!str_at(*err, "code").empty() ? str_at(*err, "code") : str_at(*err, "type"));
    fail(std::move(e));
    return;
  }
  if (std::string_view model = str_at(*root, "model"); !model.empty() && out_.model != model)
    out_.model.assign(model);
  if (out_.request_id.empty()) out_.request_id.assign(str_at(*root, "id"));
  if (const auto* choices = arr_at(*root, "choices"); choices && !choices->empty()) {
    if (const auto* choice = (*choices)[0].if_object()) {
      if (const auto* delta = obj_at(*choice, "delta")) {
        emit(str_at(*delta, "content"), str_at(*delta, "reasoning_content"));
        if (const auto* calls = arr_at(*delta, "tool_calls")) {
          for (const auto& c : *calls) {
            const auto* call = c.if_object();
            if (!call) continue;
            const std::int64_t index = int_at(*call, "index").value_or(0);
            auto [it, inserted] = tool_index_.try_emplace(index, out_.tool_calls.size());
            if (inserted) out_.tool_calls.emplace_back();
            ToolCall& tc = out_.tool_calls[it->second];
            if (has_str(*call, "id")) tc.id.assign(str_at(*call, "id"));
            if (const auto* fn = obj_at(*call, "function")) {
              tc.name.append(str_at(*fn, "name"));
              tc.arguments.append(str_at(*fn, "arguments"));
            }
          }
        }
      }
      if (std::string_view fr = str_at(*choice, "finish_reason"); !fr.empty()) {
        out_.finish_reason_raw.assign(fr);
        out_.finish_reason = map_finish_reason(vendor_, fr);
      }
    }
  }
  read_openai_usage_value(root->if_contains("usage"), out_.usage);
}

}  // namespace chorus::providers
