// Reading a workflow document into typed nodes and edges, the graph structure, and writing it back.
#include <chorus/workflow.hpp>

#include "json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace chorus {

// ---------------------------------------------------------------------------------------------
// Problems

std::string Problem::describe() const {
  std::string out(to_string(severity));
  out += ": ";
  if (!node_id.empty()) out += "node '" + node_id + "': ";
  if (!edge_id.empty()) out += "edge '" + edge_id + "': ";
  if (!field.empty()) out += field + ": ";
  out += message;
  out += " [" + code + "]";
  return out;
}

boost::json::value Problem::to_json() const {
  boost::json::object o;
  o["severity"] = to_string(severity);
  o["code"] = code;
  o["message"] = message;
  if (!node_id.empty()) o["nodeId"] = node_id;
  if (!edge_id.empty()) o["edgeId"] = edge_id;
  if (!field.empty()) o["field"] = field;
  return o;
}

bool has_errors(std::span<const Problem> problems) noexcept {
  return std::any_of(problems.begin(), problems.end(),
                     [](const Problem& p) { return p.severity == Severity::error; });
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

std::string kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return "a number";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
  }
  return "a value";
}

std::string short_json(const boost::json::value& v) {
  std::string s = detail::compact_json(v);
  if (s.size() > 40) {
    std::size_t cut = 37;  // never inside a UTF-8 sequence: messages must stay valid UTF-8
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
      --cut;
    s = s.substr(0, cut) + "...";
  }
  return s;
}

// Keys of `data` each kind understands; other keys are kept but warned about (typos such as
// "max_tokens" would otherwise be ignored silently). Editor keys are not warned about.
const std::set<std::string_view>& editor_keys() {
  static const std::set<std::string_view> keys{"label", "description", "notes",     "title",
                                               "color", "icon",        "collapsed", "comment"};
  return keys;
}

// Reads typed fields out of one JSON object, recording every problem with its path.
class FieldReader {
 public:
  FieldReader(const boost::json::object& obj, std::string prefix, std::string node_id,
              std::vector<Problem>& problems)
      : obj_(obj), prefix_(std::move(prefix)), node_id_(std::move(node_id)), problems_(problems) {}

  // The value of `key`, nullptr when absent or null. Records the key as known.
  const boost::json::value* get(std::string_view key) {
    known_.push_back(key);  // callers pass string literals
    const auto* v = obj_.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  }

  void problem(std::string_view key, std::string code, std::string message,
               Severity severity = Severity::error) {
    problems_.push_back(
        Problem{severity, std::move(code), std::move(message), node_id_, {}, field(key)});
  }

  std::string field(std::string_view key) const {
    if (key.empty()) return prefix_;
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  void wrong_type(std::string_view key, const boost::json::value& v, const std::string& expected) {
    problem(key, "wrong_type",
            std::string(key) + " must be " + std::string(expected) + ", not " + kind_name(v) +
                " (" + short_json(v) + ")");
  }

  void missing(std::string_view key, std::string_view what) {
    problem(key, "missing_field", std::string(key) + " is required (" + std::string(what) + ")");
  }

  std::optional<std::string> string(std::string_view key, bool required = false,
                                    std::string_view what = "a string") {
    const auto* v = get(key);
    if (!v) {
      if (required) missing(key, what);
      return std::nullopt;
    }
    if (!v->is_string()) {
      wrong_type(key, *v, "a string");
      return std::nullopt;
    }
    if (required && v->get_string().empty()) {
      problem(key, "invalid_value", std::string(key) + " must not be empty");
      return std::nullopt;
    }
    return std::string(v->get_string());
  }

  std::optional<double> number(std::string_view key, double min, double max) {
    const auto* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) {
      wrong_type(key, *v,
                 max < 1e300 ? "a number in [" + fmt(min) + ", " + fmt(max) + "]" : "a number");
      return std::nullopt;
    }
    const double d = v->to_number<double>();
    if (!(d >= min && d <= max)) {
      problem(key, "invalid_value",
              std::string(key) + " must be a number in [" + fmt(min) + ", " + fmt(max) + "] (got " +
                  short_json(*v) + ")");
      return std::nullopt;
    }
    return d;
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max,
                                      bool required = false, std::string_view what = "") {
    const auto* v = get(key);
    if (!v) {
      if (required) missing(key, what.empty() ? "an integer" : what);
      return std::nullopt;
    }
    std::optional<std::int64_t> i;
    if (v->is_int64()) i = v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
      i = static_cast<std::int64_t>(v->get_uint64());
    if (v->is_double() && std::floor(v->get_double()) == v->get_double() &&
        std::abs(v->get_double()) < 9e15)
      i = static_cast<std::int64_t>(v->get_double());
    if (!i) {
      if (v->is_number()) {
        problem(key, "invalid_value",
                std::string(key) + " must be a whole number (got " + short_json(*v) + ")");
      } else {
        wrong_type(key, *v, "an integer");
      }
      return std::nullopt;
    }
    if (*i < min || *i > max) {
      std::string range = max == INT64_MAX
                              ? ">= " + std::to_string(min)
                              : "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
      problem(key, "invalid_value",
              std::string(key) + " must be an integer " + range + " (got " + short_json(*v) + ")");
      return std::nullopt;
    }
    return i;
  }

  std::optional<bool> boolean(std::string_view key) {
    const auto* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_bool()) {
      wrong_type(key, *v, "a boolean");
      return std::nullopt;
    }
    return v->get_bool();
  }

  // A string that must be one of `choices`.
  std::optional<std::string> choice(std::string_view key,
                                    std::initializer_list<std::string_view> choices,
                                    bool required = false) {
    auto s = string(key, required, "one of " + list(choices));
    if (!s) return std::nullopt;
    if (std::find(choices.begin(), choices.end(), *s) == choices.end()) {
      problem(key, "invalid_value",
              std::string(key) + " must be one of " + list(choices) + " (got \"" + *s + "\")");
      return std::nullopt;
    }
    return s;
  }

  std::optional<Template> templ(std::string_view key, bool required = false) {
    auto s = string(key, false);
    if (!s) {
      if (required && !obj_.if_contains(key)) missing(key, "a template");
      return std::nullopt;
    }
    std::string error;
    auto t = parse_template(*s, error);
    if (!t) {
      problem(key, "template_syntax", error);
      return std::nullopt;
    }
    return t;
  }

  std::optional<JsonPath> json_path(std::string_view key, bool required) {
    auto s = string(key, required, "a JSON path such as \"a.b[0]\"");
    if (!s) return std::nullopt;
    std::string error;
    auto p = parse_json_path(*s, error);
    if (!p) problem(key, "invalid_value", "bad JSON path \"" + *s + "\": " + error);
    return p;
  }

  std::shared_ptr<const std::regex> regex(std::string_view key, const std::string& pattern,
                                          bool ignore_case) {
    try {
      auto flags = std::regex::ECMAScript;
      if (ignore_case) flags |= std::regex::icase;
      return std::make_shared<const std::regex>(pattern, flags);
    } catch (const std::regex_error& e) {
      problem(key, "invalid_value", "bad regular expression \"" + pattern + "\": " + e.what());
      return nullptr;
    }
  }

  // Warns about keys no reader asked for.
  void warn_unknown_keys() {
    for (const auto& kv : obj_) {
      const std::string_view k = kv.key();
      if (std::find(known_.begin(), known_.end(), k) != known_.end() || editor_keys().count(k))
        continue;
      problem(k, "unknown_field",
              "unknown field \"" + std::string(k) + "\" is ignored (kept in the document)",
              Severity::warning);
    }
  }

  const boost::json::object& object() const { return obj_; }
  const std::string& node_id() const { return node_id_; }
  std::vector<Problem>& problems() { return problems_; }

  static std::string list(std::initializer_list<std::string_view> choices) {
    std::string out;
    for (auto c : choices) {
      if (!out.empty()) out += ", ";
      out += '"';
      out += c;
      out += '"';
    }
    return out;
  }

 private:
  static std::string fmt(double d) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
  }

  const boost::json::object& obj_;
  std::string prefix_;
  std::string node_id_;
  std::vector<Problem>& problems_;
  std::vector<std::string_view> known_;
};

std::optional<Condition> read_condition(FieldReader& parent, std::string_view key,
                                        const boost::json::value& v) {
  if (!v.is_object()) {
    parent.wrong_type(key, v, "an object {op, value, path?}");
    return std::nullopt;
  }
  FieldReader r(v.get_object(), parent.field(key), parent.node_id(), parent.problems());
  Condition c;
  bool ok = true;
  auto op = r.choice("op", {"contains", "equals", "regex", "json_field", "starts_with"}, true);
  if (!op) ok = false;
  c.ignore_case = r.boolean("ignoreCase").value_or(false);
  if (const auto* val = r.get("value")) {
    if (val->is_string()) {
      c.value = std::string(val->get_string());
    } else if (val->is_number() || val->is_bool()) {
      c.value = json_to_text(*val);  // compared against the text of a JSON field
    } else {
      r.wrong_type("value", *val, "a string");
      ok = false;
    }
  }
  if (op) {
    if (*op == "contains") c.op = ConditionOp::contains;
    if (*op == "equals") c.op = ConditionOp::equals;
    if (*op == "regex") c.op = ConditionOp::regex;
    if (*op == "json_field") c.op = ConditionOp::json_field;
    if (*op == "starts_with") c.op = ConditionOp::starts_with;
    if (c.op == ConditionOp::json_field) {
      c.path = r.json_path("path", true);
      if (!c.path) ok = false;
    } else {
      r.get("path");
      if (!c.value && !r.object().if_contains("value")) {
        r.missing("value", "the text to compare with");
        ok = false;
      }
    }
    if (c.op == ConditionOp::regex && c.value) {
      c.compiled = r.regex("value", *c.value, c.ignore_case);
      if (!c.compiled) ok = false;
    }
  }
  r.warn_unknown_keys();
  if (!ok) return std::nullopt;
  return c;
}

std::vector<std::string> read_string_list(FieldReader& r, std::string_view key, std::size_t max) {
  std::vector<std::string> out;
  const auto* v = r.get(key);
  if (!v) return out;
  if (!v->is_array()) {
    r.wrong_type(key, *v, "an array of strings");
    return out;
  }
  const auto& arr = v->get_array();
  if (arr.size() > max) {
    r.problem(key, "invalid_value",
              std::string(key) + " has " + std::to_string(arr.size()) + " entries (at most " +
                  std::to_string(max) + ")");
  }
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string sub = std::string(key) + "[" + std::to_string(i) + "]";
    if (!arr[i].is_string() || arr[i].get_string().empty()) {
      r.problem(sub, arr[i].is_string() ? "invalid_value" : "wrong_type",
                sub + " must be a non-empty string");
      continue;
    }
    out.emplace_back(arr[i].get_string());
  }
  return out;
}

NodeData read_llm(FieldReader& r) {
  LlmData d;
  d.provider = r.string("provider", true, "a provider id such as \"openai\"").value_or("");
  d.model = r.string("model", true, "a model id").value_or("");
  if (auto t = r.templ("systemPrompt")) d.system_prompt = std::move(*t);
  if (auto t = r.templ("prompt"))
    d.prompt = std::move(*t);
  else if (!r.object().if_contains("prompt"))
    d.prompt = input_template();
  d.temperature = r.number("temperature", 0, 2);
  d.max_tokens = r.integer("maxTokens", 1, INT64_MAX);
  d.stop = read_string_list(r, "stop", 16);
  d.json_mode = r.boolean("jsonMode").value_or(false);
  d.timeout_ms = r.integer("timeoutMs", 1, INT64_MAX);
  if (auto n = r.integer("retries", 0, 10)) d.retries = static_cast<int>(*n);
  if (const auto* v = r.get("fallbacks")) {
    if (!v->is_array()) {
      r.wrong_type("fallbacks", *v, "an array of {provider, model}");
    } else {
      const auto& arr = v->get_array();
      for (std::size_t i = 0; i < arr.size(); ++i) {
        const std::string key = "fallbacks[" + std::to_string(i) + "]";
        if (!arr[i].is_object()) {
          r.wrong_type(key, arr[i], "an object {provider, model}");
          continue;
        }
        FieldReader f(arr[i].get_object(), r.field(key), r.node_id(), r.problems());
        ModelRef m;
        auto p = f.string("provider", true, "a provider id");
        auto mo = f.string("model", true, "a model id");
        f.warn_unknown_keys();
        if (p && mo) d.fallbacks.push_back({std::move(*p), std::move(*mo)});
      }
    }
  }
  if (auto e = r.choice("onError", {"fail", "continue", "branch"})) {
    d.on_error = *e == "fail"       ? OnError::fail
                 : *e == "continue" ? OnError::continue_
                                    : OnError::branch;
  }
  d.default_output = r.string("defaultOutput");
  return d;
}

NodeData read_transform(FieldReader& r) {
  TransformData d;
  auto op = r.choice("op",
                     {"template", "json_extract", "regex_extract", "split", "join", "trim",
                      "uppercase", "lowercase", "truncate"},
                     true);
  for (TransformOp o :
       {TransformOp::template_, TransformOp::json_extract, TransformOp::regex_extract,
        TransformOp::split, TransformOp::join, TransformOp::trim, TransformOp::uppercase,
        TransformOp::lowercase, TransformOp::truncate}) {
    if (op && *op == to_string(o)) d.op = o;
  }
  const bool has_op = op.has_value();
  // Read every field so that wrong types are reported whatever the op.
  auto tpl = r.templ("template", has_op && d.op == TransformOp::template_);
  if (tpl) d.transform_template = std::move(*tpl);
  d.path = r.json_path("path", has_op && d.op == TransformOp::json_extract);
  if (auto p = r.string("pattern", has_op && d.op == TransformOp::regex_extract,
                        "an ECMAScript regular expression")) {
    d.pattern = *p;
    d.regex = r.regex("pattern", *p, r.boolean("ignoreCase").value_or(false));
  } else {
    r.get("ignoreCase");
  }
  if (auto g = r.integer("group", 0, 99)) d.group = static_cast<int>(*g);
  if (auto s = r.string("separator")) d.separator = *s;
  if (auto b = r.boolean("skipEmpty")) d.skip_empty = *b;
  if (auto n = r.integer("maxTokens", 1, INT64_MAX, has_op && d.op == TransformOp::truncate,
                         "a positive integer"))
    d.max_tokens = *n;
  return d;
}

NodeData read_router(FieldReader& r) {
  RouterData d;
  auto mode = r.choice("mode", {"condition", "classify"});
  if (mode && *mode == "classify") d.mode = RouterMode::classify;
  d.default_route = r.string("defaultRoute");
  if (d.default_route && d.default_route->empty()) {
    r.problem("defaultRoute", "invalid_value", "defaultRoute must not be empty");
    d.default_route.reset();
  }
  const bool classify = d.mode == RouterMode::classify;
  if (const auto* v = r.get("routes")) {
    if (!v->is_array()) {
      r.wrong_type("routes", *v, "an array of {label, op, value, path?}");
    } else {
      const auto& arr = v->get_array();
      for (std::size_t i = 0; i < arr.size(); ++i) {
        const std::string key = "routes[" + std::to_string(i) + "]";
        if (!arr[i].is_object()) {
          r.wrong_type(key, arr[i], "an object {label, op, value, path?}");
          continue;
        }
        // A route is a condition plus a label, in one flat object.
        boost::json::object cond = arr[i].get_object();
        cond.erase("label");
        FieldReader f(arr[i].get_object(), r.field(key), r.node_id(), r.problems());
        auto label = f.string("label", true, "the sourceHandle of this branch's edges");
        auto c = read_condition(r, key, boost::json::value(std::move(cond)));
        if (label && c) {
          if (std::any_of(d.routes.begin(), d.routes.end(),
                          [&](const Route& x) { return x.label == *label; })) {
            f.problem("label", "duplicate_label", "route label \"" + *label + "\" is used twice");
          }
          d.routes.push_back({std::move(*label), std::move(*c)});
        }
      }
    }
  } else if (!classify) {
    r.missing("routes", "an array of {label, op, value, path?}");
  }
  auto provider = r.string("provider", classify, "a provider id for the classification call");
  auto model = r.string("model", classify, "a model id for the classification call");
  if (provider) d.provider = *provider;
  if (model) d.model = *model;
  d.instructions = r.string("instructions").value_or("");
  d.temperature = r.number("temperature", 0, 2);
  if (const auto* v = r.get("labels")) {
    if (!v->is_array()) {
      r.wrong_type("labels", *v, "an array of strings or {label, description}");
    } else {
      const auto& arr = v->get_array();
      for (std::size_t i = 0; i < arr.size(); ++i) {
        const std::string key = "labels[" + std::to_string(i) + "]";
        ClassLabel l;
        if (arr[i].is_string()) {
          l.label = std::string(arr[i].get_string());
        } else if (arr[i].is_object()) {
          FieldReader f(arr[i].get_object(), r.field(key), r.node_id(), r.problems());
          l.label = f.string("label", true, "the label").value_or("");
          l.description = f.string("description").value_or("");
          f.warn_unknown_keys();
        } else {
          r.wrong_type(key, arr[i], "a string or {label, description}");
          continue;
        }
        if (l.label.empty()) {
          if (arr[i].is_string()) r.problem(key, "invalid_value", key + " must not be empty");
          continue;
        }
        if (std::any_of(d.labels.begin(), d.labels.end(),
                        [&](const ClassLabel& x) { return x.label == l.label; })) {
          r.problem(key, "duplicate_label", "label \"" + l.label + "\" is listed twice");
          continue;
        }
        d.labels.push_back(std::move(l));
      }
    }
  } else if (classify) {
    r.missing("labels", "the labels to classify into");
  }
  if (classify && r.object().if_contains("labels") && d.labels.empty() &&
      r.get("labels")->is_array()) {
    r.problem("labels", "invalid_value", "a classify router needs at least one label");
  }
  return d;
}

NodeData read_merge(FieldReader& r) {
  MergeData d;
  if (auto m = r.choice("mode", {"all", "first"}))
    d.mode = *m == "first" ? MergeMode::first : MergeMode::all;
  d.merge_template = r.templ("template");
  return d;
}

NodeData read_loop(FieldReader& r) {
  LoopData d;
  d.max_iterations = r.integer("maxIterations", 1, 1000, true,
                               "a positive integer: how many times \"continue\" may be taken")
                         .value_or(0);
  if (const auto* v = r.get("exitCondition"))
    d.exit_condition = read_condition(r, "exitCondition", *v);
  d.loop_template = r.templ("template");
  return d;
}

NodeData read_map(FieldReader& r) {
  MapData d;
  if (auto f = r.choice("itemsFormat", {"lines", "separator", "json"})) {
    d.items_format = *f == "json"        ? ItemsFormat::json
                     : *f == "separator" ? ItemsFormat::separator
                                         : ItemsFormat::lines;
  }
  if (auto s = r.string("separator")) {
    d.separator = *s;
    if (s->empty()) r.problem("separator", "invalid_value", "separator must not be empty");
  } else if (d.items_format == ItemsFormat::separator && !r.object().if_contains("separator")) {
    r.missing("separator", "the text between items when itemsFormat is \"separator\"");
  }
  if (auto c = r.integer("concurrency", 1, 1024)) d.concurrency = *c;
  d.max_items = r.integer("maxItems", 1, INT64_MAX);
  if (auto c = r.choice("collect", {"join", "json"}))
    d.collect = *c == "json" ? CollectMode::json : CollectMode::join;
  if (auto s = r.string("joinSeparator")) d.join_separator = *s;
  return d;
}

NodeData read_output(FieldReader& r) {
  OutputData d;
  d.output_template = r.templ("template");
  return d;
}

NodeData read_input(FieldReader& r) {
  InputData d;
  d.default_value = r.string("defaultValue");
  return d;
}

}  // namespace

struct WorkflowReader {
  static ParseResult read(boost::json::value root);
  static void build_graph(Workflow& wf);
};

ParseResult WorkflowReader::read(boost::json::value root) {
  ParseResult result;
  auto& problems = result.problems;
  if (!root.is_object()) {
    problems.push_back({Severity::error,
                        "not_an_object",
                        "a workflow document must be a JSON object, not " + kind_name(root),
                        {},
                        {},
                        ""});
    return result;
  }
  Workflow wf;
  wf.json_ = std::move(root.get_object());
  FieldReader top(wf.json_, "", "", problems);
  wf.id_ = top.string("id").value_or("");
  wf.name_ = top.string("name").value_or("");
  wf.description_ = top.string("description").value_or("");
  // Template-library metadata of the shipped examples.
  top.string("category");
  read_string_list(top, "tags", 64);

  const auto* nodes = top.get("nodes");
  if (!nodes) {
    top.missing("nodes", "an array of nodes");
    return result;
  }
  if (!nodes->is_array()) {
    top.wrong_type("nodes", *nodes, "an array of nodes");
    return result;
  }
  const auto& node_array = nodes->get_array();
  for (std::size_t i = 0; i < node_array.size(); ++i) {
    const std::string where = "nodes[" + std::to_string(i) + "]";
    const auto& v = node_array[i];
    if (!v.is_object()) {
      top.wrong_type(where, v, "an object {id, type, position, data}");
      continue;
    }
    Node node;
    node.json = v.get_object();
    // Until the node has a usable id, its problems are located by its index.
    FieldReader base(node.json, where, "", problems);
    auto id = base.string("id", true, "a unique string");
    if (!id) continue;
    node.id = *id;
    FieldReader r(node.json, "", node.id, problems);
    r.get("id");
    auto type = r.string("type", true,
                         "the node kind: input, output, llm, transform, router, "
                         "merge, loop or map");
    node.type = type.value_or("");
    node.kind = node_kind_from_string(node.type);
    if (const auto* pos = r.get("position")) {
      if (!pos->is_object()) {
        r.wrong_type("position", *pos, "an object {x, y}");
      } else {
        FieldReader p(pos->get_object(), "position", node.id, problems);
        node.position.x = p.number("x", -1e300, 1e300).value_or(0);
        node.position.y = p.number("y", -1e300, 1e300).value_or(0);
      }
    }
    node.parent_id = r.string("parentId").value_or("");
    const auto* data = r.get("data");
    static const boost::json::object empty;
    if (data && !data->is_object()) r.wrong_type("data", *data, "an object");
    const boost::json::object& data_obj = data && data->is_object() ? data->get_object() : empty;
    FieldReader d(data_obj, "data", node.id, problems);
    switch (node.kind) {
      case NodeKind::input:
        node.data = read_input(d);
        break;
      case NodeKind::output:
        node.data = read_output(d);
        break;
      case NodeKind::llm:
        node.data = read_llm(d);
        break;
      case NodeKind::transform:
        node.data = read_transform(d);
        break;
      case NodeKind::router:
        node.data = read_router(d);
        break;
      case NodeKind::merge:
        node.data = read_merge(d);
        break;
      case NodeKind::loop:
        node.data = read_loop(d);
        break;
      case NodeKind::map:
        node.data = read_map(d);
        break;
      case NodeKind::unknown:
        node.data = UnknownData{};
        break;
    }
    if (node.kind != NodeKind::unknown) d.warn_unknown_keys();
    wf.nodes_.push_back(std::move(node));
  }

  if (const auto* edges = top.get("edges")) {
    if (!edges->is_array()) {
      top.wrong_type("edges", *edges, "an array of edges");
      return result;
    }
    const auto& edge_array = edges->get_array();
    for (std::size_t i = 0; i < edge_array.size(); ++i) {
      const std::string where = "edges[" + std::to_string(i) + "]";
      const auto& v = edge_array[i];
      if (!v.is_object()) {
        top.wrong_type(where, v, "an object {id, source, target}");
        continue;
      }
      Edge edge;
      edge.json = v.get_object();
      FieldReader base(edge.json, where, "", problems);
      auto id = base.string("id", true, "a unique string");
      if (!id) continue;
      edge.id = *id;
      std::vector<Problem> edge_problems;
      FieldReader r(edge.json, "", "", edge_problems);
      r.get("id");
      auto source = r.string("source", true, "the id of the node the edge leaves");
      auto target = r.string("target", true, "the id of the node the edge enters");
      edge.source_handle = r.string("sourceHandle").value_or("");
      edge.target_handle = r.string("targetHandle").value_or("");
      for (auto& p : edge_problems) {
        p.edge_id = edge.id;
        problems.push_back(std::move(p));
      }
      if (!source || !target) continue;
      edge.source = *source;
      edge.target = *target;
      wf.edges_.push_back(std::move(edge));
    }
  }
  build_graph(wf);
  wf.parse_problems_ = problems;
  result.workflow = std::move(wf);
  return result;
}

void WorkflowReader::build_graph(Workflow& wf) {
  const std::size_t n = wf.nodes_.size();
  for (std::size_t i = 0; i < n; ++i)
    wf.index_.emplace(wf.nodes_[i].id, i);  // first one wins
  Graph& g = wf.graph_;
  g.in_edges.assign(n, {});
  g.out_edges.assign(n, {});
  g.back_edge.assign(wf.edges_.size(), false);
  g.map_of.assign(n, Graph::npos);
  g.map_body.assign(n, {});
  g.loops_of.assign(n, {});
  for (std::size_t e = 0; e < wf.edges_.size(); ++e) {
    const std::size_t s = wf.node_index(wf.edges_[e].source);
    const std::size_t t = wf.node_index(wf.edges_[e].target);
    if (s == Graph::npos || t == Graph::npos) continue;
    g.out_edges[s].push_back(e);
    g.in_edges[t].push_back(e);
  }
  auto target_of = [&](std::size_t e) { return wf.node_index(wf.edges_[e].target); };
  auto source_of = [&](std::size_t e) { return wf.node_index(wf.edges_[e].source); };

  // Back edges: an iterative DFS from the input nodes, then from nodes without incoming edges,
  // then from whatever is left, all in document order.
  std::vector<int> color(n, 0);  // 0 white, 1 on the stack, 2 done
  auto dfs = [&](std::size_t root) {
    if (color[root]) return;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
    color[root] = 1;
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      if (next < g.out_edges[v].size()) {
        const std::size_t e = g.out_edges[v][next++];
        const std::size_t t = target_of(e);
        if (color[t] == 1) {
          g.back_edge[e] = true;
        } else if (color[t] == 0) {
          color[t] = 1;
          stack.push_back({t, 0});
        }
      } else {
        color[v] = 2;
        stack.pop_back();
      }
    }
  };
  for (std::size_t i = 0; i < n; ++i)
    if (wf.nodes_[i].kind == NodeKind::input) dfs(i);
  for (std::size_t i = 0; i < n; ++i)
    if (g.in_edges[i].empty()) dfs(i);
  for (std::size_t i = 0; i < n; ++i)
    dfs(i);

  // Topological order over forward edges, document order among ready nodes.
  std::vector<std::size_t> pending(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t e : g.in_edges[i])
      if (!g.back_edge[e]) ++pending[i];
  std::set<std::size_t> ready;
  for (std::size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.insert(i);
  while (!ready.empty()) {
    const std::size_t v = *ready.begin();
    ready.erase(ready.begin());
    g.topo_order.push_back(v);
    for (std::size_t e : g.out_edges[v]) {
      if (g.back_edge[e]) continue;
      if (--pending[target_of(e)] == 0) ready.insert(target_of(e));
    }
  }

  // Map bodies.
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t p = wf.node_index(wf.nodes_[i].parent_id);
    if (!wf.nodes_[i].parent_id.empty() && p != Graph::npos && p != i &&
        wf.nodes_[p].kind == NodeKind::map) {
      g.map_of[i] = p;
    }
  }
  for (std::size_t v : g.topo_order)
    if (g.map_of[v] != Graph::npos) g.map_body[g.map_of[v]].push_back(v);

  // Entry nodes: input nodes first, then other sources, outside map bodies.
  auto is_entry = [&](std::size_t i) {
    if (g.map_of[i] != Graph::npos) return false;
    return std::none_of(g.in_edges[i].begin(), g.in_edges[i].end(),
                        [&](std::size_t e) { return !g.back_edge[e]; });
  };
  for (std::size_t i = 0; i < n; ++i)
    if (wf.nodes_[i].kind == NodeKind::input && is_entry(i)) g.entry_nodes.push_back(i);
  for (std::size_t i = 0; i < n; ++i)
    if (wf.nodes_[i].kind != NodeKind::input && is_entry(i)) g.entry_nodes.push_back(i);

  // Reachability (BFS from every node) and the loops whose cycle contains each node.
  wf.reach_.assign(n, std::vector<bool>(n, false));
  std::vector<std::size_t> queue;
  for (std::size_t a = 0; a < n; ++a) {
    auto& seen = wf.reach_[a];
    queue.clear();
    for (std::size_t e : g.out_edges[a]) {
      const std::size_t t = target_of(e);
      if (!seen[t]) {
        seen[t] = true;
        queue.push_back(t);
      }
    }
    for (std::size_t q = 0; q < queue.size(); ++q) {
      for (std::size_t e : g.out_edges[queue[q]]) {
        const std::size_t t = target_of(e);
        if (!seen[t]) {
          seen[t] = true;
          queue.push_back(t);
        }
      }
    }
  }
  (void)source_of;
  for (std::size_t l = 0; l < n; ++l) {
    if (wf.nodes_[l].kind != NodeKind::loop || !wf.reach_[l][l]) continue;
    for (std::size_t v = 0; v < n; ++v) {
      if (v == l || (wf.reach_[v][l] && wf.reach_[l][v])) g.loops_of[v].push_back(l);
    }
  }
}

ParseResult Workflow::parse(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec) {
    ParseResult r;
    r.problems.push_back({Severity::error,
                          "invalid_json",
                          "the document is not valid JSON: " + ec.message(),
                          {},
                          {},
                          ""});
    return r;
  }
  return WorkflowReader::read(std::move(v));
}

ParseResult Workflow::from_json(const boost::json::value& json) {
  return WorkflowReader::read(json);
}

const Node* Workflow::find_node(std::string_view id) const noexcept {
  const std::size_t i = node_index(id);
  return i == Graph::npos ? nullptr : &nodes_[i];
}

std::size_t Workflow::node_index(std::string_view id) const noexcept {
  auto it = index_.find(id);
  return it == index_.end() ? Graph::npos : it->second;
}

std::vector<std::size_t> Workflow::predecessors(std::size_t index) const {
  std::vector<std::size_t> out;
  for (std::size_t e : graph_.in_edges.at(index))
    out.push_back(node_index(edges_[e].source));
  return out;
}

std::vector<std::size_t> Workflow::successors(std::size_t index) const {
  std::vector<std::size_t> out;
  for (std::size_t e : graph_.out_edges.at(index))
    out.push_back(node_index(edges_[e].target));
  return out;
}

bool Workflow::reaches(std::size_t a, std::size_t b) const {
  return a < reach_.size() && b < reach_.size() && reach_[a][b];
}

boost::json::value Workflow::to_json() const {
  return json_;
}

std::string Workflow::to_string(bool pretty) const {
  return pretty ? pretty_json(json_) : detail::compact_json(json_);
}

// ---------------------------------------------------------------------------------------------
// Pretty printing, byte-compatible with Python's json.dumps(indent=2, ensure_ascii=False)

std::string pretty_json(const boost::json::value& v) {
  std::string out;
  detail::write_json(out, v, 0);
  return out;
}

}  // namespace chorus
