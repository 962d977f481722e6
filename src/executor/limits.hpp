// Call admission for the executor: concurrency caps (global and per provider) and per-provider
// rate limits (requests and tokens per minute, token buckets). Calls that may not start yet wait
// in FIFO order per provider; nothing fails because of a limit. Single-threaded: used only from
// the executor's executor.
#pragma once

#include <chorus/executor.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace chorus::detail {

class CallGate : public std::enable_shared_from_this<CallGate> {
 public:
  using clock = std::chrono::steady_clock;

  /// One queued call. `grant` runs (from pump) when the call may start; after that the caller
  /// must call release(provider) once when the call ends.
  struct Waiter {
    std::string provider;
    double tokens = 0;
    std::function<void()> grant;
  };
  using Ticket = std::list<Waiter>::iterator;

  explicit CallGate(asio::any_io_executor ex) : timer_(ex) {}

  void configure(std::size_t max_concurrency, std::map<std::string, std::size_t> per_provider,
                 std::map<std::string, RateLimit> rates) {
    max_concurrency_ = max_concurrency;
    per_provider_ = std::move(per_provider);
    rates_.clear();
    for (auto& [id, r] : rates) {
      Bucket b;
      b.limit = r;
      b.requests = r.requests_per_minute;
      b.tokens = r.tokens_per_minute;
      b.last = clock::now();
      rates_.emplace(id, b);
    }
    pump();
  }

  /// Whether the gate limits anything at all (the fast path skips it otherwise).
  bool active() const noexcept {
    return max_concurrency_ != 0 || !per_provider_.empty() || !rates_.empty();
  }

  /// Queues a call; `grant` may run before enqueue returns when the call may start at once.
  /// Returns a ticket to cancel() the wait while not yet granted.
  Ticket enqueue(std::string provider, double tokens, std::function<void()> grant) {
    auto it =
        waiters_.insert(waiters_.end(), Waiter{std::move(provider), tokens, std::move(grant)});
    pump();
    return it;
  }

  /// Drops a waiter not yet granted. Returns false when it was granted already.
  bool cancel(Ticket t) {
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (it == t) {
        waiters_.erase(it);
        return true;
      }
    }
    return false;
  }

  /// A granted call ended.
  void release(const std::string& provider) {
    if (in_flight_ > 0) --in_flight_;
    if (auto it = provider_in_flight_.find(provider); it != provider_in_flight_.end() && it->second)
      --it->second;
    pump();
  }

  std::size_t in_flight() const noexcept { return in_flight_; }

 private:
  struct Bucket {
    RateLimit limit;
    double requests = 0;
    double tokens = 0;
    clock::time_point last;
  };

  void refill(Bucket& b, clock::time_point now) {
    const double minutes = std::chrono::duration<double>(now - b.last).count() / 60.0;
    b.last = now;
    if (b.limit.requests_per_minute > 0)
      b.requests =
          std::min(b.limit.requests_per_minute, b.requests + minutes * b.limit.requests_per_minute);
    if (b.limit.tokens_per_minute > 0)
      b.tokens =
          std::min(b.limit.tokens_per_minute, b.tokens + minutes * b.limit.tokens_per_minute);
  }

  // How long until `b` admits a call of `tokens`; zero when it does now.
  clock::duration wait_for(const Bucket& b, double tokens) const {
    double minutes = 0;
    if (b.limit.requests_per_minute > 0 && b.requests < 1.0)
      minutes = std::max(minutes, (1.0 - b.requests) / b.limit.requests_per_minute);
    if (b.limit.tokens_per_minute > 0) {
      const double need = std::min(tokens, b.limit.tokens_per_minute);  // a huge call waits for a
      if (b.tokens < need)                                              // full bucket, not forever
        minutes = std::max(minutes, (need - b.tokens) / b.limit.tokens_per_minute);
    }
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(minutes * 60));
  }

  void pump() {
    if (pumping_) return;
    pumping_ = true;
    std::vector<std::function<void()>> granted;
    const auto now = clock::now();
    clock::duration soonest = clock::duration::max();
    std::map<std::string, bool, std::less<>> blocked;  // FIFO per provider
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (max_concurrency_ != 0 && in_flight_ >= max_concurrency_) break;
      Waiter& w = *it;
      if (blocked.count(w.provider)) {
        ++it;
        continue;
      }
      if (auto cap = per_provider_.find(w.provider);
          cap != per_provider_.end() && cap->second != 0 &&
          provider_in_flight_[w.provider] >= cap->second) {
        blocked[w.provider] = true;
        ++it;
        continue;
      }
      if (auto r = rates_.find(w.provider); r != rates_.end()) {
        refill(r->second, now);
        auto wait = wait_for(r->second, w.tokens);
        if (wait > clock::duration::zero()) {
          soonest = std::min(soonest, wait);
          blocked[w.provider] = true;
          ++it;
          continue;
        }
        r->second.requests -= 1.0;
        r->second.tokens -= std::min(w.tokens, r->second.limit.tokens_per_minute);
      }
      ++in_flight_;
      ++provider_in_flight_[w.provider];
      granted.push_back(std::move(w.grant));
      it = waiters_.erase(it);
    }
    if (soonest != clock::duration::max() && !timer_armed_) {
      timer_armed_ = true;
      timer_.expires_after(soonest + std::chrono::milliseconds(1));
      timer_.async_wait([weak = weak_from_this()](error_code ec) {
        auto self = weak.lock();
        if (!self) return;
        self->timer_armed_ = false;
        if (!ec) self->pump();
      });
    }
    pumping_ = false;
    // Granted calls start after the scan, so they may enqueue, cancel or release re-entrantly.
    for (auto& g : granted)
      g();
  }

  asio::steady_timer timer_;
  bool timer_armed_ = false;
  bool pumping_ = false;
  std::size_t max_concurrency_ = 0;
  std::size_t in_flight_ = 0;
  std::map<std::string, std::size_t> per_provider_;
  std::map<std::string, std::size_t> provider_in_flight_;
  std::map<std::string, Bucket> rates_;
  std::list<Waiter> waiters_;
};

}  // namespace chorus::detail
