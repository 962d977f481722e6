// Reading the provider fixtures (CHORUS_FIXTURES_DIR) and checking a ChatResponse against their
// `expect` block. Shared by the sans-IO and the end-to-end tests.
#pragma once

#include "providers/wire.hpp"

#include <chorus/pricing.hpp>
#include <chorus/provider.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace chorus::test {

namespace json = boost::json;

struct Fixture {
  std::string name;  // file name without .json
  providers::Vendor vendor;
  bool stream = false;
  int status = 200;
  http::Headers headers;
  std::string body;  // exact bytes of the response body
  json::object request;
  json::object expect;
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline providers::Vendor vendor_of(std::string_view v) {
  if (v == "anthropic") return providers::Vendor::anthropic;
  if (v == "gemini") return providers::Vendor::gemini;
  if (v == "deepseek") return providers::Vendor::deepseek;
  return providers::Vendor::openai;
}

inline Fixture load_fixture(const std::string& name) {
  const auto path = std::filesystem::path(CHORUS_FIXTURES_DIR) / (name + ".json");
  json::object doc = json::parse(read_text(path)).as_object();
  Fixture f;
  f.name = name;
  f.vendor = vendor_of(doc.at("vendor").as_string());
  f.request = doc.at("request").as_object();
  const auto& resp = doc.at("response").as_object();
  f.status = static_cast<int>(resp.at("status").to_number<std::int64_t>());
  if (const auto* h = resp.if_contains("headers"))
    for (const auto& [k, v] : h->as_object())
      f.headers.emplace_back(std::string(k), std::string(v.as_string()));
  if (const auto* raw = resp.if_contains("body_raw"))
    f.body = std::string(raw->as_string());
  else
    f.body = json::serialize(resp.at("body"));
  f.expect = doc.at("expect").as_object();
  const std::string path_str(f.request.at("path").as_string());
  if (f.vendor == providers::Vendor::gemini)
    f.stream = path_str.find(":streamGenerateContent") != std::string::npos;
  else if (const auto* s = f.request.at("body").as_object().if_contains("stream"))
    f.stream = s->is_bool() && s->as_bool();
  return f;
}

inline std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(CHORUS_FIXTURES_DIR)) {
    const std::string file = e.path().filename().string();
    if (e.path().extension() != ".json") continue;
    for (std::string_view v : {"openai-", "anthropic-", "gemini-", "deepseek-"})
      if (file.starts_with(v)) names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline errc expected_kind(std::string_view kind) {
  if (kind == "quota") return errc::quota_exceeded;
  auto k = errc_from_string(kind);
  EXPECT_TRUE(k.has_value()) << "unknown kind in fixture: " << kind;
  return k.value_or(errc::server);
}

inline std::int64_t num(const json::value& v) {
  return v.to_number<std::int64_t>();
}

/// Checks the error part of `expect` against an Error.
inline void check_error(const json::object& expect, const Error& error, const std::string& where) {
  const json::value& e = expect.at("error");
  if (e.is_null()) {
    EXPECT_FALSE(error) << where << ": unexpected error " << error.describe();
    return;
  }
  ASSERT_TRUE(error) << where << ": expected an error";
  const auto& eo = e.as_object();
  EXPECT_EQ(error.code, make_error_code(expected_kind(eo.at("kind").as_string())))
      << where << ": " << error.describe();
  EXPECT_EQ(error.retryable(), eo.at("retryable").as_bool()) << where;
  if (eo.at("retry_after_ms").is_null()) {
    EXPECT_FALSE(error.retry_after.has_value()) << where;
  } else {
    ASSERT_TRUE(error.retry_after.has_value()) << where;
    EXPECT_EQ(error.retry_after->count(), num(eo.at("retry_after_ms"))) << where;
  }
  EXPECT_EQ(error.status, eo.at("status").is_null() ? 0 : num(eo.at("status"))) << where;
  EXPECT_FALSE(error.message.empty()) << where << ": the vendor's message is kept";
}

/// Checks a response against `expect` (success or in-stream error).
inline void check_response(const json::object& expect, const ChatResponse& r,
                           const std::string& where) {
  check_error(expect, r.error, where);
  if (!expect.at("content").is_null()) {
    EXPECT_EQ(r.content, std::string(expect.at("content").as_string())) << where;
  }
  auto check_count = [&](const char* key, std::int64_t got) {
    if (!expect.at(key).is_null()) {
      EXPECT_EQ(got, num(expect.at(key))) << where << ": " << key;
    }
  };
  check_count("prompt_tokens", r.usage.prompt_tokens);
  check_count("completion_tokens", r.usage.completion_tokens);
  check_count("total_tokens", r.usage.total_tokens);
  if (!expect.at("finish_reason").is_null()) {
    EXPECT_EQ(to_string(r.finish_reason), std::string(expect.at("finish_reason").as_string()))
        << where;
  }
  if (const auto* raw = expect.if_contains("finish_reason_raw"); raw && !raw->is_null()) {
    EXPECT_EQ(r.finish_reason_raw, std::string(raw->as_string())) << where;
  }
  if (!expect.at("model").is_null()) {
    EXPECT_EQ(r.model, std::string(expect.at("model").as_string())) << where;
  }
  if (const auto* reasoning = expect.if_contains("reasoning")) {
    EXPECT_EQ(r.reasoning, std::string(reasoning->as_string())) << where;
  } else {
    EXPECT_EQ(r.reasoning, "") << where;
  }
  if (const auto* v = expect.if_contains("reasoning_tokens"); v && !v->is_null()) {
    EXPECT_EQ(r.usage.reasoning_tokens, num(*v)) << where;
  }
  if (const auto* v = expect.if_contains("cached_prompt_tokens"); v && !v->is_null()) {
    EXPECT_EQ(r.usage.cached_prompt_tokens, num(*v)) << where;
  }
  if (const auto* calls = expect.if_contains("tool_calls"); calls && calls->is_array()) {
    ASSERT_EQ(r.tool_calls.size(), calls->as_array().size()) << where;
    for (std::size_t i = 0; i < r.tool_calls.size(); ++i) {
      const auto& e = calls->as_array()[i].as_object();
      EXPECT_EQ(r.tool_calls[i].id, std::string(e.at("id").as_string())) << where;
      EXPECT_EQ(r.tool_calls[i].name, std::string(e.at("name").as_string())) << where;
      EXPECT_EQ(json::parse(r.tool_calls[i].arguments),
                json::parse(std::string(e.at("arguments").as_string())))
          << where;
    }
  }
}

/// The cost `expect.cost_usd` asks for, computed by the library's formula with its own table.
inline void check_cost(const json::object& expect, const ChatResponse& r,
                       const std::string& where) {
  const auto* c = expect.if_contains("cost_usd");
  if (!c || c->is_null()) return;
  const double want = c->to_number<double>();
  ASSERT_TRUE(r.cost.has_value()) << where << ": cost missing";
  EXPECT_NEAR(*r.cost, want, 1e-12) << where;
}

}  // namespace chorus::test
