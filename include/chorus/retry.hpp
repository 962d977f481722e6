// Retry policy: exponential backoff with full jitter that honours the server's Retry-After.
// Sans-IO: it decides, the HTTP client and the providers wait and resend.
#pragma once

#include <chorus/config.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace chorus {

struct Error;

/// When and how often to retry a failed request. Only failures that happened before any body
/// byte reached the caller are retried, and only when the failure is retryable (connect errors,
/// timeouts before the first byte, 408/409/429/5xx/529, in-stream overloaded before any text).
struct CHORUS_API RetryPolicy {
  /// Total attempts, the first included; 1 = no retry.
  int max_attempts = 3;
  /// Backoff cap of the first retry.
  std::chrono::milliseconds base_delay{500};
  /// Upper bound of any computed backoff.
  std::chrono::milliseconds max_delay{20'000};
  /// A server hint longer than this is not waited for.
  std::chrono::milliseconds max_retry_after{60'000};

  /// No retries at all.
  static RetryPolicy none() noexcept { return RetryPolicy{.max_attempts = 1}; }

  /// The delay before attempt `attempts_done + 1`, or nullopt to give up. `error` is the failure
  /// of the last attempt; `random` is a uniformly distributed 64-bit value (full jitter:
  /// delay = random % min(max_delay, base_delay * 2^(attempts_done-1))). A retry_after hint in
  /// `error` replaces the computed backoff; a hint above max_retry_after gives up instead.
  /// It does not judge whether `error` is retryable: the caller decides that (the HTTP client for
  /// transport failures and statuses, providers for their own classification).
  std::optional<std::chrono::milliseconds> next_delay(int attempts_done, const Error& error,
                                                      std::uint64_t random) const noexcept;

  /// Whether an HTTP status is retryable in itself: 408, 409, 429, 500-599 and 529.
  static bool retryable_status(int status) noexcept;
};

/// Reads a server's retry hint: `retry-after-ms` (milliseconds) wins over `retry-after`, which is
/// either delta-seconds ("12", "1.5") or an HTTP-date compared with `now`. Empty views mean the
/// header is absent. nullopt when neither gives a usable value.
CHORUS_API std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view retry_after_ms, std::string_view retry_after,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) noexcept;

}  // namespace chorus
