// A scripted in-process Provider for the executor tests: a test double of the Provider
// interface (not of the executor). Replies follow the simulation directives of the prompt
// (chorus::sim: [[reply:TEXT]], [[latency:MS]], [[token-delay:MS]], [[status:CODE times=N]]),
// waits run on Asio timers, cancellation goes through the handler's cancellation slot, and it
// records what it saw: calls, requests, calls in flight and the maximum in flight.
#pragma once

#include <chorus/provider.hpp>
#include <chorus/simulation.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chorus::test {

class ScriptedProvider : public Provider {
 public:
  ScriptedProvider(asio::any_io_executor ex, std::string id) : ex_(ex), id_(std::move(id)) {}

  std::string_view id() const noexcept override { return id_; }
  std::string_view name() const noexcept override { return "Scripted test provider"; }
  std::vector<ModelInfo> models() const override {
    // $1 / $2 per million tokens: 1e-6 USD per prompt token, 2e-6 per completion token.
    return {ModelInfo{"test-model", 1.0, 2.0, std::nullopt, 100000},
            ModelInfo{"big-model", 10.0, 20.0, std::nullopt, 100000},
            ModelInfo{"unpriced-model", std::nullopt, std::nullopt, std::nullopt, std::nullopt}};
  }
  executor_type get_executor() const noexcept override { return ex_; }

  // What the provider saw.
  int calls = 0;
  int in_flight = 0;
  int max_in_flight = 0;
  int cancelled = 0;
  std::vector<ChatRequest> requests;
  /// Applied to every call's latency when the prompt has no [[latency]] directive.
  std::chrono::milliseconds default_latency{0};
  /// When set, every call fails with this error (to test fallbacks across providers).
  std::optional<errc> always_fail;

 protected:
  struct Op {
    explicit Op(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    // optional + emplace: Boost 1.81's any_completion_handler move-assignment recurses.
    std::optional<asio::any_completion_handler<complete_signature>> handler;
    DeltaHandler on_delta;
    ChatResponse response;
    std::string reply;
    std::size_t pos = 0;
    std::chrono::milliseconds token_delay{0};
    error_code fail;
    std::chrono::steady_clock::time_point start;
  };

  void do_complete(ChatRequest req, DeltaHandler on_delta,
                   asio::any_completion_handler<complete_signature> handler) override {
    ++calls;
    ++in_flight;
    max_in_flight = std::max(max_in_flight, in_flight);
    auto op = std::make_shared<Op>(ex_);
    op->handler.emplace(std::move(handler));
    op->on_delta = std::move(on_delta);
    op->start = std::chrono::steady_clock::now();

    std::string prompt;
    std::int64_t prompt_tokens = sim::estimate_tokens(req.config.system_prompt);
    for (const auto& m : req.messages) {
      prompt_tokens += sim::estimate_tokens(m.content);
      if (m.role == Role::user) prompt = m.content;
    }
    sim::Directives d = sim::parse_directives(prompt);
    op->reply = d.reply ? *d.reply : "echo:" + d.text;
    op->token_delay = d.token_delay.value_or(std::chrono::milliseconds(0));
    if (d.status && failures_.should_fail(*d.status)) op->fail = status_to_errc(d.status->code);
    if (always_fail) op->fail = *always_fail;
    auto& r = op->response;
    r.provider = id_;
    r.model = req.config.model;
    r.usage.prompt_tokens = prompt_tokens;
    requests.push_back(std::move(req));

    auto slot = asio::get_associated_cancellation_slot(*op->handler);
    if (slot.is_connected()) {
      std::weak_ptr<Op> weak = op;
      slot.assign([weak](asio::cancellation_type) {
        if (auto o = weak.lock()) o->timer.cancel();
      });
    }
    op->timer.expires_after(d.latency.value_or(default_latency));
    op->timer.async_wait([this, op](error_code ec) { step(op, ec); });
  }

  void do_validate_key(std::string, asio::any_completion_handler<validate_signature> h) override {
    asio::post(ex_, [h = std::move(h)]() mutable { std::move(h)(error_code{}, Error{}); });
  }

 private:
  static errc status_to_errc(int status) {
    switch (status) {
      case 429:
        return errc::rate_limited;
      case 401:
        return errc::auth;
      case 400:
        return errc::bad_request;
      case 503:
      case 529:
        return errc::overloaded;
      default:
        return errc::server;
    }
  }

  void step(const std::shared_ptr<Op>& op, error_code ec) {
    if (ec) return finish(op, errc::cancelled);
    if (op->fail) return finish(op, op->fail);
    if (!op->on_delta) {
      op->response.content = op->reply;
      return finish(op, {});
    }
    if (op->pos >= op->reply.size()) return finish(op, {});
    const std::size_t end = sim::token_end(op->reply, op->pos);
    std::string_view token = std::string_view(op->reply).substr(op->pos, end - op->pos);
    op->pos = end;
    op->response.content.append(token);
    op->on_delta(StreamDelta{token, {}});
    op->timer.expires_after(op->token_delay);
    op->timer.async_wait([this, op](error_code e) { step(op, e); });
  }

  void finish(const std::shared_ptr<Op>& op, error_code ec) {
    --in_flight;
    auto& r = op->response;
    if (ec == errc::cancelled) ++cancelled;
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - op->start);
    if (ec) {
      r.error = make_error(ec, ec == errc::cancelled ? "cancelled" : "scripted failure");
      r.error.provider = id_;
      r.error.status = ec == errc::rate_limited ? 429 : ec == errc::auth ? 401 : 500;
    } else {
      r.finish_reason = FinishReason::stop;
    }
    r.usage.completion_tokens = ec ? 0 : static_cast<std::int64_t>(sim::count_tokens(r.content));
    r.usage.total_tokens = r.usage.prompt_tokens + r.usage.completion_tokens;
    r.usage.reported = true;
    for (const auto& m : models()) {
      if (m.id != r.model) continue;
      if (m.input_per_mtok && m.output_per_mtok && !ec)
        r.cost = (static_cast<double>(r.usage.prompt_tokens) * *m.input_per_mtok +
                  static_cast<double>(r.usage.completion_tokens) * *m.output_per_mtok) /
                 1e6;
    }
    if (ec) r.cost = 0.0;
    auto slot = asio::get_associated_cancellation_slot(*op->handler);
    if (slot.is_connected()) slot.clear();
    auto handler = std::move(*op->handler);
    op->handler.reset();
    std::move(handler)(ec, std::move(r));
  }

  asio::any_io_executor ex_;
  std::string id_;
  sim::FailureCounter failures_;
};

}  // namespace chorus::test
