#include "py_provider.hpp"

#include <chorus/simulation.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

namespace chorus::python {

ProviderCall::ProviderCall(std::shared_ptr<PyProvider> provider, ChatRequest req,
                           DeltaHandler on_delta,
                           asio::any_completion_handler<Provider::complete_signature> handler)
    : provider_(std::move(provider)),
      request_(std::move(req)),
      on_delta_(std::move(on_delta)),
      streaming_(static_cast<bool>(on_delta_)),
      handler_(std::move(handler)),
      started_at_(std::chrono::steady_clock::now()) {}

void ProviderCall::start() {
  sink_ = provider_->dispatcher();
  if (!sink_) {
    ChatResponse resp;
    resp.error =
        make_error(errc::invalid_argument, "Python provider '" + std::string(provider_->id()) +
                                               "' has no asyncio loop to run on");
    complete(errc::invalid_argument, std::move(resp));
    return;
  }
  auto slot = asio::get_associated_cancellation_slot(handler_);
  if (slot.is_connected()) {
    std::weak_ptr<ProviderCall> weak = shared_from_this();
    slot.assign([weak](asio::cancellation_type) {
      if (auto self = weak.lock()) {
        if (!self->cancel_pending_.exchange(true)) self->sink_->post(self);
      }
    });
  }
  sink_->post(shared_from_this());
}

void ProviderCall::deliver() {
  auto self = shared_from_this();
  if (!started_.exchange(true)) {
    if (cancel_pending_) {
      fail("cancelled", "cancelled before the Python provider started", 0, std::nullopt, "", "");
      return;
    }
    provider_->runner().get()(provider_->impl().get(), py::cast(self));
    return;
  }
  if (cancel_pending_ && !cancel_delivered_ && cancel_callback_) {
    cancel_delivered_ = true;
    py::object cb = cancel_callback_.get();  // owned: complete() may drop ours meanwhile
    cb();
  }
}

void ProviderCall::delta(std::string text, std::string reasoning) {
  if (!streaming_ || (text.empty() && reasoning.empty())) return;
  auto self = shared_from_this();
  asio::post(Runtime::get().io(), [self, text = std::move(text), reasoning = std::move(reasoning)] {
    if (self->completed_) return;
    if (!self->first_token_) {
      self->first_token_ = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - self->started_at_);
    }
    self->received_ += text;
    self->received_reasoning_ += reasoning;
    self->on_delta_(StreamDelta{text, reasoning});
  });
}

void ProviderCall::finish(ChatResponse resp) {
  auto self = shared_from_this();
  asio::post(Runtime::get().io(), [self, resp = std::move(resp)]() mutable {
    if (resp.content.empty()) resp.content = self->received_;
    if (resp.reasoning.empty()) resp.reasoning = self->received_reasoning_;
    self->complete(error_code{}, std::move(resp));
  });
}

void ProviderCall::fail(const std::string& kind, const std::string& message, int status,
                        std::optional<double> retry_after_s, const std::string& request_id,
                        const std::string& vendor_code) {
  errc code = errc_from_string(kind).value_or(errc::server);
  Error err = make_error(code, message);
  err.status = status;
  err.request_id = request_id;
  err.vendor_code = vendor_code;
  if (retry_after_s && *retry_after_s >= 0) {
    err.retry_after = std::chrono::milliseconds(static_cast<std::int64_t>(*retry_after_s * 1000));
  }
  auto self = shared_from_this();
  asio::post(Runtime::get().io(), [self, err = std::move(err)]() mutable {
    ChatResponse resp;
    resp.content = self->received_;
    resp.reasoning = self->received_reasoning_;
    resp.error = std::move(err);
    error_code ec = resp.error.code;
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
    // The provider gave no counts: estimate them as the built-ins do for silent servers.
    resp.usage.prompt_tokens = estimate_prompt_tokens(request_);
    resp.usage.completion_tokens = resp.content.empty() ? 0 : sim::estimate_tokens(resp.content);
    resp.usage.total_tokens = resp.usage.prompt_tokens + resp.usage.completion_tokens;
    resp.usage.estimated = true;
  }
  if (ec) {
    resp.error.provider = std::string(provider_->id());
    if (resp.finish_reason == FinishReason::unknown) resp.finish_reason = FinishReason::error;
  } else if (resp.finish_reason == FinishReason::unknown) {
    resp.finish_reason = FinishReason::stop;
  }
  auto slot = asio::get_associated_cancellation_slot(handler_);
  if (slot.is_connected()) slot.clear();
  auto ex = asio::get_associated_executor(handler_, Runtime::get().executor());
  asio::dispatch(ex, [h = std::move(handler_), ec, r = std::move(resp)]() mutable {
    std::move(h)(ec, std::move(r));
  });
  on_delta_ = nullptr;
  // Breaks the cycle call -> task.cancel -> task -> coroutine -> call. Under the GIL: the loop
  // thread reads it in deliver().
  if (python_alive()) {
    py::gil_scoped_acquire gil;
    cancel_callback_ = GilObject();
  }
}

PyProvider::PyProvider(std::string id, std::string name, std::vector<ModelInfo> models,
                       py::object impl, py::object runner, std::shared_ptr<LoopSlot> loop)
    : id_(std::move(id)),
      name_(std::move(name)),
      models_(std::move(models)),
      impl_(std::move(impl)),
      runner_(std::move(runner)),
      loop_(std::move(loop)) {}

void PyProvider::do_complete(ChatRequest req, DeltaHandler on_delta,
                             asio::any_completion_handler<complete_signature> handler) {
  auto call = std::make_shared<ProviderCall>(shared_from_this(), std::move(req),
                                             std::move(on_delta), std::move(handler));
  // start() touches the handler's cancellation slot, which belongs to the io thread.
  asio::dispatch(Runtime::get().io(), [call] { call->start(); });
}

void PyProvider::do_validate_key(std::string,
                                 asio::any_completion_handler<validate_signature> handler) {
  // Python providers own their credentials: there is no vendor to ask, so every key is accepted.
  asio::post(Runtime::get().io(), [h = std::move(handler)]() mutable {
    auto ex = asio::get_associated_executor(h, Runtime::get().executor());
    asio::dispatch(ex, [h = std::move(h)]() mutable { std::move(h)(error_code{}, Error{}); });
  });
}

}  // namespace chorus::python
