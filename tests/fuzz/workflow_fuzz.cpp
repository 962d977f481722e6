// Fuzzes the workflow document: Workflow::parse, validate(), validate_document(), the lossless
// round trip (to_string / pretty_json) and the sans-IO node operations the executor runs on the
// parsed node data (router conditions, loop decisions, map splitting, transforms).
// Input: the JSON document text.
// Oracles: an unreadable document has problems; every problem has a code and a message; errors
// come before warnings; the graph views have one entry per node/edge and topo_order is a
// permutation; writing the document and reading it back gives the same document (compact and
// pretty forms); validating twice gives the same problems.
#include <chorus/workflow.hpp>

#include "fuzz_util.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

void check_problems(const std::vector<chorus::Problem>& problems) {
  bool seen_warning = false;
  for (const auto& p : problems) {
    CHORUS_FUZZ_CHECK(!p.code.empty());
    CHORUS_FUZZ_CHECK(!p.message.empty());
    (void)p.describe();
    (void)p.to_json();
    if (p.severity == chorus::Severity::warning) seen_warning = true;
  }
  (void)seen_warning;
}

void check_errors_first(const std::vector<chorus::Problem>& problems) {
  bool seen_warning = false;
  for (const auto& p : problems) {
    if (p.severity == chorus::Severity::warning)
      seen_warning = true;
    else
      CHORUS_FUZZ_CHECK(!seen_warning);
  }
}

bool same_problems(const std::vector<chorus::Problem>& a, const std::vector<chorus::Problem>& b,
                   bool compare_messages = true) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].code != b[i].code || (compare_messages && a[i].message != b[i].message) ||
        a[i].node_id != b[i].node_id || a[i].edge_id != b[i].edge_id || a[i].field != b[i].field ||
        a[i].severity != b[i].severity)
      return false;
  return true;
}

// Equality of two JSON values, key order included, doubles within a few ULPs: Boost.JSON 1.81
// does not round numbers of more than 17 significant digits correctly, so the shortest form of a
// parsed double may read back one ULP away (see docs/reliability.md, "Fuzzing").
bool same_json(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() || b.is_double()) {
    if (!a.is_number() || !b.is_number()) return false;
    double x = a.to_number<double>();
    double y = b.to_number<double>();
    if (x == y) return true;
    return std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& o = a.get_object();
    const auto& p = b.get_object();
    if (o.size() != p.size()) return false;
    for (auto i = o.begin(), j = p.begin(); i != o.end(); ++i, ++j)
      if (i->key() != j->key() || !same_json(i->value(), j->value())) return false;
    return true;
  }
  if (a.is_array()) {
    const auto& o = a.get_array();
    const auto& p = b.get_array();
    if (o.size() != p.size()) return false;
    for (std::size_t i = 0; i < o.size(); ++i)
      if (!same_json(o[i], p[i])) return false;
    return true;
  }
  return a == b;
}

void check_graph(const chorus::Workflow& wf) {
  const auto& g = wf.graph();
  const std::size_t n = wf.nodes().size();
  CHORUS_FUZZ_CHECK(g.in_edges.size() == n && g.out_edges.size() == n && g.map_of.size() == n);
  CHORUS_FUZZ_CHECK(g.back_edge.size() == wf.edges().size());
  std::vector<std::size_t> order = g.topo_order;
  std::sort(order.begin(), order.end());
  CHORUS_FUZZ_CHECK(order.size() == n);
  for (std::size_t i = 0; i < order.size(); ++i)
    CHORUS_FUZZ_CHECK(order[i] == i);
  for (std::size_t e : g.entry_nodes)
    CHORUS_FUZZ_CHECK(e < n);
  for (const auto& ins : g.in_edges)
    for (std::size_t e : ins)
      CHORUS_FUZZ_CHECK(e < wf.edges().size());
}

// Runs what the executor would run on each node, on a small fixed input.
void run_node_ops(const chorus::Workflow& wf) {
  static constexpr std::string_view input =
      "Alpha\nbeta, gamma\n{\"a\": [1, {\"b\": \"c\"}], \"label\": \"yes\"}\n[\"x\", \"y\"]";
  chorus::TemplateLookup lookup =
      [](const chorus::TemplateRef&) -> std::optional<std::string_view> { return input; };
  std::size_t budget = 64;
  for (const auto& node : wf.nodes()) {
    if (budget-- == 0) break;
    if (const auto* r = node.data_as<chorus::RouterData>()) {
      (void)chorus::router_labels(*r);
      (void)chorus::select_route(*r, input);
      (void)chorus::build_classify_prompt(*r, input);
      (void)chorus::match_label(*r, "yes");
    } else if (const auto* l = node.data_as<chorus::LoopData>()) {
      (void)chorus::decide_loop(*l, input, 0);
      (void)chorus::decide_loop(*l, input, 1'000'000);
    } else if (const auto* m = node.data_as<chorus::MapData>()) {
      std::string error;
      auto items = chorus::split_map_items(*m, input, error);
      if (!items)
        CHORUS_FUZZ_CHECK(!error.empty());
      else
        (void)chorus::collect_map_outputs(*m, *items);
    } else if (const auto* t = node.data_as<chorus::TransformData>()) {
      std::string_view inputs[] = {input, "second"};
      std::string out;
      chorus::Error e = chorus::apply_transform(*t, inputs, lookup, out, node.id);
      if (e) CHORUS_FUZZ_CHECK(!e.message.empty());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto parsed = chorus::Workflow::parse(text);
  check_problems(parsed.problems);
  if (!parsed.workflow) {
    CHORUS_FUZZ_CHECK(!parsed.problems.empty());
    CHORUS_FUZZ_CHECK(chorus::has_errors(parsed.problems));
    return 0;
  }
  const chorus::Workflow& wf = *parsed.workflow;
  check_graph(wf);

  auto problems = chorus::validate(wf);
  check_problems(problems);
  check_errors_first(problems);
  CHORUS_FUZZ_CHECK(same_problems(problems, chorus::validate(wf)));

  chorus::ValidationContext ctx;
  ctx.providers["openai"] = {"gpt-4o-mini", "gpt-4o"};
  ctx.providers["anthropic"] = {};
  ctx.unknown_model_severity = chorus::Severity::warning;
  auto with_ctx = chorus::validate(wf, ctx);
  check_problems(with_ctx);
  check_errors_first(with_ctx);

  // Lossless round trip, compact and pretty.
  std::string compact = wf.to_string();
  auto again = chorus::Workflow::parse(compact);
  CHORUS_FUZZ_CHECK(again.workflow.has_value());
  CHORUS_FUZZ_CHECK(same_json(again.workflow->to_json(), wf.to_json()));
  CHORUS_FUZZ_CHECK(again.workflow->nodes().size() == wf.nodes().size());
  CHORUS_FUZZ_CHECK(again.workflow->edges().size() == wf.edges().size());
  CHORUS_FUZZ_CHECK(same_problems(chorus::validate(*again.workflow), problems, false));
  std::string pretty = wf.to_string(true);
  auto from_pretty = chorus::Workflow::parse(pretty);
  CHORUS_FUZZ_CHECK(from_pretty.workflow.has_value());
  CHORUS_FUZZ_CHECK(same_json(from_pretty.workflow->to_json(), wf.to_json()));

  run_node_ops(wf);
  return 0;
}
