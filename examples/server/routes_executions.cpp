// POST /api/workflows/:id/execute (JSON or SSE), GET /api/executions/:id, GET /api/executions
// (history), POST /api/executions/:id/cancel, GET /api/executions/:id/events (SSE with
// Last-Event-ID resume).
#include "app.hpp"
#include "runs.hpp"

#include <boost/json/serialize.hpp>

#include <cmath>
#include <set>
#include <variant>

namespace chorus::server {

namespace {

json::value usage_json(std::int64_t p, std::int64_t c, std::int64_t t) {
  return json::object{{"promptTokens", p}, {"completionTokens", c}, {"totalTokens", t}};
}

json::value opt_json(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}

json::object node_json(const ExecutionNodeRecord& n) {
  return {{"nodeId", n.node_id},
          {"status", n.status},
          {"output", opt_json(n.output)},
          {"error", n.error ? parse_stored(*n.error) : json::value(nullptr)},
          {"provider", opt_json(n.provider)},
          {"model", opt_json(n.model)},
          {"usage", usage_json(n.prompt_tokens, n.completion_tokens, n.total_tokens)},
          {"cost", n.cost ? json::value(*n.cost) : json::value(nullptr)},
          {"latencyMs", n.latency_ms},
          {"attempts", n.attempts}};
}

json::object execution_json(App& app, const ExecutionRecord& e, bool with_nodes) {
  json::object o{
      {"id", e.id},
      {"workflowId", e.workflow_id},
      {"workflowVersion", e.workflow_version},
      {"status", e.status},
      {"input", e.input},
      {"output", opt_json(e.output)},
      {"error", e.error ? parse_stored(*e.error) : json::value(nullptr)},
      {"usage", usage_json(e.prompt_tokens, e.completion_tokens, e.total_tokens)},
      {"cost", e.cost ? json::value(*e.cost) : json::value(nullptr)},
      {"startedAt", iso_time(e.started_at)},
      {"finishedAt", e.finished_at ? json::value(iso_time(*e.finished_at)) : json::value(nullptr)},
      {"lastEventId", e.last_seq},
      {"eventsUrl", "/api/executions/" + e.id + "/events"}};
  if (with_nodes) {
    json::array nodes;
    if (auto live = app.runs->live_nodes(e.id)) {
      for (const auto& [id, n] : *live)
        nodes.push_back(node_json(n));
    } else {
      for (const auto& n : app.db->list_execution_nodes(e.id))
        nodes.push_back(node_json(n));
    }
    o["nodes"] = std::move(nodes);
  }
  return o;
}

std::int64_t after_seq_of(Ctx& c) {
  std::string v(c.req.header("last-event-id"));
  if (v.empty())
    if (auto q = c.req.query_param("lastEventId")) v = *q;
  if (v.empty()) return -1;
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  return (*end == '\0' && n >= -1) ? n : -2;
}

}  // namespace

std::variant<ExecutionRecord, StartFailure> start_execution(App& app, const User& user,
                                                            const WorkflowRecord& wf,
                                                            std::string input,
                                                            const std::string& request_id) {
  const TierLimits& t = app.tier(user.tier);
  auto plan_error = [&](int status, const char* limit, std::string message, json::value allowed,
                        HeaderList h = {}) {
    if (!t.upgrade_to.empty()) message += "; upgrade to " + t.upgrade_to + " for a higher limit";
    return StartFailure{
        status,
        "plan_limit_exceeded",
        std::move(message),
        {{"limit", limit}, {"tier", user.tier}, {"allowed", allowed}, {"upgradeTo", t.upgrade_to}},
        std::move(h)};
  };
  std::int64_t now = now_ms();
  std::int64_t day_start = now / 86'400'000 * 86'400'000;
  if (t.executions_per_day > 0 &&
      app.db->count_executions_since(user.id, day_start) >= t.executions_per_day) {
    auto secs = (day_start + 86'400'000 - now) / 1000 + 1;
    return plan_error(429, "executionsPerDay",
                      "the " + user.tier + " plan allows " + std::to_string(t.executions_per_day) +
                          " executions per day",
                      t.executions_per_day, {{"Retry-After", std::to_string(secs)}});
  }
  if (t.concurrent_runs > 0 && app.runs->running_for_user(user.id) >= t.concurrent_runs)
    return plan_error(429, "concurrentRuns",
                      "the " + user.tier + " plan allows " + std::to_string(t.concurrent_runs) +
                          " executions at a time",
                      t.concurrent_runs, {{"Retry-After", "1"}});
  if (t.monthly_platform_cost_usd >= 0) {
    std::string month_start = iso_day(now).substr(0, 8) + "01";
    double spent = app.db->platform_cost_since(user.id, month_start);
    if (spent >= t.monthly_platform_cost_usd)
      return plan_error(402, "monthlyPlatformCostUsd",
                        "the " + user.tier + " plan includes $" +
                            std::to_string(t.monthly_platform_cost_usd) +
                            " per month of calls on the server's keys and this month used $" +
                            std::to_string(spent) + "; add your own provider key in settings",
                        t.monthly_platform_cost_usd);
  }
  std::size_t nodes = 0;
  json::array problems = app.validate_workflow(wf.configuration, &nodes);
  if (!problems.empty())
    return StartFailure{400,
                        "invalid_workflow",
                        "the stored workflow does not validate; fix it and save again",
                        {{"problems", std::move(problems)}},
                        {}};
  if (t.max_nodes > 0 && static_cast<std::int64_t>(nodes) > t.max_nodes)
    return plan_error(
        403, "maxNodes",
        "the " + user.tier + " plan allows " + std::to_string(t.max_nodes) + " nodes per workflow",
        t.max_nodes);

  // The user's own keys for the providers the workflow names, decrypted for this run only.
  RunManager::Start s;
  auto keys = decrypt_run_keys(app, user.id, wf.configuration, app.db->list_api_keys(user.id));
  if (!keys.unreadable.empty())
    return StartFailure{
        409,
        "key_unreadable",
        "the stored key for " + keys.unreadable + " cannot be decrypted; set it again",
        {{"provider", keys.unreadable}},
        {}};
  s.api_keys = std::move(keys.keys);
  ExecutionRecord e;
  e.id = random_id();
  e.workflow_id = wf.id;
  e.user_id = user.id;
  e.status = "queued";
  e.input = std::move(input);
  e.workflow_version = wf.version;
  e.started_at = now;
  app.db->create_execution(e);
  s.record = e;
  s.document = wf.configuration;
  app.runs->start(std::move(s));
  app.log.log(Logger::info, "execution started",
              {{"executionId", e.id}, {"workflowId", wf.id}, {"requestId", request_id}});
  return e;
}

void register_execution_routes(App& app) {
  app.route("POST", "/api/workflows/:id/execute", true, [&app](CtxPtr c) {
    auto body = c->body_object();
    if (!body) return;
    Fields f(*body);
    auto input = f.string("input", false, 0, 1 << 20);
    auto stream = f.boolean("stream");
    auto wait = f.boolean("wait");
    if (!f.ok()) return f.reject(*c);
    auto wf = app.db->get_workflow(c->user->id, c->params[0]);
    if (!wf) return c->error(404, "not_found", "no such workflow");

    auto started = start_execution(app, *c->user, *wf, input.value_or(""), c->req.request_id);
    if (auto* fail = std::get_if<StartFailure>(&started))
      return c->error(fail->status, fail->code, fail->message, std::move(fail->details),
                      std::move(fail->headers));
    const ExecutionRecord& e = std::get<ExecutionRecord>(started);

    bool sse = stream.value_or(false) ||
               c->req.header("accept").find("text/event-stream") != std::string_view::npos;
    if (sse) {
      HttpResponse r;
      r.headers.push_back({"X-Execution-Id", e.id});
      for (auto& h : c->extra_headers)
        r.headers.push_back(h);
      std::string id = e.id;
      r.sse = [&app, id](std::shared_ptr<SseSink> sink) {
        app.runs->attach(id, -1, std::move(sink));
      };
      c->responder(std::move(r));
      return;
    }
    if (wait.value_or(false)) {
      std::string id = e.id, uid = c->user->id;
      app.runs->when_finished(id, [&app, c, id, uid] {
        try {
          auto rec = app.db->get_execution(uid, id);
          if (!rec) return c->error(404, "not_found", "no such execution");
          c->json(200, execution_json(app, *rec, true));
        } catch (const std::exception& ex) {
          app.log.log(Logger::error, "reading the finished execution failed",
                      {{"error", ex.what()}});
          c->error(503, "storage_unavailable", "the database failed; try again");
        }
      });
      return;
    }
    c->json(202,
            json::object{{"id", e.id},
                         {"executionId", e.id},
                         {"status", "running"},
                         {"eventsUrl", "/api/executions/" + e.id + "/events"}},
            {{"Location", "/api/executions/" + e.id}});
  });

  app.route("GET", "/api/executions/:id", true, [&app](CtxPtr c) {
    auto e = app.db->get_execution(c->user->id, c->params[0]);
    if (!e) return c->error(404, "not_found", "no such execution");
    c->json(200, execution_json(app, *e, true));
  });

  app.route("GET", "/api/executions", true, [&app](CtxPtr c) {
    std::int64_t limit, offset;
    if (!read_paging(*c, limit, offset)) return;
    std::optional<std::string> wf = c->req.query_param("workflow_id");
    if (!wf) wf = c->req.query_param("workflowId");
    if (wf && !app.db->get_workflow(c->user->id, *wf) &&
        app.db->list_executions(c->user->id, wf, 1, 0).total == 0)
      return c->error(404, "not_found", "no such workflow");
    auto page = app.db->list_executions(c->user->id, wf, limit, offset);
    json::array items;
    for (const auto& e : page.items)
      items.push_back(execution_json(app, e, false));
    c->json(200, json::object{{"items", std::move(items)},
                              {"total", page.total},
                              {"limit", limit},
                              {"offset", offset}});
  });

  app.route("POST", "/api/executions/:id/cancel", true, [&app](CtxPtr c) {
    auto e = app.db->get_execution(c->user->id, c->params[0]);
    if (!e) return c->error(404, "not_found", "no such execution");
    if (!app.runs->cancel(e->id))
      return c->error(409, "not_running", "the execution already ended with status " + e->status,
                      {{"status", e->status}});
    c->json(202, json::object{{"id", e->id}, {"status", "cancelling"}});
  });

  app.route("GET", "/api/executions/:id/events", true, [&app](CtxPtr c) {
    auto e = app.db->get_execution(c->user->id, c->params[0]);
    if (!e) return c->error(404, "not_found", "no such execution");
    std::int64_t after = after_seq_of(*c);
    if (after == -2)
      return c->error(400, "invalid_parameter", "Last-Event-ID must be an event id (an integer)");
    HttpResponse r;
    r.headers.push_back({"X-Execution-Id", e->id});
    std::string id = e->id;
    r.sse = [&app, id, after](std::shared_ptr<SseSink> sink) {
      app.runs->attach(id, after, std::move(sink));
    };
    c->send(std::move(r));
  });
}

}  // namespace chorus::server
