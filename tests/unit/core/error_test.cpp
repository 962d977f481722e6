#include <chorus/error.hpp>

#include <gtest/gtest.h>
#include <boost/asio/error.hpp>

namespace chorus {
namespace {

TEST(Errc, NamesRoundTrip) {
  for (int v = static_cast<int>(errc::rate_limited); v <= static_cast<int>(errc::not_found); ++v) {
    auto e = static_cast<errc>(v);
    auto name = to_string(e);
    ASSERT_NE(name, "unknown") << v;
    EXPECT_EQ(errc_from_string(name), e);
  }
  EXPECT_EQ(errc_from_string("nope"), std::nullopt);
}

TEST(Errc, ErrorCodeInterop) {
  error_code ec = errc::quota_exceeded;
  EXPECT_EQ(ec.category().name(), std::string("chorus"));
  EXPECT_EQ(ec, errc::quota_exceeded);
  EXPECT_EQ(error_kind(ec), "quota_exceeded");
  EXPECT_EQ(error_kind(boost::asio::error::operation_aborted), "cancelled");
}

TEST(Errc, RetryableKinds) {
  EXPECT_TRUE(is_retryable(errc::rate_limited));
  EXPECT_TRUE(is_retryable(errc::overloaded));
  EXPECT_TRUE(is_retryable(errc::server));
  EXPECT_FALSE(is_retryable(errc::quota_exceeded));
  EXPECT_FALSE(is_retryable(errc::auth));
  EXPECT_FALSE(is_retryable(errc::content_filter));
  EXPECT_FALSE(is_retryable(boost::asio::error::invalid_argument));
}

TEST(Error, DescribeNamesEverythingKnown) {
  Error e = make_error(errc::rate_limited, "Slow down");
  e.provider = "openai";
  e.status = 429;
  e.request_id = "req_1";
  e.retry_after = std::chrono::milliseconds(850);
  EXPECT_EQ(e.describe(),
            "rate_limited: Slow down (provider openai, status 429, request id req_1, retry after "
            "850 ms)");
}

TEST(Error, ExceptionKeepsDetails) {
  try {
    throw Exception(make_error(errc::auth, "Incorrect API key"));
  } catch (const boost::system::system_error& ex) {
    EXPECT_EQ(ex.code(), errc::auth);
    EXPECT_STREQ(ex.what(), "auth: Incorrect API key");
    EXPECT_EQ(dynamic_cast<const Exception&>(ex).error().message, "Incorrect API key");
  }
}

TEST(Redact, KnownShapesAndValues) {
  EXPECT_EQ(redact_secrets("Authorization: Bearer abcdef123456"),
            "Authorization: Bearer [redacted]");
  EXPECT_EQ(redact_secrets("key sk-proj-abcdefghijkl used"), "key sk-[redacted] used");
  EXPECT_EQ(redact_secrets("AIzaSyA1234567890abcdef"), "AIza[redacted]");
  EXPECT_EQ(redact_secrets("my key is hunter2-secret!", {"hunter2-secret"}),
            "my key is [redacted]!");
  EXPECT_EQ(redact_secrets("short sk-ab"), "short sk-ab");
  const std::vector<std::string> keys{"hunter2-secret", "abc"};
  EXPECT_EQ(redact_secrets("hunter2-secret and abc", keys), "[redacted] and abc");
}

}  // namespace
}  // namespace chorus
