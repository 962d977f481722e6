// The real providers against the fake LLM server over real sockets: every fixture replayed
// (x-fake-fixture), retries per error kind, cancellation mid-stream, key validation, usage
// estimates, context_length before sending, the blocking wrappers.
#include "fixture_util.hpp"

#include <fake_llm.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <thread>

namespace chorus::test {
namespace {

namespace asio = boost::asio;

FakeLlmServer& server() {
  static FakeLlmServer instance;  // one server for the whole program
  return instance;
}

std::string base_url_for(std::string_view kind) {
  const std::string base = server().base_url();
  return kind == "openai" || kind == "openai-compatible" ? base + "/v1" : base;
}

std::shared_ptr<Provider> make(asio::io_context& ioc, std::string_view kind,
                               ProviderOptions o = {}) {
  if (o.api_key.empty()) o.api_key = "test-key";
  if (o.base_url.empty()) o.base_url = base_url_for(kind);
  return make_provider(kind, ioc.get_executor(), std::move(o));
}

struct Outcome {
  error_code ec;
  ChatResponse response;
  std::string deltas;
  bool done = false;
};

Outcome call(asio::io_context& ioc, Provider& p, ChatRequest req, bool stream) {
  Outcome out;
  auto done = [&](error_code ec, ChatResponse r) {
    out.ec = ec;
    out.response = std::move(r);
    out.done = true;
  };
  if (stream)
    p.async_stream(
        std::move(req), [&](const StreamDelta& d) { out.deltas.append(d.text); }, done);
  else
    p.async_complete(std::move(req), done);
  ioc.restart();
  ioc.run();
  EXPECT_TRUE(out.done);
  return out;
}

ChatRequest ask(std::string model, std::string text) {
  ChatRequest req;
  req.config.model = std::move(model);
  req.messages.push_back({Role::user, std::move(text)});
  return req;
}

std::string kind_of(providers::Vendor v) {
  return std::string(providers::vendor_id(v));
}

class FixtureE2E : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureE2E, ProviderOverRealSocketsMatchesExpect) {
  const Fixture f = load_fixture(GetParam());
  asio::io_context ioc;
  ProviderOptions o;
  o.retry = RetryPolicy::none();
  o.headers = {{"x-fake-fixture", f.name}};
  auto p = make(ioc, kind_of(f.vendor), o);
  std::string model;
  if (f.vendor == providers::Vendor::gemini) {
    const std::string path(f.request.at("path").as_string());
    const auto start = path.find("/models/") + 8;
    model = path.substr(start, path.find(':', start) - start);
  } else {
    model = std::string(f.request.at("body").at("model").as_string());
  }
  Outcome out = call(ioc, *p, ask(model, "Hello"), f.stream);
  const ChatResponse& r = out.response;
  EXPECT_EQ(out.ec, r.error.code);
  EXPECT_EQ(r.provider, kind_of(f.vendor));
  EXPECT_EQ(r.attempts, 1);
  if (f.status < 200 || f.status > 299) {
    check_error(f.expect, r.error, f.name);
    EXPECT_FALSE(r.cost.has_value());
    return;
  }
  check_response(f.expect, r, f.name);
  check_cost(f.expect, r, f.name);
  if (f.stream) {
    EXPECT_EQ(out.deltas, r.content);
    if (!r.content.empty()) {
      EXPECT_TRUE(r.time_to_first_token.has_value());
    }
  }
  EXPECT_GT(r.latency.count(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, FixtureE2E, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

struct RetryCase {
  const char* kind;
  const char* model;
  const char* directive;
  errc first_error;
};

class RetryE2E : public ::testing::TestWithParam<RetryCase> {};

TEST_P(RetryE2E, RetryableErrorThenSuccess) {
  const RetryCase& c = GetParam();
  asio::io_context ioc;
  auto p = make(ioc, c.kind);
  for (bool stream : {false, true}) {
    // A unique id per case keeps the fake server's times=1 counter separate.
    std::string text = std::string("Say hi [[reply:Hello there]] ") + c.directive;
    text.insert(text.size() - 2, std::string(" id=") + c.kind + (stream ? "-s" : "-n"));
    Outcome out = call(ioc, *p, ask(c.model, text), stream);
    EXPECT_FALSE(out.ec) << c.kind << ": " << out.response.error.describe();
    EXPECT_EQ(out.response.attempts, 2) << c.kind;
    EXPECT_EQ(out.response.content, "Hello there") << c.kind;
    if (stream) {
      EXPECT_EQ(out.deltas, "Hello there");  // nothing of the failed attempt leaked
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    PerKind, RetryE2E,
    ::testing::Values(RetryCase{"openai", "gpt-4o-mini", "[[status:429 retry-after=1 times=1]]",
                                errc::rate_limited},
                      RetryCase{"anthropic", "claude-sonnet-4",
                                "[[status:529 retry-after-ms=20 times=1]]", errc::overloaded},
                      RetryCase{"gemini", "gemini-2.0-flash",
                                "[[status:503 retry-after-ms=20 times=1]]", errc::overloaded},
                      RetryCase{"deepseek", "deepseek-chat",
                                "[[status:500 retry-after-ms=20 times=1]]", errc::server},
                      RetryCase{"openai-compatible", "llama3",
                                "[[status:429 retry-after-ms=20 times=1]]", errc::rate_limited}),
    [](const auto& info) {
      std::string n = info.param.kind;
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

TEST(ProviderE2E, QuotaIsNotRetried) {
  asio::io_context ioc;
  ProviderOptions o;
  o.retry.max_attempts = 3;
  o.retry.base_delay = std::chrono::milliseconds(1);
  o.headers = {{"x-fake-fixture", "openai-error-429-insufficient-quota"}};
  auto p = make(ioc, "openai", o);
  Outcome out = call(ioc, *p, ask("gpt-4o-mini", "hi"), false);
  EXPECT_EQ(out.ec, make_error_code(errc::quota_exceeded));
  EXPECT_EQ(out.response.attempts, 1);
  EXPECT_FALSE(out.response.error.retryable());

  // DeepSeek's 402 likewise.
  auto ds = make(ioc, "deepseek");
  out = call(ioc, *ds, ask("deepseek-chat", "hi [[status:402 id=quota-ds]]"), false);
  EXPECT_EQ(out.ec, make_error_code(errc::quota_exceeded));
  EXPECT_EQ(out.response.attempts, 1);
  EXPECT_EQ(out.response.error.status, 402);
}

TEST(ProviderE2E, RetryableFixtureIsRetriedUpToThePolicy) {
  asio::io_context ioc;
  ProviderOptions o;
  o.retry.max_attempts = 2;
  o.headers = {{"x-fake-fixture", "openai-error-429-rate-limit"}};  // 850 ms hint, every time
  auto p = make(ioc, "openai", o);
  Outcome out = call(ioc, *p, ask("gpt-4o-mini", "hi"), false);
  EXPECT_EQ(out.ec, make_error_code(errc::rate_limited));
  EXPECT_EQ(out.response.attempts, 2);
  ASSERT_TRUE(out.response.error.retry_after);
  EXPECT_EQ(out.response.error.retry_after->count(), 850);
}

TEST(ProviderE2E, CancellationMidStreamKeepsPartialText) {
  for (const char* kind : {"openai", "anthropic", "gemini", "deepseek"}) {
    asio::io_context ioc;
    auto p = make(ioc, kind);
    asio::cancellation_signal signal;
    std::string deltas;
    int count = 0;
    Outcome out;
    const char* model = std::string_view(kind) == "anthropic"  ? "claude-sonnet-4"
                        : std::string_view(kind) == "gemini"   ? "gemini-2.0-flash"
                        : std::string_view(kind) == "deepseek" ? "deepseek-chat"
                                                               : "gpt-4o-mini";
    p->async_stream(
        ask(model, "[[lorem:400]] [[token-delay:10]]"),
        [&](const StreamDelta& d) {
          deltas.append(d.text);
          if (++count == 5)
            asio::post(ioc, [&] { signal.emit(asio::cancellation_type::terminal); });
        },
        asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, ChatResponse r) {
          out.ec = ec;
          out.response = std::move(r);
          out.done = true;
        }));
    ioc.run();
    ASSERT_TRUE(out.done) << kind;
    EXPECT_EQ(out.ec, make_error_code(errc::cancelled)) << kind;
    EXPECT_EQ(out.response.error.code, make_error_code(errc::cancelled)) << kind;
    EXPECT_FALSE(out.response.content.empty()) << kind;
    EXPECT_EQ(out.response.content, deltas) << kind;
    EXPECT_LT(count, 400) << kind;
  }
}

TEST(ProviderE2E, MidStreamErrorIsNotRetriedAfterText) {
  asio::io_context ioc;
  auto p = make(ioc, "anthropic");
  Outcome out = call(ioc, *p, ask("claude-sonnet-4", "[[lorem:20]] [[midstream-error]]"), true);
  EXPECT_EQ(out.ec, make_error_code(errc::overloaded));
  EXPECT_EQ(out.response.attempts, 1);
  EXPECT_FALSE(out.response.content.empty());
  EXPECT_EQ(out.response.content, out.deltas);
  EXPECT_EQ(out.response.error.status, 0);
}

TEST(ProviderE2E, ConnectionCutMidStreamKeepsText) {
  asio::io_context ioc;
  auto p = make(ioc, "openai");
  Outcome out = call(ioc, *p, ask("gpt-4o-mini", "[[lorem:30]] [[cut:5]]"), true);
  EXPECT_TRUE(out.ec) << "a cut stream must fail";
  EXPECT_EQ(out.response.content, out.deltas);
  EXPECT_EQ(out.response.attempts, 1);
}

TEST(ProviderE2E, ValidateKey) {
  for (const char* kind : {"openai", "anthropic", "gemini", "deepseek"}) {
    asio::io_context ioc;
    auto p = make(ioc, kind);
    std::optional<std::pair<error_code, Error>> bad, good;
    p->async_validate_key("invalid-key-123", [&](error_code ec, Error e) { bad.emplace(ec, e); });
    p->async_validate_key("good-key-123", [&](error_code ec, Error e) { good.emplace(ec, e); });
    ioc.run();
    ASSERT_TRUE(bad && good) << kind;
    EXPECT_EQ(bad->first, make_error_code(errc::auth)) << kind << ": " << bad->second.describe();
    EXPECT_EQ(bad->second.provider, kind);
    EXPECT_EQ(bad->second.message.find("invalid-key-123"), std::string::npos);
    EXPECT_FALSE(good->first) << kind << ": " << good->second.describe();
  }
}

TEST(ProviderE2E, MissingKeyFailsBeforeSending) {
  asio::io_context ioc;
  ProviderOptions o;
  o.api_key = "";
  o.base_url = base_url_for("openai");
  auto before = server().requests();
  // make() would fill a key: build directly, with the env var unset for this test.
  ::unsetenv("OPENAI_API_KEY");
  auto p = make_provider("openai", ioc.get_executor(), o);
  Outcome out = call(ioc, *p, ask("gpt-4o-mini", "hi"), false);
  EXPECT_EQ(out.ec, make_error_code(errc::auth));
  EXPECT_NE(out.response.error.message.find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_EQ(server().requests(), before);
}

TEST(ProviderE2E, UnknownModelHasNullCostAndEstimatedUsageWhenOmitted) {
  asio::io_context ioc;
  auto p = make(ioc, "openai-compatible");
  Outcome out = call(ioc, *p, ask("my-local-llama", "hello [[usage:off]]"), true);
  ASSERT_FALSE(out.ec) << out.response.error.describe();
  EXPECT_FALSE(out.response.content.empty());
  EXPECT_FALSE(out.response.cost.has_value());
  EXPECT_TRUE(out.response.usage.estimated);
  EXPECT_FALSE(out.response.usage.reported);
  EXPECT_GT(out.response.usage.completion_tokens, 0);
  EXPECT_EQ(out.response.usage.total_tokens,
            out.response.usage.prompt_tokens + out.response.usage.completion_tokens);

  // With usage reported and a priced model, cost = the formula.
  auto oa = make(ioc, "openai");
  out = call(ioc, *oa, ask("gpt-4o-mini", "hello [[lorem:12]]"), true);
  ASSERT_FALSE(out.ec) << out.response.error.describe();
  EXPECT_TRUE(out.response.usage.reported);
  ASSERT_TRUE(out.response.cost.has_value());
  const Usage& u = out.response.usage;
  EXPECT_NEAR(*out.response.cost, (u.prompt_tokens * 0.15 + u.completion_tokens * 0.6) / 1e6,
              1e-15);
}

TEST(ProviderE2E, ContextLengthBeforeSending) {
  asio::io_context ioc;
  auto p = make(ioc, "openai");
  ChatRequest req = ask("gpt-4o-mini", "hello");
  req.config.max_tokens = 200'000;  // beyond the 128k window with any prompt
  const auto before = server().requests();
  Outcome out = call(ioc, *p, req, false);
  EXPECT_EQ(out.ec, make_error_code(errc::context_length));
  EXPECT_EQ(server().requests(), before);
}

TEST(ProviderE2E, BlockingWrappersWithARunningThread) {
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  std::thread runner([&] { ioc.run(); });
  auto p = make(ioc, "anthropic");
  ChatResponse r = p->complete(ask("claude-sonnet-4", "[[reply:Blocking works]]"));
  EXPECT_EQ(r.content, "Blocking works");
  std::string streamed;
  r = p->stream(ask("claude-sonnet-4", "[[reply:Streamed too]]"),
                [&](const StreamDelta& d) { streamed.append(d.text); });
  EXPECT_EQ(streamed, "Streamed too");
  try {
    p->complete(ask("claude-sonnet-4", "[[status:401]]"));
    ADD_FAILURE() << "expected chorus::Exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code, make_error_code(errc::auth));
  }
  error_code ec;
  r = p->complete(ask("claude-sonnet-4", "[[status:400]]"), ec);
  EXPECT_EQ(ec, make_error_code(errc::bad_request));
  guard.reset();
  runner.join();
}

TEST(ProviderE2E, PerCallKeyOverridesProviderKey) {
  asio::io_context ioc;
  auto p = make(ioc, "gemini");
  ChatRequest req = ask("gemini-2.0-flash", "hi");
  req.api_key = "invalid-per-run-key";
  Outcome out = call(ioc, *p, req, false);
  EXPECT_EQ(out.ec, make_error_code(errc::auth));
  EXPECT_EQ(out.response.error.status, 400);  // Gemini's API_KEY_INVALID is an HTTP 400
}

TEST(ProviderE2E, RegistryFromEnvironment) {
  ::setenv("DEEPSEEK_BASE_URL", server().base_url().c_str(), 1);
  ::setenv("DEEPSEEK_API_KEY", "test-key", 1);
  asio::io_context ioc;
  auto reg = ProviderRegistry::with_builtins(ioc.get_executor());
  EXPECT_EQ(reg->ids(), (std::vector<std::string>{"anthropic", "deepseek", "gemini", "openai",
                                                  "openai-compatible", "simulated"}));
  auto ds = reg->find("deepseek");
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->name(), "DeepSeek");
  EXPECT_FALSE(ds->models().empty());
  Outcome out = call(ioc, *ds, ask("deepseek-reasoner", "[[reply:Four]] 2+2?"), true);
  ASSERT_FALSE(out.ec) << out.response.error.describe();
  EXPECT_EQ(out.response.content, "Four");
  EXPECT_FALSE(out.response.reasoning.empty());
  EXPECT_EQ(reg->find("nope"), nullptr);
  ::unsetenv("DEEPSEEK_BASE_URL");
  ::unsetenv("DEEPSEEK_API_KEY");
}

}  // namespace
}  // namespace chorus::test
