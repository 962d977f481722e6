// RetryPolicy and parse_retry_after: sans-IO, no clocks read except the `now` passed in.
#include <chorus/error.hpp>
#include <chorus/retry.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace chorus {
namespace {

using std::chrono::milliseconds;

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// A non-negative decimal number ("12", "1.5", "0.25") scaled by `unit_ms`; nullopt for anything
// else (signs, exponents, garbage, overflow).
std::optional<milliseconds> parse_number(std::string_view s, double unit_ms) noexcept {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  double whole = 0;
  double fraction = 0;
  double scale = 1;
  bool digits = false;
  bool dot = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digits = true;
      if (dot) {
        scale /= 10;
        fraction += (c - '0') * scale;
      } else {
        whole = whole * 10 + (c - '0');
      }
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return std::nullopt;
    }
  }
  if (!digits) return std::nullopt;
  double ms = std::ceil((whole + fraction) * unit_ms);
  if (!(ms < 1e15)) return std::nullopt;  // absurd hint; also catches inf/nan
  return milliseconds(static_cast<std::int64_t>(ms));
}

int month_index(std::string_view m) noexcept {
  static constexpr std::array<std::string_view, 12> months{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < months.size(); ++i)
    if (months[i] == m) return static_cast<int>(i) + 1;
  return 0;
}

bool read_int(std::string_view& s, std::size_t width_min, std::size_t width_max,
              int& out) noexcept {
  std::size_t n = 0;
  while (n < s.size() && n < width_max && s[n] >= '0' && s[n] <= '9')
    ++n;
  if (n < width_min) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + n, out);
  if (ec != std::errc()) return false;
  s.remove_prefix(n);
  return true;
}

bool expect(std::string_view& s, char c) noexcept {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

bool read_time(std::string_view& s, int& h, int& mi, int& sec) noexcept {
  return read_int(s, 2, 2, h) && expect(s, ':') && read_int(s, 2, 2, mi) && expect(s, ':') &&
         read_int(s, 2, 2, sec) && h < 24 && mi < 60 && sec <= 60;
}

// The three HTTP-date forms of RFC 9110 §5.6.7: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
// RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
// Seconds, not system_clock's nanoseconds: a four-digit year past 2262 does not fit in those.
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view s) noexcept {
  s = trim(s);
  int day = 0, month = 0, year = 0, h = 0, mi = 0, sec = 0;
  auto comma = s.find(',');
  if (comma != std::string_view::npos) {
    s.remove_prefix(comma + 1);
    if (!expect(s, ' ')) return std::nullopt;
    if (!read_int(s, 2, 2, day)) return std::nullopt;
    char sep = s.empty() ? 0 : s.front();
    if (sep != ' ' && sep != '-') return std::nullopt;
    s.remove_prefix(1);
    if (s.size() < 3) return std::nullopt;
    month = month_index(s.substr(0, 3));
    s.remove_prefix(3);
    if (!expect(s, sep)) return std::nullopt;
    if (sep == ' ') {
      if (!read_int(s, 4, 4, year)) return std::nullopt;
    } else {
      if (!read_int(s, 2, 2, year)) return std::nullopt;
      year += year < 70 ? 2000 : 1900;  // RFC 9110: interpret as within 50 years
    }
    if (!expect(s, ' ') || !read_time(s, h, mi, sec) || trim(s) != "GMT") return std::nullopt;
  } else {
    // asctime: "Sun Nov  6 08:49:37 1994"
    if (s.size() < 24) return std::nullopt;
    s.remove_prefix(4);
    month = month_index(s.substr(0, 3));
    s.remove_prefix(3);
    if (!expect(s, ' ')) return std::nullopt;
    if (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (!read_int(s, 1, 2, day) || !expect(s, ' ') || !read_time(s, h, mi, sec) ||
        !expect(s, ' ') || !read_int(s, 4, 4, year) || !trim(s).empty())
      return std::nullopt;
  }
  if (month == 0 || day < 1) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                  std::chrono::day(day)};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(sec);
}

}  // namespace

std::optional<milliseconds> RetryPolicy::next_delay(int attempts_done, const Error& error,
                                                    std::uint64_t random) const noexcept {
  if (attempts_done >= max_attempts) return std::nullopt;
  if (error.retry_after) {
    if (*error.retry_after > max_retry_after) return std::nullopt;
    return std::max(*error.retry_after, milliseconds(0));
  }
  // cap = min(max_delay, base_delay * 2^(attempts_done - 1)), without overflowing.
  std::int64_t cap = std::max<std::int64_t>(base_delay.count(), 0);
  const std::int64_t limit = std::max<std::int64_t>(max_delay.count(), 0);
  for (int i = 1; i < attempts_done && cap < limit; ++i)
    cap = cap > limit / 2 ? limit : cap * 2;
  cap = std::min(cap, limit);
  if (cap <= 0) return milliseconds(0);
  return milliseconds(static_cast<std::int64_t>(random % static_cast<std::uint64_t>(cap)));
}

bool RetryPolicy::retryable_status(int status) noexcept {
  return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

std::optional<milliseconds> parse_retry_after(std::string_view retry_after_ms,
                                              std::string_view retry_after,
                                              std::chrono::system_clock::time_point now) noexcept {
  if (!trim(retry_after_ms).empty()) {
    if (auto ms = parse_number(retry_after_ms, 1.0)) return ms;
  }
  if (trim(retry_after).empty()) return std::nullopt;
  if (auto ms = parse_number(retry_after, 1000.0)) return ms;
  if (auto date = parse_http_date(retry_after)) {
    // In milliseconds on both sides (a far-future date overflows nanoseconds); the date is whole
    // seconds, so subtracting the floored `now` rounds the wait up as ceil would.
    auto delta =
        std::chrono::time_point_cast<milliseconds>(*date) - std::chrono::floor<milliseconds>(now);
    return delta.count() > 0 ? delta : milliseconds(0);
  }
  return std::nullopt;
}

}  // namespace chorus
