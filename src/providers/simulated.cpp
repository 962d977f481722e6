// The `simulated` provider: in-process, deterministic, no network. Honours the fake server's
// directives (chorus/simulation.hpp) so workflows can be scripted offline.
#include "simulated.hpp"

#include "http_provider.hpp"

#include <chorus/pricing.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <cstdlib>
#include <random>

namespace chorus::providers {

using clock = std::chrono::steady_clock;

namespace {

errc kind_of_status(int status) {
  if (status == 401 || status == 403) return errc::auth;
  if (status == 402) return errc::quota_exceeded;
  if (status == 429) return errc::rate_limited;
  if (status == 503 || status == 529) return errc::overloaded;
  if (status >= 500) return errc::server;
  if (status == 408) return errc::timeout;
  return errc::bad_request;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

class SimOp : public std::enable_shared_from_this<SimOp> {
 public:
  SimOp(std::shared_ptr<SimulatedProvider> provider, ChatRequest req, DeltaHandler on_delta,
        asio::any_completion_handler<Provider::complete_signature> handler)
      : provider_(std::move(provider)),
        req_(std::move(req)),
        on_delta_(std::move(on_delta)),
        handler_(std::move(handler)),
        timer_(provider_->get_executor()),
        start_(clock::now()) {
    response_.provider = "simulated";
  }

  void start() {
    if (Error e = prepare_request(req_, context_window(req_.config.model))) {
      e.provider = "simulated";
      response_.error = std::move(e);
      return complete(/*posted=*/true);
    }
    std::string_view last_user;
    for (const Message& m : req_.messages)
      if (m.role == Role::user) last_user = m.content;
    directives_ = sim::parse_directives(last_user);
    reply_ = sim::make_reply(directives_, req_.config.system_prompt, req_.config.model);
    delay_ = directives_.token_delay.value_or(provider_->token_delay());

    // Stop sequences and max_tokens shape the reply the way a real model's are.
    finish_raw_ = "stop";
    for (const std::string& stop : req_.config.stop) {
      if (stop.empty()) continue;
      if (auto pos = reply_.find(stop); pos != std::string::npos) reply_.resize(pos);
    }
    sim::split_tokens(reply_, [&](std::string_view t) {
      token_ends_.push_back(static_cast<std::size_t>(t.data() + t.size() - reply_.data()));
    });
    if (req_.config.max_tokens &&
        static_cast<std::int64_t>(token_ends_.size()) > *req_.config.max_tokens) {
      token_ends_.resize(static_cast<std::size_t>(*req_.config.max_tokens));
      finish_raw_ = "length";
    }

    auto slot = asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      std::weak_ptr<SimOp> weak = shared_from_this();
      slot.assign([weak](asio::cancellation_type) {
        if (auto self = weak.lock()) self->cancel();
      });
    }
    attempt();
  }

 private:
  void cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    timer_.cancel();
  }

  void attempt() {
    ++attempts_;
    const auto latency = directives_.latency.value_or(std::chrono::milliseconds(0));
    wait(latency, [](SimOp& self) { self.respond(); });
  }

  template <class F>
  void wait(std::chrono::milliseconds delay, F next) {
    auto self = shared_from_this();
    timer_.expires_after(delay);
    timer_.async_wait([self, next](error_code ec) {
      if (self->cancelled_ || ec) return self->fail_cancelled();
      next(*self);
    });
  }

  void respond() {
    if (directives_.status && provider_->failures().should_fail(*directives_.status)) {
      const sim::StatusDirective& st = *directives_.status;
      Error e;
      e.code = kind_of_status(st.code);
      e.status = st.code;
      e.provider = "simulated";
      e.message = "simulated HTTP " + std::to_string(st.code) + " ([[status]] directive)";
      if (st.retry_after_ms)
        e.retry_after = std::chrono::milliseconds(*st.retry_after_ms);
      else if (st.retry_after_s)
        e.retry_after = std::chrono::milliseconds(*st.retry_after_s * 1000);
      return fail(std::move(e));
    }
    if (directives_.malformed) {
      Error e =
          make_error(errc::protocol, "simulated malformed response ([[malformed]] directive)");
      e.provider = "simulated";
      return fail(std::move(e));
    }
    if (!on_delta_) {
      // Non-streamed: the whole answer after the time its tokens would take.
      const auto n = static_cast<std::int64_t>(token_ends_.size());
      wait(delay_ * n, [](SimOp& self) {
        self.next_ = self.token_ends_.size();
        if (auto err = self.scripted_stream_failure()) return self.fail(std::move(*err));
        self.response_.content.assign(self.reply_, 0,
                                      self.token_ends_.empty() ? 0 : self.token_ends_.back());
        self.succeed();
      });
      return;
    }
    stream_next();
  }

  // A [[cut:N]] or [[midstream-error]] fault once N (or half the) tokens went out.
  std::optional<Error> scripted_stream_failure() {
    if (directives_.cut && static_cast<std::int64_t>(next_) >= *directives_.cut &&
        static_cast<std::int64_t>(token_ends_.size()) > *directives_.cut) {
      Error e = make_error(errc::connection_closed, "simulated connection cut ([[cut]] directive)");
      e.provider = "simulated";
      return e;
    }
    if (directives_.midstream_error && next_ >= token_ends_.size() / 2 && !token_ends_.empty() &&
        next_ < token_ends_.size()) {
      Error e = make_error(errc::overloaded, "Overloaded (simulated mid-stream error)");
      e.provider = "simulated";
      return e;
    }
    return std::nullopt;
  }

  void stream_next() {
    if (cancelled_) return fail_cancelled();
    // With no delay every token goes out in this one step; otherwise one token per tick.
    do {
      if (auto err = scripted_stream_failure()) return fail(std::move(*err));
      if (next_ >= token_ends_.size()) return succeed();
      const std::size_t begin = next_ == 0 ? 0 : token_ends_[next_ - 1];
      const std::size_t end = token_ends_[next_++];
      const std::string_view token = std::string_view(reply_).substr(begin, end - begin);
      if (!ttft_)
        ttft_ = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start_);
      response_.content.append(token);
      text_delivered_ = true;
      on_delta_(StreamDelta{token, {}});
    } while (delay_.count() == 0);
    wait(delay_, [](SimOp& self) { self.stream_next(); });
  }

  void succeed() {
    Usage& u = response_.usage;
    u.prompt_tokens = estimate_prompt_tokens(req_);
    u.completion_tokens = static_cast<std::int64_t>(next_);
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
    u.reported = !directives_.usage_off;
    u.estimated = directives_.usage_off;
    response_.finish_reason_raw = finish_raw_;
    response_.finish_reason = finish_raw_ == "length" ? FinishReason::length : FinishReason::stop;
    complete(false);
  }

  void fail(Error e) {
    if (!text_delivered_ && e.retryable() && !cancelled_) {
      if (auto delay = provider_->retry().next_delay(attempts_, e, provider_->random())) {
        response_.content.clear();
        next_ = 0;
        wait(*delay, [](SimOp& self) { self.attempt(); });
        return;
      }
    }
    response_.error = std::move(e);
    complete(false);
  }

  void fail_cancelled() {
    response_.error = make_error(errc::cancelled, "cancelled by the caller");
    response_.error.provider = "simulated";
    complete(false);
  }

  void complete(bool posted) {
    response_.attempts = attempts_ == 0 ? 1 : attempts_;
    response_.latency =
        std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start_);
    response_.time_to_first_token = ttft_;
    response_.model = req_.config.model;
    response_.request_id = "sim-" + hex64(sim::fnv1a(reply_, sim::fnv1a(req_.config.model)));
    if (response_.error) {
      response_.finish_reason = FinishReason::error;
    }
    if (response_.usage.reported || response_.usage.estimated)
      response_.cost = price_call(response_.model, response_.usage);
    auto slot = asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.clear();
    auto ex = asio::get_associated_executor(handler_, provider_->get_executor());
    error_code ec = response_.error.code;
    auto fn = [h = std::move(handler_), ec, r = std::move(response_)]() mutable {
      std::move(h)(ec, std::move(r));
    };
    if (posted)
      asio::post(provider_->get_executor(), asio::bind_executor(ex, std::move(fn)));
    else
      asio::dispatch(ex, std::move(fn));
  }

  std::shared_ptr<SimulatedProvider> provider_;
  ChatRequest req_;
  DeltaHandler on_delta_;
  asio::any_completion_handler<Provider::complete_signature> handler_;
  asio::steady_timer timer_;
  clock::time_point start_;
  sim::Directives directives_;
  std::string reply_;
  std::vector<std::size_t> token_ends_;
  std::size_t next_ = 0;
  std::string finish_raw_;
  std::chrono::milliseconds delay_{0};
  ChatResponse response_;
  std::optional<std::chrono::microseconds> ttft_;
  int attempts_ = 0;
  bool cancelled_ = false;
  bool text_delivered_ = false;
};

}  // namespace

std::chrono::milliseconds default_simulated_token_delay() {
  if (const char* env = std::getenv("CHORUS_SIMULATED_TOKEN_DELAY_MS"); env && *env) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end && *end == '\0' && v >= 0 && v <= 60'000) return std::chrono::milliseconds(v);
  }
  return std::chrono::milliseconds(2);
}

SimulatedProvider::SimulatedProvider(asio::any_io_executor ex, ProviderOptions options)
    : ex_(std::move(ex)),
      id_(options.id.empty() ? "simulated" : options.id),
      name_(options.display_name.empty() ? "Simulated (no network)" : options.display_name),
      retry_(options.retry),
      token_delay_(options.token_delay.value_or(default_simulated_token_delay())),
      rng_(std::random_device{}()) {}

std::vector<ModelInfo> SimulatedProvider::models() const {
  return models_from_pricing("simulated");
}

std::uint64_t SimulatedProvider::random() noexcept {
  std::uint64_t z = rng_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void SimulatedProvider::do_complete(ChatRequest req, DeltaHandler on_delta,
                                    asio::any_completion_handler<complete_signature> handler) {
  auto op = std::make_shared<SimOp>(shared_from_this(), std::move(req), std::move(on_delta),
                                    std::move(handler));
  op->start();
}

void SimulatedProvider::do_validate_key(std::string key,
                                        asio::any_completion_handler<validate_signature> handler) {
  // No key is needed; a key starting with "invalid" is refused, as the fake server does, so key
  // handling can be exercised offline.
  Error e;
  if (key.starts_with("invalid")) {
    e = make_error(errc::auth, "simulated: invalid API key");
    e.provider = id_;
  }
  auto ex = asio::get_associated_executor(handler, ex_);
  error_code ec = e.code;
  asio::post(ex_, asio::bind_executor(ex, [h = std::move(handler), ec, e = std::move(e)]() mutable {
               std::move(h)(ec, std::move(e));
             }));
}

}  // namespace chorus::providers
