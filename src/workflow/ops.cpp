// The sans-IO node operations: conditions, routers, loops, maps and transforms.
#include <chorus/simulation.hpp>
#include <chorus/workflow.hpp>

#include "json_text.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>

namespace chorus {
namespace {

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

char lower(char c) noexcept {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::size_t find_ci(std::string_view hay, std::string_view needle, bool ignore_case) noexcept {
  if (!ignore_case) return hay.find(needle);
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                        [](char x, char y) { return lower(x) == lower(y); });
  return it == hay.end() && !needle.empty() ? std::string_view::npos
                                            : static_cast<std::size_t>(it - hay.begin());
}

bool truthy(const boost::json::value& v) noexcept {
  switch (v.kind()) {
    case boost::json::kind::null:
      return false;
    case boost::json::kind::bool_:
      return v.get_bool();
    case boost::json::kind::int64:
      return v.get_int64() != 0;
    case boost::json::kind::uint64:
      return v.get_uint64() != 0;
    case boost::json::kind::double_:
      return v.get_double() != 0;
    case boost::json::kind::string:
      return !v.get_string().empty();
    case boost::json::kind::array:
      return !v.get_array().empty();
    case boost::json::kind::object:
      return !v.get_object().empty();
  }
  return false;
}

bool is_word_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// Whether `label` occurs in `text` (case-insensitively) as a whole word; its position or npos.
std::size_t find_word(std::string_view text, std::string_view label) noexcept {
  if (label.empty()) return std::string_view::npos;
  std::size_t from = 0;
  while (from < text.size()) {
    const std::size_t at = find_ci(text.substr(from), label, true);
    if (at == std::string_view::npos) return at;
    const std::size_t pos = from + at;
    const bool left_ok = pos == 0 || !is_word_char(text[pos - 1]);
    const std::size_t end = pos + label.size();
    const bool right_ok = end >= text.size() || !is_word_char(text[end]);
    if (left_ok && right_ok) return pos;
    from = pos + 1;
  }
  return std::string_view::npos;
}

Error transform_error(std::string_view node_id, std::string message) {
  std::string full;
  if (!node_id.empty()) full = "node '" + std::string(node_id) + "': ";
  full += message;
  Error e = make_error(errc::invalid_argument, std::move(full));
  e.node_id = std::string(node_id);
  return e;
}

// The byte length of the first `max_points` UTF-8 code points of `text`.
std::size_t prefix_of_code_points(std::string_view text, std::int64_t max_points) noexcept {
  std::int64_t points = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (points == max_points) return i;
      ++points;
    }
  }
  return text.size();
}

}  // namespace

std::string_view to_string(Severity s) noexcept {
  return s == Severity::error ? "error" : "warning";
}

std::string_view to_string(ConditionOp op) noexcept {
  switch (op) {
    case ConditionOp::contains:
      return "contains";
    case ConditionOp::equals:
      return "equals";
    case ConditionOp::regex:
      return "regex";
    case ConditionOp::json_field:
      return "json_field";
    case ConditionOp::starts_with:
      return "starts_with";
  }
  return "unknown";
}

std::string_view to_string(NodeKind k) noexcept {
  switch (k) {
    case NodeKind::input:
      return "input";
    case NodeKind::output:
      return "output";
    case NodeKind::llm:
      return "llm";
    case NodeKind::transform:
      return "transform";
    case NodeKind::router:
      return "router";
    case NodeKind::merge:
      return "merge";
    case NodeKind::loop:
      return "loop";
    case NodeKind::map:
      return "map";
    case NodeKind::unknown:
      return "unknown";
  }
  return "unknown";
}

NodeKind node_kind_from_string(std::string_view type) noexcept {
  for (NodeKind k : {NodeKind::input, NodeKind::output, NodeKind::llm, NodeKind::transform,
                     NodeKind::router, NodeKind::merge, NodeKind::loop, NodeKind::map}) {
    if (to_string(k) == type) return k;
  }
  return NodeKind::unknown;
}

std::string_view to_string(OnError e) noexcept {
  switch (e) {
    case OnError::fail:
      return "fail";
    case OnError::continue_:
      return "continue";
    case OnError::branch:
      return "branch";
  }
  return "fail";
}

std::string_view to_string(TransformOp op) noexcept {
  switch (op) {
    case TransformOp::template_:
      return "template";
    case TransformOp::json_extract:
      return "json_extract";
    case TransformOp::regex_extract:
      return "regex_extract";
    case TransformOp::split:
      return "split";
    case TransformOp::join:
      return "join";
    case TransformOp::trim:
      return "trim";
    case TransformOp::uppercase:
      return "uppercase";
    case TransformOp::lowercase:
      return "lowercase";
    case TransformOp::truncate:
      return "truncate";
  }
  return "template";
}

bool evaluate_condition(const Condition& c, std::string_view text) {
  const std::string_view value = c.value ? std::string_view(*c.value) : std::string_view();
  switch (c.op) {
    case ConditionOp::contains:
      return find_ci(text, value, c.ignore_case) != std::string_view::npos;
    case ConditionOp::equals:
      return c.ignore_case ? iequals(trim(text), trim(value)) : trim(text) == trim(value);
    case ConditionOp::starts_with: {
      std::string_view t = text;
      while (!t.empty() && is_space(t.front()))
        t.remove_prefix(1);
      return t.size() >= value.size() && (c.ignore_case ? iequals(t.substr(0, value.size()), value)
                                                        : t.substr(0, value.size()) == value);
    }
    case ConditionOp::regex:
      if (!c.compiled) return false;
      return std::regex_search(text.begin(), text.end(), *c.compiled);
    case ConditionOp::json_field: {
      const auto json = parse_json_lenient(text);
      if (!json) return false;
      const auto* found = c.path ? find_json_path(*json, *c.path) : &*json;
      if (!found) return false;
      if (!c.value) return truthy(*found);
      const std::string got = json_to_text(*found);
      return c.ignore_case ? iequals(got, value) : got == value;
    }
  }
  return false;
}

std::vector<std::string> router_labels(const RouterData& r) {
  std::vector<std::string> out;
  auto add = [&](const std::string& l) {
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  };
  if (r.mode == RouterMode::condition) {
    for (const auto& route : r.routes)
      add(route.label);
  } else {
    for (const auto& l : r.labels)
      add(l.label);
  }
  if (r.default_route) add(*r.default_route);
  return out;
}

std::optional<std::string> select_route(const RouterData& r, std::string_view input) {
  for (const auto& route : r.routes) {
    if (evaluate_condition(route.condition, input)) return route.label;
  }
  return r.default_route;
}

ClassifyPrompt build_classify_prompt(const RouterData& r, std::string_view input) {
  ClassifyPrompt p;
  p.system =
      "You are a precise classifier. Read the text and decide which one of the given labels fits "
      "it best. Answer with the label only: no explanation, no punctuation, no quotes.";
  p.user = "Labels:\n";
  for (const auto& l : r.labels) {
    p.user += "- " + l.label;
    if (!l.description.empty()) p.user += ": " + l.description;
    p.user += '\n';
  }
  if (!r.instructions.empty()) p.user += "\n" + r.instructions + "\n";
  p.user += "\nText:\n<<<\n";
  p.user += input;
  p.user += "\n>>>\n\nAnswer with exactly one of: ";
  for (std::size_t i = 0; i < r.labels.size(); ++i) {
    if (i) p.user += ", ";
    p.user += r.labels[i].label;
  }
  return p;
}

std::optional<std::string> match_label(const RouterData& r, std::string_view answer) {
  std::string_view a = trim(answer);
  while (!a.empty() && (a.back() == '.' || a.back() == '"' || a.back() == '\'' || a.back() == '`'))
    a.remove_suffix(1);
  while (!a.empty() && (a.front() == '"' || a.front() == '\'' || a.front() == '`'))
    a.remove_prefix(1);
  for (const auto& l : r.labels) {
    if (a == l.label) return l.label;
  }
  for (const auto& l : r.labels) {
    if (iequals(a, l.label)) return l.label;
  }
  std::size_t best = std::string_view::npos;
  const ClassLabel* chosen = nullptr;
  for (const auto& l : r.labels) {
    const std::size_t at = find_word(answer, l.label);
    // Earliest mention wins; on a tie, the longer label ("billing-dispute" over "billing").
    if (at != std::string_view::npos &&
        (best == std::string_view::npos || at < best ||
         (at == best && chosen && l.label.size() > chosen->label.size()))) {
      best = at;
      chosen = &l;
    }
  }
  if (chosen) return chosen->label;
  return r.default_route;
}

LoopDecision decide_loop(const LoopData& l, std::string_view input, std::int64_t continues_so_far) {
  if (l.exit_condition && evaluate_condition(*l.exit_condition, input)) {
    return LoopDecision::exit_condition_met;
  }
  if (continues_so_far >= l.max_iterations) return LoopDecision::exit_max_iterations;
  return LoopDecision::continue_;
}

std::optional<std::vector<std::string>> split_map_items(const MapData& m, std::string_view input,
                                                        std::string& error) {
  std::vector<std::string> items;
  if (m.items_format == ItemsFormat::json) {
    const auto json = parse_json_lenient(input);
    if (!json || !json->is_array()) {
      error = "the map's input is not a JSON array (itemsFormat is \"json\")";
      return std::nullopt;
    }
    for (const auto& v : json->get_array())
      items.push_back(json_to_text(v));
  } else {
    const std::string_view sep = m.items_format == ItemsFormat::lines
                                     ? std::string_view("\n")
                                     : std::string_view(m.separator);
    std::size_t start = 0;
    while (start <= input.size()) {
      std::size_t end = sep.empty() ? std::string_view::npos : input.find(sep, start);
      if (end == std::string_view::npos) end = input.size();
      const std::string_view item = trim(input.substr(start, end - start));
      if (!item.empty()) items.emplace_back(item);
      if (end == input.size()) break;
      start = end + sep.size();
    }
  }
  if (m.max_items && static_cast<std::int64_t>(items.size()) > *m.max_items) {
    error = "the map's input has " + std::to_string(items.size()) + " items, more than maxItems (" +
            std::to_string(*m.max_items) + ")";
    return std::nullopt;
  }
  return items;
}

std::string collect_map_outputs(const MapData& m, std::span<const std::string> outputs) {
  if (m.collect == CollectMode::json) {
    boost::json::array arr;
    arr.reserve(outputs.size());
    for (const auto& o : outputs)
      arr.emplace_back(o);
    return detail::compact_json(arr);
  }
  std::string out;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (i) out += m.join_separator;
    out += outputs[i];
  }
  return out;
}

bool all_inputs_skipped(const Graph& g, std::size_t node, const std::vector<bool>& edge_skipped) {
  bool any = false;
  for (std::size_t e : g.in_edges[node]) {
    if (g.back_edge[e]) continue;
    any = true;
    if (e >= edge_skipped.size() || !edge_skipped[e]) return false;
  }
  return any;
}

std::string join_inputs(std::span<const std::string_view> inputs) {
  std::string out;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i) out += "\n\n";
    out += inputs[i];
  }
  return out;
}

Error apply_transform(const TransformData& t, std::span<const std::string_view> inputs,
                      const TemplateLookup& lookup, std::string& out, std::string_view node_id) {
  out.clear();
  const std::string joined = join_inputs(inputs);
  switch (t.op) {
    case TransformOp::template_: {
      // {{input}} is this node's own input; everything else comes from the caller.
      const TemplateLookup with_input =
          [&](const TemplateRef& r) -> std::optional<std::string_view> {
        if (r.kind == TemplateRefKind::input) return std::string_view(joined);
        return lookup ? lookup(r) : std::nullopt;
      };
      return render_template(t.transform_template, with_input, out, node_id);
    }
    case TransformOp::json_extract: {
      const auto json = parse_json_lenient(joined);
      if (!json) {
        return transform_error(node_id, "json_extract: the input is not JSON (starts with \"" +
                                            std::string(joined.substr(0, 60)) + "\")");
      }
      const auto* found = t.path ? find_json_path(*json, *t.path) : &*json;
      if (!found) {
        return transform_error(node_id, "json_extract: path '" + (t.path ? t.path->text : "") +
                                            "' not found in the input JSON");
      }
      out = json_to_text(*found);
      return {};
    }
    case TransformOp::regex_extract: {
      if (!t.regex) return transform_error(node_id, "regex_extract: no pattern");
      std::match_results<std::string::const_iterator> m;
      if (!std::regex_search(joined.cbegin(), joined.cend(), m, *t.regex)) {
        return transform_error(
            node_id, "regex_extract: pattern '" + t.pattern + "' does not match the input");
      }
      if (static_cast<std::size_t>(t.group) >= m.size()) {
        return transform_error(
            node_id, "regex_extract: the pattern has no group " + std::to_string(t.group));
      }
      out = m[static_cast<std::size_t>(t.group)].str();
      return {};
    }
    case TransformOp::split: {
      boost::json::array arr;
      const std::string_view in = joined;
      const std::string_view sep = t.separator;
      std::size_t start = 0;
      while (start <= in.size()) {
        std::size_t end = sep.empty() ? std::string_view::npos : in.find(sep, start);
        if (end == std::string_view::npos) end = in.size();
        const std::string_view piece = in.substr(start, end - start);
        if (!t.skip_empty || !trim(piece).empty()) {
          arr.emplace_back(t.skip_empty ? trim(piece) : piece);
        }
        if (end == in.size()) break;
        start = end + sep.size();
      }
      out = detail::compact_json(arr);
      return {};
    }
    case TransformOp::join: {
      if (inputs.size() == 1) {
        const auto json = parse_json_lenient(inputs[0]);
        if (json && json->is_array()) {
          bool first = true;
          for (const auto& v : json->get_array()) {
            if (!first) out += t.separator;
            first = false;
            out += json_to_text(v);
          }
          return {};
        }
      }
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (i) out += t.separator;
        out += inputs[i];
      }
      return {};
    }
    case TransformOp::trim:
      out = std::string(trim(joined));
      return {};
    case TransformOp::uppercase:
      out = joined;
      for (char& c : out)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return {};
    case TransformOp::lowercase:
      out = joined;
      for (char& c : out)
        c = lower(c);
      return {};
    case TransformOp::truncate: {
      // sim::estimate_tokens counts ceil(code points / 4): N tokens hold 4N code points.
      if (sim::estimate_tokens(joined) <= t.max_tokens) {
        out = joined;
        return {};
      }
      std::string_view cut =
          std::string_view(joined).substr(0, prefix_of_code_points(joined, t.max_tokens * 4));
      // Prefer ending on a word boundary when one is in the last fifth.
      const std::size_t space = cut.find_last_of(" \t\n");
      if (space != std::string_view::npos && space >= cut.size() * 4 / 5)
        cut = cut.substr(0, space);
      out = std::string(trim(cut));
      return {};
    }
  }
  return {};
}

}  // namespace chorus
