// Reading and writing documents: typed views, exact round-trip, pretty printing, graph structure.
#include <chorus/workflow.hpp>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chorus {
namespace {

Workflow parse_ok(std::string_view text) {
  auto r = Workflow::parse(text);
  EXPECT_TRUE(r.workflow.has_value());
  for (const auto& p : r.problems) {
    if (p.severity == Severity::error) ADD_FAILURE() << p.describe();
  }
  return std::move(*r.workflow);
}

// Editor fields everywhere: top level, nodes, positions, data, edges, nested objects; keys in an
// unusual order; numbers in several forms.
constexpr std::string_view kEditorDoc = R"({
  "viewport": {"x": -12.5, "y": 40, "zoom": 1.25},
  "name": "Editor doc",
  "id": "doc-1",
  "version": 7,
  "nodes": [
    {"type": "input", "id": "in", "data": {"label": "Question"}, "position": {"y": 0, "x": 0},
     "selected": true, "measured": {"width": 150, "height": 40}, "dragging": false},
    {"id": "llm1", "type": "llm", "position": {"x": 250.75, "y": -3e2},
     "data": {"model": "sim-fast", "provider": "simulated", "prompt": "Answer: {{input}}",
              "temperature": 0.7, "maxTokens": 200, "ui": {"color": "#ff0000", "pinned": [1, 2.50]},
              "label": "Answerer"},
     "width": 200, "zIndex": 3, "style": {"border": "1px solid"}},
    {"id": "out", "type": "output", "position": {"x": 500, "y": 0}, "data": {}, "hidden": null}
  ],
  "edges": [
    {"id": "e1", "source": "in", "target": "llm1", "animated": true, "style": {"stroke": "#333"},
     "sourceHandle": null, "label": "q"},
    {"target": "out", "source": "llm1", "id": "e2", "markerEnd": {"type": "arrowclosed"},
     "data": {"note": "final"}}
  ],
  "meta": {"createdBy": "editor", "tags": ["a", "b"], "nested": {"deep": [{"x": 1e-7}]}}
})";

TEST(Document, TypedViews) {
  const auto r = Workflow::parse(kEditorDoc);
  ASSERT_EQ(r.problems.size(), 1u);  // the editor's "ui" inside data is kept, with a warning
  EXPECT_EQ(r.problems[0].describe(),
            "warning: node 'llm1': data.ui: unknown field \"ui\" is ignored (kept in the "
            "document) [unknown_field]");
  const Workflow wf = parse_ok(kEditorDoc);
  EXPECT_EQ(wf.id(), "doc-1");
  EXPECT_EQ(wf.name(), "Editor doc");
  ASSERT_EQ(wf.nodes().size(), 3u);
  ASSERT_EQ(wf.edges().size(), 2u);
  const Node& llm = wf.nodes()[1];
  EXPECT_EQ(llm.kind, NodeKind::llm);
  EXPECT_DOUBLE_EQ(llm.position.x, 250.75);
  EXPECT_DOUBLE_EQ(llm.position.y, -300);
  const auto* d = llm.data_as<LlmData>();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->provider, "simulated");
  EXPECT_EQ(d->model, "sim-fast");
  EXPECT_EQ(d->prompt.source(), "Answer: {{input}}");
  EXPECT_DOUBLE_EQ(*d->temperature, 0.7);
  EXPECT_EQ(*d->max_tokens, 200);
  EXPECT_EQ(d->on_error, OnError::fail);
  EXPECT_EQ(wf.edges()[0].source_handle, "");
  EXPECT_EQ(wf.edges()[1].source, "llm1");
  EXPECT_EQ(wf.find_node("out")->kind, NodeKind::output);
  EXPECT_EQ(wf.find_node("nope"), nullptr);
}

TEST(Document, RoundTripIsExact) {
  const Workflow wf = parse_ok(kEditorDoc);
  const auto original = boost::json::parse(kEditorDoc);
  EXPECT_EQ(boost::json::serialize(wf.to_json()), boost::json::serialize(original));
  EXPECT_EQ(boost::json::serialize(boost::json::parse(wf.to_string())),
            boost::json::serialize(original));
  EXPECT_EQ(wf.to_string(true), pretty_json(original));
  // Key order is kept at every level (the editor's "type" before "id", "target" first, ...).
  const std::string s = wf.to_string();
  EXPECT_LT(s.find("\"viewport\""), s.find("\"name\""));
  EXPECT_LT(s.find("\"type\":\"input\""), s.find("\"id\":\"in\""));
  EXPECT_NE(s.find(R"({"target":"out","source":"llm1","id":"e2")"), std::string::npos);
  EXPECT_NE(s.find(R"("position":{"x":250.75,"y":-300.0})"), std::string::npos);
  EXPECT_NE(s.find(R"({"x":1e-07})"), std::string::npos);
  EXPECT_NE(s.find(R"("hidden":null)"), std::string::npos);
  // Parse the output again: same bytes.
  EXPECT_EQ(parse_ok(s).to_string(), s);
}

TEST(Document, PrettyMatchesPythonJsonDumps) {
  // What python3 -c 'json.dumps(v, indent=2, ensure_ascii=False)' prints for this value.
  const auto v = boost::json::parse(
      R"({"a": [], "b": {}, "c": [1, 2.5, 1.0, 1e-05, 1e16, 123456.789, -0.0001, true, null],
          "d": "é\n\"\u0001", "e": {"f": [{"g": 0.1}]}})");
  EXPECT_EQ(pretty_json(v),
            "{\n"
            "  \"a\": [],\n"
            "  \"b\": {},\n"
            "  \"c\": [\n"
            "    1,\n"
            "    2.5,\n"
            "    1.0,\n"
            "    1e-05,\n"
            "    1e+16,\n"
            "    123456.789,\n"
            "    -0.0001,\n"
            "    true,\n"
            "    null\n"
            "  ],\n"
            "  \"d\": \"é\\n\\\"\\u0001\",\n"
            "  \"e\": {\n"
            "    \"f\": [\n"
            "      {\n"
            "        \"g\": 0.1\n"
            "      }\n"
            "    ]\n"
            "  }\n"
            "}");
}

TEST(Document, UnusableDocuments) {
  auto r = Workflow::parse("{not json");
  EXPECT_FALSE(r.workflow);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].code, "invalid_json");
  r = Workflow::parse("[1,2]");
  EXPECT_FALSE(r.workflow);
  EXPECT_EQ(r.problems.at(0).code, "not_an_object");
  EXPECT_EQ(r.problems[0].message, "a workflow document must be a JSON object, not an array");
  r = Workflow::parse(R"({"edges": []})");
  EXPECT_FALSE(r.workflow);
  EXPECT_EQ(r.problems.at(0).describe(),
            "error: nodes: nodes is required (an array of nodes) [missing_field]");
  r = Workflow::parse(R"({"nodes": {}})");
  EXPECT_FALSE(r.workflow);
  EXPECT_EQ(r.problems.at(0).describe(),
            "error: nodes: nodes must be an array of nodes, not an object ({}) [wrong_type]");
}

TEST(Document, ParseProblemsAreAllCollected) {
  auto r = Workflow::parse(R"({"nodes": [
      {"id": "a", "type": "llm", "data": {"provider": 3, "temperature": "hot", "maxTokens": 0,
                                          "stop": ["", 5], "prompt": "{{input", "onError": "retry",
                                          "max_tokens": 5}},
      {"type": "input", "data": {}},
      7],
    "edges": [{"id": "e", "source": "a"}, {"source": "a", "target": "b"}]})");
  ASSERT_TRUE(r.workflow);  // still usable for the graph checks
  std::vector<std::string> lines;
  for (const auto& p : r.problems)
    lines.push_back(p.describe());
  const std::vector<std::string> expected{
      "error: node 'a': data.provider: provider must be a string, not a number (3) [wrong_type]",
      "error: node 'a': data.model: model is required (a model id) [missing_field]",
      "error: node 'a': data.prompt: unclosed '{{' at offset 0 [template_syntax]",
      "error: node 'a': data.temperature: temperature must be a number in [0, 2], not a string "
      "(\"hot\") [wrong_type]",
      "error: node 'a': data.maxTokens: maxTokens must be an integer >= 1 (got 0) [invalid_value]",
      "error: node 'a': data.stop[0]: stop[0] must be a non-empty string [invalid_value]",
      "error: node 'a': data.stop[1]: stop[1] must be a non-empty string [wrong_type]",
      "error: node 'a': data.onError: onError must be one of \"fail\", \"continue\", \"branch\" "
      "(got \"retry\") [invalid_value]",
      "warning: node 'a': data.max_tokens: unknown field \"max_tokens\" is ignored (kept in the "
      "document) [unknown_field]",
      "error: nodes[1].id: id is required (a unique string) [missing_field]",
      "error: nodes[2]: nodes[2] must be an object {id, type, position, data}, not a number (7) "
      "[wrong_type]",
      "error: edge 'e': target: target is required (the id of the node the edge enters) "
      "[missing_field]",
      "error: edges[1].id: id is required (a unique string) [missing_field]",
  };
  EXPECT_EQ(lines, expected);
}

TEST(Document, DefaultsOfLlmData) {
  const Workflow wf = parse_ok(R"({"nodes":[{"id":"a","type":"llm","position":{"x":0,"y":0},
      "data":{"provider":"p","model":"m"}}],"edges":[]})");
  const auto* d = wf.nodes()[0].data_as<LlmData>();
  EXPECT_EQ(d->prompt.source(), "{{input}}");
  EXPECT_TRUE(d->system_prompt.empty());
  EXPECT_FALSE(d->temperature);
  EXPECT_FALSE(d->json_mode);
  EXPECT_TRUE(d->fallbacks.empty());
}

TEST(Graph, StructureOfALoopAndAMap) {
  const Workflow wf = parse_ok(R"({"nodes":[
      {"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},
      {"id":"write","type":"llm","position":{"x":0,"y":0},"data":{"provider":"p","model":"m"}},
      {"id":"review","type":"llm","position":{"x":0,"y":0},"data":{"provider":"p","model":"m"}},
      {"id":"gate","type":"loop","position":{"x":0,"y":0},"data":{"maxIterations":3}},
      {"id":"each","type":"map","position":{"x":0,"y":0},"data":{}},
      {"id":"sum","type":"llm","parentId":"each","position":{"x":0,"y":0},"data":{"provider":"p","model":"m"}},
      {"id":"short","type":"transform","parentId":"each","position":{"x":0,"y":0},"data":{"op":"trim"}},
      {"id":"out","type":"output","position":{"x":0,"y":0},"data":{}}],
    "edges":[
      {"id":"e1","source":"in","target":"write"},
      {"id":"e2","source":"write","target":"review"},
      {"id":"e3","source":"review","target":"gate"},
      {"id":"e4","source":"gate","target":"write","sourceHandle":"continue"},
      {"id":"e5","source":"gate","target":"each","sourceHandle":"exit"},
      {"id":"e6","source":"sum","target":"short"},
      {"id":"e7","source":"each","target":"out"}]})");
  const Graph& g = wf.graph();
  EXPECT_EQ(g.back_edge, (std::vector<bool>{false, false, false, true, false, false, false}));
  std::vector<std::string> topo;
  for (auto i : g.topo_order)
    topo.push_back(wf.nodes()[i].id);
  EXPECT_EQ(topo, (std::vector<std::string>{"in", "write", "review", "gate", "each", "sum", "short",
                                            "out"}));
  std::vector<std::string> entries;
  for (auto i : g.entry_nodes)
    entries.push_back(wf.nodes()[i].id);
  EXPECT_EQ(entries, (std::vector<std::string>{"in"}));
  EXPECT_EQ(g.map_of[5], 4u);
  EXPECT_EQ(g.map_of[6], 4u);
  EXPECT_EQ(g.map_of[1], Graph::npos);
  EXPECT_EQ(g.map_body[4], (std::vector<std::size_t>{5, 6}));
  EXPECT_EQ(g.loops_of[1], (std::vector<std::size_t>{3}));
  EXPECT_EQ(g.loops_of[3], (std::vector<std::size_t>{3}));
  EXPECT_TRUE(g.loops_of[0].empty());
  EXPECT_TRUE(g.loops_of[4].empty());
  EXPECT_EQ(g.in_edges[1], (std::vector<std::size_t>{0, 3}));
  EXPECT_EQ(wf.predecessors(1), (std::vector<std::size_t>{0, 3}));
  EXPECT_EQ(wf.successors(3), (std::vector<std::size_t>{1, 4}));
  EXPECT_TRUE(wf.reaches(0, 7));
  EXPECT_TRUE(wf.reaches(2, 1));
  EXPECT_FALSE(wf.reaches(7, 0));
  // write waits for e1 only; when e1 is skipped, write is skipped.
  std::vector<bool> skipped(7, false);
  EXPECT_FALSE(all_inputs_skipped(g, 1, skipped));
  skipped[0] = true;
  EXPECT_TRUE(all_inputs_skipped(g, 1, skipped));
  EXPECT_FALSE(all_inputs_skipped(g, 0, skipped));  // no inputs: never skipped by this rule
}

}  // namespace
}  // namespace chorus
