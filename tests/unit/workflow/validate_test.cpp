// validate(): every rule, with the exact message a user reads.
#include <chorus/workflow.hpp>

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace chorus {
namespace {

std::string node(std::string_view id, std::string_view type, std::string_view data = "{}",
                 std::string_view extra = "") {
  return R"({"id":")" + std::string(id) + R"(","type":")" + std::string(type) +
         R"(","position":{"x":0,"y":0},"data":)" + std::string(data) + std::string(extra) + "}";
}

std::string edge(std::string_view id, std::string_view source, std::string_view target,
                 std::string_view handle = "") {
  std::string e = R"({"id":")" + std::string(id) + R"(","source":")" + std::string(source) +
                  R"(","target":")" + std::string(target) + "\"";
  if (!handle.empty()) e += R"(,"sourceHandle":")" + std::string(handle) + "\"";
  return e + "}";
}

std::string doc(const std::vector<std::string>& nodes, const std::vector<std::string>& edges) {
  std::string s = R"({"id":"t","name":"test","nodes":[)";
  for (std::size_t i = 0; i < nodes.size(); ++i)
    s += (i ? "," : "") + nodes[i];
  s += "],\"edges\":[";
  for (std::size_t i = 0; i < edges.size(); ++i)
    s += (i ? "," : "") + edges[i];
  return s + "]}";
}

const std::string kLlm = R"({"provider":"simulated","model":"sim-fast","prompt":"{{input}}"})";

std::vector<std::string> problems(const std::string& text, const ValidationContext& ctx = {}) {
  std::vector<std::string> out;
  for (const auto& p : validate_document(text, ctx))
    out.push_back(p.describe());
  return out;
}

using Lines = std::vector<std::string>;

TEST(Validate, MinimalWorkflowIsClean) {
  EXPECT_EQ(problems(doc({node("in", "input"), node("a", "llm", kLlm), node("out", "output")},
                         {edge("e1", "in", "a"), edge("e2", "a", "out")})),
            Lines{});
}

TEST(Validate, DuplicateIds) {
  EXPECT_EQ(problems(doc({node("in", "input"), node("in", "output")},
                         {edge("e1", "in", "in"), edge("e1", "in", "in")})),
            (Lines{
                "error: node 'in': id: node id \"in\" is used by more than one node [duplicate_id]",
                "error: edge 'e1': id: edge id \"e1\" is used by more than one edge [duplicate_id]",
                "error: edge 'e1': target: input node \"in\" cannot have incoming edges "
                "[edge_into_input]",
                "error: edge 'e1': target: input node \"in\" cannot have incoming edges "
                "[edge_into_input]",
                "error: node 'in': nodes \"in\" form a cycle with no loop node on it; put a loop "
                "node (maxIterations) on the cycle [cycle_without_loop]",
                // The second "in" is an output node, but every reference finds the first one.
                "warning: node 'in': the output of node \"in\" never reaches an output node "
                "[dead_end]",
            }));
}

TEST(Validate, DanglingEdges) {
  EXPECT_EQ(problems(doc({node("in", "input"), node("out", "output")},
                         {edge("e1", "in", "out"), edge("e2", "ghost", "out"),
                          edge("e3", "in", "nowhere")})),
            (Lines{
                "error: edge 'e2': source: source \"ghost\" is not the id of any node "
                "[dangling_edge]",
                "error: edge 'e3': target: target \"nowhere\" is not the id of any node "
                "[dangling_edge]",
            }));
}

TEST(Validate, MissingInputAndOutput) {
  EXPECT_EQ(problems(doc({node("a", "llm", kLlm)}, {})),
            (Lines{"error: nodes: the workflow has no input node [missing_input]",
                   "error: nodes: the workflow has no output node [missing_output]"}));
}

TEST(Validate, UnknownNodeType) {
  EXPECT_EQ(problems(doc({node("in", "input"), node("x", "scripty"), node("out", "output")},
                         {edge("e1", "in", "x"), edge("e2", "x", "out")})),
            (Lines{"error: node 'x': type: unknown node type \"scripty\" (known: input, output, "
                   "llm, transform, router, merge, loop, map) [unknown_node_type]"}));
}

TEST(Validate, UnknownProviderAndModel) {
  ValidationContext ctx;
  ctx.providers["simulated"] = {"sim-fast", "sim-smart"};
  ctx.providers["openai-compatible"] = {};  // any model
  const std::string data =
      R"({"provider":"simulated","model":"sim-huge","fallbacks":[{"provider":"openai-compatible",
         "model":"llama3"},{"provider":"acme","model":"x"}]})";
  EXPECT_EQ(problems(doc({node("in", "input"), node("a", "llm", data), node("out", "output")},
                         {edge("e1", "in", "a"), edge("e2", "a", "out")}),
                     ctx),
            (Lines{"error: node 'a': data.model: provider \"simulated\" has no model \"sim-huge\" "
                   "(known: \"sim-fast\", \"sim-smart\") [unknown_model]",
                   "error: node 'a': data.fallbacks[1].provider: unknown provider \"acme\" (known: "
                   "\"openai-compatible\", \"simulated\") [unknown_provider]"}));
  // Model lists that may lag behind a vendor (price tables) can make unknown models warnings.
  ctx.unknown_model_severity = Severity::warning;
  const auto relaxed =
      problems(doc({node("in", "input"), node("a", "llm", data), node("out", "output")},
                   {edge("e1", "in", "a"), edge("e2", "a", "out")}),
               ctx);
  EXPECT_EQ(relaxed,
            (Lines{"error: node 'a': data.fallbacks[1].provider: unknown provider \"acme\" (known: "
                   "\"openai-compatible\", \"simulated\") [unknown_provider]",
                   "warning: node 'a': data.model: provider \"simulated\" has no model "
                   "\"sim-huge\" (known: \"sim-fast\", \"sim-smart\") [unknown_model]"}));
  // Without a context, ids are not checked.
  EXPECT_EQ(problems(doc({node("in", "input"), node("a", "llm", data), node("out", "output")},
                         {edge("e1", "in", "a"), edge("e2", "a", "out")})),
            Lines{});
}

TEST(Validate, TemplateReferences) {
  const std::string b = R"({"provider":"p","model":"m",
      "prompt":"{{nodes.c.output}} {{nodes.ghost.output}} {{item}} {{loop.iteration}} {{nodes.a.output.json.x}}",
      "systemPrompt":"{{nodes.b.output}}"})";
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("a", "llm", kLlm), node("b", "llm", b),
                    node("c", "llm", kLlm), node("out", "output")},
                   {edge("e1", "in", "a"), edge("e2", "a", "b"), edge("e3", "b", "c"),
                    edge("e4", "c", "out")})),
      (Lines{
          "error: node 'b': data.systemPrompt: {{nodes.b.output}}: a node cannot read its own "
          "output unless it is on a loop [bad_reference]",
          "error: node 'b': data.prompt: {{nodes.c.output}}: node \"c\" is not upstream of \"b\" "
          "(no path of edges leads from it here), so its output is not available [bad_reference]",
          "error: node 'b': data.prompt: {{nodes.ghost.output}}: there is no node \"ghost\" "
          "[bad_reference]",
          "error: node 'b': data.prompt: {{item}}: {{item}} is only defined inside a map body "
          "[bad_reference]",
          "error: node 'b': data.prompt: {{loop.iteration}}: {{loop.iteration}} is only defined "
          "on a cycle through a loop node [bad_reference]",
      }));
}

TEST(Validate, TemplateSyntaxAndUnknownVariables) {
  const std::string data = R"({"provider":"p","model":"m","prompt":"Hi {{ name }}"})";
  const std::string out = R"({"template":"{{input"})";
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("a", "llm", data), node("out", "output", out)},
                   {edge("e1", "in", "a"), edge("e2", "a", "out")})),
      (Lines{"error: node 'a': data.prompt: unknown variable 'name' (known: input, "
             "workflow.input, nodes.<id>.output, item, loop.iteration) at offset 3 "
             "[template_syntax]",
             "error: node 'out': data.template: unclosed '{{' at offset 0 [template_syntax]"}));
}

TEST(Validate, CycleWithoutLoop) {
  EXPECT_EQ(problems(doc({node("in", "input"), node("a", "llm", kLlm), node("b", "llm", kLlm),
                          node("out", "output")},
                         {edge("e1", "in", "a"), edge("e2", "a", "b"), edge("e3", "b", "a"),
                          edge("e4", "b", "out")})),
            (Lines{"error: node 'a': nodes \"a\", \"b\" form a cycle with no loop node on it; put "
                   "a loop node (maxIterations) on the cycle [cycle_without_loop]"}));
}

TEST(Validate, CycleThroughLoopIsLegalAndCapped) {
  const std::string gate =
      R"({"maxIterations":3,"exitCondition":{"op":"contains","value":"APPROVED"}})";
  const std::string write =
      R"({"provider":"p","model":"m","prompt":"Round {{loop.iteration}}: {{input}} {{nodes.write.output}}"})";
  const std::string critic =
      R"({"provider":"p","model":"m","prompt":"Review: {{nodes.write.output}}"})";
  const std::string out_tpl = R"({"template":"{{nodes.write.output}}"})";
  const std::vector<std::string> nodes{node("in", "input"), node("write", "llm", write),
                                       node("critic", "llm", critic), node("gate", "loop", gate),
                                       node("out", "output", out_tpl)};
  EXPECT_EQ(
      problems(doc(nodes, {edge("e1", "in", "write"), edge("e2", "write", "critic"),
                           edge("e3", "critic", "gate"), edge("e4", "gate", "write", "continue"),
                           edge("e5", "gate", "out", "exit")})),
      Lines{});
  // A loop needs maxIterations, both branches, and its continue branch must come back.
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("gate", "loop", "{}"), node("a", "llm", kLlm),
                    node("out", "output")},
                   {edge("e1", "in", "gate"), edge("e2", "gate", "a", "continue"),
                    edge("e3", "a", "out"), edge("e4", "gate", "out", "done")})),
      (Lines{
          "error: node 'gate': data.maxIterations: maxIterations is required (a positive integer: "
          "how many times \"continue\" may be taken) [missing_field]",
          "error: edge 'e4': sourceHandle: edges leaving loop \"gate\" need sourceHandle "
          "\"continue\" or \"exit\" (got \"done\") [unknown_handle]",
          "error: node 'gate': loop \"gate\" has no edge with sourceHandle \"exit\" "
          "[loop_without_exit]",
          "error: edge 'e2': target: the \"continue\" branch of loop \"gate\" never comes back to "
          "it [loop_not_closed]",
      }));
}

TEST(Validate, UnreachableAndDeadEnd) {
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("a", "llm", kLlm), node("lost", "llm", kLlm),
                    node("side", "llm", kLlm), node("out", "output")},
                   {edge("e1", "in", "a"), edge("e2", "a", "out"), edge("e3", "in", "side")})),
      (Lines{"error: node 'lost': node \"lost\" cannot be reached from an input node "
             "[unreachable]",
             "warning: node 'side': the output of node \"side\" never reaches an output node "
             "[dead_end]"}));
}

TEST(Validate, DataTypeErrors) {
  const std::string data =
      R"({"provider":"p","model":"m","temperature":2.5,"maxTokens":10.5,"timeoutMs":-1,
          "retries":11,"jsonMode":"yes","fallbacks":[{"provider":"q"}]})";
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("a", "llm", data), node("out", "output")},
                   {edge("e1", "in", "a"), edge("e2", "a", "out")})),
      (Lines{
          "error: node 'a': data.temperature: temperature must be a number in [0, 2] (got 2.5) "
          "[invalid_value]",
          "error: node 'a': data.maxTokens: maxTokens must be a whole number (got 10.5) "
          "[invalid_value]",
          "error: node 'a': data.jsonMode: jsonMode must be a boolean, not a string (\"yes\") "
          "[wrong_type]",
          "error: node 'a': data.timeoutMs: timeoutMs must be an integer >= 1 (got -1) "
          "[invalid_value]",
          "error: node 'a': data.retries: retries must be an integer in [0, 10] (got 11) "
          "[invalid_value]",
          "error: node 'a': data.fallbacks[0].model: model is required (a model id) "
          "[missing_field]",
      }));
}

// A long value quoted in a message is cut, never inside a UTF-8 sequence (the server answers
// these messages as JSON, which must be valid UTF-8).
TEST(Validate, QuotedValuesAreCutOnCharacterBoundaries) {
  // "\"" + 35 x 'a' + "é" puts the 2-byte é across the 37-byte cut.
  const std::string data = R"({"provider":"p","model":"m","jsonMode":")" + std::string(35, 'a') +
                           "\xc3\xa9" + std::string(10, 'b') + R"("})";
  const auto lines =
      problems(doc({node("in", "input"), node("a", "llm", data), node("out", "output")},
                   {edge("e1", "in", "a"), edge("e2", "a", "out")}));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("(\"" + std::string(35, 'a') + "...)"), std::string::npos) << lines[0];
}

TEST(Validate, RouterRoutesNeedEdges) {
  const std::string router = R"({"routes":[{"label":"bug","op":"contains","value":"crash"},
      {"label":"idea","op":"regex","value":"(unclosed"}],"defaultRoute":"other"})";
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("r", "router", router), node("a", "llm", kLlm),
                    node("out", "output")},
                   {edge("e1", "in", "r"), edge("e2", "r", "a", "bug"),
                    edge("e3", "r", "a", "typo"), edge("e4", "r", "a"), edge("e5", "a", "out")})),
      (Lines{
          "error: node 'r': data.routes[1].value: bad regular expression \"(unclosed\": "
          "Mismatched '(' and ')' in regular expression [invalid_value]",
          "error: edge 'e3': sourceHandle: sourceHandle \"typo\" is not a branch of router "
          "\"r\" (branches: \"bug\", \"other\") [unknown_handle]",
          "error: edge 'e4': sourceHandle: edges leaving router \"r\" need a sourceHandle "
          "naming a branch (\"bug\", \"other\") [missing_handle]",
          "error: node 'r': data.defaultRoute: defaultRoute \"other\" has no outgoing edge "
          "(give an edge sourceHandle \"other\") [route_without_edge]",
      }));
  const std::string no_default = R"({"routes":[{"label":"bug","op":"contains","value":"crash"}]})";
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("r", "router", no_default), node("out", "output")},
                   {edge("e1", "in", "r")})),
      (Lines{"error: node 'out': node \"out\" cannot be reached from an input node "
             "[unreachable]",
             "error: node 'r': data.routes[0].label: route \"bug\" has no outgoing edge (give "
             "an edge sourceHandle \"bug\") [route_without_edge]",
             "warning: node 'in': the output of node \"in\" never reaches an output node "
             "[dead_end]",
             "warning: node 'r': the output of node \"r\" never reaches an output node "
             "[dead_end]",
             "warning: node 'r': data.defaultRoute: no defaultRoute: the run fails when no "
             "route matches [no_default_route]"}));
}

TEST(Validate, ClassifyRouter) {
  const std::string router = R"({"mode":"classify","labels":["a",{"label":"b"},""]})";
  EXPECT_EQ(problems(doc({node("in", "input"), node("r", "router", router), node("out", "output")},
                         {edge("e1", "in", "r"), edge("e2", "r", "out", "a")})),
            (Lines{
                "error: node 'r': data.provider: provider is required (a provider id for the "
                "classification call) [missing_field]",
                "error: node 'r': data.model: model is required (a model id for the "
                "classification call) [missing_field]",
                "error: node 'r': data.labels[2]: labels[2] must not be empty [invalid_value]",
                "error: node 'r': data.labels[1]: label \"b\" has no outgoing edge (give an edge "
                "sourceHandle \"b\") [route_without_edge]",
            }));
}

TEST(Validate, MapBodies) {
  const std::string map_data = R"({"concurrency":2})";
  const std::string item =
      R"({"provider":"p","model":"m","prompt":"Summarise {{item}} for {{nodes.in.output}}"})";
  // A good map: body "sum" → "tidy", item reference, outer reference to an upstream node.
  EXPECT_EQ(
      problems(doc({node("in", "input"), node("m", "map", map_data),
                    node("sum", "llm", item, R"(,"parentId":"m")"),
                    node("tidy", "transform", R"({"op":"trim"})", R"(,"parentId":"m")"),
                    node("out", "output")},
                   {edge("e1", "in", "m"), edge("e2", "sum", "tidy"), edge("e3", "m", "out")})),
      Lines{});
  // No body; a body with two sinks, an edge crossing the boundary, and an outside reference to a
  // body node.
  const std::string outside = R"({"template":"{{nodes.sum.output}}"})";
  EXPECT_EQ(
      problems(
          doc({node("in", "input"), node("m", "map", map_data), node("empty", "map"),
               node("sum", "llm", item, R"(,"parentId":"m")"),
               node("other", "llm", kLlm, R"(,"parentId":"m")"), node("out", "output", outside)},
              {edge("e1", "in", "m"), edge("e2", "m", "out"), edge("e3", "in", "empty"),
               edge("e4", "empty", "out"), edge("e5", "other", "out")})),
      (Lines{
          "error: edge 'e5': source: edge leaves the body of map \"m\" to \"out\"; connect the map "
          "node itself instead [edge_out_of_map_body]",
          "error: node 'm': the body of map \"m\" must end in exactly one node whose output is "
          "collected (found 2: \"sum\", \"other\") [map_body_sink]",
          "error: node 'empty': map \"empty\" has no body: give the nodes to run per item parentId "
          "\"empty\" [map_without_body]",
          "error: node 'out': data.template: {{nodes.sum.output}}: node \"sum\" is inside map "
          "\"m\": its output exists only per item, inside that map [bad_reference]",
      }));
}

TEST(Validate, OnErrorBranch) {
  const std::string branch = R"({"provider":"p","model":"m","onError":"branch"})";
  EXPECT_EQ(problems(doc({node("in", "input"), node("a", "llm", kLlm), node("out", "output")},
                         {edge("e1", "in", "a"), edge("e2", "a", "out", "error")})),
            (Lines{"error: edge 'e2': sourceHandle: sourceHandle \"error\" is only taken when node "
                   "\"a\" has onError \"branch\" [unknown_handle]"}));
  EXPECT_EQ(problems(doc({node("in", "input"), node("a", "llm", branch), node("out", "output")},
                         {edge("e1", "in", "a"), edge("e2", "a", "out")})),
            (Lines{"warning: node 'a': data.onError: onError is \"branch\" but no edge leaves with "
                   "sourceHandle \"error\"; a failure will end every path through this node "
                   "[missing_error_branch]"}));
}

TEST(Validate, TransformAndMergeData) {
  EXPECT_EQ(problems(doc({node("in", "input"), node("t", "transform", R"({"op":"truncate"})"),
                          node("u", "transform", R"({"op":"json_extract","path":"a..b"})"),
                          node("v", "transform", R"({"op":"explode"})"),
                          node("mg", "merge", R"({"mode":"any"})"), node("out", "output")},
                         {edge("e1", "in", "t"), edge("e2", "t", "u"), edge("e3", "u", "v"),
                          edge("e4", "v", "mg"), edge("e5", "mg", "out")})),
            (Lines{
                "error: node 't': data.maxTokens: maxTokens is required (a positive integer) "
                "[missing_field]",
                "error: node 'u': data.path: bad JSON path \"a..b\": empty key at offset 2 "
                "[invalid_value]",
                "error: node 'v': data.op: op must be one of \"template\", \"json_extract\", "
                "\"regex_extract\", \"split\", \"join\", \"trim\", \"uppercase\", \"lowercase\", "
                "\"truncate\" (got \"explode\") [invalid_value]",
                "error: node 'mg': data.mode: mode must be one of \"all\", \"first\" (got \"any\") "
                "[invalid_value]",
                "warning: node 'mg': merge \"mg\" has fewer than two incoming edges "
                "[merge_single_input]",
            }));
}

TEST(Validate, ProblemJson) {
  const auto ps = validate_document(doc({node("in", "input")}, {}));
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(
      boost::json::serialize(ps[0].to_json()),
      R"({"severity":"error","code":"missing_output","message":"the workflow has no output node","field":"nodes"})");
}

}  // namespace
}  // namespace chorus
