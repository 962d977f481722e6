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

class Operation : public Delivery, public std::enable_shared_from_this<Operation> {
 public:
  static constexpr std::uint32_t handle_tag = 0x4f505231;  // "OPR1"

  /// JS thread. `on_batch(text, reasoning)` for streams or `on_batch(eventsJson)` for runs (the
  /// events as JSON objects separated by commas, to parse as `[` + s + `]`); may be empty.
  /// `on_done(errorJson | null, resultJson)` is called once, after every batch.
  Operation(Napi::Env env, Napi::Function on_batch, Napi::Function on_done);

  // io thread
  void push_delta(const StreamDelta& d);
  void push_event(const RunEvent& ev);
  void finish(std::string error_json, std::string result_json);
  /// The cancellation slot to bind to the C++ operation's handler.
  asio::cancellation_slot slot() { return cancel_.slot(); }

  /// Any thread: cancels the C++ operation (emits on the slot; stops a run's StopSignal).
  void cancel();
  void set_stop(std::shared_ptr<StopSignal> stop) { stop_ = std::move(stop); }

  void deliver(Napi::Env env) override;

 private:
  void schedule(std::unique_lock<std::mutex>& lock);

  JsRef on_batch_;
  JsRef on_done_;
  asio::cancellation_signal cancel_;  // io thread only
  std::shared_ptr<StopSignal> stop_;

  // io thread: serialises events into `scratch_` (both reused: no allocation per token).
  boost::json::serializer serializer_;
  std::string scratch_;

  std::mutex mutex_;
  std::string text_, reasoning_;  // stream batch
  std::string events_;            // run batch
  std::string error_, result_;
  bool queued_ = false;
  bool finished_ = false;
  bool done_delivered_ = false;  // JS thread only
};

}  // namespace chorus::node
