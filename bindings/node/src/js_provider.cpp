#include "js_provider.hpp"

#include "convert.hpp"

#include <chorus/simulation.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

namespace chorus::node {

ProviderCall::ProviderCall(std::shared_ptr<JsProvider> provider, ChatRequest req,
                           DeltaHandler on_delta,
                           asio::any_completion_handler<Provider::complete_signature> handler)
    : provider_(std::move(provider)),
      request_(std::move(req)),
      on_delta_(std::move(on_delta)),
      handler_(std::move(handler)),
      started_at_(std::chrono::steady_clock::now()) {}

void ProviderCall::start() {
  auto slot = asio::get_associated_cancellation_slot(handler_);
  if (slot.is_connected()) {
    std::weak_ptr<ProviderCall> weak = shared_from_this();
    slot.assign([weak](asio::cancellation_type) {
      auto self = weak.lock();
      if (!self || self->cancel_pending_.exchange(true)) return;
      if (auto* rt = Runtime::instance()) rt->post(self);
      // The caller gets its completion at once (posted: the slot's handler must not clear
      // itself); whatever the JS provider does later is ignored.
      asio::post(self->provider_->get_executor(), [self] {
        ChatResponse resp;
        resp.content = self->received_;
        resp.error = make_error(errc::cancelled, "cancelled");
        self->complete(errc::cancelled, std::move(resp));
      });
    });
  }
  auto* rt = Runtime::instance();
  if (!rt) {
    ChatResponse resp;
    resp.error = make_error(errc::cancelled, "the Node.js environment is shutting down");
    complete(errc::cancelled, std::move(resp));
    return;
  }
  rt->post(shared_from_this());
}

void ProviderCall::deliver(Napi::Env env) {
  if (!started_.exchange(true)) {
    if (cancel_pending_) return;  // cancelled before it started: already completed
    auto runner = provider_->runner();
    if (!runner.IsFunction()) return;
    auto req = to_text(request_to_json(request_));
    auto abort =
        runner.As<Napi::Function>().Call({provider_->impl(), Napi::String::New(env, req),
                                          Napi::Boolean::New(env, static_cast<bool>(on_delta_)),
                                          make_handle(env, shared_from_this())});
    if (abort.IsFunction()) abort_ = JsRef(env, abort);
  }
  if (cancel_pending_ && !cancel_delivered_) {
    cancel_delivered_ = true;
    auto abort = abort_.value();
    abort_.reset();
    if (abort.IsFunction()) abort.As<Napi::Function>().Call({});
  }
}

void ProviderCall::delta(std::string text, std::string reasoning) {
  if (text.empty() && reasoning.empty()) return;
  auto* rt = Runtime::instance();
  if (!rt) return;
  asio::post(rt->io(),
             [self = shared_from_this(), text = std::move(text), reasoning = std::move(reasoning)] {
               if (self->completed_) return;
               if (!self->first_token_) {
                 self->first_token_ = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - self->started_at_);
               }
               self->received_ += text;
               self->received_reasoning_ += reasoning;
               if (self->on_delta_) self->on_delta_(StreamDelta{text, reasoning});
             });
}

void ProviderCall::finish(ChatResponse resp) {
  abort_.reset();
  auto* rt = Runtime::instance();
  if (!rt) return;
  asio::post(rt->io(), [self = shared_from_this(), resp = std::move(resp)]() mutable {
    if (resp.content.empty()) resp.content = self->received_;
    if (resp.reasoning.empty()) resp.reasoning = self->received_reasoning_;
    self->complete(error_code{}, std::move(resp));
  });
}

void ProviderCall::fail(Error err) {
  abort_.reset();
  auto* rt = Runtime::instance();
  if (!rt) return;
  asio::post(rt->io(), [self = shared_from_this(), err = std::move(err)]() mutable {
    ChatResponse resp;
    resp.content = self->received_;
    resp.reasoning = self->received_reasoning_;
    error_code ec = err.code ? err.code : make_error_code(errc::server);
    resp.error = std::move(err);
    resp.error.code = ec;
    self->complete(ec, std::move(resp));
  });
}

void ProviderCall::complete(error_code ec, ChatResponse resp) {
  if (completed_) return;
  completed_ = true;
  resp.provider = std::string(provider_->id());
  if (resp.model.empty()) resp.model = request_.config.model;
  resp.latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started_at_);
  if (!resp.time_to_first_token && first_token_) resp.time_to_first_token = first_token_;
  if (!resp.usage.reported && resp.usage.total_tokens == 0) {
    // No counts from the provider: estimate them the way the built-ins do for silent servers.
    resp.usage.prompt_tokens = estimate_prompt_tokens(request_);
    resp.usage.completion_tokens = resp.content.empty() ? 0 : sim::estimate_tokens(resp.content);
    resp.usage.total_tokens = resp.usage.prompt_tokens + resp.usage.completion_tokens;
    resp.usage.estimated = true;
  }
  if (ec) {
    resp.error.provider = std::string(provider_->id());
    resp.finish_reason = FinishReason::error;
  } else if (resp.finish_reason == FinishReason::unknown) {
    resp.finish_reason = FinishReason::stop;
  }
  auto slot = asio::get_associated_cancellation_slot(handler_);
  if (slot.is_connected()) slot.clear();
  auto ex = asio::get_associated_executor(handler_, provider_->get_executor());
  asio::dispatch(ex, [h = std::move(handler_), ec, r = std::move(resp)]() mutable {
    std::move(h)(ec, std::move(r));
  });
  on_delta_ = nullptr;
}

JsProvider::JsProvider(Napi::Env env, std::string id, std::string name,
                       std::vector<ModelInfo> models, Napi::Object impl, Napi::Function runner,
                       asio::any_io_executor ex)
    : id_(std::move(id)),
      name_(std::move(name)),
      models_(std::move(models)),
      impl_(env, impl),
      runner_(env, runner),
      ex_(std::move(ex)) {}

void JsProvider::do_complete(ChatRequest req, DeltaHandler on_delta,
                             asio::any_completion_handler<complete_signature> handler) {
  auto call = std::make_shared<ProviderCall>(shared_from_this(), std::move(req),
                                             std::move(on_delta), std::move(handler));
  // start() touches the handler's cancellation slot, which belongs to the io thread.
  asio::dispatch(ex_, [call] { call->start(); });
}

void JsProvider::do_validate_key(std::string,
                                 asio::any_completion_handler<validate_signature> handler) {
  // A JS provider owns its credentials: there is no vendor to ask, so every key is accepted.
  asio::post(ex_, [h = std::move(handler), ex = ex_]() mutable {
    auto hex = asio::get_associated_executor(h, ex);
    asio::dispatch(hex, [h = std::move(h)]() mutable { std::move(h)(error_code{}, Error{}); });
  });
}

}  // namespace chorus::node
