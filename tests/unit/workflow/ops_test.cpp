// The sans-IO node operations: every transform op, conditions, routers, loops and maps.
#include <chorus/simulation.hpp>
#include <chorus/workflow.hpp>

#include <gtest/gtest.h>

namespace chorus {
namespace {

// Reads the data of a single node of the given type from a JSON text of its data.
template <class T>
T data_of(std::string_view type, std::string_view data_json) {
  const std::string doc = R"({"nodes":[{"id":"n","type":")" + std::string(type) +
                          R"(","position":{"x":0,"y":0},"data":)" + std::string(data_json) +
                          "}],\"edges\":[]}";
  auto r = Workflow::parse(doc);
  EXPECT_TRUE(r.workflow) << doc;
  for (const auto& p : r.problems)
    ADD_FAILURE() << p.describe();
  return r.workflow ? *r.workflow->nodes()[0].data_as<T>() : T{};
}

std::string transform(std::string_view data_json, std::vector<std::string_view> inputs,
                      Error* error_out = nullptr) {
  const auto t = data_of<TransformData>("transform", data_json);
  std::string out;
  TemplateLookup lookup = [&](const TemplateRef& r) -> std::optional<std::string_view> {
    if (r.kind == TemplateRefKind::workflow_input) return std::string_view("Q");
    return std::nullopt;
  };
  Error e = apply_transform(t, inputs, lookup, out, "t1");
  if (error_out) {
    *error_out = e;
  } else {
    EXPECT_FALSE(e) << e.message;
  }
  return out;
}

TEST(Transform, Template) {
  EXPECT_EQ(
      transform(R"({"op":"template","template":"{{workflow.input}}: {{input}}"})", {"a", "b"}),
      "Q: a\n\nb");
}

TEST(Transform, JsonExtract) {
  EXPECT_EQ(transform(R"({"op":"json_extract","path":"items[1].name"})",
                      {R"({"items":[{"name":"x"},{"name":"y"}]})"}),
            "y");
  EXPECT_EQ(transform(R"({"op":"json_extract","path":"items"})", {R"({"items":[1,2]})"}), "[1,2]");
  Error e;
  transform(R"({"op":"json_extract","path":"a"})", {"not json"}, &e);
  ASSERT_TRUE(e);
  EXPECT_EQ(e.message, "node 't1': json_extract: the input is not JSON (starts with \"not json\")");
  EXPECT_EQ(e.node_id, "t1");
  transform(R"({"op":"json_extract","path":"b.c"})", {R"({"a":1})"}, &e);
  EXPECT_EQ(e.message, "node 't1': json_extract: path 'b.c' not found in the input JSON");
}

TEST(Transform, RegexExtract) {
  EXPECT_EQ(transform(R"x({"op":"regex_extract","pattern":"score: (\\d+)","group":1})x",
                      {"The score: 42 out of 100"}),
            "42");
  EXPECT_EQ(transform(R"({"op":"regex_extract","pattern":"[A-Z]+"})", {"abc DEF ghi"}), "DEF");
  EXPECT_EQ(transform(R"({"op":"regex_extract","pattern":"def","ignoreCase":true})", {"abc DEF"}),
            "DEF");
  Error e;
  transform(R"({"op":"regex_extract","pattern":"zzz"})", {"abc"}, &e);
  EXPECT_EQ(e.message, "node 't1': regex_extract: pattern 'zzz' does not match the input");
  transform(R"({"op":"regex_extract","pattern":"a","group":2})", {"abc"}, &e);
  EXPECT_EQ(e.message, "node 't1': regex_extract: the pattern has no group 2");
}

TEST(Transform, Split) {
  EXPECT_EQ(transform(R"({"op":"split"})", {"one\n\n two \nthree"}), R"(["one","two","three"])");
  EXPECT_EQ(transform(R"({"op":"split","separator":";","skipEmpty":false})", {"a;;b"}),
            R"(["a","","b"])");
  EXPECT_EQ(transform(R"({"op":"split","separator":"---"})", {""}), "[]");
}

TEST(Transform, Join) {
  EXPECT_EQ(transform(R"({"op":"join","separator":", "})", {R"(["a","b",3])"}), "a, b, 3");
  EXPECT_EQ(transform(R"({"op":"join","separator":" | "})", {"x", "y"}), "x | y");
  EXPECT_EQ(transform(R"({"op":"join","separator":"-"})", {"plain text"}), "plain text");
}

TEST(Transform, CaseAndTrim) {
  EXPECT_EQ(transform(R"({"op":"trim"})", {"  \n hi there \t\n"}), "hi there");
  EXPECT_EQ(transform(R"({"op":"uppercase"})", {"Hello, wörld"}), "HELLO, WöRLD");
  EXPECT_EQ(transform(R"({"op":"lowercase"})", {"Hello, WORLD"}), "hello, world");
}

TEST(Transform, Truncate) {
  const std::string text = "The quick brown fox jumps over the lazy dog again and again";
  const std::string out = transform(R"({"op":"truncate","maxTokens":5})", {text});
  EXPECT_LE(sim::estimate_tokens(out), 5);
  EXPECT_EQ(out, "The quick brown fox");  // 20 code points, cut back to the last word boundary
  EXPECT_EQ(transform(R"({"op":"truncate","maxTokens":100})", {text}), text);
  // Multi-byte text is cut on a code point boundary.
  const std::string greek = "αβγδεζηθικλμνξοπρστυφχψω";
  const std::string cut = transform(R"({"op":"truncate","maxTokens":2})", {greek});
  EXPECT_EQ(cut, "αβγδεζηθ");
}

TEST(Condition, Ops) {
  auto route = [](std::string_view cond_json, std::string_view text) {
    const auto r =
        data_of<RouterData>("router", std::string(R"({"routes":[{"label":"yes",)") +
                                          std::string(cond_json) + R"(}],"defaultRoute":"no"})");
    return *select_route(r, text);
  };
  EXPECT_EQ(route(R"("op":"contains","value":"APPROVED")", "Verdict: APPROVED."), "yes");
  EXPECT_EQ(route(R"("op":"contains","value":"APPROVED")", "approved"), "no");
  EXPECT_EQ(route(R"("op":"contains","value":"APPROVED","ignoreCase":true)", "approved"), "yes");
  EXPECT_EQ(route(R"("op":"equals","value":"billing")", "  billing\n"), "yes");
  EXPECT_EQ(route(R"("op":"equals","value":"billing")", "billing issue"), "no");
  EXPECT_EQ(route(R"("op":"starts_with","value":"YES")", "\n YES, ship it"), "yes");
  EXPECT_EQ(route(R"("op":"regex","value":"^score: [7-9]")", "score: 8"), "yes");
  EXPECT_EQ(route(R"("op":"regex","value":"^score: [7-9]")", "score: 3"), "no");
  EXPECT_EQ(route(R"("op":"json_field","path":"valid","value":"true")", R"({"valid": true})"),
            "yes");
  EXPECT_EQ(route(R"("op":"json_field","path":"valid","value":"true")", R"({"valid": false})"),
            "no");
  EXPECT_EQ(route(R"("op":"json_field","path":"errors")", R"({"errors": []})"), "no");
  EXPECT_EQ(route(R"("op":"json_field","path":"errors")", R"({"errors": ["x"]})"), "yes");
  EXPECT_EQ(
      route(R"("op":"json_field","path":"kind","value":"bug")", "```json\n{\"kind\":\"bug\"}\n```"),
      "yes");
  EXPECT_EQ(route(R"("op":"json_field","path":"kind","value":"bug")", "not json"), "no");
  EXPECT_EQ(route(R"("op":"json_field","path":"n","value":3)", R"({"n": 3})"), "yes");
}

TEST(Router, FirstMatchWinsThenDefault) {
  const auto r = data_of<RouterData>("router", R"({"mode":"condition","routes":[
      {"label":"refund","op":"contains","value":"refund"},
      {"label":"billing","op":"contains","value":"invoice"},
      {"label":"billing2","op":"contains","value":"refund"}],"defaultRoute":"general"})");
  EXPECT_EQ(*select_route(r, "I want a refund for this invoice"), "refund");
  EXPECT_EQ(*select_route(r, "where is my invoice"), "billing");
  EXPECT_EQ(*select_route(r, "hello"), "general");
  auto no_default = r;
  no_default.default_route.reset();
  EXPECT_FALSE(select_route(no_default, "hello"));
  EXPECT_EQ(router_labels(r),
            (std::vector<std::string>{"refund", "billing", "billing2", "general"}));
}

TEST(Router, ClassifyPromptAndMatcher) {
  const auto r = data_of<RouterData>("router", R"({"mode":"classify","provider":"simulated",
      "model":"sim-fast","labels":["billing",{"label":"tech-support","description":"bugs, errors"},
      "billing-dispute"],"instructions":"Customers write in English.","defaultRoute":"billing"})");
  const auto p = build_classify_prompt(r, "My app crashes");
  EXPECT_NE(p.system.find("Answer with the label only"), std::string::npos);
  EXPECT_NE(p.user.find("- tech-support: bugs, errors\n"), std::string::npos);
  EXPECT_NE(p.user.find("Customers write in English."), std::string::npos);
  EXPECT_NE(p.user.find("My app crashes"), std::string::npos);
  EXPECT_NE(p.user.find("Answer with exactly one of: billing, tech-support, billing-dispute"),
            std::string::npos);
  EXPECT_EQ(*match_label(r, "tech-support"), "tech-support");
  EXPECT_EQ(*match_label(r, " \"Tech-Support\".\n"), "tech-support");
  EXPECT_EQ(*match_label(r, "The label is: billing-dispute, because..."), "billing-dispute");
  EXPECT_EQ(*match_label(r, "I think tech-support, not billing"), "tech-support");
  EXPECT_EQ(*match_label(r, "no idea"), "billing");  // defaultRoute
  auto no_default = r;
  no_default.default_route.reset();
  EXPECT_FALSE(match_label(no_default, "no idea"));
  EXPECT_FALSE(match_label(no_default, "rebilling"));  // not a whole word
}

TEST(Loop, Decisions) {
  const auto l = data_of<LoopData>(
      "loop", R"({"maxIterations":2,"exitCondition":{"op":"contains","value":"APPROVED"}})");
  EXPECT_EQ(decide_loop(l, "needs work", 0), LoopDecision::continue_);
  EXPECT_EQ(decide_loop(l, "needs work", 1), LoopDecision::continue_);
  EXPECT_EQ(decide_loop(l, "needs work", 2), LoopDecision::exit_max_iterations);
  EXPECT_EQ(decide_loop(l, "APPROVED", 0), LoopDecision::exit_condition_met);
  const auto plain = data_of<LoopData>("loop", R"({"maxIterations":1})");
  EXPECT_EQ(decide_loop(plain, "APPROVED", 0), LoopDecision::continue_);
  EXPECT_EQ(decide_loop(plain, "APPROVED", 1), LoopDecision::exit_max_iterations);
}

TEST(Map, Items) {
  std::string error;
  const auto lines = data_of<MapData>("map", R"({})");
  EXPECT_EQ(*split_map_items(lines, "a\n\n  b  \nc\n", error),
            (std::vector<std::string>{"a", "b", "c"}));
  const auto sep = data_of<MapData>("map", R"({"itemsFormat":"separator","separator":"---"})");
  EXPECT_EQ(*split_map_items(sep, "part one\n---\npart two", error),
            (std::vector<std::string>{"part one", "part two"}));
  const auto json = data_of<MapData>("map", R"({"itemsFormat":"json","maxItems":3})");
  EXPECT_EQ(*split_map_items(json, R"(["x", {"q": 1}, 2])", error),
            (std::vector<std::string>{"x", R"({"q":1})", "2"}));
  EXPECT_FALSE(split_map_items(json, R"({"not": "array"})", error));
  EXPECT_EQ(error, "the map's input is not a JSON array (itemsFormat is \"json\")");
  EXPECT_FALSE(split_map_items(json, "[1,2,3,4]", error));
  EXPECT_EQ(error, "the map's input has 4 items, more than maxItems (3)");
}

TEST(Map, Collect) {
  const std::vector<std::string> outs{"one", "two \"2\""};
  EXPECT_EQ(collect_map_outputs(data_of<MapData>("map", "{}"), outs), "one\n\ntwo \"2\"");
  EXPECT_EQ(collect_map_outputs(data_of<MapData>("map", R"({"joinSeparator":"\n- "})"), outs),
            "one\n- two \"2\"");
  EXPECT_EQ(collect_map_outputs(data_of<MapData>("map", R"({"collect":"json"})"), outs),
            R"(["one","two \"2\""])");
}

TEST(Inputs, JoinInputs) {
  std::vector<std::string_view> in{"a", "b", "c"};
  EXPECT_EQ(join_inputs(in), "a\n\nb\n\nc");
  EXPECT_EQ(join_inputs({}), "");
}

}  // namespace
}  // namespace chorus
