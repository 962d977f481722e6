// The in-process simulated provider: deterministic, scripted by the same directives as the fake
// server, streams at a configurable speed, reports usage and a cost, cancellable.
#include <chorus/pricing.hpp>
#include <chorus/provider.hpp>
#include <chorus/simulation.hpp>

#include <gtest/gtest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace chorus::test {
namespace {

namespace asio = boost::asio;

struct Result {
  error_code ec;
  ChatResponse r;
  std::string deltas;
  int delta_count = 0;
};

Result run(Provider& p, asio::io_context& ioc, ChatRequest req, bool stream) {
  Result out;
  bool done = false;
  auto h = [&](error_code ec, ChatResponse r) {
    out.ec = ec;
    out.r = std::move(r);
    done = true;
  };
  if (stream) {
    p.async_stream(
        std::move(req),
        [&](const StreamDelta& d) {
          out.deltas.append(d.text);
          ++out.delta_count;
        },
        h);
  } else {
    p.async_complete(std::move(req), h);
  }
  EXPECT_FALSE(done) << "completion must not run inline";
  ioc.restart();
  ioc.run();
  EXPECT_TRUE(done);
  return out;
}

ChatRequest ask(std::string text, std::string model = "sim-fast") {
  ChatRequest req;
  req.config.model = std::move(model);
  req.config.system_prompt = "You are a careful analyst.";
  req.messages.push_back({Role::user, std::move(text)});
  return req;
}

std::shared_ptr<Provider> make_sim(asio::io_context& ioc, int delay_ms = 0) {
  ProviderOptions o;
  o.token_delay = std::chrono::milliseconds(delay_ms);
  o.retry.base_delay = std::chrono::milliseconds(1);
  return make_provider("simulated", ioc.get_executor(), o);
}

TEST(Simulated, LabelledAndListsModels) {
  asio::io_context ioc;
  auto p = make_sim(ioc);
  EXPECT_EQ(p->id(), "simulated");
  EXPECT_EQ(p->name(), "Simulated (no network)");
  auto models = p->models();
  ASSERT_GE(models.size(), 2u);
  bool fast = false;
  for (const auto& m : models)
    fast = fast || m.id == "sim-fast";
  EXPECT_TRUE(fast);
}

TEST(Simulated, DeterministicStreamUsageAndCost) {
  asio::io_context ioc;
  auto p = make_sim(ioc, 1);
  Result a = run(*p, ioc, ask("Compare solar and wind power for a small town."), true);
  Result b = run(*p, ioc, ask("Compare solar and wind power for a small town."), true);
  ASSERT_FALSE(a.ec) << a.r.error.describe();
  EXPECT_FALSE(a.r.content.empty());
  EXPECT_EQ(a.r.content, b.r.content);
  EXPECT_EQ(a.deltas, a.r.content);
  EXPECT_EQ(a.r.content,
            sim::default_reply("You are a careful analyst.",
                               "Compare solar and wind power for a small town.", "sim-fast"));
  EXPECT_EQ(static_cast<std::size_t>(a.delta_count), sim::count_tokens(a.r.content));
  EXPECT_EQ(a.r.usage.completion_tokens, a.delta_count);
  EXPECT_EQ(a.r.usage.prompt_tokens,
            sim::estimate_tokens("You are a careful analyst.") +
                sim::estimate_tokens("Compare solar and wind power for a small town."));
  EXPECT_TRUE(a.r.usage.reported);
  ASSERT_TRUE(a.r.cost.has_value());
  const Price* price = pricing()->find("sim-fast");
  ASSERT_NE(price, nullptr);
  EXPECT_DOUBLE_EQ(*a.r.cost, *compute_cost(*price, a.r.usage));
  EXPECT_EQ(a.r.finish_reason, FinishReason::stop);
  EXPECT_EQ(a.r.provider, "simulated");
  EXPECT_TRUE(a.r.time_to_first_token.has_value());
  EXPECT_EQ(a.r.request_id, b.r.request_id);
  // A different prompt gives a different answer.
  Result c = run(*p, ioc, ask("Explain tides."), false);
  EXPECT_NE(c.r.content, a.r.content);
}

TEST(Simulated, DirectivesReplyLoremMaxTokensStop) {
  asio::io_context ioc;
  auto p = make_sim(ioc);
  EXPECT_EQ(run(*p, ioc, ask("[[reply:Exactly this.]]"), false).r.content, "Exactly this.");
  Result lorem = run(*p, ioc, ask("[[lorem:25]]"), true);
  EXPECT_EQ(lorem.r.usage.completion_tokens, 25);

  ChatRequest capped = ask("[[lorem:50]]");
  capped.config.max_tokens = 10;
  Result c = run(*p, ioc, capped, true);
  EXPECT_EQ(c.r.usage.completion_tokens, 10);
  EXPECT_EQ(c.r.finish_reason, FinishReason::length);

  ChatRequest stopped = ask("[[reply:one two END three]]");
  stopped.config.stop = {"END"};
  Result s = run(*p, ioc, stopped, false);
  EXPECT_EQ(s.r.content, "one two ");
  EXPECT_EQ(s.r.finish_reason, FinishReason::stop);
}

TEST(Simulated, StatusDirectiveRetriesThenSucceeds) {
  asio::io_context ioc;
  auto p = make_sim(ioc);
  Result r = run(*p, ioc, ask("[[reply:ok]] [[status:429 retry-after-ms=5 times=1]]"), true);
  ASSERT_FALSE(r.ec) << r.r.error.describe();
  EXPECT_EQ(r.r.attempts, 2);
  EXPECT_EQ(r.r.content, "ok");
  Result q = run(*p, ioc, ask("[[status:402]]"), false);
  EXPECT_EQ(q.ec, make_error_code(errc::quota_exceeded));
  EXPECT_EQ(q.r.attempts, 1);
  EXPECT_FALSE(q.r.cost.has_value());
}

TEST(Simulated, MidStreamErrorKeepsText) {
  asio::io_context ioc;
  auto p = make_sim(ioc);
  Result r = run(*p, ioc, ask("[[lorem:20]] [[midstream-error]]"), true);
  EXPECT_EQ(r.ec, make_error_code(errc::overloaded));
  EXPECT_FALSE(r.r.content.empty());
  EXPECT_EQ(r.r.content, r.deltas);
  EXPECT_EQ(r.r.attempts, 1);  // text reached the caller: not retried
}

TEST(Simulated, CancelMidStream) {
  asio::io_context ioc;
  auto p = make_sim(ioc, 5);
  asio::cancellation_signal signal;
  std::string deltas;
  int n = 0;
  error_code result;
  ChatResponse response;
  p->async_stream(
      ask("[[lorem:500]]"),
      [&](const StreamDelta& d) {
        deltas.append(d.text);
        if (++n == 3) asio::post(ioc, [&] { signal.emit(asio::cancellation_type::terminal); });
      },
      asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, ChatResponse r) {
        result = ec;
        response = std::move(r);
      }));
  ioc.run();
  EXPECT_EQ(result, make_error_code(errc::cancelled));
  EXPECT_EQ(response.content, deltas);
  EXPECT_GE(n, 3);
  EXPECT_LT(n, 500);
}

TEST(Simulated, ContextLengthAndValidation) {
  asio::io_context ioc;
  auto p = make_sim(ioc);
  Result big = run(*p, ioc, ask(std::string(40'000 * 4, 'x')), false);  // > sim-fast's 32768
  EXPECT_EQ(big.ec, make_error_code(errc::context_length));
  Result empty = run(*p, ioc, ask("hi", ""), false);
  EXPECT_EQ(empty.ec, make_error_code(errc::invalid_argument));

  std::optional<error_code> bad, good;
  p->async_validate_key("invalid-x", [&](error_code ec, Error) { bad = ec; });
  p->async_validate_key("", [&](error_code ec, Error) { good = ec; });
  ioc.restart();
  ioc.run();
  EXPECT_EQ(bad, make_error_code(errc::auth));
  EXPECT_EQ(good, error_code{});
}

}  // namespace
}  // namespace chorus::test
