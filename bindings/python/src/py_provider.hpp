// Custom providers written in Python: a chorus::Provider whose calls run a coroutine of a
// chorus.Provider subclass on an asyncio loop and complete the C++ handler when it finishes, so
// workflows use them alongside the built-in vendors.
#pragma once

#include "runtime.hpp"

#include <chorus/provider.hpp>

#include <chrono>

namespace chorus::python {

/// Which asyncio loop runs the Python providers of one client (rebound by every call).
struct LoopSlot {
  std::mutex mutex;
  std::shared_ptr<Dispatcher> dispatcher;

  std::shared_ptr<Dispatcher> get() {
    std::lock_guard lock(mutex);
    return dispatcher;
  }
  void set(std::shared_ptr<Dispatcher> d) {
    std::lock_guard lock(mutex);
    dispatcher = std::move(d);
  }
};

class PyProvider;

/// One call of a Python provider, handed to Python as `call` (see chorus/_provider.py).
class ProviderCall : public Delivery, public std::enable_shared_from_this<ProviderCall> {
 public:
  ProviderCall(std::shared_ptr<PyProvider> provider, ChatRequest req, DeltaHandler on_delta,
               asio::any_completion_handler<Provider::complete_signature> handler);

  // io thread
  void start();

  // Python side (any thread; they post to the io thread)
  const ChatRequest& request() const noexcept { return request_; }
  bool streaming() const noexcept { return streaming_; }
  void delta(std::string text, std::string reasoning);
  void finish(ChatResponse resp);
  void fail(const std::string& kind, const std::string& message, int status,
            std::optional<double> retry_after_s, const std::string& request_id,
            const std::string& vendor_code);
  void set_cancel_callback(py::object cb) { cancel_callback_ = GilObject(std::move(cb)); }

  void deliver() override;

 private:
  void complete(error_code ec, ChatResponse resp);  // io thread

  std::shared_ptr<PyProvider> provider_;
  ChatRequest request_;
  DeltaHandler on_delta_;
  bool streaming_ = false;
  asio::any_completion_handler<Provider::complete_signature> handler_;
  std::shared_ptr<Dispatcher> sink_;
  std::chrono::steady_clock::time_point started_at_;
  std::optional<std::chrono::microseconds> first_token_;
  std::string received_;  // io thread: streamed text so far
  std::string received_reasoning_;
  bool completed_ = false;  // io thread
  std::atomic<bool> started_{false};
  std::atomic<bool> cancel_pending_{false};
  bool cancel_delivered_ = false;  // loop thread
  GilObject cancel_callback_;
};

class PyProvider : public Provider, public std::enable_shared_from_this<PyProvider> {
 public:
  PyProvider(std::string id, std::string name, std::vector<ModelInfo> models, py::object impl,
             py::object runner, std::shared_ptr<LoopSlot> loop);

  std::string_view id() const noexcept override { return id_; }
  std::string_view name() const noexcept override { return name_; }
  std::vector<ModelInfo> models() const override { return models_; }
  executor_type get_executor() const noexcept override { return executor_; }

  const GilObject& impl() const noexcept { return impl_; }
  const GilObject& runner() const noexcept { return runner_; }
  std::shared_ptr<Dispatcher> dispatcher() const { return loop_->get(); }

 protected:
  void do_complete(ChatRequest req, DeltaHandler on_delta,
                   asio::any_completion_handler<complete_signature> handler) override;
  void do_validate_key(std::string key,
                       asio::any_completion_handler<validate_signature> handler) override;

 private:
  std::string id_, name_;
  std::vector<ModelInfo> models_;
  GilObject impl_;
  GilObject runner_;
  std::shared_ptr<LoopSlot> loop_;
  executor_type executor_ = Runtime::get().executor();
};

}  // namespace chorus::python
