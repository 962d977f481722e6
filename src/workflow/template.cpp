// The template engine and the JSON helpers it shares with transforms and conditions.
#include <chorus/template.hpp>

#include "json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

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

std::optional<boost::json::value> try_parse(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

// The text after `.json` in a reference: parsed as a JSON path.
bool parse_json_suffix(std::string_view rest, TemplateRef& ref, std::string& error) {
  if (rest.empty()) return true;
  if (!rest.starts_with(".json")) {
    error = "unexpected '" + std::string(rest) + "' in reference (expected '.json' and a path)";
    return false;
  }
  rest.remove_prefix(5);
  if (!rest.empty() && rest.front() != '.' && rest.front() != '[') {
    error = "unexpected '" + std::string(rest) + "' after '.json'";
    return false;
  }
  std::string path_error;
  auto path = parse_json_path(rest, path_error);
  if (!path) {
    error = "bad JSON path '" + std::string(rest) + "': " + path_error;
    return false;
  }
  ref.json = std::move(*path);
  return true;
}

std::optional<TemplateRef> parse_ref(std::string_view expr, std::string& error) {
  TemplateRef ref;
  auto starts = [&](std::string_view word) {
    if (!expr.starts_with(word)) return false;
    const std::string_view rest = expr.substr(word.size());
    return rest.empty() || rest.front() == '.' || rest.front() == '[';
  };
  if (expr.empty()) {
    error = "empty reference '{{}}'";
    return std::nullopt;
  }
  std::string_view rest;
  if (starts("workflow.input")) {
    ref.kind = TemplateRefKind::workflow_input;
    rest = expr.substr(14);
  } else if (starts("input")) {
    ref.kind = TemplateRefKind::input;
    rest = expr.substr(5);
  } else if (starts("item")) {
    ref.kind = TemplateRefKind::item;
    rest = expr.substr(4);
  } else if (starts("loop.iteration")) {
    ref.kind = TemplateRefKind::loop_iteration;
    if (expr.size() != 14) {
      error = "'loop.iteration' takes no path";
      return std::nullopt;
    }
    return ref;
  } else if (expr.starts_with("nodes.")) {
    std::string_view after = expr.substr(6);
    const auto dot = after.find('.');
    const std::string_view id = after.substr(0, dot);
    if (id.empty() || dot == std::string_view::npos || !after.substr(dot).starts_with(".output") ||
        (after.size() > dot + 7 && after[dot + 7] != '.' && after[dot + 7] != '[')) {
      error = "reference '" + std::string(expr) + "' must read 'nodes.<id>.output'";
      return std::nullopt;
    }
    for (char c : id) {
      if (is_space(c) || c == '[' || c == ']' || c == '"') {
        error = "bad node id '" + std::string(id) + "' in reference";
        return std::nullopt;
      }
    }
    ref.kind = TemplateRefKind::node_output;
    ref.node_id = std::string(id);
    rest = after.substr(dot + 7);
  } else {
    const auto end = expr.find_first_of(".[");
    error = "unknown variable '" + std::string(expr.substr(0, end)) +
            "' (known: input, workflow.input, nodes.<id>.output, item, loop.iteration)";
    return std::nullopt;
  }
  if (!parse_json_suffix(rest, ref, error)) return std::nullopt;
  return ref;
}

std::string_view kind_phrase(const TemplateRef& r) {
  switch (r.kind) {
    case TemplateRefKind::input:
      return "the node has no input";
    case TemplateRefKind::workflow_input:
      return "the run has no input";
    case TemplateRefKind::node_output:
      return "that node has not produced an output";
    case TemplateRefKind::item:
      return "there is no current map item";
    case TemplateRefKind::loop_iteration:
      return "the node is not inside a loop";
  }
  return "no value";
}

}  // namespace

std::optional<JsonPath> parse_json_path(std::string_view text, std::string& error) {
  JsonPath path;
  path.text = std::string(text);
  std::size_t i = 0;
  if (i < text.size() && text[i] == '$') ++i;
  bool first = true;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '.' || (first && c != '[')) {
      if (c == '.') ++i;
      const std::size_t start = i;
      while (i < text.size() && text[i] != '.' && text[i] != '[')
        ++i;
      const std::string_view key = text.substr(start, i - start);
      if (key.empty()) {
        error = "empty key at offset " + std::to_string(start);
        return std::nullopt;
      }
      if (key.find_first_of(" \t\n\r]\"") != std::string_view::npos) {
        error = "bad key '" + std::string(key) + "' (quote it: [\"...\"])";
        return std::nullopt;
      }
      path.steps.push_back(JsonPathStep{std::string(key), 0, false});
    } else if (c == '[') {
      ++i;
      if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
        const char quote = text[i++];
        std::string key;
        while (i < text.size() && text[i] != quote) {
          if (text[i] == '\\' && i + 1 < text.size()) ++i;
          key.push_back(text[i++]);
        }
        if (i >= text.size() || i + 1 >= text.size() || text[i + 1] != ']') {
          error = "unclosed quoted key";
          return std::nullopt;
        }
        i += 2;
        path.steps.push_back(JsonPathStep{std::move(key), 0, false});
      } else {
        const std::size_t start = i;
        std::size_t index = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
          if (index > (static_cast<std::size_t>(-1) - 9) / 10) {
            error = "index too large";
            return std::nullopt;
          }
          index = index * 10 + static_cast<std::size_t>(text[i] - '0');
          ++i;
        }
        if (i == start || i >= text.size() || text[i] != ']') {
          error = "expected a number or a quoted key inside [] at offset " + std::to_string(start);
          return std::nullopt;
        }
        ++i;
        path.steps.push_back(JsonPathStep{std::string(), index, true});
      }
    } else {
      error = "unexpected '" + std::string(1, c) + "' at offset " + std::to_string(i);
      return std::nullopt;
    }
    first = false;
  }
  return path;
}

const boost::json::value* find_json_path(const boost::json::value& root,
                                         const JsonPath& path) noexcept {
  const boost::json::value* v = &root;
  for (const auto& step : path.steps) {
    if (!step.is_index) {
      const auto* obj = v->if_object();
      if (!obj) return nullptr;
      v = obj->if_contains(step.key);
    } else {
      const auto* arr = v->if_array();
      if (!arr || step.index >= arr->size()) return nullptr;
      v = &(*arr)[step.index];
    }
    if (!v) return nullptr;
  }
  return v;
}

std::optional<boost::json::value> parse_json_lenient(std::string_view text) {
  const std::string_view t = trim(text);
  if (t.empty()) return std::nullopt;
  if (auto v = try_parse(t)) return v;
  // A fenced block: ```json ... ``` or ``` ... ```.
  if (auto fence = t.find("```"); fence != std::string_view::npos) {
    std::size_t body = t.find('\n', fence);
    const std::size_t close = body == std::string_view::npos ? body : t.find("```", body);
    if (close != std::string_view::npos) {
      if (auto v = try_parse(trim(t.substr(body + 1, close - body - 1)))) return v;
    }
  }
  // The outermost {...} or [...].
  for (const char open : {'{', '['}) {
    const char close = open == '{' ? '}' : ']';
    const auto first = t.find(open);
    const auto last = t.rfind(close);
    if (first != std::string_view::npos && last != std::string_view::npos && last > first) {
      if (auto v = try_parse(t.substr(first, last - first + 1))) return v;
    }
  }
  return std::nullopt;
}

std::string json_to_text(const boost::json::value& v) {
  if (const auto* s = v.if_string()) return std::string(s->data(), s->size());
  return detail::compact_json(v);
}

std::vector<const TemplateRef*> Template::refs() const {
  std::vector<const TemplateRef*> out;
  for (const auto& seg : segments_) {
    if (const auto* r = std::get_if<TemplateRef>(&seg)) out.push_back(r);
  }
  return out;
}

std::optional<Template> parse_template(std::string_view text, std::string& error,
                                       std::size_t* error_offset) {
  Template tpl;
  tpl.source_ = std::string(text);
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) tpl.segments_.emplace_back(std::move(literal));
    literal.clear();
  };
  auto fail = [&](std::string message, std::size_t offset) -> std::optional<Template> {
    error = std::move(message);
    if (error_offset) *error_offset = offset;
    return std::nullopt;
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\\' && text.substr(i + 1, 2) == "{{") {
      literal += "{{";
      i += 3;
      continue;
    }
    if (text.substr(i, 2) != "{{") {
      literal.push_back(text[i++]);
      continue;
    }
    const std::size_t close = text.find("}}", i + 2);
    if (close == std::string_view::npos) {
      return fail("unclosed '{{' at offset " + std::to_string(i), i);
    }
    const std::string_view inner = text.substr(i + 2, close - i - 2);
    if (inner.find("{{") != std::string_view::npos) {
      return fail("unclosed '{{' at offset " + std::to_string(i), i);
    }
    std::string ref_error;
    auto ref = parse_ref(trim(inner), ref_error);
    if (!ref) return fail(ref_error + " at offset " + std::to_string(i), i);
    ref->source = std::string(text.substr(i, close + 2 - i));
    ref->offset = i;
    flush();
    tpl.segments_.emplace_back(std::move(*ref));
    i = close + 2;
  }
  flush();
  return tpl;
}

const Template& input_template() {
  static const Template tpl = [] {
    std::string error;
    return *parse_template("{{input}}", error);
  }();
  return tpl;
}

Error render_template(const Template& tpl, const TemplateLookup& lookup, std::string& out,
                      std::string_view node_id) {
  auto fail = [&](const TemplateRef& ref, std::string why) {
    std::string message;
    if (!node_id.empty()) message = "node '" + std::string(node_id) + "': ";
    message += "template reference " + ref.source + ": " + why;
    Error e = make_error(errc::invalid_workflow, std::move(message));
    e.node_id = std::string(node_id);
    return e;
  };
  for (const auto& seg : tpl.segments()) {
    if (const auto* text = std::get_if<std::string>(&seg)) {
      out += *text;
      continue;
    }
    const auto& ref = std::get<TemplateRef>(seg);
    std::optional<std::string_view> value = lookup ? lookup(ref) : std::nullopt;
    if (!value) return fail(ref, "no value (" + std::string(kind_phrase(ref)) + ")");
    if (!ref.json) {
      out += *value;
      continue;
    }
    const auto json = parse_json_lenient(*value);
    if (!json) {
      std::string_view head = value->substr(0, 60);
      return fail(ref, "the text is not JSON (starts with \"" + std::string(head) + "\")");
    }
    const auto* found = find_json_path(*json, *ref.json);
    if (!found) return fail(ref, "path '" + ref.json->text + "' not found in the JSON");
    out += json_to_text(*found);
  }
  return {};
}

}  // namespace chorus
