// One asynchronous C++ operation seen from Python: a chat call (plain or streamed) or a workflow
// run. The io thread fills it (deltas, events, the final result); Python drains it, either from an
// asyncio loop (through a Dispatcher) or from a blocking wait that releases the GIL.
#pragma once

#include "runtime.hpp"

#include <chorus/executor.hpp>
#include <chorus/provider.hpp>
#include <chorus/run_event.hpp>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/json/object.hpp>

#include <condition_variable>
#include <cstdint>
#include <string>

namespace chorus::python {

class Operation : public Delivery, public std::enable_shared_from_this<Operation> {
 public:
  enum class Kind { complete, stream, run };

  /// `sink` null: a blocking operation, drained with wait()/take(). Else, on the sink's loop,
  /// `callback()` (when not None) is called whenever there is something new to take(), and
  /// `waiter` (an asyncio Future, or None) gets set_result(None) once the operation is done (after
  /// the last callback). A run awaited without events needs only the waiter: no Python closure.
  Operation(Kind kind, std::shared_ptr<Dispatcher> sink, py::object callback, py::object waiter);
  ~Operation() override;

  Kind kind() const noexcept { return kind_; }

  // ---- io thread side
  void push_delta(const StreamDelta& d);
  void push_event(const RunEvent& e);
  void finish_chat(error_code ec, ChatResponse resp);
  void finish_run(error_code ec, RunResult result);
  /// Chat calls: the slot to bind the C++ operation's handler to (emitted on the io thread by
  /// cancel()).
  asio::cancellation_slot slot() { return signal_->slot(); }
  /// Set by runs: cancel() calls its request_stop().
  std::shared_ptr<StopSignal> stop;

  // ---- Python side
  /// Asks the C++ operation to stop. Any thread; idempotent.
  void cancel();
  /// Everything new since the last take: (items, done). Items are (text, reasoning) tuples for
  /// streams and event dicts (RunEvent::to_json()) for runs. GIL held.
  py::tuple take();
  /// Blocks (GIL released) up to `timeout_s` for something to take; returns whether there is.
  bool wait(double timeout_s);
  bool done() const;
  /// Replaces the Future resolved when done (after a cancellation cancelled the first); resolves
  /// it at once when the last delivery (final events, then the waiter) has already run. GIL held.
  void set_waiter(py::object waiter);
  /// The ChatResponse (complete/stream), once done. Moves it out: the second call gives None.
  py::object response();
  /// RunResult::to_json() as a dict (run), once done.
  py::object run_result();
  /// One top-level string of run_result() ("status", "output" or "runId") without converting the
  /// rest; None before the run is done.
  py::object run_field(const std::string& name);
  /// None on success, else error_to_json() of the failure, as a dict.
  py::object error();
  /// Stream operations: the number of tokens received (before batching).
  std::uint64_t deltas_received() const noexcept { return deltas_received_; }

  void deliver() override;

 private:
  void notify_locked_out();  // after releasing mutex_
  void resolve_waiter();     // loop thread, GIL held

  struct Piece {
    std::uint32_t offset;
    std::uint32_t text_len;
    std::uint32_t reasoning_len;
  };

  // Kept small: one of these lives per call or run in flight (docs/decisions/binding-memory.md).
  // What only some operations need (the result of the other kind, an error, a condition variable
  // for blocking waits) is allocated when it is needed.
  Kind kind_;
  std::atomic<bool> queued_{false};
  std::atomic<bool> cancel_requested_{false};
  bool done_ = false;
  bool done_taken_ = false;
  bool delivered_final_ = false;  // loop thread: deliver() ran with the operation done
  std::shared_ptr<Dispatcher> sink_;
  GilObject callback_;
  GilObject waiter_;
  // Chat calls only (runs stop through `stop`). Destroyed on the io thread, after the handler
  // that completed us has fully unwound: a C++ operation may still touch its slot while it is
  // being destroyed.
  std::unique_ptr<asio::cancellation_signal> signal_;

  mutable std::mutex mutex_;
  std::unique_ptr<std::condition_variable> cv_;  // blocking operations (no sink) only
  std::string buffer_;                           // stream text of the pending pieces, back to back
  std::vector<Piece> pieces_;
  std::vector<boost::json::object> events_;
  std::uint64_t deltas_received_ = 0;
  error_code ec_;
  std::unique_ptr<ChatResponse> response_;
  std::unique_ptr<RunResult> run_result_;
  std::unique_ptr<Error> error_;  // set when ec_ is
};

}  // namespace chorus::python
