// Fuzzes chorus::parse_retry_after and RetryPolicy::next_delay. Input: the `retry-after-ms`
// header value, '\n', the `retry-after` value; the first 8 bytes of the payload also pick `now`.
// Oracles: a hint is never negative; the ms header, when it parses alone, wins; next_delay never
// returns more than the policy allows.
#include <chorus/error.hpp>
#include <chorus/retry.hpp>

#include "fuzz_util.hpp"

#include <chrono>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono;
  chorus::fuzz::Reader in(data, size);
  std::uint32_t when = static_cast<std::uint32_t>(in.u16()) << 16 | in.u16();
  std::string_view ms_header = in.line();
  std::string_view header = in.rest();
  // `now` anywhere from 1970 to 2106, so HTTP-dates land before and after it.
  system_clock::time_point now{seconds(when)};

  auto hint = chorus::parse_retry_after(ms_header, header, now);
  if (hint) CHORUS_FUZZ_CHECK(hint->count() >= 0);
  if (auto alone = chorus::parse_retry_after(ms_header, {}, now)) {
    CHORUS_FUZZ_CHECK(hint && *hint == *alone);
  }
  auto only_date = chorus::parse_retry_after({}, header, now);
  if (only_date) CHORUS_FUZZ_CHECK(only_date->count() >= 0);

  chorus::RetryPolicy policy;
  chorus::Error err;
  err.retry_after = hint;
  for (int attempt = 1; attempt <= policy.max_attempts; ++attempt) {
    auto d = policy.next_delay(attempt, err, 0x9E3779B97F4A7C15ull * (when + attempt));
    if (!d) continue;
    CHORUS_FUZZ_CHECK(d->count() >= 0);
    if (hint)
      CHORUS_FUZZ_CHECK(*d <= policy.max_retry_after);
    else
      CHORUS_FUZZ_CHECK(*d <= policy.max_delay);
  }
  return 0;
}
