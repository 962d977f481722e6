// JSON of run results and events: the one wire shape shared by the CLI, the server and bindings.
#include <chorus/run_event.hpp>

#include <boost/json.hpp>

#include <array>
#include <cmath>
#include <utility>

namespace chorus {
namespace json = boost::json;

namespace {

constexpr std::array<std::pair<NodeStatus, std::string_view>, 4> node_status_names{{
    {NodeStatus::succeeded, "succeeded"},
    {NodeStatus::failed, "failed"},
    {NodeStatus::skipped, "skipped"},
    {NodeStatus::cancelled, "cancelled"},
}};

constexpr std::array<std::pair<RunStatus, std::string_view>, 4> run_status_names{{
    {RunStatus::succeeded, "succeeded"},
    {RunStatus::failed, "failed"},
    {RunStatus::cancelled, "cancelled"},
    {RunStatus::budget_exceeded, "budget_exceeded"},
}};

constexpr std::array<std::pair<RunEventType, std::string_view>, 8> event_type_names{{
    {RunEventType::run_started, "run_started"},
    {RunEventType::node_started, "node_started"},
    {RunEventType::token, "token"},
    {RunEventType::node_retry, "node_retry"},
    {RunEventType::node_finished, "node_finished"},
    {RunEventType::node_failed, "node_failed"},
    {RunEventType::node_skipped, "node_skipped"},
    {RunEventType::run_finished, "run_finished"},
}};

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [value, name] : table)
    if (value == e) return name;
  return "unknown";
}

template <class E, std::size_t N>
std::optional<E> parse_name(const std::array<std::pair<E, std::string_view>, N>& table,
                            std::string_view s) {
  for (const auto& [value, name] : table)
    if (name == s) return value;
  return std::nullopt;
}

[[noreturn]] void bad_field(std::string_view field, std::string_view what) {
  std::string msg = "invalid ";
  msg += field;
  msg += ": ";
  msg += what;
  throw Exception(make_error(errc::invalid_argument, std::move(msg)));
}

// Milliseconds with microsecond precision, as a JSON number.
double to_ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

std::chrono::microseconds from_ms(double ms) {
  return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(ms * 1000.0)));
}

const json::object& as_object(const json::value& v, std::string_view field) {
  if (!v.is_object()) bad_field(field, "expected an object");
  return v.get_object();
}

std::string get_string(const json::object& o, std::string_view key, std::string_view field) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) bad_field(field, "expected a string");
  return std::string(v->get_string());
}

double get_number(const json::object& o, std::string_view key, std::string_view field,
                  double fallback = 0) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return fallback;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  bad_field(field, "expected a number");
}

std::int64_t get_int(const json::object& o, std::string_view key, std::string_view field) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double() && std::trunc(v->get_double()) == v->get_double())
    return static_cast<std::int64_t>(v->get_double());
  bad_field(field, "expected an integer");
}

std::optional<double> get_cost(const json::object& o, std::string_view field) {
  const json::value* v = o.if_contains("cost");
  if (!v || v->is_null()) return std::nullopt;
  return get_number(o, "cost", field);
}

json::value cost_to_json(const std::optional<double>& c) {
  if (!c) return nullptr;
  return *c;
}

}  // namespace

std::string_view to_string(NodeStatus s) noexcept {
  return name_of(node_status_names, s);
}
std::optional<NodeStatus> node_status_from_string(std::string_view s) noexcept {
  return parse_name(node_status_names, s);
}
std::string_view to_string(RunStatus s) noexcept {
  return name_of(run_status_names, s);
}
std::optional<RunStatus> run_status_from_string(std::string_view s) noexcept {
  return parse_name(run_status_names, s);
}
std::string_view to_string(RunEventType t) noexcept {
  return name_of(event_type_names, t);
}
std::optional<RunEventType> run_event_type_from_string(std::string_view s) noexcept {
  return parse_name(event_type_names, s);
}

json::value error_to_json(const Error& e) {
  if (!e.code) return nullptr;
  json::object o;
  o["kind"] = error_kind(e.code);
  o["message"] = e.message.empty() ? e.code.message() : e.message;
  if (!e.provider.empty()) o["provider"] = e.provider;
  if (e.status != 0) o["status"] = e.status;
  if (!e.request_id.empty()) o["requestId"] = e.request_id;
  if (!e.vendor_code.empty()) o["vendorCode"] = e.vendor_code;
  if (e.retry_after) o["retryAfterMs"] = e.retry_after->count();
  if (!e.node_id.empty()) o["nodeId"] = e.node_id;
  return o;
}

Error error_from_json(const json::value& v) {
  Error e;
  if (v.is_null()) return e;
  const auto& o = as_object(v, "error");
  std::string kind = get_string(o, "kind", "error.kind");
  if (auto code = errc_from_string(kind)) {
    e.code = *code;
  } else if (kind == "ok" || kind.empty()) {
    bad_field("error.kind", "missing");
  } else {
    // A kind we do not know ("error"): keep the failure visible rather than dropping it.
    e.code = errc::invalid_argument;
  }
  e.message = get_string(o, "message", "error.message");
  e.provider = get_string(o, "provider", "error.provider");
  e.status = static_cast<int>(get_int(o, "status", "error.status"));
  e.request_id = get_string(o, "requestId", "error.requestId");
  e.vendor_code = get_string(o, "vendorCode", "error.vendorCode");
  if (o.contains("retryAfterMs") && !o.at("retryAfterMs").is_null())
    e.retry_after = std::chrono::milliseconds(get_int(o, "retryAfterMs", "error.retryAfterMs"));
  e.node_id = get_string(o, "nodeId", "error.nodeId");
  return e;
}

json::object usage_to_json(const Usage& u) {
  json::object o;
  o["promptTokens"] = u.prompt_tokens;
  o["completionTokens"] = u.completion_tokens;
  o["totalTokens"] = u.total_tokens;
  o["cachedPromptTokens"] = u.cached_prompt_tokens;
  o["reasoningTokens"] = u.reasoning_tokens;
  if (u.estimated) o["estimated"] = true;
  return o;
}

Usage usage_from_json(const json::value& v) {
  Usage u;
  if (v.is_null()) return u;
  const auto& o = as_object(v, "usage");
  u.prompt_tokens = get_int(o, "promptTokens", "usage.promptTokens");
  u.completion_tokens = get_int(o, "completionTokens", "usage.completionTokens");
  u.total_tokens = get_int(o, "totalTokens", "usage.totalTokens");
  u.cached_prompt_tokens = get_int(o, "cachedPromptTokens", "usage.cachedPromptTokens");
  u.reasoning_tokens = get_int(o, "reasoningTokens", "usage.reasoningTokens");
  if (const auto* e = o.if_contains("estimated"); e && e->is_bool()) u.estimated = e->get_bool();
  u.reported = u.total_tokens != 0 && !u.estimated;
  return u;
}

json::object NodeResult::to_json() const {
  json::object o;
  o["status"] = chorus::to_string(status);
  o["output"] = output;
  o["usage"] = usage_to_json(usage);
  o["cost"] = cost_to_json(cost);
  o["latencyMs"] = to_ms(latency);
  o["attempts"] = attempts;
  o["error"] = error_to_json(error);
  o["provider"] = provider;
  o["model"] = model;
  o["iterations"] = iterations;
  if (!route.empty()) o["route"] = route;
  return o;
}

NodeResult NodeResult::from_json(const json::value& v) {
  const auto& o = as_object(v, "node result");
  NodeResult r;
  auto status = node_status_from_string(get_string(o, "status", "status"));
  if (!status) bad_field("status", "expected succeeded, failed, skipped or cancelled");
  r.status = *status;
  r.output = get_string(o, "output", "output");
  if (const auto* u = o.if_contains("usage")) r.usage = usage_from_json(*u);
  r.cost = get_cost(o, "cost");
  r.latency = from_ms(get_number(o, "latencyMs", "latencyMs"));
  r.attempts = static_cast<int>(get_int(o, "attempts", "attempts"));
  if (const auto* e = o.if_contains("error")) r.error = error_from_json(*e);
  r.provider = get_string(o, "provider", "provider");
  r.model = get_string(o, "model", "model");
  r.iterations = static_cast<int>(get_int(o, "iterations", "iterations"));
  r.route = get_string(o, "route", "route");
  return r;
}

json::object RunResult::to_json() const {
  json::object o;
  o["status"] = chorus::to_string(status);
  o["runId"] = run_id;
  o["output"] = output;
  json::object n;
  for (const auto& [id, result] : nodes)
    n[id] = result.to_json();
  o["nodes"] = std::move(n);
  o["usage"] = usage_to_json(usage);
  o["cost"] = cost_to_json(cost);
  o["wallTimeMs"] = to_ms(wall_time);
  o["error"] = error_to_json(error);
  return o;
}

RunResult RunResult::from_json(const json::value& v) {
  const auto& o = as_object(v, "run result");
  RunResult r;
  auto status = run_status_from_string(get_string(o, "status", "status"));
  if (!status) bad_field("status", "expected succeeded, failed, cancelled or budget_exceeded");
  r.status = *status;
  r.run_id = get_string(o, "runId", "runId");
  r.output = get_string(o, "output", "output");
  if (const auto* n = o.if_contains("nodes"); n && !n->is_null()) {
    for (const auto& [id, node] : as_object(*n, "nodes")) {
      try {
        r.nodes.emplace(std::string(id), NodeResult::from_json(node));
      } catch (const Exception& e) {
        bad_field("nodes." + std::string(id), e.error().message);
      }
    }
  }
  if (const auto* u = o.if_contains("usage")) r.usage = usage_from_json(*u);
  r.cost = get_cost(o, "cost");
  r.wall_time = from_ms(get_number(o, "wallTimeMs", "wallTimeMs"));
  if (const auto* e = o.if_contains("error")) r.error = error_from_json(*e);
  return r;
}

json::object RunEvent::to_json() const {
  json::object o;
  o["type"] = chorus::to_string(type);
  o["runId"] = run_id;
  o["seq"] = seq;
  o["timeMs"] = to_ms(time);
  if (!node_id.empty()) o["nodeId"] = node_id;
  if (!node_type.empty()) o["nodeType"] = node_type;
  if (type == RunEventType::token) o["text"] = text;
  if (type == RunEventType::node_retry || type == RunEventType::node_started) {
    if (attempt > 0) o["attempt"] = attempt;
  }
  if (iteration > 0) o["iteration"] = iteration;
  if (item) o["item"] = *item;
  if (!provider.empty()) o["provider"] = provider;
  if (!model.empty()) o["model"] = model;
  if (type == RunEventType::node_retry) o["delayMs"] = delay.count();
  if (!status.empty()) o["status"] = status;
  if (resumed) o["resumed"] = true;
  if (error && error->code) o["error"] = error_to_json(*error);
  if (result) o["result"] = result->to_json();
  if (run_result) o["result"] = run_result->to_json();
  return o;
}

}  // namespace chorus
