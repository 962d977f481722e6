// Executions in flight. Executions are queued in the database (queue_store.hpp): this instance
// claims them up to its worker cap, runs them on the library's Executor (on the server's
// io_context), heartbeats its claims, takes over the runs of dead instances (resuming them from
// their stored node results, or marking them interrupted: --orphaned-runs), and writes each
// run's progress (events, finished node results, usage) fenced by its claim. Events reach SSE
// listeners only once persisted, so every listener, on any instance, sees the same log: local
// listeners get them as they are flushed (at once for node-level events, every <= 100 ms for
// tokens while someone listens), listeners of a run executing on another instance follow it
// through PostgreSQL LISTEN/NOTIFY plus a 1 s poll. See docs/decisions/scale-out.md.
#pragma once

#include "app.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>

namespace chorus::server {

struct LiveRun;
struct ClaimedRun;

class RunManager {
 public:
  /// Connects the queue (its own database connection; on PostgreSQL a LISTEN connection that
  /// also holds this instance's liveness lock), handles the runs orphaned by dead instances,
  /// claims queued work and starts the heartbeat. Throws StorageError / std::runtime_error.
  explicit RunManager(App& app);
  ~RunManager();

  struct Start {
    ExecutionRecord record;  ///< Already inserted with status "queued".
    std::string document;
    std::map<std::string, std::string> api_keys;  ///< Decrypted user keys, by provider.
  };
  /// Node results known so far of a run executing here; nullopt otherwise (read the store).
  std::optional<std::map<std::string, ExecutionNodeRecord>> live_nodes(const std::string& id) const;
  /// Queues the run in the database and, below the worker cap, claims and starts it here at
  /// once (otherwise any instance claims it when it has room).
  void start(Start s);
  /// Requests cancellation on whichever instance runs it (a queued run ends at once); false
  /// when the execution is not queued or running.
  bool cancel(const std::string& execution_id);
  /// True while the execution is queued or running (on any instance).
  bool is_live(const std::string& execution_id) const;
  /// Streams the events with seq > after_seq, then follows the run until it ends, wherever it
  /// executes. The caller checked ownership. For a finished run, replays from storage and closes.
  void attach(const std::string& execution_id, std::int64_t after_seq,
              std::shared_ptr<SseSink> sink);
  /// Calls `f` once when the run ends, wherever it executes (at once if it is not queued or
  /// running).
  void when_finished(const std::string& execution_id, std::function<void()> f);
  /// Queued and running executions of a user, across instances.
  std::int64_t running_for_user(const std::string& user_id) const;
  void update_gauges();
  /// Sends an SSE comment to every listener (called every few seconds).
  void ping_listeners();
  /// Shutdown: cancels the runs executing here; with --orphaned-runs resume, releases them to
  /// the other instances instead (they resume them).
  void cancel_all();
  /// This instance's id (--instance-id or random).
  const std::string& instance_id() const;

 private:
  void launch(std::shared_ptr<LiveRun> run);
  void launch_claimed(ClaimedRun c, bool resumed);
  void on_event(LiveRun& run, std::string text, std::int64_t seq, bool important);
  void finalize(const std::shared_ptr<LiveRun>& run, ExecutionFinal f);
  bool flush(LiveRun& run);
  void publish(LiveRun& run, const std::vector<EventRecord>& events);
  void abandon(const std::shared_ptr<LiveRun>& run);
  void fill();
  void beat();
  void tick();
  void pump(const std::string& id);
  void on_notify(std::string_view channel, std::string_view payload);
  void arm_timers();
  void arm_heartbeat();
  void arm_flush();

  App& app_;
  struct State;
  std::unique_ptr<State> state_;
};

/// "id: <seq>\ndata: <json>\n\n".
std::string sse_frame(std::int64_t seq, std::string_view json_text);

}  // namespace chorus::server
