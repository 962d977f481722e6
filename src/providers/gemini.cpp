// Gemini (Generative Language API) generateContent / streamGenerateContent?alt=sse.
#include "json_util.hpp"
#include "json_write.hpp"
#include "wire.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chorus::providers {
namespace json = boost::json;

namespace {

std::string_view gemini_model_id(std::string_view model) {
  if (model.starts_with("models/")) model.remove_prefix(7);
  return model;
}

// The body through a boost::json::value, for requests with vendor extras: generationConfig keys
// merge into ours, the rest go to the top level.
std::string gemini_body_with_extras(const ChatRequest& req) {
  const ModelConfig& c = req.config;
  json::object body;
  std::string system = c.system_prompt;
  json::array contents;
  for (const Message& m : req.messages) {
    if (m.role == Role::system) {
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    contents.push_back(json::object{{"role", m.role == Role::assistant ? "model" : "user"},
                                    {"parts", json::array{json::object{{"text", m.content}}}}});
  }
  body["contents"] = std::move(contents);
  if (!system.empty())
    body["systemInstruction"] =
        json::object{{"parts", json::array{json::object{{"text", system}}}}};
  json::object gen;
  if (c.temperature) gen["temperature"] = *c.temperature;
  if (c.max_tokens) gen["maxOutputTokens"] = *c.max_tokens;
  if (!c.stop.empty()) {
    json::array stop;
    for (const auto& s : c.stop)
      stop.emplace_back(s);
    gen["stopSequences"] = std::move(stop);
  }
  if (c.json_mode || c.response_schema) gen["responseMimeType"] = "application/json";
  if (c.response_schema) gen["responseSchema"] = *c.response_schema;
  // Vendor extras: generationConfig keys merge into ours, the rest go to the top level.
  for (const auto& [k, v] : c.extra) {
    if (k == "generationConfig" && v.is_object()) {
      for (const auto& [gk, gv] : v.get_object())
        gen[gk] = gv;
    } else {
      body[k] = v;
    }
  }
  if (!gen.empty()) body["generationConfig"] = std::move(gen);
  return json::serialize(body);
}

}  // namespace

http::Request build_gemini_request(const Endpoint& ep, const ChatRequest& req, bool stream) {
  http::Request r;
  r.method = "POST";
  std::string path = "/v1beta/models/";
  path += gemini_model_id(req.config.model);
  path += stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
  r.url = join_url(ep.base_url, path);
  r.headers.reserve(3);
  if (!ep.api_key.empty()) {
    r.headers.emplace_back("x-goog-api-key", ep.api_key);
    r.secrets.push_back(ep.api_key);
  }
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Accept", stream ? "text/event-stream" : "application/json");

  const ModelConfig& c = req.config;
  if (!c.extra.empty()) {
    // Vendor extras merge into generationConfig or the top level: the DOM builder does it.
    r.body = gemini_body_with_extras(req);
    return r;
  }
  // Written directly (see build_openai_request).
  std::string& b = r.body;
  b.reserve(request_body_estimate(req) + 16 * req.messages.size());
  b.append("{\"contents\":[");
  bool first_content = true;
  bool joined = false;
  std::string system;
  for (const Message& m : req.messages) {
    if (m.role == Role::system) {
      if (!joined) system = c.system_prompt;
      joined = true;
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    if (!first_content) b.push_back(',');
    first_content = false;
    b.append(m.role == Role::assistant ? "{\"role\":\"model\",\"parts\":[{\"text\":"
                                       : "{\"role\":\"user\",\"parts\":[{\"text\":");
    append_json_string(b, m.content);
    b.append("}]}");
  }
  b.push_back(']');
  const std::string_view system_text = joined ? std::string_view(system) : c.system_prompt;
  if (!system_text.empty()) {
    b.append(",\"systemInstruction\":{\"parts\":[{\"text\":");
    append_json_string(b, system_text);
    b.append("}]}");
  }
  if (c.temperature || c.max_tokens || !c.stop.empty() || c.json_mode || c.response_schema) {
    b.append(",\"generationConfig\":{");
    bool first = true;
    if (c.temperature) {
      append_json_key(b, "temperature", first);
      append_json_number(b, *c.temperature);
    }
    if (c.max_tokens) {
      append_json_key(b, "maxOutputTokens", first);
      append_json_number(b, *c.max_tokens);
    }
    if (!c.stop.empty()) {
      append_json_key(b, "stopSequences", first);
      b.push_back('[');
      for (std::size_t i = 0; i < c.stop.size(); ++i) {
        if (i) b.push_back(',');
        append_json_string(b, c.stop[i]);
      }
      b.push_back(']');
    }
    if (c.json_mode || c.response_schema) {
      append_json_key(b, "responseMimeType", first);
      b.append("\"application/json\"");
    }
    if (c.response_schema) {
      append_json_key(b, "responseSchema", first);
      append_json_value(b, *c.response_schema);
    }
    b.push_back('}');
  }
  b.push_back('}');
  return r;
}

http::Request build_gemini_validate_request(const Endpoint& ep, std::string_view key) {
  http::Request r;
  r.method = "GET";
  r.url = join_url(ep.base_url, "/v1beta/models");
  if (!key.empty()) {
    r.headers.emplace_back("x-goog-api-key", std::string(key));
    r.secrets.emplace_back(key);
  }
  return r;
}

GeminiChunk apply_gemini_chunk(const json::object& chunk, ChatResponse& out) {
  GeminiChunk result;
  const std::size_t text_start = out.content.size();
  const std::size_t reasoning_start = out.reasoning.size();
  if (const auto* candidates = arr_at(chunk, "candidates"); candidates && !candidates->empty()) {
    if (const auto* cand = (*candidates)[0].if_object()) {
      if (const auto* content = obj_at(*cand, "content")) {
        if (const auto* parts = arr_at(*content, "parts")) {
          for (const auto& p : *parts) {
            const auto* part = p.if_object();
            if (!part) continue;
            if (has_str(*part, "text")) {
              if (bool_at(*part, "thought"))
                out.reasoning.append(str_at(*part, "text"));
              else
                out.content.append(str_at(*part, "text"));
            } else if (const auto* fc = obj_at(*part, "functionCall")) {
              ToolCall tc;
              tc.id = std::string(str_at(*fc, "id"));
              tc.name = std::string(str_at(*fc, "name"));
              const json::value* args = fc->if_contains("args");
              tc.arguments = args ? json::serialize(*args) : "{}";
              out.tool_calls.push_back(std::move(tc));
            }
          }
        }
      }
      if (std::string_view fr = str_at(*cand, "finishReason"); !fr.empty()) {
        out.finish_reason_raw.assign(fr);
        out.finish_reason = map_finish_reason(Vendor::gemini, fr);
      }
    }
  }
  if (const auto* feedback = obj_at(chunk, "promptFeedback")) {
    if (std::string_view reason = str_at(*feedback, "blockReason"); !reason.empty()) {
      out.finish_reason_raw.assign(reason);
      out.finish_reason = FinishReason::content_filter;
    }
  }
  if (const auto* u = obj_at(chunk, "usageMetadata")) {
    // Running totals on every chunk: take the last, never add.
    const std::int64_t thoughts = int_at(*u, "thoughtsTokenCount").value_or(0);
    out.usage.prompt_tokens = int_at(*u, "promptTokenCount").value_or(0);
    out.usage.completion_tokens = int_at(*u, "candidatesTokenCount").value_or(0) + thoughts;
    out.usage.total_tokens = int_at(*u, "totalTokenCount")
                                 .value_or(out.usage.prompt_tokens + out.usage.completion_tokens);
    out.usage.reasoning_tokens = thoughts;
    out.usage.cached_prompt_tokens = int_at(*u, "cachedContentTokenCount").value_or(0);
    out.usage.reported = true;
  }
  if (std::string_view mv = str_at(chunk, "modelVersion"); !mv.empty() && out.model != mv)
    out.model.assign(mv);
  if (out.request_id.empty()) out.request_id.assign(str_at(chunk, "responseId"));
  result.text = std::string_view(out.content).substr(text_start);
  result.reasoning = std::string_view(out.reasoning).substr(reasoning_start);
  return result;
}

void finish_gemini(ChatResponse& out) {
  if (out.error) return;
  if (out.finish_reason == FinishReason::content_filter && out.content.empty()) {
    out.error.code = errc::content_filter;
    out.error.provider = "gemini";
    out.error.vendor_code = out.finish_reason_raw;
    out.error.message = "the answer was blocked (" + out.finish_reason_raw + ")";
  }
}

void parse_gemini_response(std::string_view body, ChatResponse& out) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  const json::object* root = ec ? nullptr : doc.if_object();
  if (!root) {
    out.error = make_error(errc::protocol, "response is not a Gemini GenerateContentResponse");
    out.error.provider = "gemini";
    out.error.body_excerpt = redact_secrets(body.substr(0, 512));
    return;
  }
  apply_gemini_chunk(*root, out);
  finish_gemini(out);
}

void StreamAssembler::on_gemini(const json::value& v) {
  const json::object* root = v.if_object();
  if (!root) {
    fail(make_error(errc::protocol, "stream chunk is not a JSON object"));
    return;
  }
  if (const auto* err = obj_at(*root, "error")) {
    // An error inside a 200 stream: classify by its own code, status stays 0.
    const int code = static_cast<int>(int_at(*err, "code").value_or(500));
    Error e = classify_error(Vendor::gemini, code, {}, json::serialize(v));
    e.status = 0;
    e.body_excerpt.clear();
    fail(std::move(e));
    return;
  }
  GeminiChunk piece = apply_gemini_chunk(*root, out_);
  if (!piece.text.empty() || !piece.reasoning.empty()) {
    delivered_ = true;
    if (on_delta_ && *on_delta_) (*on_delta_)(StreamDelta{piece.text, piece.reasoning});
  }
  if (!out_.finish_reason_raw.empty()) complete_ = true;
}

}  // namespace chorus::providers
