#include "convert.hpp"

#include <chorus/run_event.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <limits>

namespace chorus::node {

namespace json = boost::json;

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw ArgumentError(field + ": " + why);
}

const json::value* field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string get_string(const json::object& o, std::string_view key, const std::string& name) {
  const auto* v = field(o, key);
  if (!v) return {};
  if (!v->is_string()) bad(name, "must be a string");
  return std::string(v->get_string());
}

std::optional<double> get_number(const json::object& o, std::string_view key,
                                 const std::string& name) {
  const auto* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(name, "must be a number");
  return v->to_number<double>();
}

std::optional<std::int64_t> get_int(const json::object& o, std::string_view key,
                                    const std::string& name, std::int64_t min) {
  auto d = get_number(o, key, name);
  if (!d) return std::nullopt;
  if (!std::isfinite(*d) || std::floor(*d) != *d || *d < static_cast<double>(min) || *d > 9.0e15) {
    bad(name, "must be an integer >= " + std::to_string(min));
  }
  return static_cast<std::int64_t>(*d);
}

bool get_bool(const json::object& o, std::string_view key, const std::string& name, bool dflt) {
  const auto* v = field(o, key);
  if (!v) return dflt;
  if (!v->is_bool()) bad(name, "must be a boolean");
  return v->get_bool();
}

std::map<std::string, std::string> get_string_map(const json::object& o, std::string_view key,
                                                  const std::string& name) {
  std::map<std::string, std::string> out;
  const auto* v = field(o, key);
  if (!v) return out;
  if (!v->is_object()) bad(name, "must be an object of strings");
  for (const auto& kv : v->get_object()) {
    if (!kv.value().is_string()) bad(name + "." + std::string(kv.key()), "must be a string");
    out.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  return out;
}

std::map<std::string, std::size_t> get_count_map(const json::object& o, std::string_view key,
                                                 const std::string& name) {
  std::map<std::string, std::size_t> out;
  const auto* v = field(o, key);
  if (!v) return out;
  if (!v->is_object()) bad(name, "must be an object of integers");
  for (const auto& kv : v->get_object()) {
    json::object one;
    one["n"] = kv.value();
    auto n = get_int(one, "n", name + "." + std::string(kv.key()), 1);
    if (!n) bad(name + "." + std::string(kv.key()), "must be an integer >= 1");
    out.emplace(std::string(kv.key()), static_cast<std::size_t>(*n));
  }
  return out;
}

Role role_from(std::string_view s, const std::string& name) {
  if (s == "user") return Role::user;
  if (s == "assistant") return Role::assistant;
  if (s == "system") return Role::system;
  bad(name, "must be 'user', 'assistant' or 'system'");
}

double to_ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

FinishReason finish_reason_from(std::string_view s) {
  for (auto r : {FinishReason::stop, FinishReason::length, FinishReason::content_filter,
                 FinishReason::tool_calls, FinishReason::error}) {
    if (to_string(r) == s) return r;
  }
  bad("finishReason", "must be 'stop', 'length', 'content_filter', 'tool_calls' or 'error'");
}

}  // namespace

std::string to_text(const json::value& v) {
  return json::serialize(v);
}

json::object parse_object(std::string_view text, const char* what) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) throw ArgumentError(std::string(what) + ": must be a JSON object");
  return std::move(v.get_object());
}

ChatRequest request_from_json(const json::object& o) {
  ChatRequest req;
  auto& c = req.config;
  c.model = get_string(o, "model", "model");
  if (c.model.empty()) bad("model", "required (a non-empty string)");
  c.system_prompt = get_string(o, "systemPrompt", "systemPrompt");
  c.temperature = get_number(o, "temperature", "temperature");
  c.max_tokens = get_int(o, "maxTokens", "maxTokens", 1);
  if (const auto* s = field(o, "stop")) {
    if (s->is_string()) {
      c.stop.emplace_back(s->get_string());
    } else if (s->is_array()) {
      for (std::size_t i = 0; i < s->get_array().size(); ++i) {
        const auto& x = s->get_array()[i];
        if (!x.is_string()) bad("stop[" + std::to_string(i) + "]", "must be a string");
        c.stop.emplace_back(x.get_string());
      }
    } else {
      bad("stop", "must be a string or an array of strings");
    }
  }
  c.json_mode = get_bool(o, "jsonMode", "jsonMode", false);
  if (const auto* s = field(o, "responseSchema")) c.response_schema = *s;
  if (auto t = get_int(o, "timeoutMs", "timeoutMs", 1)) c.timeout = std::chrono::milliseconds(*t);
  if (const auto* e = field(o, "extra")) {
    if (!e->is_object()) bad("extra", "must be an object");
    c.extra = e->get_object();
  }
  req.api_key = get_string(o, "apiKey", "apiKey");

  if (const auto* m = field(o, "messages")) {
    if (!m->is_array()) bad("messages", "must be an array of {role, content}");
    const auto& arr = m->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      std::string name = "messages[" + std::to_string(i) + "]";
      if (!arr[i].is_object()) bad(name, "must be an object {role, content}");
      const auto& mo = arr[i].get_object();
      Message msg;
      std::string role = get_string(mo, "role", name + ".role");
      msg.role = role.empty() ? Role::user : role_from(role, name + ".role");
      const auto* content = mo.if_contains("content");
      if (!content || !content->is_string()) bad(name + ".content", "must be a string");
      msg.content = std::string(content->get_string());
      req.messages.push_back(std::move(msg));
    }
  }
  if (const auto* p = field(o, "prompt")) {
    if (!p->is_string()) bad("prompt", "must be a string");
    req.messages.push_back(Message{Role::user, std::string(p->get_string())});
  }
  if (req.messages.empty()) bad("prompt", "required (or messages)");
  return req;
}

json::object request_to_json(const ChatRequest& r) {
  json::object o;
  o["model"] = r.config.model;
  json::array msgs;
  for (const auto& m : r.messages) {
    json::object mo;
    mo["role"] = to_string(m.role);
    mo["content"] = m.content;
    msgs.push_back(std::move(mo));
  }
  o["messages"] = std::move(msgs);
  o["systemPrompt"] = r.config.system_prompt;
  if (r.config.temperature) o["temperature"] = *r.config.temperature;
  if (r.config.max_tokens) o["maxTokens"] = *r.config.max_tokens;
  if (!r.config.stop.empty()) {
    json::array stop;
    for (const auto& s : r.config.stop)
      stop.emplace_back(s);
    o["stop"] = std::move(stop);
  }
  o["jsonMode"] = r.config.json_mode;
  if (r.config.response_schema) o["responseSchema"] = *r.config.response_schema;
  if (r.config.timeout) o["timeoutMs"] = r.config.timeout->count();
  if (!r.config.extra.empty()) o["extra"] = r.config.extra;
  if (!r.api_key.empty()) o["apiKey"] = r.api_key;
  return o;
}

json::object response_to_json(const ChatResponse& r) {
  json::object o;
  o["content"] = r.content;
  o["reasoning"] = r.reasoning;
  json::array calls;
  for (const auto& c : r.tool_calls) {
    json::object t;
    t["id"] = c.id;
    t["name"] = c.name;
    t["arguments"] = c.arguments;
    calls.push_back(std::move(t));
  }
  o["toolCalls"] = std::move(calls);
  o["usage"] = usage_to_json(r.usage);
  o["cost"] = r.cost ? json::value(*r.cost) : json::value(nullptr);
  o["latencyMs"] = to_ms(r.latency);
  o["timeToFirstTokenMs"] =
      r.time_to_first_token ? json::value(to_ms(*r.time_to_first_token)) : json::value(nullptr);
  o["finishReason"] = to_string(r.finish_reason);
  o["finishReasonRaw"] = r.finish_reason_raw;
  o["model"] = r.model;
  o["provider"] = r.provider;
  o["requestId"] = r.request_id;
  o["attempts"] = r.attempts;
  return o;
}

ChatResponse response_from_json(const json::object& o) {
  ChatResponse r;
  r.content = get_string(o, "content", "content");
  r.reasoning = get_string(o, "reasoning", "reasoning");
  if (const auto* u = field(o, "usage")) {
    if (!u->is_object())
      bad("usage", "must be an object {promptTokens, completionTokens, totalTokens}");
    const auto& uo = u->get_object();
    r.usage.prompt_tokens = get_int(uo, "promptTokens", "usage.promptTokens", 0).value_or(0);
    r.usage.completion_tokens =
        get_int(uo, "completionTokens", "usage.completionTokens", 0).value_or(0);
    r.usage.total_tokens = get_int(uo, "totalTokens", "usage.totalTokens", 0)
                               .value_or(r.usage.prompt_tokens + r.usage.completion_tokens);
    r.usage.reported = true;
  }
  if (auto cost = get_number(o, "cost", "cost")) {
    if (*cost < 0 || !std::isfinite(*cost)) bad("cost", "must be a finite number >= 0");
    r.cost = *cost;
  }
  r.model = get_string(o, "model", "model");
  r.request_id = get_string(o, "requestId", "requestId");
  std::string finish = get_string(o, "finishReason", "finishReason");
  if (!finish.empty()) r.finish_reason = finish_reason_from(finish);
  return r;
}

RunOptions run_options_from_json(const json::object& o) {
  RunOptions opts;
  opts.stream_tokens = get_bool(o, "streamTokens", "streamTokens", true);
  if (auto c = get_number(o, "maxCostUsd", "maxCostUsd")) {
    if (*c < 0 || !std::isfinite(*c)) bad("maxCostUsd", "must be a finite number >= 0");
    opts.max_cost_usd = *c;
  }
  opts.max_tokens = get_int(o, "maxTokens", "maxTokens", 1);
  if (auto n = get_int(o, "maxConcurrency", "maxConcurrency", 1)) {
    opts.max_concurrency = static_cast<std::size_t>(*n);
  }
  opts.provider_concurrency = get_count_map(o, "providerConcurrency", "providerConcurrency");
  opts.api_keys = get_string_map(o, "apiKeys", "apiKeys");
  opts.run_id = get_string(o, "runId", "runId");
  return opts;
}

std::map<std::string, ProviderOptions> provider_overrides_from_json(const json::object& o) {
  std::map<std::string, ProviderOptions> overrides;
  for (auto& [id, key] : get_string_map(o, "apiKeys", "apiKeys"))
    overrides[id].api_key = key;
  for (auto& [id, url] : get_string_map(o, "baseUrls", "baseUrls"))
    overrides[id].base_url = url;
  auto timeout = get_int(o, "timeoutMs", "timeoutMs", 1);
  auto retries = get_int(o, "maxRetries", "maxRetries", 0);
  if (timeout || retries) {
    for (const char* id :
         {"openai", "anthropic", "gemini", "deepseek", "openai-compatible", "simulated"}) {
      overrides[id];
    }
    for (auto& [id, opt] : overrides) {
      if (timeout) opt.timeout = std::chrono::milliseconds(*timeout);
      if (retries) opt.retry.max_attempts = static_cast<int>(*retries) + 1;
    }
  }
  return overrides;
}

}  // namespace chorus::node
