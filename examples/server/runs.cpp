#include "runs.hpp"

#include "queue_notify.hpp"
#include "queue_store.hpp"

#include <chorus/executor.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

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

using Clock = std::chrono::steady_clock;

struct LiveRun {
  std::string id, user_id, workflow_id;
  std::shared_ptr<const Workflow> workflow;
  std::string input;
  std::map<std::string, std::string> api_keys;
  std::set<std::string> user_keys;  // providers whose calls use the user's own key
  std::shared_ptr<StopSignal> stop = StopSignal::create();
  std::int64_t seq_base = 0;  // a resumed run continues the stored event log
  std::int64_t takeovers = 0;
  std::map<std::string, NodeResult> resume;  // stored results of a taken-over run
  std::vector<std::pair<std::int64_t, std::shared_ptr<const std::string>>>
      frames;                        // the published (persisted) log of this execution here
  std::vector<EventRecord> pending;  // not yet persisted, not yet published
  // The run_finished event: stored by finalize() in the transaction that stores the final
  // status, never before it. Stored alone, an instance killed between the two would leave a
  // finished log on a running execution, which a takeover would resume and finish again.
  std::optional<EventRecord> final_event;
  std::vector<NodeProgress> pending_nodes;
  std::vector<std::shared_ptr<SseSink>> listeners;
  std::vector<std::function<void()>> on_done;
  std::map<std::string, ExecutionNodeRecord> nodes;  // node results so far
  Clock::time_point last_flush = Clock::now();
  Clock::time_point watched_until{};  // a listener on another instance follows this run
  bool abandoned = false;             // the claim was lost (or released): write nothing more
};

// A run followed here but executing elsewhere (or still queued): listeners read the stored log.
struct RemoteFollow {
  struct Listener {
    std::shared_ptr<SseSink> sink;
    std::int64_t cursor;  // last seq sent
  };
  std::vector<Listener> listeners;
  std::vector<std::function<void()>> on_done;
  Clock::time_point watch_sent{};
};

struct RunManager::State {
  explicit State(App& app) : executor(app.ioc.get_executor(), app.providers) {}
  Executor executor;
  std::string instance;
  std::unique_ptr<RunStore> store;
  std::unique_ptr<PgNotifier> notifier;
  std::map<std::string, std::shared_ptr<LiveRun>> live;
  std::map<std::string, RemoteFollow> remote;
  std::optional<boost::asio::steady_timer> heartbeat_timer, flush_timer;
  std::chrono::milliseconds heartbeat{2000}, lease{6000};
  unsigned ticks = 0;
  bool filling = false;
  bool releasing = false;
  bool stopping = false;
};

namespace {

constexpr auto kListenedFlush = std::chrono::milliseconds(100);
constexpr auto kIdleFlush = std::chrono::seconds(1);
constexpr auto kWatchTtl = std::chrono::seconds(15);
constexpr auto kWatchRenew = std::chrono::seconds(5);

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

bool terminal(std::string_view status) {
  return status != "queued" && status != "running";
}

ExecutionFinal final_of(const LiveRun& run, std::string status, std::string error) {
  ExecutionFinal f;
  f.execution_id = run.id;
  f.user_id = run.user_id;
  f.status = std::move(status);
  f.error = std::move(error);
  f.finished_at = now_ms();
  f.day = iso_day(f.finished_at);
  return f;
}

}  // namespace

RunManager::RunManager(App& app) : app_(app), state_(std::make_unique<State>(app)) {
  auto& st = *state_;
  st.instance = app.cfg.instance_id.empty() ? random_id().substr(0, 16) : app.cfg.instance_id;
  st.heartbeat = std::max(app.cfg.heartbeat, std::chrono::milliseconds(50));
  st.lease = app.cfg.lease.count() > 0 ? app.cfg.lease : 3 * st.heartbeat;
  st.store = std::make_unique<RunStore>(app.cfg.db, st.instance, owner_key_of(st.instance));
  if (st.store->postgres()) {
    st.notifier = std::make_unique<PgNotifier>(
        app.ioc, app.cfg.db,
        std::vector<std::string>{"chorus_events", "chorus_queue", "chorus_cancel", "chorus_watch"},
        owner_key_of(st.instance),
        [this](std::string_view ch, std::string_view payload) { on_notify(ch, payload); },
        [this] { on_notify("", ""); },
        [this](std::string_view msg, std::string_view detail) {
          app_.log.log(Logger::warn, msg, {{"error", detail}});
        });
    st.notifier->start();
  }
  app.log.log(Logger::info, "run queue ready",
              {{"instanceId", st.instance},
               {"heartbeatMs", st.heartbeat.count()},
               {"leaseMs", st.lease.count()},
               {"orphanedRuns", app.cfg.resume_orphans ? "resume" : "interrupt"}});
  // Runs left by dead instances (and, at start-up, by an earlier process of this one).
  if (app.cfg.resume_orphans) {
    auto taken = st.store->orphans(app.cfg.max_concurrent_runs, st.lease.count(), true, true);
    if (!taken.empty())
      app.log.log(Logger::warn, "resuming executions left running by a stopped server",
                  {{"count", taken.size()}});
    for (auto& c : taken)
      launch_claimed(std::move(c), true);
  } else {
    auto ended = st.store->orphans(0, st.lease.count(), true, false);
    if (!ended.empty())
      app.log.log(Logger::warn, "executions left running by a stopped server marked interrupted",
                  {{"count", ended.size()}});
  }
  fill();
  arm_timers();
}

RunManager::~RunManager() {
  if (state_->notifier) state_->notifier->stop();
}

const std::string& RunManager::instance_id() const {
  return state_->instance;
}

void RunManager::arm_timers() {
  auto& st = *state_;
  if (!st.heartbeat_timer) st.heartbeat_timer.emplace(app_.ioc);
  if (!st.flush_timer) st.flush_timer.emplace(app_.ioc);
  arm_heartbeat();
  arm_flush();
}

void RunManager::arm_heartbeat() {
  state_->heartbeat_timer->expires_after(state_->heartbeat);
  state_->heartbeat_timer->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    beat();
    arm_heartbeat();
  });
}

void RunManager::arm_flush() {
  state_->flush_timer->expires_after(kListenedFlush);
  state_->flush_timer->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    tick();
    arm_flush();
  });
}

// ---------------------------------------------------------------------------------------------
// Starting runs

void RunManager::start(Start s) {
  auto& st = *state_;
  bool room = !st.stopping && st.live.size() < app_.cfg.max_concurrent_runs;
  bool claimed = st.store->enqueue(s.record.id, s.document, room);
  if (!claimed) {  // any instance with room claims it (this one when a run ends)
    wipe_keys(s.api_keys);
    return;
  }
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
  st.live[run->id] = run;
  launch(run);
}

void RunManager::launch_claimed(ClaimedRun c, bool resumed) {
  auto& st = *state_;
  auto run = std::make_shared<LiveRun>();
  run->id = c.record.id;
  run->user_id = c.record.user_id;
  run->workflow_id = c.record.workflow_id;
  run->input = c.record.input;
  run->seq_base = c.next_seq;
  run->takeovers = c.takeovers;
  st.live[run->id] = run;
  if (c.document.empty()) {  // queued by a server version without the queue: cannot run it
    finalize(run,
             final_of(*run, "interrupted",
                      R"({"code":"interrupted","message":"the server stopped during the run"})"));
    return;
  }
  auto parsed = Workflow::parse(c.document);
  if (parsed.workflow)
    run->workflow = std::make_shared<const Workflow>(std::move(*parsed.workflow));
  // The user's own keys for the providers the workflow names: this instance decrypts them (all
  // instances share the master key); they live in memory for this run only.
  auto keys = decrypt_run_keys(app_, run->user_id, c.document, st.store->api_keys(run->user_id));
  if (!keys.unreadable.empty()) {
    finalize(run, final_of(*run, "failed",
                           R"({"kind":"key_unreadable","message":"the stored key for )" +
                               keys.unreadable + R"( cannot be decrypted; set it again"})"));
    return;
  }
  run->api_keys = std::move(keys.keys);
  for (const auto& [provider, key] : run->api_keys)
    run->user_keys.insert(provider);
  if (resumed) {
    // Completed nodes are not run (nor paid) again: the last terminal event of each node in the
    // stored log carries its full result (route included); the executor decides what it reuses.
    for (const auto& e : app_.db->list_events(run->id, -1)) {
      std::string_view d = e.data;
      if (d.find("\"type\":\"node_finished\"") == std::string_view::npos &&
          d.find("\"type\":\"node_skipped\"") == std::string_view::npos &&
          d.find("\"type\":\"node_failed\"") == std::string_view::npos)
        continue;
      auto v = parse_stored(d);
      if (!v.is_object()) continue;
      const auto& o = v.as_object();
      auto node = o.find("nodeId");
      auto result = o.find("result");
      if (node == o.end() || !node->value().is_string() || result == o.end()) continue;
      std::string id(node->value().as_string());
      if (run->workflow && !run->workflow->find_node(id)) continue;
      try {
        run->resume[id] = NodeResult::from_json(result->value());
      } catch (const std::exception&) {
        continue;  // unreadable: the node runs again
      }
    }
    for (const auto& [id, r] : run->resume)
      run->nodes[id] = node_record(id, r);
    app_.metrics.count("chorus_executions_taken_over_total");
    app_.log.log(Logger::info, "execution taken over",
                 {{"executionId", run->id},
                  {"resumedNodes", run->resume.size()},
                  {"firstSeq", run->seq_base}});
  }
  // Listeners that followed it from the stored log (queued, or on the dead instance) now
  // follow it here.
  if (auto it = st.remote.find(run->id); it != st.remote.end()) {
    pump(run->id);
    if (auto again = st.remote.find(run->id); again != st.remote.end()) {
      for (auto& l : again->second.listeners)
        if (!l.sink->closed()) run->listeners.push_back(l.sink);
      for (auto& d : again->second.on_done)
        run->on_done.push_back(std::move(d));
      st.remote.erase(again);
    }
  }
  launch(run);
}

void RunManager::launch(std::shared_ptr<LiveRun> run) {
  app_.metrics.count("chorus_executions_started_total");
  if (!run->workflow) {  // the stored document no longer parses (library changed): fail cleanly
    finalize(
        run,
        final_of(
            *run, "failed",
            R"({"kind":"invalid_workflow","message":"the stored workflow no longer parses"})"));
    return;
  }
  RunOptions opts;
  opts.run_id = run->id;
  opts.stop = run->stop;
  opts.api_keys = run->api_keys;
  opts.stream_tokens = true;
  opts.resume = std::move(run->resume);
  std::weak_ptr<LiveRun> weak = run;
  opts.on_event = [this, weak](const RunEvent& e) {
    auto r = weak.lock();
    if (!r || r->abandoned) return;
    if (e.result && !e.node_id.empty() &&
        (e.type == RunEventType::node_finished || e.type == RunEventType::node_failed ||
         e.type == RunEventType::node_skipped)) {
      std::string id(e.node_id);
      auto rec = node_record(id, *e.result);
      r->nodes[id] = rec;
      r->pending_nodes.push_back(
          {std::move(rec), r->workflow_id, r->user_keys.count(e.result->provider) > 0});
    }
    std::int64_t seq = r->seq_base + static_cast<std::int64_t>(e.seq);
    std::string text;
    if (r->seq_base == 0) {
      text = json::serialize(e.to_json());
    } else {  // a resumed run continues the stored log's numbering
      auto j = e.to_json();
      j["seq"] = seq;
      text = json::serialize(j);
    }
    if (e.type == RunEventType::run_finished) {
      r->final_event = EventRecord{seq, std::move(text)};
      app_.metrics.count("chorus_run_events_total");
      return;
    }
    bool important = e.type != RunEventType::token;
    on_event(*r, std::move(text), seq, important);
  };
  state_->executor.async_run(run->workflow, run->input, std::move(opts),
                             [this, run](error_code, RunResult result) {
                               wipe_keys(run->api_keys);  // keys leave memory with the run
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
                               for (const auto& [id, n] : result.nodes)
                                 f.nodes.push_back(node_record(id, n));
                               finalize(run, std::move(f));
                             });
}

// ---------------------------------------------------------------------------------------------
// Events: persisted, then published

void RunManager::on_event(LiveRun& run, std::string text, std::int64_t seq, bool important) {
  run.pending.push_back({seq, std::move(text)});
  app_.metrics.count("chorus_run_events_total");
  if (important || run.pending.size() >= 256) {
    flush(run);
    return;
  }
  // Tokens: the 100 ms tick flushes them while someone listens, else every second.
  auto now = Clock::now();
  bool listened = !run.listeners.empty() || now < run.watched_until;
  if (now - run.last_flush >= (listened
                                   ? std::chrono::duration_cast<Clock::duration>(kListenedFlush)
                                   : std::chrono::duration_cast<Clock::duration>(kIdleFlush)))
    flush(run);
}

bool RunManager::flush(LiveRun& run) {
  if (run.abandoned) return false;
  if (run.pending.empty() && run.pending_nodes.empty()) return true;
  ExecutionProgress p;
  p.execution_id = run.id;
  p.user_id = run.user_id;
  p.events = std::move(run.pending);
  p.nodes = std::move(run.pending_nodes);
  run.pending.clear();
  run.pending_nodes.clear();
  bool ok = false;
  try {
    ok = state_->store->save_progress(p);
  } catch (const std::exception& e) {
    app_.log.log(Logger::error, "could not persist run events",
                 {{"executionId", run.id}, {"error", e.what()}});
    // Keep them for the next flush (nothing was written: one transaction).
    p.events.insert(p.events.end(), std::make_move_iterator(run.pending.begin()),
                    std::make_move_iterator(run.pending.end()));
    run.pending = std::move(p.events);
    p.nodes.insert(p.nodes.end(), std::make_move_iterator(run.pending_nodes.begin()),
                   std::make_move_iterator(run.pending_nodes.end()));
    run.pending_nodes = std::move(p.nodes);
    return false;
  }
  run.last_flush = Clock::now();
  if (!ok) {
    auto it = state_->live.find(run.id);
    if (it != state_->live.end()) abandon(it->second);
    return false;
  }
  publish(run, p.events);
  return true;
}

void RunManager::publish(LiveRun& run, const std::vector<EventRecord>& events) {
  for (const auto& e : events) {
    auto frame = std::make_shared<const std::string>(sse_frame(e.seq, e.data));
    run.frames.emplace_back(e.seq, frame);
    // Fan out without copying: every listener shares the frame.
    for (auto& l : run.listeners)
      if (!l->closed()) l->send(frame);
  }
}

void RunManager::finalize(const std::shared_ptr<LiveRun>& run, ExecutionFinal f) {
  auto& st = *state_;
  bool stored = false;
  if (!run->abandoned && !st.releasing) {
    ExecutionProgress p;
    p.execution_id = run->id;
    p.user_id = run->user_id;
    p.events = std::move(run->pending);
    run->pending.clear();
    if (run->final_event) p.events.push_back(std::move(*run->final_event));
    run->final_event.reset();
    p.nodes = std::move(run->pending_nodes);
    run->pending_nodes.clear();
    // Every node's final result (idempotent: usage already accounted is not added again).
    for (auto& n : f.nodes)
      p.nodes.push_back({n, run->workflow_id, n.provider && run->user_keys.count(*n.provider) > 0});
    try {
      stored = st.store->finish(p, f);
      if (stored) publish(*run, p.events);
    } catch (const std::exception& e) {
      // The claim stays ours until the lease lapses; another instance (or this one after a
      // restart) then resumes or interrupts the run.
      app_.log.log(Logger::error, "could not store the execution result",
                   {{"executionId", run->id}, {"error", e.what()}});
    }
    if (stored) {
      app_.metrics.count("chorus_executions_finished_total{status=\"" + f.status + "\"}");
      app_.log.log(
          Logger::info, "execution finished",
          {{"executionId", run->id}, {"status", f.status}, {"totalTokens", f.total_tokens}});
    }
  }
  if (!stored && !run->abandoned) {
    run->abandoned = true;
    // Someone else ends it: follow the stored log from where this instance stopped.
    RemoteFollow& rf = st.remote[run->id];
    std::int64_t cursor = run->frames.empty() ? run->seq_base - 1 : run->frames.back().first;
    for (auto& l : run->listeners)
      if (!l->closed()) rf.listeners.push_back({l, cursor});
    for (auto& d : run->on_done)
      rf.on_done.push_back(std::move(d));
    run->listeners.clear();
    run->on_done.clear();
  }
  for (auto& l : run->listeners)
    l->close();
  run->listeners.clear();
  if (auto it = st.live.find(run->id); it != st.live.end() && it->second == run) st.live.erase(it);
  auto done = std::move(run->on_done);
  run->on_done.clear();
  for (auto& d : done)
    d();
  fill();
}

void RunManager::abandon(const std::shared_ptr<LiveRun>& run) {
  auto& st = *state_;
  if (run->abandoned) return;
  app_.log.log(Logger::warn, "lost the claim of an execution (another instance took it over)",
               {{"executionId", run->id}});
  app_.metrics.count("chorus_executions_claims_lost_total");
  run->abandoned = true;
  run->stop->request_stop();
  RemoteFollow& rf = st.remote[run->id];
  std::int64_t cursor = run->frames.empty() ? run->seq_base - 1 : run->frames.back().first;
  for (auto& l : run->listeners)
    if (!l->closed()) rf.listeners.push_back({l, cursor});
  for (auto& d : run->on_done)
    rf.on_done.push_back(std::move(d));
  run->listeners.clear();
  run->on_done.clear();
  run->pending.clear();
  run->pending_nodes.clear();
  st.live.erase(run->id);
}

// ---------------------------------------------------------------------------------------------
// The queue: claims, heartbeats, takeovers

void RunManager::fill() {
  auto& st = *state_;
  if (st.filling || st.releasing || st.stopping) return;
  st.filling = true;
  try {
    while (st.live.size() < app_.cfg.max_concurrent_runs) {
      auto claimed = st.store->claim(app_.cfg.max_concurrent_runs - st.live.size());
      if (claimed.empty()) break;
      for (auto& c : claimed)
        launch_claimed(std::move(c), false);
    }
  } catch (const std::exception& e) {
    app_.log.log(Logger::error, "claiming queued executions failed", {{"error", e.what()}});
  }
  st.filling = false;
}

void RunManager::beat() {
  auto& st = *state_;
  if (st.releasing) return;
  try {
    auto beats = st.store->heartbeat();
    std::set<std::string> owned;
    for (const auto& b : beats) {
      owned.insert(b.id);
      if (!b.cancel_requested) continue;
      if (auto it = st.live.find(b.id); it != st.live.end()) it->second->stop->request_stop();
    }
    std::vector<std::shared_ptr<LiveRun>> lost;
    for (auto& [id, r] : st.live)
      if (!owned.count(id)) lost.push_back(r);
    for (auto& r : lost)
      abandon(r);
    // Claims without a run here (its end could not be written): hand them back.
    for (const auto& id : owned)
      if (!st.live.count(id)) st.store->release(id);
    std::size_t room =
        app_.cfg.max_concurrent_runs - std::min(app_.cfg.max_concurrent_runs, st.live.size());
    if (app_.cfg.resume_orphans) {
      for (auto& c : st.store->orphans(room, st.lease.count(), false, true))
        launch_claimed(std::move(c), true);
    } else {
      st.store->orphans(0, st.lease.count(), false, false);
    }
  } catch (const std::exception& e) {
    app_.log.log(Logger::error, "heartbeat failed", {{"error", e.what()}});
  }
  fill();
}

void RunManager::tick() {
  auto& st = *state_;
  auto now = Clock::now();
  std::vector<std::shared_ptr<LiveRun>> due;
  for (auto& [id, r] : st.live) {
    if (r->pending.empty() && r->pending_nodes.empty()) continue;
    bool listened = !r->listeners.empty() || now < r->watched_until;
    if (listened || now - r->last_flush >= kIdleFlush) due.push_back(r);
  }
  for (auto& r : due)
    flush(*r);
  // Once a second: follow remote runs from the store (covers missed notifications, and SQLite),
  // and tell their owners someone listens (so they flush tokens every 100 ms).
  if (++st.ticks % 10 != 0) return;
  std::vector<std::string> ids;
  for (auto& [id, rf] : st.remote)
    ids.push_back(id);
  for (const auto& id : ids) {
    auto it = st.remote.find(id);
    if (it == st.remote.end()) continue;
    if (!it->second.listeners.empty() && now - it->second.watch_sent >= kWatchRenew) {
      it->second.watch_sent = now;
      try {
        st.store->notify("chorus_watch", id);
      } catch (const std::exception&) {
      }
    }
    pump(id);
  }
}

// Sends a followed run's stored events to its listeners; ends them when the run ended.
void RunManager::pump(const std::string& id) {
  auto& st = *state_;
  auto it = st.remote.find(id);
  if (it == st.remote.end()) return;
  try {
    auto prog = st.store->progress(id);
    bool ended = !prog || terminal(prog->status);
    auto& rf = it->second;
    std::erase_if(rf.listeners, [](const RemoteFollow::Listener& l) { return l.sink->closed(); });
    if (!rf.listeners.empty()) {
      std::int64_t from = rf.listeners.front().cursor;
      for (const auto& l : rf.listeners)
        from = std::min(from, l.cursor);
      if (!prog || prog->last_seq > from) {
        auto events = app_.db->list_events(id, from);
        for (const auto& e : events) {
          auto frame = std::make_shared<const std::string>(sse_frame(e.seq, e.data));
          for (auto& l : rf.listeners)
            if (e.seq > l.cursor) {
              l.sink->send(frame);
              l.cursor = e.seq;
            }
        }
      }
    }
    if (!ended) return;
    auto listeners = std::move(rf.listeners);
    auto done = std::move(rf.on_done);
    st.remote.erase(it);
    for (auto& l : listeners)
      l.sink->close();
    for (auto& d : done)
      d();
  } catch (const std::exception& e) {
    app_.log.log(Logger::error, "following a run from the store failed",
                 {{"executionId", id}, {"error", e.what()}});
  }
}

void RunManager::on_notify(std::string_view channel, std::string_view payload) {
  auto& st = *state_;
  if (channel.empty()) {  // reconnected: notifications may have been missed
    std::vector<std::string> ids;
    for (auto& [id, rf] : st.remote)
      ids.push_back(id);
    for (const auto& id : ids)
      pump(id);
    fill();
    return;
  }
  if (channel == "chorus_events") {
    auto colon = payload.rfind(':');
    std::string id(payload.substr(0, colon));
    if (st.remote.count(id)) pump(id);
  } else if (channel == "chorus_queue") {
    fill();
  } else if (channel == "chorus_cancel") {
    if (auto it = st.live.find(std::string(payload)); it != st.live.end())
      it->second->stop->request_stop();
  } else if (channel == "chorus_watch") {
    if (auto it = st.live.find(std::string(payload)); it != st.live.end())
      it->second->watched_until = Clock::now() + kWatchTtl;
  }
}

// ---------------------------------------------------------------------------------------------
// The public API, for runs here and elsewhere

bool RunManager::cancel(const std::string& id) {
  auto& st = *state_;
  if (auto it = st.live.find(id); it != st.live.end()) {
    it->second->stop->request_stop();
    return true;
  }
  switch (st.store->request_cancel(id)) {
    case RunStore::CancelOutcome::cancelled:
      pump(id);  // a listener here ends now (others hear the NOTIFY)
      return true;
    case RunStore::CancelOutcome::requested:
      return true;
    case RunStore::CancelOutcome::not_active:
      break;
  }
  return false;
}

bool RunManager::is_live(const std::string& id) const {
  if (state_->live.count(id)) return true;
  auto p = state_->store->progress(id);
  return p && !terminal(p->status);
}

void RunManager::attach(const std::string& id, std::int64_t after_seq,
                        std::shared_ptr<SseSink> sink) {
  auto& st = *state_;
  auto it = st.live.find(id);
  if (it == st.live.end()) {
    auto prog = st.store->progress(id);
    std::int64_t cursor = after_seq;
    for (const auto& e : app_.db->list_events(id, after_seq)) {
      sink->send(std::make_shared<const std::string>(sse_frame(e.seq, e.data)));
      cursor = e.seq;
    }
    if (!prog || terminal(prog->status)) {
      sink->close();
      return;
    }
    // Executing on another instance, or still queued: follow the stored log.
    RemoteFollow& rf = st.remote[id];
    rf.listeners.push_back({sink, cursor});
    app_.metrics.count("chorus_sse_listeners_attached_total");
    if (Clock::now() - rf.watch_sent >= kWatchRenew) {
      rf.watch_sent = Clock::now();
      st.store->notify("chorus_watch", id);
    }
    pump(id);  // it may have ended meanwhile
    return;
  }
  auto run = it->second;
  // A resumed run's earlier events are in the store only.
  if (after_seq + 1 < run->seq_base)
    for (const auto& e : app_.db->list_events(id, after_seq))
      if (e.seq < run->seq_base)
        sink->send(std::make_shared<const std::string>(sse_frame(e.seq, e.data)));
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
  auto& st = *state_;
  if (auto it = st.live.find(id); it != st.live.end()) {
    it->second->on_done.push_back(std::move(f));
    return;
  }
  auto prog = st.store->progress(id);
  if (!prog || terminal(prog->status)) {
    f();
    return;
  }
  st.remote[id].on_done.push_back(std::move(f));
}

std::int64_t RunManager::running_for_user(const std::string& user_id) const {
  return state_->store->active_for_user(user_id);
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
  for (auto& [id, rf] : state_->remote)
    for (auto& l : rf.listeners)
      if (!l.sink->closed()) l.sink->send(ping);
}

void RunManager::update_gauges() {
  std::size_t listeners = 0;
  for (const auto& [id, r] : state_->live)
    listeners += r->listeners.size();
  for (const auto& [id, rf] : state_->remote)
    listeners += rf.listeners.size();
  app_.metrics.gauge("chorus_executions_running", static_cast<double>(state_->live.size()));
  try {
    app_.metrics.gauge("chorus_executions_queued",
                       static_cast<double>(state_->store->queued_count()));
  } catch (const std::exception&) {
  }
  app_.metrics.gauge("chorus_sse_listeners", static_cast<double>(listeners));
}

void RunManager::cancel_all() {
  auto& st = *state_;
  st.stopping = true;
  if (app_.cfg.resume_orphans) {
    // Release: stop here without writing an end; dropping the liveness lock lets the other
    // instances take the runs over (and resume them) at once.
    st.releasing = true;
    for (auto& [id, r] : st.live)
      r->abandoned = true;
    if (st.notifier) st.notifier->stop();
  }
  for (auto& [id, r] : st.live)
    r->stop->request_stop();
  if (st.heartbeat_timer) st.heartbeat_timer->cancel();
  if (st.flush_timer) st.flush_timer->cancel();
}

}  // namespace chorus::server
