// Fuzzes the prompt template engine: parse_template, render_template, parse_json_path,
// parse_json_lenient and json_to_text. Input: the template text, a NUL byte, then the text every
// reference resolves to (e.g. an LLM's JSON answer for `{{nodes.x.output.json.a[0]}}`).
// Oracles: a parse failure has a message and an offset inside the text; a parsed template keeps
// its source; rendering with values for every reference and no `.json` path never fails and
// gives literal text + values in order; a missing value is an invalid_workflow error naming the
// node; the same inputs always render the same way.
#include <chorus/error.hpp>
#include <chorus/template.hpp>

#include "fuzz_util.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto nul = input.find('\0');
  std::string_view text = input.substr(0, nul);
  std::string_view value =
      nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);

  std::string error;
  std::size_t offset = static_cast<std::size_t>(-1);
  auto tpl = chorus::parse_template(text, error, &offset);
  if (!tpl) {
    CHORUS_FUZZ_CHECK(!error.empty());
    CHORUS_FUZZ_CHECK(offset <= text.size());
  } else {
    CHORUS_FUZZ_CHECK(tpl->source() == text);
    bool has_json = false;
    std::string expected;
    for (const auto& seg : tpl->segments()) {
      if (const auto* lit = std::get_if<std::string>(&seg)) {
        expected += *lit;
      } else {
        const auto& ref = std::get<chorus::TemplateRef>(seg);
        CHORUS_FUZZ_CHECK(ref.offset < text.size());
        CHORUS_FUZZ_CHECK(text.substr(ref.offset, ref.source.size()) == ref.source);
        if (ref.kind == chorus::TemplateRefKind::node_output)
          CHORUS_FUZZ_CHECK(!ref.node_id.empty());
        has_json = has_json || ref.json.has_value();
        expected += value;
      }
    }
    chorus::TemplateLookup all =
        [&](const chorus::TemplateRef&) -> std::optional<std::string_view> { return value; };
    std::string out1, out2;
    chorus::Error e1 = chorus::render_template(*tpl, all, out1, "fuzz-node");
    chorus::Error e2 = chorus::render_template(*tpl, all, out2, "fuzz-node");
    CHORUS_FUZZ_CHECK(e1.code == e2.code && out1 == out2);
    if (!has_json) {
      CHORUS_FUZZ_CHECK(!e1);
      CHORUS_FUZZ_CHECK(out1 == expected);
    } else if (e1) {
      CHORUS_FUZZ_CHECK(e1.code == chorus::errc::invalid_workflow && e1.node_id == "fuzz-node");
    }

    chorus::TemplateLookup none =
        [](const chorus::TemplateRef&) -> std::optional<std::string_view> { return std::nullopt; };
    std::string out3;
    chorus::Error e3 = chorus::render_template(*tpl, none, out3, "fuzz-node");
    if (tpl->refs().empty()) {
      CHORUS_FUZZ_CHECK(!e3);
    } else {
      CHORUS_FUZZ_CHECK(e3.code == chorus::errc::invalid_workflow);
      CHORUS_FUZZ_CHECK(e3.message.find("fuzz-node") != std::string::npos);
    }
  }

  // The helpers the `.json` references use, on the raw inputs.
  std::string path_error;
  if (auto path = chorus::parse_json_path(text, path_error)) {
    if (auto json = chorus::parse_json_lenient(value)) {
      if (const auto* found = chorus::find_json_path(*json, *path))
        (void)chorus::json_to_text(*found);
    }
  } else {
    CHORUS_FUZZ_CHECK(!path_error.empty());
  }
  if (auto json = chorus::parse_json_lenient(value)) (void)chorus::json_to_text(*json);
  return 0;
}
