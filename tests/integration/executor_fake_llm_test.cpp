// Workflows run by the Executor through the real providers (OpenAI, Anthropic, Gemini wire
// formats) against the fake LLM server over loopback HTTP: fan-out concurrency, fallback chains
// across vendors driven by the server's faults, per-run keys, cancellation mid-stream.
#include <chorus/executor.hpp>

#include "fake_llm.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <string>
#include <vector>

namespace chorus {
namespace {

namespace json = boost::json;

class ExecutorFakeLlm : public ::testing::Test {
 protected:
  void make_registry(std::string openai_key = "sk-test-openai-000000") {
    auto opts = [&](std::string key, std::string suffix) {
      ProviderOptions o;
      o.api_key = std::move(key);
      o.base_url = server.base_url() + suffix;
      o.retry = RetryPolicy::none();  // node-level retries and fallbacks are under test
      return o;
    };
    registry = ProviderRegistry::with_builtins(ctx.get_executor(),
                                               {{"openai", opts(openai_key, "/v1")},
                                                {"anthropic", opts("sk-ant-test-000000", "")},
                                                {"gemini", opts("AIzaTest000000000000", "")}});
  }

  Workflow parse(std::string_view text) {
    auto r = Workflow::parse(text);
    if (!r.workflow) {
      ADD_FAILURE() << "workflow did not parse";
      return Workflow{};
    }
    return std::move(*r.workflow);
  }

  struct Outcome {
    error_code ec;
    RunResult result;
    std::vector<json::object> events;
    int index(std::string_view type, std::string_view node) const {
      for (std::size_t i = 0; i < events.size(); ++i)
        if (events[i].at("type").as_string() == type && events[i].contains("nodeId") &&
            events[i].at("nodeId").as_string() == node)
          return static_cast<int>(i);
      return -1;
    }
  };

  Outcome run(const Workflow& wf, std::string input, RunOptions opts = {}) {
    Outcome out;
    auto user = opts.on_event;
    opts.on_event = [&out, user](const RunEvent& e) {
      out.events.push_back(e.to_json());
      if (user) user(e);
    };
    Executor ex(ctx.get_executor(), registry);
    bool done = false;
    ex.async_run(wf, std::move(input), std::move(opts), [&](error_code ec, RunResult r) {
      out.ec = ec;
      out.result = std::move(r);
      done = true;
    });
    ctx.run();
    ctx.restart();
    EXPECT_TRUE(done);
    return out;
  }

  test::FakeLlmServer server;
  asio::io_context ctx;
  std::shared_ptr<ProviderRegistry> registry;
};

TEST_F(ExecutorFakeLlm, FanOutToThreeVendorsThenJudge) {
  make_registry();
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"gpt","type":"llm","position":{"x":1,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini","prompt":"[[latency:300]][[reply:from openai]] {{input}}"}},
    {"id":"claude","type":"llm","position":{"x":1,"y":1},"data":{"provider":"anthropic","model":"claude-3-5-haiku","prompt":"[[latency:300]][[reply:from anthropic]] {{input}}"}},
    {"id":"gem","type":"llm","position":{"x":1,"y":2},"data":{"provider":"gemini","model":"gemini-2.0-flash","prompt":"[[latency:300]][[reply:from gemini]] {{input}}"}},
    {"id":"judge","type":"llm","position":{"x":2,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini",
      "prompt":"Pick the best: [[reply:gemini wins]] {{nodes.gpt.output}} / {{nodes.claude.output}} / {{nodes.gem.output}}"}},
    {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"gpt"},{"id":"e2","source":"in","target":"claude"},
            {"id":"e3","source":"in","target":"gem"},{"id":"e4","source":"gpt","target":"judge"},
            {"id":"e5","source":"claude","target":"judge"},{"id":"e6","source":"gem","target":"judge"},
            {"id":"e7","source":"judge","target":"out"}]})");
  Outcome o = run(wf, "which is best?");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "gemini wins");
  EXPECT_EQ(o.result.nodes.at("gpt").output, "from openai");
  EXPECT_EQ(o.result.nodes.at("claude").output, "from anthropic");
  EXPECT_EQ(o.result.nodes.at("gem").output, "from gemini");
  // The three calls overlapped: each started before any of them finished.
  for (const char* a : {"gpt", "claude", "gem"})
    for (const char* b : {"gpt", "claude", "gem"})
      EXPECT_LT(o.index("node_started", a), o.index("node_finished", b)) << a << " " << b;
  // Streamed tokens reassemble each answer.
  std::string streamed;
  for (const auto& e : o.events)
    if (e.at("type").as_string() == "token" && e.at("nodeId").as_string() == "claude")
      streamed += e.at("text").as_string();
  EXPECT_EQ(streamed, "from anthropic");
  // Known models: exact costs that add up to the run's cost.
  double sum = 0;
  for (const auto& [id, n] : o.result.nodes) {
    ASSERT_TRUE(n.cost) << id;
    sum += *n.cost;
  }
  ASSERT_TRUE(o.result.cost);
  EXPECT_DOUBLE_EQ(*o.result.cost, sum);
  EXPECT_GT(*o.result.cost, 0.0);
  EXPECT_GT(o.result.usage.total_tokens, 0);
}

TEST_F(ExecutorFakeLlm, ServerFaultRetriedThenFallbackAcrossVendors) {
  make_registry();
  // The first request carrying the directive fails with 500, later ones succeed: the node's own
  // retry (on openai) gets through.
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"ask","type":"llm","position":{"x":1,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini",
       "prompt":"[[status:500 times=1 id=retry-test]][[reply:recovered]]","retries":2}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"out"}]})");
  RunOptions opts;
  opts.retry_base_delay = std::chrono::milliseconds(5);
  Outcome o = run(wf, "x", opts);
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "recovered");
  EXPECT_EQ(o.result.nodes.at("ask").attempts, 2);
  EXPECT_EQ(o.result.nodes.at("ask").provider, "openai");
  ASSERT_GE(o.index("node_retry", "ask"), 0);
  EXPECT_EQ(o.events[o.index("node_retry", "ask")].at("error").at("kind").as_string(), "server");
}

TEST_F(ExecutorFakeLlm, AuthFailureFallsBackToAnotherVendor) {
  make_registry("invalid-openai-key");  // the fake server rejects keys starting with "invalid"
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"ask","type":"llm","position":{"x":1,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini",
       "prompt":"[[reply:served by a fallback]]","retries":3,
       "fallbacks":[{"provider":"anthropic","model":"claude-3-5-haiku"},{"provider":"gemini","model":"gemini-2.0-flash"}]}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"out"}]})");
  Outcome o = run(wf, "x");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "served by a fallback");
  const auto& ask = o.result.nodes.at("ask");
  EXPECT_EQ(ask.provider, "anthropic");
  EXPECT_EQ(ask.attempts, 2);  // auth is not retried: straight to the first fallback
  const auto& retry = o.events[o.index("node_retry", "ask")];
  EXPECT_EQ(retry.at("error").at("kind").as_string(), "auth");
  EXPECT_EQ(retry.at("provider").as_string(), "anthropic");
  // The rejected key never appears in what the run reports.
  EXPECT_EQ(json::serialize(o.result.to_json()).find("invalid-openai-key"), std::string::npos);
}

TEST_F(ExecutorFakeLlm, PerRunApiKeyOverridesTheRegistryKey) {
  make_registry("invalid-openai-key");
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"ask","type":"llm","position":{"x":1,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini","prompt":"[[reply:ok]]"}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"out"}]})");
  Outcome bad = run(wf, "x");
  EXPECT_EQ(bad.ec, errc::node_failed);
  EXPECT_EQ(bad.result.nodes.at("ask").error.code, errc::auth);
  RunOptions opts;
  opts.api_keys["openai"] = "sk-good-per-run-key-0000";
  Outcome good = run(wf, "x", opts);
  ASSERT_FALSE(good.ec) << good.result.error.describe();
  EXPECT_EQ(good.result.output, "ok");
}

TEST_F(ExecutorFakeLlm, CancellationAbortsAStreamMidway) {
  make_registry();
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"slow","type":"llm","position":{"x":1,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini","prompt":"[[token-delay:2000]][[lorem:50]]"}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"slow"},{"id":"e2","source":"slow","target":"out"}]})");
  RunOptions opts;
  opts.stop = StopSignal::create();
  auto stop = opts.stop;
  opts.on_event = [stop](const RunEvent& e) {
    if (e.type == RunEventType::token) stop->request_stop();
  };
  Outcome o = run(wf, "x", opts);
  EXPECT_EQ(o.ec, errc::cancelled);
  EXPECT_EQ(o.result.status, RunStatus::cancelled);
  EXPECT_EQ(o.result.nodes.at("slow").status, NodeStatus::cancelled);
  EXPECT_EQ(o.result.nodes.at("out").status, NodeStatus::cancelled);
  EXPECT_EQ(o.events.back().at("type").as_string(), "run_finished");
}

}  // namespace
}  // namespace chorus
