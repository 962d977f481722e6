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

  /// `sink` null: a blocking operation, drained with wait()/take(). Else `callback()` is called
  /// on the sink's loop whenever there is something new to take().
  Operation(Kind kind, std::shared_ptr<Dispatcher> sink, py::object callback);
  ~Operation() override;

  Kind kind() const noexcept { return kind_; }

  // ---- io thread side
  void push_delta(const StreamDelta& d);
  void push_event(const RunEvent& e);
  void finish_chat(error_code ec, ChatResponse resp);
  void finish_run(error_code ec, RunResult result);
  /// The slot to bind the C++ operation's handler to (emitted on the io thread by cancel()).
  asio::cancellation_slot slot() { return signal_->slot(); }
  /// Set by runs: request_stop() on cancel() too.
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
  /// The ChatResponse (complete/stream), once done. Moves it out: the second call gives None.
  py::object response();
  /// RunResult::to_json() as a dict (run), once done.
  py::object run_result();
  /// None on success, else error_to_json() of the failure, as a dict.
  py::object error();
  /// Stream operations: the number of tokens received (before batching).
  std::uint64_t deltas_received() const noexcept { return deltas_received_; }

  void deliver() override;

 private:
  void notify_locked_out();  // after releasing mutex_

  struct Piece {
    std::uint32_t offset;
    std::uint32_t text_len;
    std::uint32_t reasoning_len;
  };

  Kind kind_;
  std::shared_ptr<Dispatcher> sink_;
  GilObject callback_;
  // Destroyed on the io thread, after the handler that completed us has fully unwound: a C++
  // operation may still touch its slot while it is being destroyed.
  std::unique_ptr<asio::cancellation_signal> signal_ =
      std::make_unique<asio::cancellation_signal>();
  std::atomic<bool> queued_{false};
  std::atomic<bool> cancel_requested_{false};

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool done_taken_ = false;
  std::string buffer_;  // stream text of the pending pieces, back to back
  std::vector<Piece> pieces_;
  std::vector<boost::json::object> events_;
  std::uint64_t deltas_received_ = 0;
  error_code ec_;
  std::optional<ChatResponse> response_;
  std::optional<RunResult> run_result_;
  Error error_;
};

}  // namespace chorus::python
