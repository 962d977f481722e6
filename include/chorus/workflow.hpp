// The workflow document: a graph of nodes and edges in React Flow's shape (id, type, position,
// data), read from and written back to JSON exactly, validated all at once, and the sans-IO
// pieces the executor runs (templates, transforms, router conditions, loop and map helpers).
// The document format is described in docs/workflows.md and docs/workflow.schema.json.
//
// The JSON is the source of truth: a Workflow keeps every object it was read from, so to_json()
// gives back the document byte for byte (unknown fields and key order included) and the typed
// views below are derived from it at parse time. To change a document, change its JSON and parse
// it again (Workflow::from_json(edited)).
#pragma once

#include <chorus/config.hpp>
#include <chorus/error.hpp>
#include <chorus/template.hpp>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chorus {

// ---------------------------------------------------------------------------------------------
// Problems

/// How bad a problem is: errors make the workflow unrunnable, warnings do not.
enum class Severity { error, warning };
CHORUS_API std::string_view to_string(Severity s) noexcept;

/// One thing wrong with a document. Stable `code`s are listed in docs/workflows.md.
struct CHORUS_API Problem {
  Severity severity = Severity::error;
  std::string code;     ///< Stable snake_case id: "dangling_edge", "invalid_value", ...
  std::string message;  ///< A sentence for people; never contains an API key.
  std::string node_id;  ///< The node concerned, or empty.
  std::string edge_id;  ///< The edge concerned, or empty.
  std::string field;    ///< Path of the field inside the node/edge/document: "data.temperature".

  /// One line: "error: node 'draft': data.temperature: temperature must be ... [invalid_value]".
  std::string describe() const;
  /// {"severity","code","message","nodeId"?,"edgeId"?,"field"?}.
  boost::json::value to_json() const;
};

/// True when any problem is an error.
CHORUS_API bool has_errors(std::span<const Problem> problems) noexcept;

// ---------------------------------------------------------------------------------------------
// Conditions (router routes, loop exit)

enum class ConditionOp {
  contains,     ///< text contains `value`
  equals,       ///< text (trimmed) equals `value` (trimmed)
  regex,        ///< ECMAScript regex `value` matches somewhere in text
  json_field,   ///< text parses as JSON; the value at `path` exists and, when `value` is given,
                ///< its text (strings unquoted) equals `value`; without `value` it must be truthy
  starts_with,  ///< text (left-trimmed) starts with `value`
};
CHORUS_API std::string_view to_string(ConditionOp op) noexcept;

/// A test on a node's input text.
struct Condition {
  ConditionOp op = ConditionOp::contains;
  std::optional<std::string> value;            ///< Required except for json_field.
  std::optional<JsonPath> path;                ///< json_field only (required there).
  bool ignore_case = false;                    ///< contains / equals / starts_with / regex.
  std::shared_ptr<const std::regex> compiled;  ///< regex only, compiled at parse time.
};

/// Evaluates `c` on `text`. json_field on text that is not JSON is simply false.
CHORUS_API bool evaluate_condition(const Condition& c, std::string_view text);

// ---------------------------------------------------------------------------------------------
// Node data, one struct per kind (camelCase on the wire, snake_case here)

enum class NodeKind { input, output, llm, transform, router, merge, loop, map, unknown };
CHORUS_API std::string_view to_string(NodeKind k) noexcept;
/// NodeKind for a document `type`; NodeKind::unknown when not a known kind.
CHORUS_API NodeKind node_kind_from_string(std::string_view type) noexcept;

/// `input`: receives the run's input text. data: { defaultValue? }.
struct InputData {
  std::optional<std::string> default_value;  ///< Used when the run's input is empty.
};

/// `output`: the workflow's result. data: { template? } (default: `{{input}}`).
struct OutputData {
  std::optional<Template> output_template;
};

/// A provider/model pair (fallback chains).
struct ModelRef {
  std::string provider;
  std::string model;
};

/// What an llm node does when its call fails for good (after retries and fallbacks).
enum class OnError {
  fail,       ///< "fail": the run fails.
  continue_,  ///< "continue": the node succeeds with `defaultOutput` (or "") and the run goes on.
  branch,     ///< "branch": only the edges with sourceHandle "error" are taken; the output is
              ///< the error message.
};
CHORUS_API std::string_view to_string(OnError e) noexcept;

/// `llm`: one chat call.
struct LlmData {
  std::string provider;                    ///< Provider id ("openai", "simulated", ...). Required.
  std::string model;                       ///< Model id. Required.
  Template system_prompt;                  ///< "systemPrompt"; empty = none.
  Template prompt;                         ///< "prompt"; default `{{input}}`.
  std::optional<double> temperature;       ///< [0, 2].
  std::optional<std::int64_t> max_tokens;  ///< "maxTokens" >= 1.
  std::vector<std::string> stop;           ///< "stop": up to 16 non-empty strings.
  bool json_mode = false;                  ///< "jsonMode".
  std::optional<std::int64_t> timeout_ms;  ///< "timeoutMs" >= 1.
  std::optional<int> retries;              ///< "retries" in [0, 10]: extra attempts per model.
  std::vector<ModelRef> fallbacks;         ///< "fallbacks": tried in order after the main model.
  OnError on_error = OnError::fail;        ///< "onError".
  std::optional<std::string> default_output;  ///< "defaultOutput": output on error + continue.
};

/// Transform operations.
enum class TransformOp {
  template_,      ///< "template": render `template`.
  json_extract,   ///< "json_extract": the value at `path` of the input's JSON.
  regex_extract,  ///< "regex_extract": capture `group` (default 0) of the first match of `pattern`.
  split,          ///< "split": input split by `separator` (default "\n"), as a JSON array string.
  join,           ///< "join": a JSON-array input's items (else the inputs) joined by `separator`.
  trim,           ///< "trim": strip leading/trailing whitespace.
  uppercase,      ///< "uppercase": ASCII upper case.
  lowercase,      ///< "lowercase": ASCII lower case.
  truncate,       ///< "truncate": at most `maxTokens` tokens (sim::estimate_tokens' estimate).
};
CHORUS_API std::string_view to_string(TransformOp op) noexcept;

/// `transform`: a pure text operation, no model call.
struct TransformData {
  TransformOp op = TransformOp::template_;
  Template transform_template;              ///< op template: "template" (required).
  std::optional<JsonPath> path;             ///< op json_extract: "path" (required).
  std::string pattern;                      ///< op regex_extract: "pattern" (required).
  std::shared_ptr<const std::regex> regex;  ///< `pattern` compiled at parse time.
  int group = 0;                            ///< op regex_extract: "group" >= 0.
  std::string separator = "\n";             ///< op split / join: "separator".
  bool skip_empty = true;                   ///< op split: "skipEmpty": drop blank items.
  std::int64_t max_tokens = 0;              ///< op truncate: "maxTokens" >= 1 (required).
};

enum class RouterMode { condition, classify };

/// A branch of a condition router: taken when `condition` matches.
struct Route {
  std::string label;  ///< Matches the sourceHandle of the outgoing edges of this branch.
  Condition condition;
};

/// A label of a classify router, with an optional description given to the model.
struct ClassLabel {
  std::string label;
  std::string description;
};

/// `router`: chooses one outgoing branch. Outgoing edges whose sourceHandle equals the chosen
/// label are taken; the others are skipped. Its output is its input, unchanged.
struct RouterData {
  RouterMode mode = RouterMode::condition;
  std::vector<Route> routes;                 ///< condition mode: first match wins.
  std::optional<std::string> default_route;  ///< "defaultRoute": when nothing matches.
  // classify mode:
  std::string provider;               ///< Required in classify mode.
  std::string model;                  ///< Required in classify mode.
  std::vector<ClassLabel> labels;     ///< "labels": strings or {label, description}.
  std::string instructions;           ///< Extra guidance added to the classification prompt.
  std::optional<double> temperature;  ///< Default 0.
};

/// The branch labels a router can choose (routes or labels, plus defaultRoute).
CHORUS_API std::vector<std::string> router_labels(const RouterData& r);

/// condition mode: the label of the first route whose condition matches `input`, else
/// defaultRoute, else nullopt (the router then fails).
CHORUS_API std::optional<std::string> select_route(const RouterData& r, std::string_view input);

/// classify mode: the system and user prompts of the classification call.
struct ClassifyPrompt {
  std::string system;
  std::string user;
};
CHORUS_API ClassifyPrompt build_classify_prompt(const RouterData& r, std::string_view input);

/// classify mode: the label the model's `answer` names (exact, then case-insensitive, then the
/// label that appears first in the answer as a whole word), else defaultRoute, else nullopt.
CHORUS_API std::optional<std::string> match_label(const RouterData& r, std::string_view answer);

enum class MergeMode { all, first };

/// `merge`: waits for all its (non-skipped) inputs, or for the first one to finish.
struct MergeData {
  MergeMode mode = MergeMode::all;
  std::optional<Template> merge_template;  ///< "template"; default: inputs joined by "\n\n".
};

/// `loop`: caps a cycle. Each time it runs it either sends its output back through the edges with
/// sourceHandle "continue" or out through the edges with sourceHandle "exit".
struct LoopData {
  std::int64_t max_iterations = 0;          ///< "maxIterations" >= 1 (required): times "continue"
                                            ///< may be taken; the next visit exits.
  std::optional<Condition> exit_condition;  ///< "exitCondition" on the loop's input: exit early.
  std::optional<Template> loop_template;    ///< "template": the output; default `{{input}}`.
};

/// What a loop node decides on a visit.
enum class LoopDecision { continue_, exit_condition_met, exit_max_iterations };
/// `continues_so_far` = times this loop already took "continue" in this run.
CHORUS_API LoopDecision decide_loop(const LoopData& l, std::string_view input,
                                    std::int64_t continues_so_far);

enum class ItemsFormat { lines, separator, json };
enum class CollectMode { join, json };

/// `map`: runs its body (the nodes whose parentId is the map) once per item, at most
/// `concurrency` at a time, then collects the body's outputs in item order.
struct MapData {
  ItemsFormat items_format = ItemsFormat::lines;  ///< "itemsFormat": lines | separator | json.
  std::string separator = "\n";                   ///< itemsFormat separator: "separator".
  std::int64_t concurrency = 4;                   ///< "concurrency" >= 1.
  std::optional<std::int64_t> max_items;          ///< "maxItems": fail when there are more items.
  CollectMode collect = CollectMode::join;        ///< "collect": join | json.
  std::string join_separator = "\n\n";            ///< "joinSeparator".
};

/// The items of a map's input. Fails (nullopt, a sentence in `error`) when itemsFormat is json and
/// the input holds no JSON array, or when there are more than maxItems items. Items are trimmed
/// and blank items dropped for lines/separator; JSON strings are unquoted and other JSON values
/// serialised compactly.
CHORUS_API std::optional<std::vector<std::string>> split_map_items(const MapData& m,
                                                                   std::string_view input,
                                                                   std::string& error);
/// The map's output from the body outputs, in item order.
CHORUS_API std::string collect_map_outputs(const MapData& m, std::span<const std::string> outputs);

/// A node whose `type` is not a known kind (kept so the document round-trips; validate() flags it).
struct UnknownData {};

using NodeData = std::variant<InputData, OutputData, LlmData, TransformData, RouterData, MergeData,
                              LoopData, MapData, UnknownData>;

// ---------------------------------------------------------------------------------------------
// Transforms (sans-IO; the executor calls these)

/// Runs a transform. `inputs` are the upstream outputs in edge order; `lookup` serves the
/// template references (op template). On failure the returned Error is set (errc::invalid_argument
/// for bad input such as non-JSON for json_extract, node_id = `node_id`) and `out` is unspecified.
CHORUS_API Error apply_transform(const TransformData& t, std::span<const std::string_view> inputs,
                                 const TemplateLookup& lookup, std::string& out,
                                 std::string_view node_id = {});

/// Joins upstream outputs the way `{{input}}` does: "\n\n" between them, in edge order.
CHORUS_API std::string join_inputs(std::span<const std::string_view> inputs);

// ---------------------------------------------------------------------------------------------
// The document

/// A node's position on the editor canvas.
struct Position {
  double x = 0;
  double y = 0;
};

struct Node {
  std::string id;
  std::string type;  ///< As written ("llm", ...).
  NodeKind kind = NodeKind::unknown;
  Position position;
  std::string parent_id;     ///< "parentId" (React Flow sub-flows): the map it belongs to.
  NodeData data;             ///< Typed view of "data".
  boost::json::object json;  ///< The node object exactly as read.

  template <class T>
  const T* data_as() const noexcept {
    return std::get_if<T>(&data);
  }
};

struct Edge {
  std::string id;
  std::string source;
  std::string target;
  std::string source_handle;  ///< "sourceHandle"; empty when absent or null.
  std::string target_handle;  ///< "targetHandle"; empty when absent or null.
  boost::json::object json;   ///< The edge object exactly as read.
};

/// The graph structure the executor schedules by. Indices are positions in nodes()/edges().
struct Graph {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::vector<std::vector<std::size_t>> in_edges;   ///< Per node: incoming edge indices, in
                                                    ///< document order. Dangling edges excluded.
  std::vector<std::vector<std::size_t>> out_edges;  ///< Per node: outgoing edge indices.
  std::vector<bool> back_edge;  ///< Per edge: closes a cycle (a DFS back edge from the entry
                                ///< nodes in document order). A node waits only for its
                                ///< non-back incoming edges; back edges re-run it.
  std::vector<std::size_t> topo_order;   ///< All nodes, topologically sorted ignoring back edges
                                         ///< (document order among equals).
  std::vector<std::size_t> entry_nodes;  ///< Nodes without non-back incoming edges, outside any
                                         ///< map body (input nodes first).
  std::vector<std::size_t> map_of;       ///< Per node: the map node whose body it is in, or npos.
  std::vector<std::vector<std::size_t>> map_body;  ///< Per map node: its body nodes, topo order.
  std::vector<std::vector<std::size_t>> loops_of;  ///< Per node: the loop nodes whose cycle
                                                   ///< contains it (its strongly connected
                                                   ///< component's loop nodes).
};

/// Per node: true when every non-back incoming edge is skipped (given per edge `edge_skipped`).
/// Nodes without incoming edges are never skipped by this rule.
CHORUS_API bool all_inputs_skipped(const Graph& g, std::size_t node,
                                   const std::vector<bool>& edge_skipped);

class Workflow;
struct ParseResult;

/// What validate() knows about the world.
struct ValidationContext {
  /// Known provider ids and their models. An empty model list accepts any model. When the map is
  /// empty, provider and model ids are not checked.
  std::map<std::string, std::vector<std::string>, std::less<>> providers;
  /// Severity of a model id missing from its provider's list. Use Severity::warning when the
  /// lists come from a price table that may lag behind a vendor's newest models.
  Severity unknown_model_severity = Severity::error;
};

class CHORUS_API Workflow {
 public:
  /// Reads a document from JSON text.
  static ParseResult parse(std::string_view json);
  /// Reads a document from a JSON value.
  static ParseResult from_json(const boost::json::value& json);

  const std::string& id() const noexcept { return id_; }
  const std::string& name() const noexcept { return name_; }
  const std::string& description() const noexcept { return description_; }
  const std::vector<Node>& nodes() const noexcept { return nodes_; }
  const std::vector<Edge>& edges() const noexcept { return edges_; }
  const Graph& graph() const noexcept { return graph_; }

  /// The node with that id (the first, if duplicated), or nullptr.
  const Node* find_node(std::string_view id) const noexcept;
  /// Index in nodes() of the node with that id, or Graph::npos.
  std::size_t node_index(std::string_view id) const noexcept;
  /// Indices of the nodes with an edge into / out of node `index` (non-dangling), edge order.
  std::vector<std::size_t> predecessors(std::size_t index) const;
  std::vector<std::size_t> successors(std::size_t index) const;
  /// Whether node `a` can reach node `b` through edges (a path of length >= 1).
  bool reaches(std::size_t a, std::size_t b) const;

  /// Problems found while reading (see ParseResult::problems).
  const std::vector<Problem>& parse_problems() const noexcept { return parse_problems_; }

  /// The document exactly as read: same keys, same order, unknown fields kept.
  boost::json::value to_json() const;
  /// to_json() serialised: compact, or indented by 2 spaces (Python's json.dumps(indent=2) style,
  /// the format of the shipped examples).
  std::string to_string(bool pretty = false) const;

 private:
  friend struct WorkflowReader;
  std::string id_, name_, description_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  Graph graph_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<std::vector<bool>> reach_;  // reach_[a][b]: a reaches b
  std::vector<Problem> parse_problems_;
  boost::json::object json_;
};

/// The result of reading a document: the workflow, unless the document is unusable (not JSON, not
/// an object, `nodes` missing or not an array, `edges` not an array). `problems` lists everything
/// found while reading (bad field types, bad templates, nodes or edges that are not objects or
/// have no id, which are left out), all at once; validate() reports them again. A workflow is
/// runnable only when validate() has no errors.
struct ParseResult {
  std::optional<Workflow> workflow;
  std::vector<Problem> problems;
};

/// Every problem of `wf` at once: the parse problems plus duplicate ids, dangling edges, missing
/// input/output nodes, unknown node types, unknown providers/models (per `ctx`), template
/// references to nodes that are not upstream or to unknown variables, cycles without a loop
/// node, unreachable nodes, router routes with no edge, loops without maxIterations, maps
/// without a body, ... Errors first in document order, then warnings.
CHORUS_API std::vector<Problem> validate(const Workflow& wf, const ValidationContext& ctx = {});

/// Parses and validates JSON text: the parse problems, then (when a workflow could be read) the
/// graph problems. What `chorus validate` prints.
CHORUS_API std::vector<Problem> validate_document(std::string_view json,
                                                  const ValidationContext& ctx = {});

/// Serialises a JSON value indented by 2 spaces like Python's json.dumps(indent=2,
/// ensure_ascii=False): numbers as written by the shortest round-trip form ("0.7", "1.0").
CHORUS_API std::string pretty_json(const boost::json::value& v);

}  // namespace chorus
