// The Executor end to end over the scripted in-process provider: every node kind, concurrency,
// skip propagation, loops, maps, budgets, cancellation, retries and fallbacks, events, JSON.
#include <chorus/executor.hpp>
#include <chorus/simulation.hpp>

#include "limits.hpp"
#include "unit/executor/test_provider.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace chorus {
namespace {

namespace json = boost::json;

struct Outcome {
  error_code ec;
  RunResult result;
  std::vector<json::object> events;

  std::vector<json::object> of(std::string_view type, std::string_view node = {}) const {
    std::vector<json::object> out;
    for (const auto& e : events)
      if (e.at("type").as_string() == type &&
          (node.empty() || (e.contains("nodeId") && e.at("nodeId").as_string() == node)))
        out.push_back(e);
    return out;
  }
  // Index in `events` of the first event of `type` for `node`; -1 when none.
  int index(std::string_view type, std::string_view node) const {
    for (std::size_t i = 0; i < events.size(); ++i)
      if (events[i].at("type").as_string() == type && events[i].contains("nodeId") &&
          events[i].at("nodeId").as_string() == node)
        return static_cast<int>(i);
    return -1;
  }
};

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() {
    alpha = std::make_shared<test::ScriptedProvider>(ctx.get_executor(), "alpha");
    beta = std::make_shared<test::ScriptedProvider>(ctx.get_executor(), "beta");
    registry->add(alpha);
    registry->add(beta);
  }

  Workflow parse(std::string_view text) {
    auto r = Workflow::parse(text);
    if (!r.workflow) {
      std::string all;
      for (const auto& p : r.problems)
        all += p.describe() + "\n";
      ADD_FAILURE() << "workflow did not parse:\n" << all;
      return Workflow{};
    }
    return std::move(*r.workflow);
  }

  Outcome run(const Workflow& wf, std::string input, RunOptions opts = {}) {
    Outcome out;
    bool done = false;
    auto user = opts.on_event;
    opts.on_event = [&out, user](const RunEvent& e) {
      out.events.push_back(e.to_json());
      if (user) user(e);
    };
    Executor ex(ctx.get_executor(), registry);
    ex.async_run(wf, std::move(input), std::move(opts), [&](error_code ec, RunResult r) {
      out.ec = ec;
      out.result = std::move(r);
      done = true;
    });
    ctx.run();
    ctx.restart();
    EXPECT_TRUE(done);
    if (std::getenv("CHORUS_TEST_DUMP")) {  // debugging aid: every event of the run
      for (const auto& e : out.events)
        std::printf("%s\n", json::serialize(e).c_str());
    }
    return out;
  }

  asio::io_context ctx;
  std::shared_ptr<ProviderRegistry> registry = std::make_shared<ProviderRegistry>();
  std::shared_ptr<test::ScriptedProvider> alpha, beta;
};

constexpr std::string_view linear = R"({"id":"w","name":"linear","nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"ask","type":"llm","position":{"x":1,"y":0},
   "data":{"provider":"alpha","model":"test-model","systemPrompt":"Be brief.",
           "prompt":"Say: [[reply:Hello there, world]] about {{input}}","maxTokens":50}},
  {"id":"out","type":"output","position":{"x":2,"y":0},"data":{"template":"<{{input}}>"}}],
 "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"out"}]})";

TEST_F(ExecutorTest, LinearRunProducesOutputUsageCostAndOrderedEvents) {
  Outcome o = run(parse(linear), "cats");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.status, RunStatus::succeeded);
  EXPECT_EQ(o.result.output, "<Hello there, world>");
  const NodeResult& ask = o.result.nodes.at("ask");
  EXPECT_EQ(ask.status, NodeStatus::succeeded);
  EXPECT_EQ(ask.output, "Hello there, world");
  EXPECT_EQ(ask.attempts, 1);
  EXPECT_EQ(ask.provider, "alpha");
  EXPECT_EQ(ask.model, "test-model");
  // Usage as the provider reported it; cost exactly $1/M prompt + $2/M completion.
  const std::int64_t prompt = sim::estimate_tokens("Be brief.") +
                              sim::estimate_tokens("Say: [[reply:Hello there, world]] about cats");
  EXPECT_EQ(ask.usage.prompt_tokens, prompt);
  EXPECT_EQ(ask.usage.completion_tokens, 4);  // "Hello", " there", ",", " world"
  ASSERT_TRUE(ask.cost);
  EXPECT_DOUBLE_EQ(*ask.cost, (static_cast<double>(prompt) * 1.0 + 4 * 2.0) / 1e6);
  ASSERT_TRUE(o.result.cost);
  EXPECT_DOUBLE_EQ(*o.result.cost, *ask.cost);
  EXPECT_EQ(o.result.usage.total_tokens, prompt + 4);
  EXPECT_EQ(o.result.nodes.at("in").output, "cats");
  // The request the provider saw.
  ASSERT_EQ(alpha->requests.size(), 1u);
  EXPECT_EQ(alpha->requests[0].config.system_prompt, "Be brief.");
  EXPECT_EQ(alpha->requests[0].config.max_tokens, 50);

  // Events: contiguous seq, run_started first, run_finished last, per-node order.
  ASSERT_GE(o.events.size(), 2u);
  for (std::size_t i = 0; i < o.events.size(); ++i) {
    EXPECT_EQ(o.events[i].at("seq").as_uint64(), i);
    EXPECT_EQ(o.events[i].at("runId").as_string(), o.result.run_id);
  }
  EXPECT_EQ(o.events.front().at("type").as_string(), "run_started");
  EXPECT_EQ(o.events.back().at("type").as_string(), "run_finished");
  EXPECT_EQ(o.events.back().at("status").as_string(), "succeeded");
  EXPECT_LT(o.index("node_finished", "in"), o.index("node_started", "ask"));
  EXPECT_LT(o.index("node_started", "ask"), o.index("token", "ask"));
  EXPECT_LT(o.index("token", "ask"), o.index("node_finished", "ask"));
  EXPECT_LT(o.index("node_finished", "ask"), o.index("node_started", "out"));
  std::string streamed;
  for (const auto& t : o.of("token", "ask"))
    streamed += t.at("text").as_string();
  EXPECT_EQ(streamed, "Hello there, world");
  auto fin = o.of("node_finished", "ask");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].at("result").at("output").as_string(), "Hello there, world");
}

TEST_F(ExecutorTest, RunResultJsonHasTheDocumentedShapeAndRoundTrips) {
  Outcome o = run(parse(linear), "cats");
  json::object j = o.result.to_json();
  for (const char* key : {"status", "output", "nodes", "usage", "cost", "wallTimeMs"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("status").as_string(), "succeeded");
  const auto& ask = j.at("nodes").at("ask").as_object();
  for (const char* key : {"status", "output", "usage", "cost", "latencyMs", "attempts", "error"})
    EXPECT_TRUE(ask.contains(key)) << key;
  EXPECT_TRUE(ask.at("error").is_null());
  const auto& usage = j.at("usage").as_object();
  for (const char* key : {"promptTokens", "completionTokens", "totalTokens"})
    EXPECT_TRUE(usage.contains(key)) << key;

  RunResult back = RunResult::from_json(json::parse(json::serialize(j)));
  EXPECT_EQ(back.status, o.result.status);
  EXPECT_EQ(back.output, o.result.output);
  EXPECT_EQ(back.run_id, o.result.run_id);
  ASSERT_EQ(back.nodes.size(), 3u);
  EXPECT_EQ(back.nodes.at("ask").usage.total_tokens, o.result.nodes.at("ask").usage.total_tokens);
  EXPECT_DOUBLE_EQ(*back.nodes.at("ask").cost, *o.result.nodes.at("ask").cost);
  EXPECT_EQ(json::serialize(back.to_json()), json::serialize(j));

  json::object bad = j;
  bad["status"] = "exploded";
  try {
    RunResult::from_json(bad);
    FAIL() << "expected an exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code, errc::invalid_argument);
    EXPECT_NE(e.error().message.find("status"), std::string::npos);
  }
}

TEST_F(ExecutorTest, UnknownPriceMakesCostNullNotZero) {
  std::string doc(linear);
  doc.replace(doc.find("test-model"), 10, "unpriced-model");
  Outcome o = run(parse(doc), "x");
  ASSERT_FALSE(o.ec);
  EXPECT_FALSE(o.result.nodes.at("ask").cost);
  EXPECT_FALSE(o.result.cost);
  EXPECT_TRUE(o.result.to_json().at("cost").is_null());
  EXPECT_TRUE(o.result.nodes.at("in").cost);  // a node without calls costs exactly 0
}

TEST_F(ExecutorTest, IndependentBranchesRunConcurrently) {
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"a","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:300]][[reply:A]]"}},
    {"id":"b","type":"llm","position":{"x":1,"y":1},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:300]][[reply:B]]"}},
    {"id":"m","type":"merge","position":{"x":2,"y":0},"data":{"template":"{{nodes.a.output}}+{{nodes.b.output}}"}},
    {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"a"},{"id":"e2","source":"in","target":"b"},
            {"id":"e3","source":"a","target":"m"},{"id":"e4","source":"b","target":"m"},
            {"id":"e5","source":"m","target":"out"}]})");
  Outcome o = run(wf, "go");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "A+B");
  // Overlap, shown by the event order: both calls started before either finished.
  EXPECT_LT(o.index("node_started", "b"), o.index("node_finished", "a"));
  EXPECT_LT(o.index("node_started", "a"), o.index("node_finished", "b"));
  EXPECT_EQ(alpha->max_in_flight, 2);
  EXPECT_LT(o.index("node_finished", "a"), o.index("node_started", "m"));
  EXPECT_LT(o.index("node_finished", "b"), o.index("node_started", "m"));
}

TEST_F(ExecutorTest, ConcurrencyLimitsQueueCalls) {
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"a","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:20]][[reply:A]]"}},
    {"id":"b","type":"llm","position":{"x":1,"y":1},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:20]][[reply:B]]"}},
    {"id":"c","type":"llm","position":{"x":1,"y":2},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:20]][[reply:C]]"}},
    {"id":"d","type":"llm","position":{"x":1,"y":3},"data":{"provider":"beta","model":"test-model","prompt":"[[latency:20]][[reply:D]]"}},
    {"id":"m","type":"merge","position":{"x":2,"y":0},"data":{}},
    {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"a"},{"id":"e2","source":"in","target":"b"},
            {"id":"e3","source":"in","target":"c"},{"id":"e4","source":"in","target":"d"},
            {"id":"e5","source":"a","target":"m"},{"id":"e6","source":"b","target":"m"},
            {"id":"e7","source":"c","target":"m"},{"id":"e8","source":"d","target":"m"},
            {"id":"e9","source":"m","target":"out"}]})");
  RunOptions opts;
  opts.provider_concurrency["alpha"] = 1;
  Outcome o = run(wf, "go", opts);
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "A\n\nB\n\nC\n\nD");
  EXPECT_EQ(alpha->max_in_flight, 1);
  EXPECT_EQ(alpha->calls, 3);
  EXPECT_EQ(beta->calls, 1);

  alpha->max_in_flight = 0;
  beta->max_in_flight = 0;
  RunOptions global;
  global.max_concurrency = 2;
  o = run(wf, "go", global);
  ASSERT_FALSE(o.ec);
  EXPECT_LE(alpha->max_in_flight + beta->max_in_flight, 3);
  EXPECT_LE(alpha->max_in_flight, 2);
}

constexpr std::string_view router_doc = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"r","type":"router","position":{"x":1,"y":0},"data":{"mode":"condition",
     "routes":[{"label":"urgent","op":"contains","value":"URGENT"}],"defaultRoute":"normal"}},
  {"id":"u1","type":"llm","position":{"x":2,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:urgent-handled]]"}},
  {"id":"u2","type":"transform","position":{"x":3,"y":0},"data":{"op":"uppercase"}},
  {"id":"n1","type":"llm","position":{"x":2,"y":1},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:normal-handled]]"}},
  {"id":"m","type":"merge","position":{"x":4,"y":0},"data":{}},
  {"id":"out","type":"output","position":{"x":5,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"r"},
          {"id":"e2","source":"r","target":"u1","sourceHandle":"urgent"},
          {"id":"e3","source":"u1","target":"u2"},
          {"id":"e4","source":"r","target":"n1","sourceHandle":"normal"},
          {"id":"e5","source":"u2","target":"m"},{"id":"e6","source":"n1","target":"m"},
          {"id":"e7","source":"m","target":"out"}]})";

TEST_F(ExecutorTest, RouterSkipsUntakenBranchesTransitively) {
  Outcome o = run(parse(router_doc), "hello");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "normal-handled");
  EXPECT_EQ(o.result.nodes.at("u1").status, NodeStatus::skipped);
  EXPECT_EQ(o.result.nodes.at("u2").status, NodeStatus::skipped);
  EXPECT_EQ(o.result.nodes.at("n1").status, NodeStatus::succeeded);
  EXPECT_EQ(o.result.nodes.at("m").status, NodeStatus::succeeded);
  EXPECT_EQ(o.of("node_skipped", "u1").size(), 1u);
  EXPECT_EQ(o.of("node_skipped", "u2").size(), 1u);
  EXPECT_EQ(o.of("node_started", "u1").size(), 0u);
  EXPECT_EQ(alpha->calls, 1);

  o = run(parse(router_doc), "this is URGENT");
  ASSERT_FALSE(o.ec);
  EXPECT_EQ(o.result.output, "URGENT-HANDLED");
  EXPECT_EQ(o.result.nodes.at("n1").status, NodeStatus::skipped);
  EXPECT_EQ(o.result.nodes.at("u2").status, NodeStatus::succeeded);
}

TEST_F(ExecutorTest, ClassifyRouterAsksTheModel) {
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"r","type":"router","position":{"x":1,"y":0},"data":{"mode":"classify","provider":"alpha",
       "model":"test-model","labels":["billing","tech"]}},
    {"id":"b","type":"transform","position":{"x":2,"y":0},"data":{"op":"template","template":"B:{{input}}"}},
    {"id":"t","type":"transform","position":{"x":2,"y":1},"data":{"op":"template","template":"T:{{input}}"}},
    {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"r"},
            {"id":"e2","source":"r","target":"b","sourceHandle":"billing"},
            {"id":"e3","source":"r","target":"t","sourceHandle":"tech"},
            {"id":"e4","source":"b","target":"out"},{"id":"e5","source":"t","target":"out"}]})");
  // The scripted provider answers the directive found in the user's text.
  Outcome o = run(wf, "my invoice [[reply:tech]]");
  ASSERT_FALSE(o.ec) << o.result.error.describe() << alpha->requests.size();
  EXPECT_EQ(o.result.nodes.at("b").status, NodeStatus::skipped);
  EXPECT_EQ(o.result.output, "T:my invoice [[reply:tech]]");
  EXPECT_EQ(o.result.nodes.at("r").attempts, 1);
  EXPECT_GT(o.result.nodes.at("r").usage.total_tokens, 0);
}

constexpr std::string_view loop_doc = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"draft","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:draft]]"}},
  {"id":"critique","type":"llm","position":{"x":2,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:round {{loop.iteration}}]] {{input}}"}},
  {"id":"gate","type":"loop","position":{"x":3,"y":0},"data":{"maxIterations":MAXIT,
     "exitCondition":{"op":"contains","value":"EXIT"}}},
  {"id":"rewrite","type":"llm","position":{"x":3,"y":1},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:rewrite {{loop.iteration}}]]"}},
  {"id":"out","type":"output","position":{"x":4,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"draft"},{"id":"e2","source":"draft","target":"critique"},
          {"id":"e3","source":"critique","target":"gate"},
          {"id":"e4","source":"gate","target":"rewrite","sourceHandle":"continue"},
          {"id":"e5","source":"rewrite","target":"critique"},
          {"id":"e6","source":"gate","target":"out","sourceHandle":"exit"}]})";

std::string loop_with(std::string_view max, std::string_view exit) {
  std::string doc(loop_doc);
  doc.replace(doc.find("MAXIT"), 5, max);
  doc.replace(doc.find("\"EXIT\""), 6, "\"" + std::string(exit) + "\"");
  return doc;
}

TEST_F(ExecutorTest, LoopStopsAtMaxIterations) {
  Outcome o = run(parse(loop_with("2", "never")), "topic");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  // "continue" taken twice, the third visit exits: critique ran 3 times, rewrite twice.
  EXPECT_EQ(o.result.nodes.at("critique").iterations, 3);
  EXPECT_EQ(o.result.nodes.at("rewrite").iterations, 2);
  EXPECT_EQ(o.result.nodes.at("gate").iterations, 3);
  EXPECT_EQ(o.result.output, "round 3");
  EXPECT_EQ(o.result.nodes.at("out").iterations, 1);
  // Each activation of critique sees the latest upstream text only.
  ASSERT_GE(alpha->requests.size(), 5u);
  auto critique_events = o.of("node_started", "critique");
  ASSERT_EQ(critique_events.size(), 3u);
  EXPECT_EQ(critique_events[2].at("iteration").as_int64(), 3);
  // Sum of usage over the iterations.
  EXPECT_EQ(o.result.nodes.at("critique").attempts, 3);
}

TEST_F(ExecutorTest, LoopExitsEarlyOnCondition) {
  Outcome o = run(parse(loop_with("5", "round 2")), "topic");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.nodes.at("critique").iterations, 2);
  EXPECT_EQ(o.result.nodes.at("rewrite").iterations, 1);
  EXPECT_EQ(o.result.output, "round 2");
  // The second critique saw the rewrite, not the first draft.
  bool saw = false;
  for (const auto& r : alpha->requests)
    if (r.messages.back().content.find("round 2") != std::string::npos) {
      EXPECT_NE(r.messages.back().content.find("rewrite 2"), std::string::npos)
          << r.messages.back().content;
      saw = true;
    }
  EXPECT_TRUE(saw);
}

constexpr std::string_view map_doc = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"each","type":"map","position":{"x":1,"y":0},"data":{"itemsFormat":"lines","concurrency":2,"collect":"join","joinSeparator":"|"}},
  {"id":"work","type":"llm","parentId":"each","position":{"x":0,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:30]][[reply:did {{item}}]]"}},
  {"id":"shout","type":"transform","parentId":"each","position":{"x":1,"y":0},"data":{"op":"uppercase"}},
  {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"each"},{"id":"e2","source":"each","target":"out"},
          {"id":"e3","source":"work","target":"shout"}]})";

TEST_F(ExecutorTest, MapRunsBodyPerItemWithConcurrencyCap) {
  Outcome o = run(parse(map_doc), "a\nb\nc\nd\ne");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "DID A|DID B|DID C|DID D|DID E");
  EXPECT_EQ(alpha->calls, 5);
  EXPECT_EQ(alpha->max_in_flight, 2);  // the cap, reached
  EXPECT_EQ(o.result.nodes.at("work").iterations, 5);
  EXPECT_EQ(o.result.nodes.at("shout").iterations, 5);
  EXPECT_EQ(o.result.nodes.at("work").attempts, 5);
  EXPECT_EQ(o.of("node_started", "work").size(), 5u);
  for (const auto& e : o.of("node_finished", "work"))
    EXPECT_TRUE(e.contains("item"));
}

TEST_F(ExecutorTest, MapWithNoItemsProducesEmptyOutput) {
  Outcome o = run(parse(map_doc), "");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "");
  EXPECT_EQ(alpha->calls, 0);
  EXPECT_EQ(o.result.nodes.at("work").status, NodeStatus::skipped);
}

constexpr std::string_view two_calls = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"first","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"big-model","prompt":"[[reply:one two three]]","maxTokens":100}},
  {"id":"second","type":"llm","position":{"x":2,"y":0},"data":{"provider":"alpha","model":"big-model","prompt":"[[reply:four]] {{input}}","maxTokens":100}},
  {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"first"},{"id":"e2","source":"first","target":"second"},
          {"id":"e3","source":"second","target":"out"}]})";

TEST_F(ExecutorTest, TokenBudgetStopsBeforeTheCallThatWouldExceedIt) {
  RunOptions opts;
  // The first call reserves 6 + 100 tokens and uses 9; the second would reserve 7 + 100 more.
  opts.max_tokens = 112;
  Outcome o = run(parse(two_calls), "x", opts);
  EXPECT_EQ(o.ec, errc::budget_exceeded);
  EXPECT_EQ(o.result.status, RunStatus::budget_exceeded);
  EXPECT_EQ(o.result.nodes.at("first").status, NodeStatus::succeeded);
  EXPECT_EQ(o.result.nodes.at("first").output, "one two three");
  EXPECT_EQ(o.result.nodes.at("second").status, NodeStatus::failed);
  EXPECT_EQ(o.result.nodes.at("second").error.code, errc::budget_exceeded);
  EXPECT_EQ(o.result.nodes.at("out").status, NodeStatus::cancelled);
  EXPECT_EQ(alpha->calls, 1);
  EXPECT_EQ(o.result.error.code, errc::budget_exceeded);
  EXPECT_NE(o.result.error.message.find("max_tokens 112"), std::string::npos)
      << o.result.error.message;
  EXPECT_EQ(o.result.to_json().at("status").as_string(), "budget_exceeded");
  EXPECT_EQ(o.events.back().at("status").as_string(), "budget_exceeded");
}

TEST_F(ExecutorTest, CostBudgetUsesTheModelPrice) {
  RunOptions opts;
  // big-model: $10/M in, $20/M out. The first call's worst case is $0.00206 and it costs
  // $0.00012; the second's worst case ($0.00207) would take the run to $0.00219.
  opts.max_cost_usd = 0.0021;
  Outcome o = run(parse(two_calls), "x", opts);
  EXPECT_EQ(o.ec, errc::budget_exceeded);
  EXPECT_EQ(alpha->calls, 1);
  ASSERT_TRUE(o.result.cost);
  EXPECT_DOUBLE_EQ(*o.result.cost, 0.00012);
  EXPECT_GT(*o.result.cost, 0.0);

  opts.max_cost_usd = 1.0;
  o = run(parse(two_calls), "x", opts);
  EXPECT_FALSE(o.ec);
  EXPECT_EQ(o.result.output, "four");
}

TEST_F(ExecutorTest, StopSignalCancelsInFlightCallsAndCompletes) {
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"a","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:60000]]"}},
    {"id":"b","type":"llm","position":{"x":1,"y":1},"data":{"provider":"beta","model":"test-model","prompt":"[[token-delay:60000]][[reply:x y z]]"}},
    {"id":"after","type":"llm","position":{"x":2,"y":0},"data":{"provider":"alpha","model":"test-model"}},
    {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"a"},{"id":"e2","source":"in","target":"b"},
            {"id":"e3","source":"a","target":"after"},{"id":"e4","source":"b","target":"after"},
            {"id":"e5","source":"after","target":"out"}]})");
  RunOptions opts;
  opts.stop = StopSignal::create();
  int started = 0;
  auto stop = opts.stop;
  opts.on_event = [&, stop](const RunEvent& e) {
    if (e.type == RunEventType::token) stop->request_stop();  // b is mid-stream, a waiting
    if (e.type == RunEventType::node_started) ++started;
  };
  Outcome o = run(wf, "x", opts);
  EXPECT_EQ(o.ec, errc::cancelled);
  EXPECT_EQ(o.result.status, RunStatus::cancelled);
  EXPECT_EQ(o.result.nodes.at("a").status, NodeStatus::cancelled);
  EXPECT_EQ(o.result.nodes.at("b").status, NodeStatus::cancelled);
  EXPECT_EQ(o.result.nodes.at("after").status, NodeStatus::cancelled);
  EXPECT_EQ(o.result.nodes.at("out").status, NodeStatus::cancelled);
  EXPECT_EQ(o.result.nodes.at("in").status, NodeStatus::succeeded);
  EXPECT_EQ(alpha->cancelled + beta->cancelled, 2);
  EXPECT_EQ(o.events.back().at("type").as_string(), "run_finished");
  EXPECT_EQ(o.of("node_failed", "a").at(0).at("status").as_string(), "cancelled");
}

TEST_F(ExecutorTest, CancellationSlotOfTheTokenCancelsTheRun) {
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"a","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[latency:60000]]"}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"a"},{"id":"e2","source":"a","target":"out"}]})");
  asio::cancellation_signal signal;
  Executor ex(ctx.get_executor(), registry);
  RunOptions opts;
  opts.on_event = [&](const RunEvent& e) {
    if (e.type == RunEventType::node_started && e.node_id == "a")
      asio::post(ctx, [&] { signal.emit(asio::cancellation_type::terminal); });
  };
  error_code ec;
  RunResult result;
  ex.async_run(wf, "x", opts,
               asio::bind_cancellation_slot(signal.slot(), [&](error_code e, RunResult r) {
                 ec = e;
                 result = std::move(r);
               }));
  ctx.run();
  EXPECT_EQ(ec, errc::cancelled);
  EXPECT_EQ(result.nodes.at("a").status, NodeStatus::cancelled);
  EXPECT_EQ(alpha->cancelled, 1);
}

// A cancellation emitted before the run's start handler ran (right after async_run, as a binding
// cancelling at once does) ends the run cancelled, with no call made and every node cancelled.
TEST_F(ExecutorTest, CancellationBeforeTheRunStartedEndsItCancelled) {
  auto wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"a","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"hi"}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"a"},{"id":"e2","source":"a","target":"out"}]})");
  Executor ex(ctx.get_executor(), registry);
  constexpr int runs = 50;
  std::vector<asio::cancellation_signal> signals(runs);
  int cancelled = 0, completions = 0;
  std::vector<std::string> events;
  for (int i = 0; i < runs; ++i) {
    RunOptions opts;
    if (i == 0) opts.on_event = [&](const RunEvent& e) { events.emplace_back(to_string(e.type)); };
    ex.async_run(wf, "x", opts,
                 asio::bind_cancellation_slot(signals[i].slot(), [&](error_code e, RunResult r) {
                   ++completions;
                   if (e == errc::cancelled && r.status == RunStatus::cancelled) ++cancelled;
                   for (const auto& [id, n] : r.nodes)
                     EXPECT_EQ(n.status, NodeStatus::cancelled) << id;
                 }));
    signals[i].emit(asio::cancellation_type::terminal);  // before the start handler runs
  }
  ctx.run();
  EXPECT_EQ(completions, runs);
  EXPECT_EQ(cancelled, runs);
  EXPECT_EQ(alpha->calls, 0);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front(), "run_started");
  EXPECT_EQ(events.back(), "run_finished");
}

constexpr std::string_view fallback_doc = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"ask","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model",
     "prompt":"[[reply:from somewhere]]","retries":1,"fallbacks":[{"provider":"beta","model":"test-model"}]}},
  {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"out"}]})";

TEST_F(ExecutorTest, RetriesThenFallsBackToTheNextProvider) {
  alpha->always_fail = errc::server;
  RunOptions opts;
  opts.retry_base_delay = std::chrono::milliseconds(1);
  Outcome o = run(parse(fallback_doc), "x", opts);
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(alpha->calls, 2);  // first attempt + 1 retry
  EXPECT_EQ(beta->calls, 1);
  const auto& ask = o.result.nodes.at("ask");
  EXPECT_EQ(ask.attempts, 3);
  EXPECT_EQ(ask.provider, "beta");
  EXPECT_EQ(ask.output, "from somewhere");
  auto retries = o.of("node_retry", "ask");
  ASSERT_EQ(retries.size(), 2u);
  EXPECT_EQ(retries[0].at("attempt").as_int64(), 2);
  EXPECT_EQ(retries[0].at("provider").as_string(), "alpha");
  EXPECT_EQ(retries[0].at("error").at("kind").as_string(), "server");
  EXPECT_EQ(retries[1].at("attempt").as_int64(), 3);
  EXPECT_EQ(retries[1].at("provider").as_string(), "beta");
  EXPECT_EQ(retries[1].at("delayMs").as_int64(), 0);
}

TEST_F(ExecutorTest, NonRetryableErrorGoesStraightToFallbackAndFailureFailsTheRun) {
  alpha->always_fail = errc::auth;
  beta->always_fail = errc::quota_exceeded;
  RunOptions opts;
  opts.retry_base_delay = std::chrono::milliseconds(1);
  Outcome o = run(parse(fallback_doc), "x", opts);
  EXPECT_EQ(o.ec, errc::node_failed);
  EXPECT_EQ(alpha->calls, 1);
  EXPECT_EQ(beta->calls, 1);
  const auto& ask = o.result.nodes.at("ask");
  EXPECT_EQ(ask.status, NodeStatus::failed);
  EXPECT_EQ(ask.error.code, errc::quota_exceeded);
  EXPECT_EQ(o.result.nodes.at("out").status, NodeStatus::cancelled);
  EXPECT_NE(o.result.error.message.find("ask"), std::string::npos);
  EXPECT_EQ(o.result.error.node_id, "ask");
  // The node error's kind and message, then the context once (it was said twice).
  const std::string line = o.result.error.describe();
  EXPECT_NE(line.find("quota_exceeded"), std::string::npos) << line;
  EXPECT_NE(line.find("node ask"), std::string::npos) << line;
  EXPECT_EQ(line.find(" ("), line.rfind(" (")) << line;
}

TEST_F(ExecutorTest, TransientFailureIsRetriedOnTheSameModel) {
  std::string doc(fallback_doc);
  doc.replace(doc.find("[[reply:from somewhere]]"), 24, "[[status:429 times=1]][[reply:ok]]");
  RunOptions opts;
  opts.retry_base_delay = std::chrono::milliseconds(1);
  Outcome o = run(parse(doc), "x", opts);
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(alpha->calls, 2);
  EXPECT_EQ(beta->calls, 0);
  EXPECT_EQ(o.result.nodes.at("ask").attempts, 2);
  EXPECT_EQ(o.result.output, "ok");
}

TEST_F(ExecutorTest, OnErrorContinueAndBranch) {
  alpha->always_fail = errc::server;
  auto cont = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"ask","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","onError":"continue","defaultOutput":"fallback text"}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"out"}]})");
  Outcome o = run(cont, "x");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "fallback text");
  EXPECT_EQ(o.result.nodes.at("ask").error.code, errc::server);

  auto branch = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"ask","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","onError":"branch"}},
    {"id":"ok","type":"transform","position":{"x":2,"y":0},"data":{"op":"template","template":"fine: {{input}}"}},
    {"id":"handle","type":"transform","position":{"x":2,"y":1},"data":{"op":"template","template":"handled"}},
    {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"ok"},
            {"id":"e3","source":"ask","target":"handle","sourceHandle":"error"},
            {"id":"e4","source":"ok","target":"out"},{"id":"e5","source":"handle","target":"out"}]})");
  o = run(branch, "x");
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.status, RunStatus::succeeded);
  EXPECT_EQ(o.result.output, "handled");
  EXPECT_EQ(o.result.nodes.at("ask").status, NodeStatus::failed);
  EXPECT_EQ(o.result.nodes.at("ok").status, NodeStatus::skipped);
}

TEST_F(ExecutorTest, InvalidWorkflowFailsWithEveryProblem) {
  auto r = Workflow::parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"ask","type":"llm","position":{"x":1,"y":0},"data":{"provider":"nobody","model":"m"}}],
   "edges":[{"id":"e1","source":"in","target":"ask"},{"id":"e2","source":"ask","target":"ghost"}]})");
  ASSERT_TRUE(r.workflow);
  Outcome o = run(*r.workflow, "x");
  EXPECT_EQ(o.ec, errc::invalid_workflow);
  EXPECT_EQ(o.result.status, RunStatus::failed);
  EXPECT_NE(o.result.error.message.find("nobody"), std::string::npos) << o.result.error.message;
  EXPECT_NE(o.result.error.message.find("ghost"), std::string::npos) << o.result.error.message;
  EXPECT_EQ(o.result.nodes.size(), 2u);
  EXPECT_EQ(alpha->calls, 0);
  EXPECT_EQ(o.events.back().at("type").as_string(), "run_finished");
}

TEST_F(ExecutorTest, PerRunApiKeyReachesTheRequest) {
  RunOptions opts;
  opts.api_keys["alpha"] = "sk-test-secret-key-123456";
  Outcome o = run(parse(linear), "x", opts);
  ASSERT_FALSE(o.ec);
  ASSERT_EQ(alpha->requests.size(), 1u);
  EXPECT_EQ(alpha->requests[0].api_key, "sk-test-secret-key-123456");
  for (const auto& e : o.events)
    EXPECT_EQ(json::serialize(e).find("secret-key"), std::string::npos);
}

TEST_F(ExecutorTest, NoTokenEventsWhenStreamingIsOff) {
  RunOptions opts;
  opts.stream_tokens = false;
  Outcome o = run(parse(linear), "x", opts);
  ASSERT_FALSE(o.ec);
  EXPECT_TRUE(o.of("token").empty());
  EXPECT_EQ(o.result.output, "<Hello there, world>");
}

TEST_F(ExecutorTest, BlockingRunDrivesTheIoContext) {
  Executor ex(ctx.get_executor(), registry);
  RunResult r = ex.run(parse(linear), "x");
  EXPECT_EQ(r.output, "<Hello there, world>");
  alpha->always_fail = errc::auth;
  try {
    ex.run(parse(linear), "x");
    FAIL() << "expected chorus::Exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code, errc::node_failed);
  }
}

TEST_F(ExecutorTest, ManyConcurrentRunsOnOneThread) {
  auto wf = std::make_shared<const Workflow>(parse(linear));
  Executor ex(ctx.get_executor(), registry);
  alpha->default_latency = std::chrono::milliseconds(20);
  int ok = 0;
  for (int i = 0; i < 500; ++i)
    ex.async_run(wf, "n" + std::to_string(i), RunOptions{}, [&](error_code ec, RunResult r) {
      if (!ec && r.output == "<Hello there, world>") ++ok;
    });
  ctx.run();
  EXPECT_EQ(ok, 500);
  EXPECT_GT(alpha->max_in_flight, 1);
}

TEST(CallGateTest, RateLimitQueuesInsteadOfFailing) {
  asio::io_context ctx;
  auto gate = std::make_shared<detail::CallGate>(ctx.get_executor());
  gate->configure(0, {}, {{"p", RateLimit{120, 0}}});  // 2 per second, a burst of 120
  int granted = 0;
  for (int i = 0; i < 122; ++i)
    gate->enqueue("p", 1, [&] { ++granted; });
  EXPECT_GE(granted, 120);  // the burst; the rest wait for the bucket to refill (~0.5 s each)
  EXPECT_LT(granted, 122);
  auto other = 0;
  gate->enqueue("q", 1, [&] { ++other; });  // another provider is not held up
  EXPECT_EQ(other, 1);
  ctx.run();
  EXPECT_EQ(granted, 122);
}

TEST(CallGateTest, ConcurrencyCapGrantsOnRelease) {
  asio::io_context ctx;
  auto gate = std::make_shared<detail::CallGate>(ctx.get_executor());
  gate->configure(0, {{"p", 2}}, {});
  std::vector<int> order;
  for (int i = 0; i < 4; ++i)
    gate->enqueue("p", 1, [&order, i] { order.push_back(i); });
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
  gate->release("p");
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  gate->release("p");
  gate->release("p");
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(RunEventJson, TypesAndFields) {
  Error err = make_error(errc::rate_limited, "slow down");
  err.status = 429;
  err.retry_after = std::chrono::milliseconds(1500);
  RunEvent ev;
  ev.type = RunEventType::node_retry;
  ev.run_id = "r1";
  ev.seq = 7;
  ev.time = std::chrono::microseconds(2500);
  ev.node_id = "ask";
  ev.node_type = "llm";
  ev.attempt = 2;
  ev.provider = "openai";
  ev.model = "gpt-4o-mini";
  ev.delay = std::chrono::milliseconds(250);
  ev.error = &err;
  json::object j = ev.to_json();
  EXPECT_EQ(j.at("type").as_string(), "node_retry");
  EXPECT_EQ(j.at("runId").as_string(), "r1");
  EXPECT_EQ(j.at("seq").as_uint64(), 7u);
  EXPECT_DOUBLE_EQ(j.at("timeMs").as_double(), 2.5);
  EXPECT_EQ(j.at("attempt").as_int64(), 2);
  EXPECT_EQ(j.at("delayMs").as_int64(), 250);
  EXPECT_EQ(j.at("error").at("kind").as_string(), "rate_limited");
  EXPECT_EQ(j.at("error").at("status").as_int64(), 429);
  EXPECT_EQ(j.at("error").at("retryAfterMs").as_int64(), 1500);
  EXPECT_FALSE(j.contains("text"));
  EXPECT_FALSE(j.contains("result"));
  for (auto t : {RunEventType::run_started, RunEventType::node_started, RunEventType::token,
                 RunEventType::node_retry, RunEventType::node_finished, RunEventType::node_failed,
                 RunEventType::node_skipped, RunEventType::run_finished})
    EXPECT_EQ(run_event_type_from_string(to_string(t)), t);
  Error back = error_from_json(j.at("error"));
  EXPECT_EQ(back.code, errc::rate_limited);
  EXPECT_EQ(back.retry_after, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace chorus
