// RetryPolicy backoff and parse_retry_after.
#include <chorus/error.hpp>
#include <chorus/retry.hpp>

#include <gtest/gtest.h>

#include <random>

namespace chorus {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

std::chrono::system_clock::time_point at(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return std::chrono::sys_days(std::chrono::year(y) / mo / d) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(s);
}

TEST(ParseRetryAfter, Seconds) {
  EXPECT_EQ(parse_retry_after("", "12"), milliseconds(12'000));
  EXPECT_EQ(parse_retry_after("", " 0 "), milliseconds(0));
}

TEST(ParseRetryAfter, FractionalSeconds) {
  EXPECT_EQ(parse_retry_after("", "1.5"), milliseconds(1500));
  EXPECT_EQ(parse_retry_after("", "0.0011"), milliseconds(2));  // rounded up, never early
}

TEST(ParseRetryAfter, MillisecondsHeaderWins) {
  EXPECT_EQ(parse_retry_after("250", "12"), milliseconds(250));
  EXPECT_EQ(parse_retry_after("20.5", ""), milliseconds(21));
  // An unusable ms header falls back to retry-after.
  EXPECT_EQ(parse_retry_after("soon", "3"), milliseconds(3000));
}

TEST(ParseRetryAfter, HttpDates) {
  auto now = at(1994, 11, 6, 8, 49, 30);
  EXPECT_EQ(parse_retry_after("", "Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(7000));
  EXPECT_EQ(parse_retry_after("", "Sunday, 06-Nov-94 08:49:37 GMT", now), milliseconds(7000));
  EXPECT_EQ(parse_retry_after("", "Sun Nov  6 08:49:37 1994", now), milliseconds(7000));
  // A date in the past means "now".
  EXPECT_EQ(parse_retry_after("", "Sun, 06 Nov 1994 08:49:00 GMT", now), milliseconds(0));
  // Across a month and year boundary.
  EXPECT_EQ(parse_retry_after("", "Mon, 01 Jan 2024 00:00:01 GMT", at(2023, 12, 31, 23, 59, 59)),
            milliseconds(2000));
}

TEST(ParseRetryAfter, Garbage) {
  EXPECT_EQ(parse_retry_after("", ""), std::nullopt);
  EXPECT_EQ(parse_retry_after("", "-1"), std::nullopt);
  EXPECT_EQ(parse_retry_after("", "soon"), std::nullopt);
  EXPECT_EQ(parse_retry_after("", "1e3"), std::nullopt);
  EXPECT_EQ(parse_retry_after("", "Sun, 31 Feb 1994 08:49:37 GMT"), std::nullopt);
  EXPECT_EQ(parse_retry_after("", "Sun, 06 Foo 1994 08:49:37 GMT"), std::nullopt);
  EXPECT_EQ(parse_retry_after("", "Sun, 06 Nov 1994 25:49:37 GMT"), std::nullopt);
  EXPECT_EQ(parse_retry_after("", "."), std::nullopt);
}

TEST(RetryPolicy, RetryableStatuses) {
  for (int s : {408, 409, 429, 500, 502, 503, 504, 529})
    EXPECT_TRUE(RetryPolicy::retryable_status(s)) << s;
  for (int s : {200, 400, 401, 403, 404, 413, 422, 600})
    EXPECT_FALSE(RetryPolicy::retryable_status(s)) << s;
}

TEST(RetryPolicy, MaxAttempts) {
  RetryPolicy p;
  p.max_attempts = 3;
  Error e = make_error(errc::server, "x");
  EXPECT_TRUE(p.next_delay(1, e, 0));
  EXPECT_TRUE(p.next_delay(2, e, 0));
  EXPECT_FALSE(p.next_delay(3, e, 0));
  EXPECT_FALSE(RetryPolicy::none().next_delay(1, e, 0));
}

TEST(RetryPolicy, FullJitterBoundsDoubleUpToMaxDelay) {
  RetryPolicy p;
  p.max_attempts = 100;
  p.base_delay = 100ms;
  p.max_delay = 1000ms;
  Error e = make_error(errc::connect_failed, "x");
  std::mt19937_64 rng(42);
  const milliseconds caps[] = {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms};
  for (int attempt = 1; attempt <= 6; ++attempt) {
    milliseconds lo = 1h, hi = 0ms;
    for (int i = 0; i < 2000; ++i) {
      auto d = p.next_delay(attempt, e, rng());
      ASSERT_TRUE(d);
      lo = std::min(lo, *d);
      hi = std::max(hi, *d);
    }
    const milliseconds cap = caps[attempt - 1];
    EXPECT_GE(lo, 0ms);
    EXPECT_LT(hi, cap) << attempt;
    // Full jitter spreads over the whole range, not around the cap.
    EXPECT_LT(lo, cap / 10) << attempt;
    EXPECT_GT(hi, cap * 9 / 10) << attempt;
  }
  // Exact arithmetic: random % cap.
  EXPECT_EQ(p.next_delay(3, e, 401), milliseconds(1));
  // Huge attempt numbers do not overflow.
  EXPECT_LT(*p.next_delay(99, e, ~0ull), 1000ms);
}

TEST(RetryPolicy, RetryAfterReplacesBackoffAndCapGivesUp) {
  RetryPolicy p;
  p.max_retry_after = 10s;
  Error e = make_error(errc::rate_limited, "slow down");
  e.retry_after = 2500ms;
  EXPECT_EQ(p.next_delay(1, e, 12345), milliseconds(2500));
  e.retry_after = 11s;
  EXPECT_EQ(p.next_delay(1, e, 12345), std::nullopt);
  e.retry_after = 0ms;
  EXPECT_EQ(p.next_delay(1, e, 12345), milliseconds(0));
}

}  // namespace
}  // namespace chorus
