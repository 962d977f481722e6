// Prompt templates: a tiny sans-IO template engine. A template is parsed once into segments
// (literal text and references such as `{{nodes.draft.output}}`) and rendered many times with a
// lookup callback that supplies the referenced text. See docs/workflows.md, "Templates".
#pragma once

#include <chorus/config.hpp>
#include <chorus/error.hpp>

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chorus {

/// One step of a JSON path: an object key or an array index.
struct JsonPathStep {
  std::string key;        ///< The object key, when !is_index.
  std::size_t index = 0;  ///< The array index, when is_index.
  bool is_index = false;
  bool operator==(const JsonPathStep&) const = default;
};

/// A path into a JSON value: `a.b[0]`, `$.a.b[0]`, `["key with spaces"][2]`.
struct JsonPath {
  std::vector<JsonPathStep> steps;  ///< Empty: the whole value.
  std::string text;                 ///< As written, for messages.
  bool operator==(const JsonPath& o) const { return steps == o.steps; }
};

/// Parses `a.b[0]`, `.a.b`, `$.a["x y"][3]`. An empty string is the empty path (the whole value).
/// Returns nullopt and sets `error` (a short sentence) when malformed.
CHORUS_API std::optional<JsonPath> parse_json_path(std::string_view text, std::string& error);

/// The value at `path` inside `root`, or nullptr when a step does not exist.
CHORUS_API const boost::json::value* find_json_path(const boost::json::value& root,
                                                    const JsonPath& path) noexcept;

/// Parses the JSON an LLM wrote: the whole text; else the body of a ```json fenced block; else the
/// text from the first '{' or '[' to the last matching '}' or ']'. nullopt when none parses.
CHORUS_API std::optional<boost::json::value> parse_json_lenient(std::string_view text);

/// A JSON value as template text: strings unquoted, everything else serialised compactly.
CHORUS_API std::string json_to_text(const boost::json::value& v);

/// What a `{{ ... }}` reference names.
enum class TemplateRefKind {
  input,           ///< `{{input}}`: this node's upstream outputs, joined by "\n\n" in edge order.
  workflow_input,  ///< `{{workflow.input}}`: the run's input text.
  node_output,     ///< `{{nodes.<id>.output}}`: the latest output of node <id>.
  item,            ///< `{{item}}`: the current item, inside a map body.
  loop_iteration,  ///< `{{loop.iteration}}`: 1 + times the enclosing loop has continued.
};

/// One reference of a template.
struct TemplateRef {
  TemplateRefKind kind = TemplateRefKind::input;
  std::string node_id;           ///< node_output only.
  std::optional<JsonPath> json;  ///< `... .json<path>`: parse the text as JSON, take the path.
  std::string source;            ///< The whole reference as written, braces included.
  std::size_t offset = 0;        ///< Byte offset of the reference in the template source.
};

/// A parsed template: literal text and references, in order.
class CHORUS_API Template {
 public:
  using Segment = std::variant<std::string, TemplateRef>;

  Template() = default;

  /// The template text as written.
  const std::string& source() const noexcept { return source_; }
  /// Literal strings (with `\{{` already unescaped) and references, in order.
  const std::vector<Segment>& segments() const noexcept { return segments_; }
  /// The references only, in order.
  std::vector<const TemplateRef*> refs() const;
  /// True when the source is empty.
  bool empty() const noexcept { return source_.empty(); }

  friend CHORUS_API std::optional<Template> parse_template(std::string_view, std::string&,
                                                           std::size_t*);

 private:
  std::string source_;
  std::vector<Segment> segments_;
};

/// Parses a template. Syntax: `{{ ref }}` with optional whitespace inside the braces; `\{{` is a
/// literal `{{`. Refs: input, workflow.input, item, loop.iteration, nodes.<id>.output, each text
/// ref optionally followed by `.json` and a JSON path (`{{nodes.x.output.json.a.b[0]}}`).
/// On failure returns nullopt, sets `error` to a sentence ("unclosed '{{' at offset 12") and
/// `*error_offset` (when given) to the byte offset of the problem.
CHORUS_API std::optional<Template> parse_template(std::string_view text, std::string& error,
                                                  std::size_t* error_offset = nullptr);

/// A template that renders `{{input}}` (the default prompt of llm nodes).
CHORUS_API const Template& input_template();

/// Supplies the text of a reference (before any `.json` path is applied), or nullopt when it has
/// no value (e.g. the node has not run). The view must stay valid until render_template returns.
using TemplateLookup = std::function<std::optional<std::string_view>(const TemplateRef&)>;

/// Renders `tpl`, appending to `out`. Fails (returns an Error with code errc::invalid_workflow
/// and node_id = `node_id`) when a reference has no value, when the text of a `.json` reference
/// is not JSON, or when its path does not exist; the message names the node and the reference.
CHORUS_API Error render_template(const Template& tpl, const TemplateLookup& lookup,
                                 std::string& out, std::string_view node_id = {});

}  // namespace chorus
