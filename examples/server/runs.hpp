// Executions in flight: starts runs on the library's Executor (on the server's io_context),
// queues them beyond the worker cap, keeps each run's event log in memory while it runs (and
// persists it in batches), fans events out to any number of SSE listeners, and writes the final
// result, per-node records and the usage rollup in one transaction.
#pragma once

#include "app.hpp"

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace chorus::server {

struct LiveRun;

class RunManager {
 public:
  explicit RunManager(App& app);
  ~RunManager();

  struct Start {
    ExecutionRecord record;  ///< Already inserted with status "queued".
    std::string document;
    std::map<std::string, std::string> api_keys;  ///< Decrypted user keys, by provider.
  };
  /// Node results known so far of a live run; nullopt when the run is not live.
  std::optional<std::map<std::string, ExecutionNodeRecord>> live_nodes(const std::string& id) const;
  /// Starts the run now, or queues it behind the worker cap.
  void start(Start s);
  /// Requests cancellation; false when the execution is not live.
  bool cancel(const std::string& execution_id);
  bool is_live(const std::string& execution_id) const;
  /// Streams the events with seq > after_seq, then follows the run live until it ends. The
  /// caller checked ownership. For a finished run, replays from storage and closes.
  void attach(const std::string& execution_id, std::int64_t after_seq,
              std::shared_ptr<SseSink> sink);
  /// Calls `f` once when the run ends (at once if it is not live).
  void when_finished(const std::string& execution_id, std::function<void()> f);
  std::int64_t running_for_user(const std::string& user_id) const;
  void update_gauges();
  /// Sends an SSE comment to every listener (called every few seconds).
  void ping_listeners();
  /// Cancels everything (shutdown).
  void cancel_all();

 private:
  void launch(std::shared_ptr<LiveRun> run);
  void on_event(LiveRun& run, std::string text, std::int64_t seq, bool important);
  void finalize(const std::shared_ptr<LiveRun>& run, ExecutionFinal f);
  void flush(LiveRun& run);

  App& app_;
  struct State;
  std::unique_ptr<State> state_;
};

/// "id: <seq>\ndata: <json>\n\n".
std::string sse_frame(std::int64_t seq, std::string_view json_text);

}  // namespace chorus::server
