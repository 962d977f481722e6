#include "runs.hpp"

#include <chorus/executor.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>

namespace chorus::server {

std::string sse_frame(std::int64_t seq, std::string_view json_text) {
  std::string f;
  f.reserve(json_text.size() + 32);
  f += "id: ";
  f += std::to_string(seq);
  f += "\ndata: ";
  f += json_text;
  f += "\n\n";
  return f;
}

struct LiveRun {
  std::string id, user_id, workflow_id;
  std::shared_ptr<const Workflow> workflow;
  std::string input;
  std::map<std::string, std::string> api_keys;
  std::set<std::string> user_keys;  // providers whose calls use the user's own key
  std::shared_ptr<StopSignal> stop = StopSignal::create();
  std::vector<std::pair<std::int64_t, std::shared_ptr<const std::string>>>
      frames;                        // the log so far
  std::vector<EventRecord> pending;  // not yet persisted
  std::vector<std::shared_ptr<SseSink>> listeners;
  std::vector<std::function<void()>> on_done;
  std::map<std::string, ExecutionNodeRecord> nodes;  // live node results
  std::chrono::steady_clock::time_point last_flush = std::chrono::steady_clock::now();
  bool running = false;
};

struct RunManager::State {
  explicit State(App& app) : executor(app.ioc.get_executor(), app.providers) {}
  Executor executor;
  std::map<std::string, std::shared_ptr<LiveRun>> live;
  std::deque<std::shared_ptr<LiveRun>> queue;
  std::size_t running = 0;
};

RunManager::RunManager(App& app) : app_(app), state_(std::make_unique<State>(app)) {}
RunManager::~RunManager() = default;

namespace {

ExecutionNodeRecord node_record(const std::string& id, const NodeResult& r) {
  ExecutionNodeRecord n;
  n.node_id = id;
  n.status = std::string(to_string(r.status));
  n.output = r.output;
  if (r.error) n.error = json::serialize(error_to_json(r.error));
  if (!r.provider.empty()) n.provider = r.provider;
  if (!r.model.empty()) n.model = r.model;
  n.prompt_tokens = r.usage.prompt_tokens;
  n.completion_tokens = r.usage.completion_tokens;
  n.total_tokens = r.usage.total_tokens;
  n.cost = r.cost;
  n.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.latency).count();
  n.attempts = r.attempts;
  return n;
}

}  // namespace

void RunManager::start(Start s) {
  auto run = std::make_shared<LiveRun>();
  run->id = s.record.id;
  run->user_id = s.record.user_id;
  run->workflow_id = s.record.workflow_id;
  run->input = s.record.input;
  run->api_keys = std::move(s.api_keys);
  for (const auto& [provider, key] : run->api_keys)
    run->user_keys.insert(provider);
  auto parsed = Workflow::parse(s.document);
  if (parsed.workflow)
    run->workflow = std::make_shared<const Workflow>(std::move(*parsed.workflow));
  state_->live[run->id] = run;
  if (state_->running >= app_.cfg.max_concurrent_runs) {
    state_->queue.push_back(run);
    return;
  }
  launch(run);
}

void RunManager::launch(std::shared_ptr<LiveRun> run) {
  ++state_->running;
  run->running = true;
  app_.db->set_execution_status(run->id, "running");
  app_.metrics.count("chorus_executions_started_total");
  if (!run->workflow) {  // the stored document no longer parses (library changed): fail cleanly
    ExecutionFinal f;
    f.execution_id = run->id;
    f.user_id = run->user_id;
    f.status = "failed";
    f.error = R"({"kind":"invalid_workflow","message":"the stored workflow no longer parses"})";
    f.finished_at = now_ms();
    f.day = iso_day(f.finished_at);
    finalize(run, std::move(f));
    return;
  }
  RunOptions opts;
  opts.run_id = run->id;
  opts.stop = run->stop;
  opts.api_keys = run->api_keys;
  opts.stream_tokens = true;
  std::weak_ptr<LiveRun> weak = run;
  opts.on_event = [this, weak](const RunEvent& e) {
    auto r = weak.lock();
    if (!r) return;
    if (e.result && !e.node_id.empty() &&
        (e.type == RunEventType::node_finished || e.type == RunEventType::node_failed ||
         e.type == RunEventType::node_skipped))
      r->nodes[std::string(e.node_id)] = node_record(std::string(e.node_id), *e.result);
    std::string text = json::serialize(e.to_json());
    bool important = e.type != RunEventType::token;
    on_event(*r, std::move(text), static_cast<std::int64_t>(e.seq), important);
  };
  state_->executor.async_run(run->workflow, run->input, std::move(opts),
                             [this, run](error_code, RunResult result) {
                               // Keys leave memory with the run.
                               for (auto& [k, v] : run->api_keys)
                                 std::fill(v.begin(), v.end(), '\0');
                               run->api_keys.clear();
                               ExecutionFinal f;
                               f.execution_id = run->id;
                               f.user_id = run->user_id;
                               f.status = std::string(to_string(result.status));
                               f.output = result.output;
                               if (result.error)
                                 f.error = json::serialize(error_to_json(result.error));
                               f.prompt_tokens = result.usage.prompt_tokens;
                               f.completion_tokens = result.usage.completion_tokens;
                               f.total_tokens = result.usage.total_tokens;
                               f.cost = result.cost;
                               f.finished_at = now_ms();
                               f.day = iso_day(f.finished_at);
                               std::map<std::pair<std::string, std::string>, UsageDelta> usage;
                               for (const auto& [id, n] : result.nodes) {
                                 f.nodes.push_back(node_record(id, n));
                                 if (n.provider.empty() || n.attempts == 0) continue;
                                 UsageDelta& u = usage[{n.provider, n.model}];
                                 u.provider = n.provider;
                                 u.model = n.model;
                                 u.workflow_id = run->workflow_id;
                                 u.calls += n.attempts;
                                 u.prompt_tokens += n.usage.prompt_tokens;
                                 u.completion_tokens += n.usage.completion_tokens;
                                 u.total_tokens += n.usage.total_tokens;
                                 double cost = n.cost.value_or(0.0);
                                 u.cost += cost;
                                 if (!run->user_keys.count(n.provider)) u.platform_cost += cost;
                               }
                               for (auto& [k, u] : usage)
                                 f.usage.push_back(std::move(u));
                               finalize(run, std::move(f));
                             });
}

void RunManager::on_event(LiveRun& run, std::string text, std::int64_t seq, bool important) {
  auto frame = std::make_shared<const std::string>(sse_frame(seq, text));
  run.frames.emplace_back(seq, frame);
  run.pending.push_back({seq, std::move(text)});
  app_.metrics.count("chorus_run_events_total");
  // Fan out without copying: every listener shares the frame.
  for (auto& l : run.listeners)
    if (!l->closed()) l->send(frame);
  auto now = std::chrono::steady_clock::now();
  if (important || run.pending.size() >= 256 || now - run.last_flush > std::chrono::seconds(1))
    flush(run);
}

void RunManager::flush(LiveRun& run) {
  if (run.pending.empty()) return;
  try {
    app_.db->append_events(run.id, run.pending);
    run.pending.clear();
    run.last_flush = std::chrono::steady_clock::now();
  } catch (const std::exception& e) {
    app_.log.log(Logger::error, "could not persist run events",
                 {{"executionId", run.id}, {"error", e.what()}});
  }
}

void RunManager::finalize(const std::shared_ptr<LiveRun>& run, ExecutionFinal f) {
  f.events = std::move(run->pending);
  run->pending.clear();
  try {
    app_.db->finish_execution(f);
  } catch (const std::exception& e) {
    app_.log.log(Logger::error, "could not store the execution result",
                 {{"executionId", run->id}, {"error", e.what()}});
  }
  app_.metrics.count("chorus_executions_finished_total{status=\"" + f.status + "\"}");
  app_.log.log(Logger::info, "execution finished",
               {{"executionId", run->id}, {"status", f.status}, {"totalTokens", f.total_tokens}});
  for (auto& l : run->listeners)
    l->close();
  run->listeners.clear();
  state_->live.erase(run->id);
  if (run->running) {
    run->running = false;
    --state_->running;
  }
  auto done = std::move(run->on_done);
  for (auto& d : done)
    d();
  while (!state_->queue.empty() && state_->running < app_.cfg.max_concurrent_runs) {
    auto next = state_->queue.front();
    state_->queue.pop_front();
    if (state_->live.count(next->id)) launch(next);
  }
}

bool RunManager::cancel(const std::string& id) {
  auto it = state_->live.find(id);
  if (it == state_->live.end()) return false;
  auto run = it->second;
  if (!run->running) {  // still queued: finish as cancelled without running
    state_->queue.erase(std::remove(state_->queue.begin(), state_->queue.end(), run),
                        state_->queue.end());
    ExecutionFinal f;
    f.execution_id = run->id;
    f.user_id = run->user_id;
    f.status = "cancelled";
    f.error = R"({"kind":"cancelled","message":"cancelled before it started"})";
    f.finished_at = now_ms();
    f.day = iso_day(f.finished_at);
    finalize(run, std::move(f));
    return true;
  }
  run->stop->request_stop();
  return true;
}

bool RunManager::is_live(const std::string& id) const {
  return state_->live.count(id) > 0;
}

void RunManager::attach(const std::string& id, std::int64_t after_seq,
                        std::shared_ptr<SseSink> sink) {
  auto it = state_->live.find(id);
  if (it == state_->live.end()) {
    for (const auto& e : app_.db->list_events(id, after_seq))
      sink->send(std::make_shared<const std::string>(sse_frame(e.seq, e.data)));
    sink->close();
    return;
  }
  auto run = it->second;
  for (const auto& [seq, frame] : run->frames)
    if (seq > after_seq) sink->send(frame);
  run->listeners.push_back(sink);
  app_.metrics.count("chorus_sse_listeners_attached_total");
  std::weak_ptr<LiveRun> weak = run;
  SseSink* raw = sink.get();
  sink->on_close([weak, raw] {
    if (auto r = weak.lock())
      std::erase_if(r->listeners,
                    [raw](const std::shared_ptr<SseSink>& l) { return l.get() == raw; });
  });
}

void RunManager::when_finished(const std::string& id, std::function<void()> f) {
  auto it = state_->live.find(id);
  if (it == state_->live.end()) {
    f();
    return;
  }
  it->second->on_done.push_back(std::move(f));
}

std::int64_t RunManager::running_for_user(const std::string& user_id) const {
  std::int64_t n = 0;
  for (const auto& [id, r] : state_->live)
    if (r->user_id == user_id) ++n;
  return n;
}

std::optional<std::map<std::string, ExecutionNodeRecord>> RunManager::live_nodes(
    const std::string& id) const {
  auto it = state_->live.find(id);
  if (it == state_->live.end()) return std::nullopt;
  return it->second->nodes;
}

void RunManager::ping_listeners() {
  // An SSE comment keeps proxies and browsers from timing out a quiet stream.
  static const auto ping = std::make_shared<const std::string>(": keep-alive\n\n");
  for (auto& [id, r] : state_->live)
    for (auto& l : r->listeners)
      if (!l->closed()) l->send(ping);
}

void RunManager::update_gauges() {
  std::size_t listeners = 0;
  for (const auto& [id, r] : state_->live)
    listeners += r->listeners.size();
  app_.metrics.gauge("chorus_executions_running", static_cast<double>(state_->running));
  app_.metrics.gauge("chorus_executions_queued", static_cast<double>(state_->queue.size()));
  app_.metrics.gauge("chorus_sse_listeners", static_cast<double>(listeners));
}

void RunManager::cancel_all() {
  for (auto& [id, r] : state_->live)
    r->stop->request_stop();
}

}  // namespace chorus::server
