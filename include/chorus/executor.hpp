// The Executor runs workflow documents: it validates the graph, schedules independent branches
// concurrently on one executor (no thread per run), calls providers (streaming, retries,
// fallbacks), enforces concurrency, rate limits and budgets, and reports every step as a
// RunEvent. The work lives in src/executor; this header declares. See docs/executor.md.
#pragma once

#include <chorus/config.hpp>
#include <chorus/error.hpp>
#include <chorus/provider.hpp>
#include <chorus/run_event.hpp>
#include <chorus/workflow.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace chorus {

/// A stop request usable from any thread (the bindings' Ctrl-C / AbortSignal, the server's
/// "cancel execution" endpoint). One signal may stop several runs. Thread-safe.
class CHORUS_API StopSignal {
 public:
  static std::shared_ptr<StopSignal> create() { return std::make_shared<StopSignal>(); }

  /// Asks every run holding this signal to stop: in-flight calls are aborted and the runs
  /// complete with RunStatus::cancelled. Idempotent; callable from any thread.
  void request_stop();
  /// Whether request_stop() was called.
  bool stop_requested() const noexcept { return stopped_.load(std::memory_order_acquire); }

  /// Runs `callback` once when stop is requested (at once, on this thread, if it already was).
  /// Returns an id for unsubscribe(). The callback runs on the thread calling request_stop():
  /// keep it short and post to your executor. Used by the Executor; rarely needed elsewhere.
  std::uint64_t subscribe(std::function<void()> callback);
  void unsubscribe(std::uint64_t id);

 private:
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::function<void()>> callbacks_;
};

/// A rate limit of one provider: both are "per minute", 0 means unlimited. Calls that would
/// exceed it wait (in FIFO order) until the window allows them; they never fail because of it.
struct RateLimit {
  double requests_per_minute = 0;
  double tokens_per_minute = 0;  ///< Counted as prompt estimate + maxTokens of each call.
};

/// Limits shared by every run of one Executor (see Executor::set_limits): a vendor's limits
/// hold per API key, whatever the number of runs.
struct ExecutorLimits {
  std::size_t max_concurrency = 0;                          ///< LLM calls in flight; 0 = no cap.
  std::map<std::string, std::size_t> provider_concurrency;  ///< Provider id -> calls in flight.
  std::map<std::string, RateLimit> rate_limits;             ///< Provider id -> rate limit.
};

/// How to run one workflow.
struct RunOptions {
  /// Called for every event, in seq order, on the Executor's executor. The event's views are
  /// valid only during the call. Must not block.
  std::function<void(const RunEvent&)> on_event;
  /// Stream LLM calls and emit `token` events (only when on_event is set).
  bool stream_tokens = true;
  /// A stop handle usable from other threads (in addition to the completion token's
  /// per-operation cancellation slot, which is honoured too).
  std::shared_ptr<StopSignal> stop;

  /// Per-run limits (on top of the Executor's shared ones). 0 / absent = no cap.
  std::size_t max_concurrency = 0;                          ///< LLM calls in flight in this run.
  std::map<std::string, std::size_t> provider_concurrency;  ///< Provider id -> calls in flight.
  std::map<std::string, RateLimit> rate_limits;             ///< Provider id -> rate limit.

  /// Budgets. Before each LLM call its worst case (prompt estimate + maxTokens, at the model's
  /// price) is reserved; a call that would take the run over a budget is not made and the run
  /// stops with budget_exceeded, keeping the finished nodes.
  std::optional<double> max_cost_usd;
  std::optional<std::int64_t> max_tokens;

  /// Provider id -> API key for this run (sets ChatRequest::api_key). Never logged.
  std::map<std::string, std::string> api_keys;
  /// The run's id in events and the result; empty: a random id is generated.
  std::string run_id;

  /// Backoff before node-level retries (`retries` of an llm node): exponential with full jitter
  /// from this base, or the provider's retry-after when it gave one (capped by retry_max_delay).
  std::chrono::milliseconds retry_base_delay{500};
  std::chrono::milliseconds retry_max_delay{20'000};
  /// maxTokens assumed for the budget of an llm call whose node sets none.
  std::int64_t default_max_tokens = 4096;

  /// Resumes an interrupted run of the same document: node id -> the NodeResult an earlier run
  /// recorded for it (an entry of RunResult::nodes, or the `result` of the node's last terminal
  /// event). A top-level node whose entry is `succeeded` or `skipped` is not run again: its
  /// recorded output, status, usage and cost are taken as they are (they count in the run's
  /// totals and budgets), it emits one node_finished / node_skipped event with `resumed` set, and
  /// scheduling goes on as if it had just finished. Entries with another status are run again.
  /// A node on a loop's cycle is resumed only with its whole cycle, when the loop node's entry
  /// says it exited (`route` "exit"); a map body only with its map node, when the map completed
  /// (then every body entry is taken as is). An id that is not a node of the workflow fails the
  /// run with errc::invalid_argument naming it. See docs/executor.md#resuming-a-run.
  std::map<std::string, NodeResult> resume;
};

namespace detail {
class executor_state;
}

/// Runs workflows. Cheap to copy (copies share limits and state). Like Asio I/O objects it is
/// thread-compatible: run its executor's io_context on one thread, or give it a strand; runs
/// may be started from any thread (async_run posts to the executor).
class CHORUS_API Executor {
 public:
  using executor_type = asio::any_io_executor;
  using run_signature = void(error_code, RunResult);

  /// `providers` resolves the provider ids of llm and classify-router nodes.
  Executor(executor_type ex, std::shared_ptr<ProviderRegistry> providers);

  executor_type get_executor() const noexcept;
  const std::shared_ptr<ProviderRegistry>& providers() const noexcept;

  /// Limits shared by all runs of this Executor (and its copies). Applies to calls that queue
  /// after it. Thread-safe.
  void set_limits(ExecutorLimits limits);

  /// Runs `workflow` on `input`. Completes with void(error_code, RunResult): the code mirrors
  /// RunResult::status (empty on success; errc::node_failed, cancelled, budget_exceeded, or
  /// invalid_workflow with every problem in the result's error message) and the RunResult is
  /// always complete with what was done. Cancellation: the token's cancellation slot (any type)
  /// or options.stop. Callable from any thread: the run starts on the Executor's executor.
  /// This overload shares the document (no copy): the cheap form for many runs of one workflow.
  template <asio::completion_token_for<run_signature> Token>
  auto async_run(std::shared_ptr<const Workflow> workflow, std::string input, RunOptions options,
                 Token&& token) {
    return asio::async_initiate<Token, run_signature>(
        [this](auto handler, std::shared_ptr<const Workflow> wf, std::string in, RunOptions opts) {
          do_run(std::move(wf), std::move(in), std::move(opts), std::move(handler));
        },
        token, std::move(workflow), std::move(input), std::move(options));
  }

  /// Same; the workflow is copied, so the caller may drop it at once.
  template <asio::completion_token_for<run_signature> Token>
  auto async_run(const Workflow& workflow, std::string input, RunOptions options, Token&& token) {
    return async_run(std::make_shared<const Workflow>(workflow), std::move(input),
                     std::move(options), std::forward<Token>(token));
  }

  /// Blocking run for scripts and the CLI. When the Executor's executor belongs to an
  /// io_context, run() drives that io_context on the calling thread until the run completes
  /// (restarting it if it had stopped), so a single-threaded program needs no other thread; do
  /// not call it while another thread runs the same io_context. Other executors (a thread pool)
  /// are waited for. Returns the RunResult (always complete); `ec` as async_run's.
  RunResult run(const Workflow& workflow, std::string input, RunOptions options, error_code& ec);
  /// Same, throwing chorus::Exception (carrying RunResult::error) when the run did not succeed.
  /// Prefer the `ec` form when partial results matter.
  RunResult run(const Workflow& workflow, std::string input, RunOptions options = {});

 private:
  void do_run(std::shared_ptr<const Workflow> workflow, std::string input, RunOptions options,
              asio::any_completion_handler<run_signature> handler);

  std::shared_ptr<detail::executor_state> state_;
};

}  // namespace chorus
