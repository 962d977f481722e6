// The template engine: parsing (syntax, references, escapes, errors) and rendering.
#include <chorus/template.hpp>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <map>

namespace chorus {
namespace {

Template parse_ok(std::string_view text) {
  std::string error;
  auto t = parse_template(text, error);
  EXPECT_TRUE(t.has_value()) << text << ": " << error;
  return t ? *t : Template{};
}

std::string parse_error(std::string_view text, std::size_t* offset = nullptr) {
  std::string error;
  auto t = parse_template(text, error, offset);
  EXPECT_FALSE(t.has_value()) << text;
  return error;
}

// Renders with a fixed table of values: "input", "workflow.input", "item", "loop.iteration",
// "nodes.<id>".
struct Values {
  std::map<std::string, std::string> table;
  TemplateLookup lookup() const {
    return [this](const TemplateRef& r) -> std::optional<std::string_view> {
      std::string key;
      switch (r.kind) {
        case TemplateRefKind::input:
          key = "input";
          break;
        case TemplateRefKind::workflow_input:
          key = "workflow.input";
          break;
        case TemplateRefKind::item:
          key = "item";
          break;
        case TemplateRefKind::loop_iteration:
          key = "loop.iteration";
          break;
        case TemplateRefKind::node_output:
          key = "nodes." + r.node_id;
          break;
      }
      auto it = table.find(key);
      if (it == table.end()) return std::nullopt;
      return std::string_view(it->second);
    };
  }
};

std::string render_ok(std::string_view text, const Values& v) {
  std::string out;
  Error e = render_template(parse_ok(text), v.lookup(), out, "n1");
  EXPECT_FALSE(e) << e.message;
  return out;
}

TEST(TemplateParse, LiteralOnly) {
  auto t = parse_ok("Hello, world { not a ref } }} done");
  ASSERT_EQ(t.segments().size(), 1u);
  EXPECT_EQ(std::get<std::string>(t.segments()[0]), "Hello, world { not a ref } }} done");
  EXPECT_TRUE(t.refs().empty());
}

TEST(TemplateParse, EmptyTemplate) {
  auto t = parse_ok("");
  EXPECT_TRUE(t.empty());
  EXPECT_TRUE(t.segments().empty());
}

TEST(TemplateParse, EveryReferenceKind) {
  auto t = parse_ok(
      "a {{input}} b {{ workflow.input }} c {{nodes.draft-1_x.output}} d {{item}} e "
      "{{\tloop.iteration\n}}");
  auto refs = t.refs();
  ASSERT_EQ(refs.size(), 5u);
  EXPECT_EQ(refs[0]->kind, TemplateRefKind::input);
  EXPECT_EQ(refs[1]->kind, TemplateRefKind::workflow_input);
  EXPECT_EQ(refs[1]->source, "{{ workflow.input }}");
  EXPECT_EQ(refs[2]->kind, TemplateRefKind::node_output);
  EXPECT_EQ(refs[2]->node_id, "draft-1_x");
  EXPECT_EQ(refs[3]->kind, TemplateRefKind::item);
  EXPECT_EQ(refs[4]->kind, TemplateRefKind::loop_iteration);
  EXPECT_EQ(t.segments().size(), 10u);
  EXPECT_EQ(std::get<std::string>(t.segments()[0]), "a ");
  EXPECT_EQ(refs[2]->offset, 37u);
}

TEST(TemplateParse, JsonPaths) {
  auto t =
      parse_ok("{{nodes.x.output.json.a.b[0]}}{{input.json}}{{item.json[\"key with space\"][12]}}");
  auto refs = t.refs();
  ASSERT_EQ(refs.size(), 3u);
  ASSERT_TRUE(refs[0]->json);
  ASSERT_EQ(refs[0]->json->steps.size(), 3u);
  EXPECT_EQ(refs[0]->json->steps[0].key, "a");
  EXPECT_EQ(refs[0]->json->steps[1].key, "b");
  EXPECT_EQ(refs[0]->json->steps[2].index, 0u);
  ASSERT_TRUE(refs[1]->json);
  EXPECT_TRUE(refs[1]->json->steps.empty());
  ASSERT_TRUE(refs[2]->json);
  EXPECT_EQ(refs[2]->json->steps[0].key, "key with space");
  EXPECT_EQ(refs[2]->json->steps[1].index, 12u);
}

TEST(TemplateParse, EscapedBraces) {
  auto t = parse_ok(R"(literal \{{input}} and {{input}})");
  ASSERT_EQ(t.refs().size(), 1u);
  EXPECT_EQ(std::get<std::string>(t.segments()[0]), "literal {{input}} and ");
  Values v{{{"input", "X"}}};
  EXPECT_EQ(render_ok(R"(\{{input}} = {{input}})", v), "{{input}} = X");
}

TEST(TemplateParse, Errors) {
  std::size_t offset = 0;
  EXPECT_EQ(parse_error("Hello {{input", &offset), "unclosed '{{' at offset 6");
  EXPECT_EQ(offset, 6u);
  EXPECT_EQ(parse_error("a {{ {{input}}"), "unclosed '{{' at offset 2");
  EXPECT_EQ(parse_error("{{foo}}"),
            "unknown variable 'foo' (known: input, workflow.input, nodes.<id>.output, item, "
            "loop.iteration) at offset 0");
  EXPECT_EQ(parse_error("x {{ inputs }}"),
            "unknown variable 'inputs' (known: input, workflow.input, nodes.<id>.output, item, "
            "loop.iteration) at offset 2");
  EXPECT_EQ(parse_error("{{}}"), "empty reference '{{}}' at offset 0");
  EXPECT_EQ(parse_error("{{nodes.x}}"),
            "reference 'nodes.x' must read 'nodes.<id>.output' at offset 0");
  EXPECT_EQ(parse_error("{{nodes.x.outputs}}"),
            "reference 'nodes.x.outputs' must read 'nodes.<id>.output' at offset 0");
  EXPECT_EQ(parse_error("{{nodes.x.output.foo}}"),
            "unexpected '.foo' in reference (expected '.json' and a path) at offset 0");
  EXPECT_EQ(parse_error("{{nodes.x.output.json.a[}}"),
            "bad JSON path '.a[': expected a number or a quoted key inside [] at offset 3 at "
            "offset 0");
  EXPECT_EQ(parse_error("{{loop.iteration.json}}"), "'loop.iteration' takes no path at offset 0");
}

TEST(TemplateRender, Values) {
  Values v{{{"input", "the input"},
            {"workflow.input", "the question"},
            {"nodes.a", "A out"},
            {"item", "one"},
            {"loop.iteration", "2"}}};
  EXPECT_EQ(
      render_ok("[{{input}}|{{workflow.input}}|{{ nodes.a.output }}|{{item}}|{{loop.iteration}}]",
                v),
      "[the input|the question|A out|one|2]");
  EXPECT_EQ(render_ok("no refs", v), "no refs");
}

TEST(TemplateRender, JsonPathValues) {
  Values v{{{"nodes.x", R"({"a": {"b": ["first", 2]}, "n": 1.5, "o": {"k": [1, 2]}, "t": true})"},
            {"nodes.fenced", "Here you go:\n```json\n{\"name\": \"Ada\"}\n```\nthanks"},
            {"nodes.embedded", "The answer is {\"score\": 7} as requested."}}};
  EXPECT_EQ(render_ok("{{nodes.x.output.json.a.b[0]}}", v), "first");
  EXPECT_EQ(render_ok("{{nodes.x.output.json.a.b[1]}}", v), "2");
  EXPECT_EQ(render_ok("{{nodes.x.output.json.n}}", v), "1.5");
  EXPECT_EQ(render_ok("{{nodes.x.output.json.o}}", v), R"({"k":[1,2]})");
  EXPECT_EQ(render_ok("{{nodes.x.output.json.t}}", v), "true");
  EXPECT_EQ(render_ok("{{nodes.fenced.output.json.name}}", v), "Ada");
  EXPECT_EQ(render_ok("{{nodes.embedded.output.json.score}}", v), "7");
}

TEST(TemplateRender, MissingValueNamesNodeAndReference) {
  Values v;
  std::string out;
  Error e = render_template(parse_ok("x {{nodes.critic.output}}"), v.lookup(), out, "writer");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code, make_error_code(errc::invalid_workflow));
  EXPECT_EQ(e.node_id, "writer");
  EXPECT_EQ(e.message,
            "node 'writer': template reference {{nodes.critic.output}}: no value (that node has "
            "not produced an output)");
}

TEST(TemplateRender, NotJsonAndMissingPath) {
  Values v{{{"nodes.a", "plain words"}, {"nodes.b", R"({"x": 1})"}}};
  std::string out;
  Error e = render_template(parse_ok("{{nodes.a.output.json.x}}"), v.lookup(), out, "n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.message,
            "node 'n': template reference {{nodes.a.output.json.x}}: the text is not JSON (starts "
            "with \"plain words\")");
  out.clear();
  e = render_template(parse_ok("{{nodes.b.output.json.y[0]}}"), v.lookup(), out, "n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.message,
            "node 'n': template reference {{nodes.b.output.json.y[0]}}: path '.y[0]' not found in "
            "the JSON");
}

TEST(JsonPath, ParseForms) {
  std::string error;
  auto p = parse_json_path("$.a.b[3]", error);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->steps.size(), 3u);
  auto q = parse_json_path("a.b[3]", error);
  ASSERT_TRUE(q);
  EXPECT_EQ(*p, *q);
  auto r = parse_json_path("['it''s'][0]", error);
  EXPECT_FALSE(r);
  auto s = parse_json_path("[\"a.b\"]", error);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->steps[0].key, "a.b");
  EXPECT_TRUE(parse_json_path("", error)->steps.empty());
  EXPECT_FALSE(parse_json_path("a..b", error));
  EXPECT_EQ(error, "empty key at offset 2");
  EXPECT_FALSE(parse_json_path("a[x]", error));
  EXPECT_FALSE(parse_json_path("a b", error));
}

TEST(JsonPath, Find) {
  auto v = boost::json::parse(R"({"a": [10, {"b": null}], "c": "s"})");
  std::string error;
  EXPECT_EQ(find_json_path(v, *parse_json_path("a[0]", error))->as_int64(), 10);
  EXPECT_TRUE(find_json_path(v, *parse_json_path("a[1].b", error))->is_null());
  EXPECT_EQ(find_json_path(v, *parse_json_path("a[2]", error)), nullptr);
  EXPECT_EQ(find_json_path(v, *parse_json_path("c.d", error)), nullptr);
  EXPECT_EQ(find_json_path(v, *parse_json_path("c[0]", error)), nullptr);
}

TEST(JsonLenient, Forms) {
  EXPECT_EQ(boost::json::serialize(*parse_json_lenient("  [1, 2] ")), "[1,2]");
  EXPECT_EQ(boost::json::serialize(*parse_json_lenient("```\n{\"a\":1}\n```")), R"({"a":1})");
  EXPECT_EQ(boost::json::serialize(*parse_json_lenient("Sure! [\"x\", \"y\"] done")),
            R"(["x","y"])");
  EXPECT_FALSE(parse_json_lenient("no json here"));
  EXPECT_FALSE(parse_json_lenient(""));
  EXPECT_FALSE(parse_json_lenient("{broken"));
}

}  // namespace
}  // namespace chorus
