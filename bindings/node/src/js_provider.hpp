// Providers written in JS (an object with execute / stream, like the seed's LLMProvider) as
// chorus::Provider, so workflows and Client.complete use them like the built-ins. Each call is
// started on the JS thread by lib/'s provider runner, which reports back through the call handle
// (delta / finish / fail); the C++ completion runs on the io thread.
#pragma once

#include "runtime.hpp"

#include <chorus/provider.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chorus::node {

class JsProvider;

/// One call of a JS provider.
class ProviderCall : public Delivery, public std::enable_shared_from_this<ProviderCall> {
 public:
  static constexpr std::uint32_t handle_tag = 0x43414c31;  // "CAL1"

  ProviderCall(std::shared_ptr<JsProvider> provider, ChatRequest req, DeltaHandler on_delta,
               asio::any_completion_handler<Provider::complete_signature> handler);

  /// io thread: hooks cancellation and asks the JS thread to start the call.
  void start();
  /// JS thread: starts the call, or forwards a cancellation to it.
  void deliver(Napi::Env env) override;

  // JS thread, from the call handle. Each hands the work to the io thread.
  void delta(std::string text, std::string reasoning);
  void finish(ChatResponse resp);
  void fail(Error err);

 private:
  void complete(error_code ec, ChatResponse resp);  // io thread

  std::shared_ptr<JsProvider> provider_;
  ChatRequest request_;
  DeltaHandler on_delta_;
  asio::any_completion_handler<Provider::complete_signature> handler_;
  std::chrono::steady_clock::time_point started_at_;
  std::optional<std::chrono::microseconds> first_token_;
  std::string received_, received_reasoning_;  // io thread
  bool completed_ = false;                     // io thread
  std::atomic<bool> started_{false};
  std::atomic<bool> cancel_pending_{false};
  bool cancel_delivered_ = false;  // JS thread
  JsRef abort_;                    // JS thread: the runner's abort function
};

class JsProvider : public Provider, public std::enable_shared_from_this<JsProvider> {
 public:
  JsProvider(Napi::Env env, std::string id, std::string name, std::vector<ModelInfo> models,
             Napi::Object impl, Napi::Function runner, asio::any_io_executor ex);

  std::string_view id() const noexcept override { return id_; }
  std::string_view name() const noexcept override { return name_; }
  std::vector<ModelInfo> models() const override { return models_; }
  executor_type get_executor() const noexcept override { return ex_; }

  /// JS thread.
  Napi::Value impl() const { return impl_.value(); }
  Napi::Value runner() const { return runner_.value(); }

 protected:
  void do_complete(ChatRequest req, DeltaHandler on_delta,
                   asio::any_completion_handler<complete_signature> handler) override;
  void do_validate_key(std::string key,
                       asio::any_completion_handler<validate_signature> handler) override;

 private:
  std::string id_, name_;
  std::vector<ModelInfo> models_;
  JsRef impl_, runner_;
  asio::any_io_executor ex_;
};

}  // namespace chorus::node
