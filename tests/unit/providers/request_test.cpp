// Request building per vendor (URL, headers, body fields) and prompt processing.
#include "providers/wire.hpp"

#include <chorus/provider.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace chorus::test {
namespace {

namespace json = boost::json;
using providers::Endpoint;
using providers::Vendor;

std::string header(const http::Request& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < k.size(); ++i)
      same = same && std::tolower(static_cast<unsigned char>(k[i])) ==
                         std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return v;
  }
  return "<absent>";
}

ChatRequest sample() {
  ChatRequest req;
  req.config.model = "m-1";
  req.config.system_prompt = "Be brief.";
  req.config.temperature = 0.5;
  req.config.max_tokens = 100;
  req.config.stop = {"END"};
  req.messages = {{Role::user, "Hi"}, {Role::assistant, "Hello"}, {Role::user, "Why?"}};
  return req;
}

TEST(BuildRequest, OpenAi) {
  Endpoint ep{Vendor::openai, "https://api.openai.com/v1/", "sk-test"};
  http::Request r = providers::build_chat_request(ep, sample(), true);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(header(r, "authorization"), "Bearer sk-test");
  EXPECT_EQ(header(r, "content-type"), "application/json");
  ASSERT_EQ(r.secrets.size(), 1u);
  EXPECT_EQ(r.secrets[0], "sk-test");
  json::object b = json::parse(r.body).as_object();
  EXPECT_EQ(b.at("model"), "m-1");
  const auto& msgs = b.at("messages").as_array();
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].at("role"), "system");
  EXPECT_EQ(msgs[0].at("content"), "Be brief.");
  EXPECT_EQ(msgs[2].at("role"), "assistant");
  EXPECT_EQ(b.at("temperature").as_double(), 0.5);
  EXPECT_EQ(b.at("max_completion_tokens").as_int64(), 100);
  EXPECT_FALSE(b.contains("max_tokens"));
  EXPECT_EQ(b.at("stop").as_array()[0], "END");
  EXPECT_EQ(b.at("stream"), true);
  EXPECT_EQ(b.at("stream_options").at("include_usage"), true);

  http::Request plain = providers::build_chat_request(ep, sample(), false);
  json::object pb = json::parse(plain.body).as_object();
  EXPECT_FALSE(pb.contains("stream"));
  EXPECT_FALSE(pb.contains("stream_options"));
}

TEST(BuildRequest, OpenAiJsonModeSchemaAndExtras) {
  Endpoint ep{Vendor::openai, "https://api.openai.com/v1", "k"};
  ChatRequest req = sample();
  req.config.json_mode = true;
  req.config.extra["seed"] = 7;
  req.config.extra["temperature"] = 0.1;  // extras win: passed through verbatim
  json::object b = json::parse(providers::build_chat_request(ep, req, false).body).as_object();
  EXPECT_EQ(b.at("response_format").at("type"), "json_object");
  EXPECT_EQ(b.at("seed").as_int64(), 7);
  EXPECT_EQ(b.at("temperature").as_double(), 0.1);
  req.config.response_schema = json::parse(R"({"type":"object"})");
  b = json::parse(providers::build_chat_request(ep, req, false).body).as_object();
  EXPECT_EQ(b.at("response_format").at("type"), "json_schema");
  EXPECT_EQ(b.at("response_format").at("json_schema").at("schema").at("type"), "object");
}

TEST(BuildRequest, DeepSeekAndCompatible) {
  Endpoint ds{Vendor::deepseek, "https://api.deepseek.com", "k"};
  http::Request r = providers::build_chat_request(ds, sample(), false);
  EXPECT_EQ(r.url, "https://api.deepseek.com/chat/completions");
  json::object b = json::parse(r.body).as_object();
  EXPECT_EQ(b.at("max_tokens").as_int64(), 100);
  Endpoint local{Vendor::openai_compatible, "http://localhost:11434/v1", ""};
  http::Request lr = providers::build_chat_request(local, sample(), true);
  EXPECT_EQ(lr.url, "http://localhost:11434/v1/chat/completions");
  EXPECT_EQ(header(lr, "authorization"), "<absent>");  // no key: no header
}

TEST(BuildRequest, Anthropic) {
  Endpoint ep{Vendor::anthropic, "https://api.anthropic.com", "ak"};
  ChatRequest req = sample();
  req.config.max_tokens.reset();
  req.messages.insert(req.messages.begin(), Message{Role::system, "Use French."});
  http::Request r = providers::build_chat_request(ep, req, true);
  EXPECT_EQ(r.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(header(r, "x-api-key"), "ak");
  EXPECT_EQ(header(r, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(header(r, "authorization"), "<absent>");
  json::object b = json::parse(r.body).as_object();
  EXPECT_EQ(b.at("max_tokens").as_int64(), providers::anthropic_default_max_tokens);
  EXPECT_EQ(b.at("system"), "Be brief.\n\nUse French.");
  const auto& msgs = b.at("messages").as_array();
  ASSERT_EQ(msgs.size(), 3u);  // system messages moved to the top-level field
  EXPECT_EQ(msgs[0].at("role"), "user");
  EXPECT_EQ(b.at("stop_sequences").as_array()[0], "END");
  EXPECT_EQ(b.at("stream"), true);
  EXPECT_FALSE(b.contains("stream_options"));
}

TEST(BuildRequest, Gemini) {
  Endpoint ep{Vendor::gemini, "https://generativelanguage.googleapis.com", "gk"};
  ChatRequest req = sample();
  req.config.model = "models/gemini-2.0-flash";
  req.config.json_mode = true;
  http::Request s = providers::build_chat_request(ep, req, true);
  EXPECT_EQ(s.url,
            "https://generativelanguage.googleapis.com/v1beta/models/"
            "gemini-2.0-flash:streamGenerateContent?alt=sse");
  http::Request r = providers::build_chat_request(ep, req, false);
  EXPECT_EQ(
      r.url,
      "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent");
  EXPECT_EQ(header(r, "x-goog-api-key"), "gk");
  EXPECT_EQ(r.url.find("key="), std::string::npos);  // the key never goes into the URL
  json::object b = json::parse(r.body).as_object();
  const auto& contents = b.at("contents").as_array();
  ASSERT_EQ(contents.size(), 3u);
  EXPECT_EQ(contents[1].at("role"), "model");
  EXPECT_EQ(contents[0].at("parts").as_array()[0].at("text"), "Hi");
  EXPECT_EQ(b.at("systemInstruction").at("parts").as_array()[0].at("text"), "Be brief.");
  const auto& gen = b.at("generationConfig").as_object();
  EXPECT_EQ(gen.at("temperature").as_double(), 0.5);
  EXPECT_EQ(gen.at("maxOutputTokens").as_int64(), 100);
  EXPECT_EQ(gen.at("stopSequences").as_array()[0], "END");
  EXPECT_EQ(gen.at("responseMimeType"), "application/json");
}

TEST(BuildRequest, ValidateKeyRequests) {
  EXPECT_EQ(providers::build_validate_request({Vendor::openai, "http://h/v1", ""}, "k").url,
            "http://h/v1/models");
  auto a = providers::build_validate_request({Vendor::anthropic, "http://h", ""}, "k");
  EXPECT_EQ(a.url, "http://h/v1/models");
  EXPECT_EQ(a.method, "GET");
  EXPECT_EQ(header(a, "x-api-key"), "k");
  EXPECT_EQ(providers::build_validate_request({Vendor::gemini, "http://h", ""}, "k").url,
            "http://h/v1beta/models");
}

TEST(Prompt, CleanText) {
  EXPECT_EQ(clean_prompt_text("  a\r\nb\rc\x01\x7f\td\n  "), "a\nb\nc\td");
  EXPECT_EQ(clean_prompt_text("x\xc2\x85y \xc3\xa9"), "xy \xc3\xa9");  // C1 NEL removed, é kept
  EXPECT_EQ(clean_prompt_text(" \n\t "), "");
}

TEST(Prompt, PrepareValidatesFields) {
  ChatRequest req = sample();
  req.config.model.clear();
  Error e = prepare_request(req, std::nullopt);
  EXPECT_EQ(e.code, make_error_code(errc::invalid_argument));
  EXPECT_NE(e.message.find("model"), std::string::npos);

  req = sample();
  req.config.temperature = 3;
  e = prepare_request(req, std::nullopt);
  EXPECT_NE(e.message.find("temperature"), std::string::npos);

  req = sample();
  req.messages = {{Role::user, " \x01 "}};
  e = prepare_request(req, std::nullopt);
  EXPECT_EQ(e.code, make_error_code(errc::invalid_argument));
  EXPECT_NE(e.message.find("messages"), std::string::npos);
}

TEST(Prompt, ContextLengthBeforeSending) {
  ChatRequest req = sample();
  req.config.max_tokens.reset();
  req.messages = {{Role::user, std::string(4000, 'a')}};  // about 1000 tokens
  EXPECT_FALSE(prepare_request(req, 2000));
  Error e = prepare_request(req, 500);
  EXPECT_EQ(e.code, make_error_code(errc::context_length));
  EXPECT_NE(e.message.find("500"), std::string::npos) << e.message;
  req.config.max_tokens = 1500;  // prompt + output must fit
  EXPECT_EQ(prepare_request(req, 2000).code, make_error_code(errc::context_length));
}

}  // namespace
}  // namespace chorus::test
