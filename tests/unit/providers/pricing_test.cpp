// The price table: longest-key matching, the cost formula, unknown models, user overrides.
#include "fixture_util.hpp"

#include <chorus/pricing.hpp>

#include <cstdio>
#include <cstdlib>

namespace chorus::test {
namespace {

TEST(Pricing, DefaultsMatchTheSharedTable) {
  // data/pricing.json starts from the fixtures' pricing.json: the same prices for every model.
  auto shared = json::parse(read_text(std::filesystem::path(CHORUS_FIXTURES_DIR) / "pricing.json"));
  PriceTable table = PriceTable::defaults();
  for (const auto& [key, v] : shared.at("models").as_object()) {
    const Price* p = table.find(key);
    ASSERT_NE(p, nullptr) << key;
    EXPECT_EQ(table.match(key), key);
    EXPECT_DOUBLE_EQ(*p->input, v.at("input").to_number<double>()) << key;
    EXPECT_DOUBLE_EQ(*p->output, v.at("output").to_number<double>()) << key;
    if (const auto* ci = v.as_object().if_contains("cached_input")) {
      EXPECT_DOUBLE_EQ(*p->cached_input, ci->to_number<double>()) << key;
    }
    EXPECT_TRUE(p->context_window.has_value()) << key;
  }
  EXPECT_EQ(table.find("sim-fast")->vendor, "simulated");
}

TEST(Pricing, LongestKeyMatching) {
  PriceTable t = PriceTable::defaults();
  EXPECT_EQ(t.match("gpt-4o-mini-2024-07-18"), "gpt-4o-mini");
  EXPECT_EQ(t.match("gpt-4o-2024-08-06"), "gpt-4o");
  EXPECT_EQ(t.match("claude-sonnet-4-20250514"), "claude-sonnet-4");
  EXPECT_EQ(t.match("gemini-2.0-flash-001"), "gemini-2.0-flash");
  EXPECT_EQ(t.match("models/gemini-2.0-flash"), "gemini-2.0-flash");
  EXPECT_EQ(t.match("gpt-4omni"), "");  // a key must be followed by '-' or the end
  EXPECT_EQ(t.find("llama3"), nullptr);
}

TEST(Pricing, CostFormulaWithCachedInput) {
  Price p;
  p.input = 0.28;
  p.output = 0.42;
  p.cached_input = 0.028;
  Usage u;
  u.prompt_tokens = 1000;
  u.cached_prompt_tokens = 600;
  u.completion_tokens = 50;
  EXPECT_NEAR(*compute_cost(p, u), (400 * 0.28 + 600 * 0.028 + 50 * 0.42) / 1e6, 1e-15);
  p.cached_input.reset();  // cached tokens priced at input when no cached price is listed
  EXPECT_NEAR(*compute_cost(p, u), (1000 * 0.28 + 50 * 0.42) / 1e6, 1e-15);
  p.output.reset();
  EXPECT_FALSE(compute_cost(p, u));
}

TEST(Pricing, UnknownModelIsNullAndWarnsOnce) {
  std::vector<std::string> warnings;
  set_pricing_warning_handler([&](std::string_view m) { warnings.emplace_back(m); });
  Usage u;
  u.prompt_tokens = 10;
  u.completion_tokens = 5;
  EXPECT_FALSE(price_call("my-local-model-x", u).has_value());
  EXPECT_FALSE(price_call("my-local-model-x", u).has_value());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("my-local-model-x"), std::string::npos);
  // A priced model costs something, and a fallback (the requested id) is tried second.
  EXPECT_TRUE(price_call("unknown-snapshot", u, "gpt-4o").has_value());
  EXPECT_EQ(warnings.size(), 1u);
  set_pricing_warning_handler({});
}

TEST(Pricing, UserOverrideMergesOverDefaults) {
  const auto saved = pricing();
  merge_pricing_json(R"({"as_of":"test","models":{"gpt-4o":{"input":1},
                        "my-model":{"vendor":"openai-compatible","input":2,"output":3}}})");
  auto t = pricing();
  EXPECT_DOUBLE_EQ(*t->find("gpt-4o")->input, 1.0);
  EXPECT_DOUBLE_EQ(*t->find("gpt-4o")->output, 10.0);    // kept
  EXPECT_EQ(t->find("gpt-4o")->context_window, 128000);  // kept
  EXPECT_DOUBLE_EQ(*t->find("my-model-7b")->output, 3.0);
  EXPECT_EQ(t->as_of(), "test");

  // Bad input names the field and leaves the table unchanged.
  try {
    merge_pricing_json(R"({"models":{"x":{"input":"cheap"}}})");
    FAIL() << "expected an exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code, make_error_code(errc::invalid_argument));
    EXPECT_NE(e.error().message.find("models.x.input"), std::string::npos) << e.error().message;
  }
  EXPECT_DOUBLE_EQ(*pricing()->find("gpt-4o")->input, 1.0);

  // From a file.
  const std::string path = std::string(CHORUS_BINARY_DIR) + "/pricing_override_test.json";
  {
    std::ofstream out(path);
    out << R"({"models":{"gpt-4o":{"input":5}}})";
  }
  load_pricing_file(path);
  EXPECT_DOUBLE_EQ(*pricing()->find("gpt-4o")->input, 5.0);
  std::remove(path.c_str());
  EXPECT_THROW(load_pricing_file(path), Exception);
  set_pricing(*saved);
  EXPECT_DOUBLE_EQ(*pricing()->find("gpt-4o")->input, 2.5);
}

TEST(Pricing, ContextWindows) {
  EXPECT_EQ(context_window("gpt-4o-mini-2024-07-18"), 128000);
  EXPECT_EQ(context_window("claude-sonnet-4-20250514"), 200000);
  EXPECT_FALSE(context_window("llama3").has_value());
}

}  // namespace
}  // namespace chorus::test
