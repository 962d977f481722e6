// One asynchronous operation started from JS: a chat call, a stream or a workflow run. The io
// thread appends what it produces (stream text, run events) to a buffer and finishes the
// operation once; the JS thread receives everything gathered since its last turn in one call.
#pragma once

#include "runtime.hpp"

#include <chorus/executor.hpp>
#include <chorus/provider.hpp>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/json/serializer.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace chorus::node {

/// Operations are known to JS by a number, not by a wrapper object: lib/ keeps its own record of
/// each in a Map and installs two functions once (setHandlers) through which every operation
/// reports, `onBatch(id, ...)` and `onDone(id, errorJson | null, resultJson)`. So an operation in
/// flight costs no JS reference, no External and no finalizer, and its native state is freed as
/// soon as its completion was delivered instead of when the GC gets to a wrapper
/// (docs/decisions/binding-memory.md).
class Operation : public Delivery, public std::enable_shared_from_this<Operation> {
 public:
  /// JS thread: creates an operation and tracks it under a new id (until its completion has been
  /// delivered).
  static std::shared_ptr<Operation> start(Napi::Env env);
  /// JS thread: the tracked operation `id`, or nullptr (unknown or already finished).
  static std::shared_ptr<Operation> find(double id);
  /// JS thread: installs the handlers every operation reports to (lib/ does it once).
  static void set_handlers(Napi::Env env, Napi::Function on_batch, Napi::Function on_done);
  /// JS thread: operations started and not yet delivered as finished (tests).
  static std::size_t in_flight() noexcept;

  Operation(Napi::Env env, double id);

  double id() const noexcept { return id_; }

  // io thread
  void push_delta(const StreamDelta& d);
  void push_event(const RunEvent& ev);
  void finish(std::string error_json, std::string result_json);
  /// Chat calls: the cancellation slot to bind to the C++ operation's handler.
  asio::cancellation_slot slot() { return cancel_.slot(); }

  /// Any thread: cancels the C++ operation (a run: its StopSignal; a call: emits on the slot).
  void cancel();
  void set_stop(std::shared_ptr<StopSignal> stop) { stop_ = std::move(stop); }

  void deliver(Napi::Env env) override;

 private:
  void schedule(std::unique_lock<std::mutex>& lock);

  // io thread: serialises events into `scratch` (both reused: no allocation per token). Only
  // runs that report events have one.
  struct EventWriter {
    boost::json::serializer serializer;
    std::string scratch;
  };

  double id_;
  asio::cancellation_signal cancel_;  // io thread only
  std::shared_ptr<StopSignal> stop_;
  std::unique_ptr<EventWriter> writer_;  // io thread only

  std::mutex mutex_;
  std::string text_, reasoning_;  // stream batch
  std::string events_;            // run batch
  std::string error_, result_;
  bool queued_ = false;
  bool finished_ = false;
  bool done_delivered_ = false;  // JS thread only
};

}  // namespace chorus::node
