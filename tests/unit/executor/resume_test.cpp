// Resuming an interrupted run (RunOptions::resume): completed nodes are not called again, their
// recorded results count in the totals, branches and loops follow the record. Over the fake LLM
// server on loopback (requests counted there) and over the scripted in-process provider.
#include <chorus/executor.hpp>

#include "fake_llm.hpp"
#include "unit/executor/test_provider.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace chorus {
namespace {

namespace json = boost::json;

struct Outcome {
  error_code ec;
  RunResult result;
  std::vector<json::object> events;

  std::vector<json::object> of(std::string_view type, std::string_view node) const {
    std::vector<json::object> out;
    for (const auto& e : events)
      if (e.at("type").as_string() == type && e.contains("nodeId") &&
          e.at("nodeId").as_string() == node)
        out.push_back(e);
    return out;
  }
  // What a store would keep: per node, the result of its last terminal event among the first
  // `count` events (all when count is npos).
  std::map<std::string, NodeResult> recorded(std::size_t count = std::string::npos) const {
    std::map<std::string, NodeResult> out;
    for (std::size_t k = 0; k < events.size() && k < count; ++k) {
      const auto& e = events[k];
      const auto type = e.at("type").as_string();
      if (type != "node_finished" && type != "node_failed" && type != "node_skipped") continue;
      out.insert_or_assign(std::string(e.at("nodeId").as_string()),
                           NodeResult::from_json(e.at("result")));
    }
    return out;
  }
  // Index of the first event of `type` for `node`; npos when none.
  std::size_t index(std::string_view type, std::string_view node) const {
    for (std::size_t k = 0; k < events.size(); ++k)
      if (events[k].at("type").as_string() == type && events[k].contains("nodeId") &&
          events[k].at("nodeId").as_string() == node)
        return k;
    return std::string::npos;
  }
};

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

Outcome run_on(asio::io_context& ctx, const std::shared_ptr<ProviderRegistry>& registry,
               const Workflow& wf, std::string input, RunOptions opts = {}) {
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
  return out;
}

// Resumed totals are the uninterrupted run's: per-node usage and cost, and the sums.
void expect_same_totals(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.usage.prompt_tokens, b.usage.prompt_tokens);
  EXPECT_EQ(a.usage.completion_tokens, b.usage.completion_tokens);
  EXPECT_EQ(a.usage.total_tokens, b.usage.total_tokens);
  ASSERT_EQ(a.cost.has_value(), b.cost.has_value());
  if (a.cost) {
    EXPECT_DOUBLE_EQ(*a.cost, *b.cost);
  }
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (const auto& [id, n] : a.nodes) {
    const NodeResult& m = b.nodes.at(id);
    EXPECT_EQ(n.status, m.status) << id;
    EXPECT_EQ(n.output, m.output) << id;
    EXPECT_EQ(n.usage.total_tokens, m.usage.total_tokens) << id;
    EXPECT_EQ(n.attempts, m.attempts) << id;
    EXPECT_EQ(n.iterations, m.iterations) << id;
    ASSERT_EQ(n.cost.has_value(), m.cost.has_value()) << id;
    if (n.cost) {
      EXPECT_DOUBLE_EQ(*n.cost, *m.cost) << id;
    }
  }
}

// -- against the fake LLM server over loopback HTTP -------------------------------------------

constexpr std::string_view chain = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"first","type":"llm","position":{"x":1,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini",
     "prompt":"[[reply:first answer about the topic]] {{input}}"}},
  {"id":"second","type":"llm","position":{"x":2,"y":0},"data":{"provider":"openai","model":"gpt-4o-mini",
     "prompt":"[[latency:200]][[reply:second answer]] {{input}}"}},
  {"id":"out","type":"output","position":{"x":3,"y":0},"data":{"template":"{{nodes.first.output}} / {{input}}"}}],
 "edges":[{"id":"e1","source":"in","target":"first"},{"id":"e2","source":"first","target":"second"},
          {"id":"e3","source":"second","target":"out"}]})";

class ResumeFakeLlm : public ::testing::Test {
 protected:
  ResumeFakeLlm() {
    ProviderOptions o;
    o.api_key = "sk-test-openai-000000";
    o.base_url = server.base_url() + "/v1";
    o.retry = RetryPolicy::none();
    registry = ProviderRegistry::with_builtins(ctx.get_executor(), {{"openai", o}});
  }
  test::FakeLlmServer server;
  asio::io_context ctx;
  std::shared_ptr<ProviderRegistry> registry;
};

TEST_F(ResumeFakeLlm, ChainResumedAfterFirstLlmNodeCallsOnlyTheSecond) {
  const Workflow wf = parse(chain);
  // The uninterrupted run, for reference: two requests.
  const std::size_t before_full = server.requests();
  Outcome full = run_on(ctx, registry, wf, "topic");
  ASSERT_FALSE(full.ec) << full.result.error.describe();
  EXPECT_EQ(server.requests() - before_full, 2u);

  // An interrupted run: cancelled the moment `first` finished (its instance "died"), before
  // `second` could start. The cancellation slot is emitted inside the event callback, on the
  // executor's thread, so the stop takes effect at once.
  asio::cancellation_signal cancel;
  Outcome interrupted;
  {
    RunOptions o;
    o.on_event = [&](const RunEvent& e) {
      interrupted.events.push_back(e.to_json());
      if (e.type == RunEventType::node_finished && e.node_id == "first")
        cancel.emit(asio::cancellation_type::terminal);
    };
    bool done = false;
    const std::size_t before_cut = server.requests();
    Executor ex(ctx.get_executor(), registry);
    ex.async_run(wf, "topic", std::move(o),
                 asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec, RunResult r) {
                   interrupted.ec = ec;
                   interrupted.result = std::move(r);
                   done = true;
                 }));
    ctx.run();
    ctx.restart();
    ASSERT_TRUE(done);
    EXPECT_EQ(server.requests() - before_cut, 1u);
  }
  ASSERT_EQ(interrupted.result.status, RunStatus::cancelled);
  auto recorded = interrupted.recorded();
  ASSERT_EQ(recorded.at("first").status, NodeStatus::succeeded);
  ASSERT_NE(recorded.at("second").status, NodeStatus::succeeded);

  // Resumed from what the interrupted run recorded: exactly one request, for `second`.
  RunOptions opts;
  opts.resume = recorded;
  const std::size_t before = server.requests();
  Outcome resumed = run_on(ctx, registry, wf, "topic", opts);
  ASSERT_FALSE(resumed.ec) << resumed.result.error.describe();
  EXPECT_EQ(server.requests() - before, 1u);
  EXPECT_EQ(resumed.result.output, full.result.output);
  EXPECT_EQ(resumed.result.output, "first answer about the topic / second answer");
  expect_same_totals(resumed.result, full.result);
  EXPECT_GT(resumed.result.usage.total_tokens, 0);

  // Events: `first` only as a resumed node_finished (no node_started, no tokens); `second` ran.
  EXPECT_TRUE(resumed.of("node_started", "first").empty());
  EXPECT_TRUE(resumed.of("token", "first").empty());
  auto fin = resumed.of("node_finished", "first");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_TRUE(fin[0].at("resumed").as_bool());
  EXPECT_EQ(fin[0].at("result").at("output").as_string(), "first answer about the topic");
  ASSERT_EQ(resumed.of("node_started", "second").size(), 1u);
  EXPECT_FALSE(resumed.of("node_finished", "second")[0].contains("resumed"));
  EXPECT_LT(resumed.index("node_finished", "first"), resumed.index("node_started", "second"));
}

// -- over the scripted in-process provider ----------------------------------------------------

class ResumeTest : public ::testing::Test {
 protected:
  ResumeTest() {
    alpha = std::make_shared<test::ScriptedProvider>(ctx.get_executor(), "alpha");
    registry->add(alpha);
  }
  Outcome run(const Workflow& wf, std::string input, RunOptions opts = {}) {
    return run_on(ctx, registry, wf, std::move(input), std::move(opts));
  }
  asio::io_context ctx;
  std::shared_ptr<ProviderRegistry> registry = std::make_shared<ProviderRegistry>();
  std::shared_ptr<test::ScriptedProvider> alpha;
};

constexpr std::string_view router_doc = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"r","type":"router","position":{"x":1,"y":0},"data":{"mode":"classify","provider":"alpha",
     "model":"test-model","labels":["billing","tech"]}},
  {"id":"b","type":"transform","position":{"x":2,"y":0},"data":{"op":"template","template":"B:{{input}}"}},
  {"id":"t","type":"transform","position":{"x":2,"y":1},"data":{"op":"template","template":"T:{{input}}"}},
  {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"r"},
          {"id":"e2","source":"r","target":"b","sourceHandle":"billing"},
          {"id":"e3","source":"r","target":"t","sourceHandle":"tech"},
          {"id":"e4","source":"b","target":"out"},{"id":"e5","source":"t","target":"out"}]})";

TEST_F(ResumeTest, RouterFollowsItsRecordedRouteAndSkippedNodesStaySkipped) {
  const Workflow wf = parse(router_doc);
  Outcome full = run(wf, "my invoice [[reply:tech]]");
  ASSERT_FALSE(full.ec) << full.result.error.describe();
  ASSERT_EQ(alpha->calls, 1);
  EXPECT_EQ(full.result.nodes.at("r").route, "tech");
  EXPECT_EQ(full.result.nodes.at("b").status, NodeStatus::skipped);
  EXPECT_EQ(full.result.output, "T:my invoice [[reply:tech]]");

  // Interrupted after the router and the skip of `b`: the classification is not made again.
  RunOptions opts;
  for (const char* id : {"in", "r", "b"})
    opts.resume.emplace(id, full.result.nodes.at(id));
  Outcome resumed = run(wf, "my invoice [[reply:tech]]", opts);
  ASSERT_FALSE(resumed.ec) << resumed.result.error.describe();
  EXPECT_EQ(alpha->calls, 1);
  EXPECT_EQ(resumed.result.output, full.result.output);
  expect_same_totals(resumed.result, full.result);
  auto skipped = resumed.of("node_skipped", "b");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_TRUE(skipped[0].at("resumed").as_bool());
  EXPECT_EQ(resumed.of("node_started", "t").size(), 1u);
  EXPECT_EQ(resumed.of("node_finished", "r").at(0).at("result").at("route").as_string(), "tech");

  // The recorded route decides, not a new classification: a record saying "billing" sends the
  // run down the other branch, and `t` is skipped (a live skip: not resumed).
  RunOptions other;
  other.resume.emplace("in", full.result.nodes.at("in"));
  NodeResult r = full.result.nodes.at("r");
  r.route = "billing";
  other.resume.emplace("r", r);
  Outcome billing = run(wf, "my invoice [[reply:tech]]", other);
  ASSERT_FALSE(billing.ec) << billing.result.error.describe();
  EXPECT_EQ(alpha->calls, 1);
  EXPECT_EQ(billing.result.output, "B:my invoice [[reply:tech]]");
  EXPECT_EQ(billing.result.nodes.at("t").status, NodeStatus::skipped);
  EXPECT_FALSE(billing.of("node_skipped", "t").at(0).contains("resumed"));
}

TEST_F(ResumeTest, ConditionRouterWithoutRecordedRouteDecidesAgainOnItsOutput) {
  const Workflow wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"r","type":"router","position":{"x":1,"y":0},"data":{"mode":"condition",
       "routes":[{"label":"yes","op":"contains","value":"ok"}],"defaultRoute":"no"}},
    {"id":"y","type":"llm","position":{"x":2,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:Y]]"}},
    {"id":"n","type":"llm","position":{"x":2,"y":1},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:N]]"}},
    {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"r"},
            {"id":"e2","source":"r","target":"y","sourceHandle":"yes"},
            {"id":"e3","source":"r","target":"n","sourceHandle":"no"},
            {"id":"e4","source":"y","target":"out"},{"id":"e5","source":"n","target":"out"}]})");
  RunOptions opts;
  NodeResult in;
  in.status = NodeStatus::succeeded;
  in.output = "all ok";
  in.iterations = 1;
  NodeResult r = in;  // a condition router's output is its input; no "route" recorded
  opts.resume.emplace("in", in);
  opts.resume.emplace("r", r);
  // The run's own input would say "no": the record is what counts.
  Outcome o = run(wf, "nothing here", opts);
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(o.result.output, "Y");
  EXPECT_EQ(o.result.nodes.at("n").status, NodeStatus::skipped);
  EXPECT_EQ(alpha->calls, 1);
}

constexpr std::string_view loop_doc = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"draft","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:draft]]"}},
  {"id":"critique","type":"llm","position":{"x":2,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:round {{loop.iteration}}]] {{input}}"}},
  {"id":"gate","type":"loop","position":{"x":3,"y":0},"data":{"maxIterations":2,
     "exitCondition":{"op":"contains","value":"never"}}},
  {"id":"rewrite","type":"llm","position":{"x":3,"y":1},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:rewrite {{loop.iteration}}]]"}},
  {"id":"out","type":"output","position":{"x":4,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"draft"},{"id":"e2","source":"draft","target":"critique"},
          {"id":"e3","source":"critique","target":"gate"},
          {"id":"e4","source":"gate","target":"rewrite","sourceHandle":"continue"},
          {"id":"e5","source":"rewrite","target":"critique"},
          {"id":"e6","source":"gate","target":"out","sourceHandle":"exit"}]})";

TEST_F(ResumeTest, LoopInterruptedMidwayRunsAgainWhole) {
  const Workflow wf = parse(loop_doc);
  Outcome full = run(wf, "topic");
  ASSERT_FALSE(full.ec) << full.result.error.describe();
  ASSERT_EQ(alpha->calls, 6);  // draft, critique x3, rewrite x2
  EXPECT_EQ(full.result.nodes.at("gate").route, "exit");

  // Interrupted right after the first rewrite: the loop said "continue" last.
  const std::size_t cut = full.index("node_finished", "rewrite") + 1;
  auto recorded = full.recorded(cut);
  ASSERT_EQ(recorded.at("gate").route, "continue");
  ASSERT_EQ(recorded.at("critique").status, NodeStatus::succeeded);
  RunOptions opts;
  opts.resume = recorded;
  Outcome resumed = run(wf, "topic", opts);
  ASSERT_FALSE(resumed.ec) << resumed.result.error.describe();
  // Only `draft` (outside the loop) was taken; the cycle ran again from its start.
  EXPECT_EQ(alpha->calls, 6 + 5);
  EXPECT_EQ(resumed.result.output, full.result.output);
  expect_same_totals(resumed.result, full.result);
  EXPECT_TRUE(resumed.of("node_finished", "draft").at(0).at("resumed").as_bool());
  EXPECT_EQ(resumed.of("node_started", "critique").size(), 3u);
  for (const auto& e : resumed.of("node_finished", "critique"))
    EXPECT_FALSE(e.contains("resumed"));
}

TEST_F(ResumeTest, CompletedLoopIsTakenWhole) {
  const Workflow wf = parse(loop_doc);
  Outcome full = run(wf, "topic");
  ASSERT_FALSE(full.ec) << full.result.error.describe();
  const int calls = alpha->calls;

  // Interrupted just before `out`: everything else is recorded, the loop exited.
  auto recorded = full.recorded(full.index("node_started", "out"));
  ASSERT_EQ(recorded.count("out"), 0u);
  RunOptions opts;
  opts.resume = recorded;
  Outcome resumed = run(wf, "topic", opts);
  ASSERT_FALSE(resumed.ec) << resumed.result.error.describe();
  EXPECT_EQ(alpha->calls, calls);  // nothing called again
  EXPECT_EQ(resumed.result.output, "round 3");
  expect_same_totals(resumed.result, full.result);
  // One resumed terminal event per node of the cycle, at its last iteration.
  auto crit = resumed.of("node_finished", "critique");
  ASSERT_EQ(crit.size(), 1u);
  EXPECT_TRUE(crit[0].at("resumed").as_bool());
  EXPECT_EQ(crit[0].at("iteration").as_int64(), 3);
  EXPECT_EQ(resumed.of("node_started", "out").size(), 1u);
  EXPECT_LT(resumed.index("node_finished", "gate"), resumed.index("node_started", "out"));
}

TEST_F(ResumeTest, MapResumedOnlyWhenTheMapCompleted) {
  const Workflow wf = parse(R"({"nodes":[
    {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
    {"id":"each","type":"map","position":{"x":1,"y":0},"data":{"itemsFormat":"lines","concurrency":1,"collect":"join","joinSeparator":"|"}},
    {"id":"work","type":"llm","parentId":"each","position":{"x":0,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:did {{item}}]]"}},
    {"id":"out","type":"output","position":{"x":2,"y":0},"data":{}}],
   "edges":[{"id":"e1","source":"in","target":"each"},{"id":"e2","source":"each","target":"out"}]})");
  Outcome full = run(wf, "a\nb\nc");
  ASSERT_FALSE(full.ec) << full.result.error.describe();
  ASSERT_EQ(alpha->calls, 3);

  // Interrupted after the second item: the map had not completed, it runs all items again.
  std::size_t cut = 0;
  for (std::size_t k = 0, seen = 0; k < full.events.size(); ++k)
    if (full.events[k].at("type").as_string() == "node_finished" &&
        full.events[k].at("nodeId").as_string() == "work" && ++seen == 2)
      cut = k + 1;
  RunOptions partial;
  partial.resume = full.recorded(cut);
  ASSERT_EQ(partial.resume.count("work"), 1u);
  ASSERT_EQ(partial.resume.count("each"), 0u);
  Outcome again = run(wf, "a\nb\nc", partial);
  ASSERT_FALSE(again.ec) << again.result.error.describe();
  EXPECT_EQ(alpha->calls, 3 + 3);
  expect_same_totals(again.result, full.result);

  // Interrupted after the map completed: neither the map nor its body runs.
  RunOptions done;
  done.resume = full.recorded(full.index("node_started", "out"));
  Outcome taken = run(wf, "a\nb\nc", done);
  ASSERT_FALSE(taken.ec) << taken.result.error.describe();
  EXPECT_EQ(alpha->calls, 6);
  EXPECT_EQ(taken.result.output, "did a|did b|did c");
  expect_same_totals(taken.result, full.result);
  EXPECT_TRUE(taken.of("node_finished", "work").at(0).at("resumed").as_bool());
  EXPECT_TRUE(taken.of("node_started", "work").empty());
}

constexpr std::string_view two_llm = R"({"nodes":[
  {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
  {"id":"a","type":"llm","position":{"x":1,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:A]]","maxTokens":10}},
  {"id":"b","type":"llm","position":{"x":2,"y":0},"data":{"provider":"alpha","model":"test-model","prompt":"[[reply:B]] {{input}}","maxTokens":10}},
  {"id":"out","type":"output","position":{"x":3,"y":0},"data":{}}],
 "edges":[{"id":"e1","source":"in","target":"a"},{"id":"e2","source":"a","target":"b"},
          {"id":"e3","source":"b","target":"out"}]})";

TEST_F(ResumeTest, ResumedUsageCountsInTheBudget) {
  const Workflow wf = parse(two_llm);
  NodeResult a;
  a.status = NodeStatus::succeeded;
  a.output = "A";
  a.usage.prompt_tokens = 900;
  a.usage.completion_tokens = 100;
  a.usage.total_tokens = 1000;
  a.cost = 0.5;
  a.attempts = 1;
  a.iterations = 1;
  RunOptions opts;
  opts.resume.emplace("a", a);
  opts.max_tokens = 1005;  // 1000 already spent: b's worst case (prompt + 10) does not fit
  Outcome o = run(wf, "x", opts);
  EXPECT_EQ(o.ec, errc::budget_exceeded);
  EXPECT_EQ(o.result.status, RunStatus::budget_exceeded);
  EXPECT_EQ(alpha->calls, 0);
  EXPECT_EQ(o.result.usage.total_tokens, 1000);
  ASSERT_TRUE(o.result.cost);
  EXPECT_DOUBLE_EQ(*o.result.cost, 0.5);
  EXPECT_EQ(o.result.nodes.at("a").output, "A");
  EXPECT_EQ(o.result.nodes.at("in").status, NodeStatus::succeeded);  // not in the map: ran

  // The same with a budget that fits: b runs once, a not at all.
  RunOptions fits;
  fits.resume.emplace("a", a);
  fits.max_tokens = 5000;
  Outcome ok = run(wf, "x", fits);
  ASSERT_FALSE(ok.ec) << ok.result.error.describe();
  EXPECT_EQ(alpha->calls, 1);
  EXPECT_EQ(ok.result.output, "B");
  EXPECT_GT(ok.result.usage.total_tokens, 1000);
}

TEST_F(ResumeTest, FailedOrCancelledRecordsRunAgain) {
  const Workflow wf = parse(two_llm);
  NodeResult a;
  a.status = NodeStatus::failed;
  a.error = make_error(errc::server, "boom");
  NodeResult b;
  b.status = NodeStatus::cancelled;
  RunOptions opts;
  opts.resume.emplace("a", a);
  opts.resume.emplace("b", b);
  Outcome o = run(wf, "x", opts);
  ASSERT_FALSE(o.ec) << o.result.error.describe();
  EXPECT_EQ(alpha->calls, 2);
  EXPECT_EQ(o.result.output, "B");
  EXPECT_EQ(o.of("node_started", "a").size(), 1u);
}

TEST_F(ResumeTest, UnknownNodeIdIsRejectedByName) {
  const Workflow wf = parse(two_llm);
  RunOptions opts;
  NodeResult r;
  r.status = NodeStatus::succeeded;
  opts.resume.emplace("no-such-node", r);
  Outcome o = run(wf, "x", opts);
  EXPECT_EQ(o.ec, errc::invalid_argument);
  EXPECT_EQ(o.result.status, RunStatus::failed);
  EXPECT_NE(o.result.error.message.find("'no-such-node'"), std::string::npos)
      << o.result.error.message;
  EXPECT_EQ(alpha->calls, 0);
  EXPECT_EQ(o.result.nodes.size(), 4u);
}

TEST(ResumeJson, RouteAndResumedSurviveJson) {
  NodeResult r;
  r.status = NodeStatus::succeeded;
  r.route = "tech";
  json::object o = r.to_json();
  EXPECT_EQ(o.at("route").as_string(), "tech");
  EXPECT_EQ(NodeResult::from_json(o).route, "tech");
  r.route.clear();
  EXPECT_FALSE(r.to_json().contains("route"));
  RunEvent ev;
  ev.type = RunEventType::node_finished;
  EXPECT_FALSE(ev.to_json().contains("resumed"));
  ev.resumed = true;
  EXPECT_TRUE(ev.to_json().at("resumed").as_bool());
}

}  // namespace
}  // namespace chorus
