// The fake LLM server over real sockets, with a small synchronous Beast client written here (the
// library's own HTTP client is not used, so these tests stand on their own).
#include "fake_llm.hpp"

#include <chorus/simulation.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <variant>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace sim = chorus::sim;
using asio::ip::tcp;
using chorus::test::FakeLlmOptions;
using chorus::test::FakeLlmServer;

namespace {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  boost::system::error_code ec;  // set when the response did not complete

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  json::value json() const {
    boost::system::error_code e;
    auto v = json::parse(body, e);
    EXPECT_FALSE(e) << "not JSON: " << body;
    return v;
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// One keep-alive connection, plain or TLS.
class Client {
 public:
  explicit Client(const FakeLlmServer& server, std::string ca_file = {}, bool verify = true)
      : ssl_(asio::ssl::context::tls_client) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), server.port());
    if (server.base_url().starts_with("https")) {
      ssl_.set_verify_mode(verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
      if (!ca_file.empty()) ssl_.load_verify_file(ca_file);
      auto& s = stream_.emplace<beast::ssl_stream<beast::tcp_stream>>(ioc_, ssl_);
      s.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
      beast::get_lowest_layer(s).connect(ep);
      s.handshake(asio::ssl::stream_base::client, handshake_ec_);
    } else {
      stream_.emplace<beast::tcp_stream>(ioc_).connect(ep);
    }
  }

  boost::system::error_code handshake_error() const { return handshake_ec_; }

  Reply request(std::string_view method, std::string_view target, std::string body = {},
                const Headers& headers = {}) {
    return std::visit(
        [&](auto& s) -> Reply {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) {
            return {};
          } else {
            http::request<http::string_body> req(http::string_to_verb(method), target, 11);
            req.set(http::field::host, "127.0.0.1");
            for (auto& [k, v] : headers)
              req.set(k, v);
            if (!body.empty() || method == "POST") {
              if (!req.count(http::field::content_type))
                req.set(http::field::content_type, "application/json");
              req.body() = std::move(body);
              req.prepare_payload();
            }
            Reply r;
            http::write(s, req, r.ec);
            if (r.ec) return r;
            http::response_parser<http::string_body> parser;
            parser.body_limit(boost::none);
            http::read(s, buffer_, parser, r.ec);
            r.status = parser.get().result_int();
            for (auto& f : parser.get()) {
              std::string name(f.name_string());
              for (auto& ch : name)
                ch = static_cast<char>(std::tolower(ch));
              r.headers[name] = std::string(f.value());
            }
            r.body = parser.get().body();
            return r;
          }
        },
        stream_);
  }

 private:
  asio::io_context ioc_;
  asio::ssl::context ssl_;
  std::variant<std::monostate, beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
  boost::system::error_code handshake_ec_;
};

struct Event {
  std::string event;
  std::string data;
};

// A small SSE reader for the tests: events separated by blank lines (LF or CRLF), comments
// skipped, multi-line data joined with "\n". Records whether CRLF framing was used.
std::vector<Event> parse_sse(std::string_view body, bool* crlf = nullptr) {
  std::vector<Event> out;
  Event cur;
  bool has = false;
  if (crlf) *crlf = body.find("\r\n") != std::string_view::npos;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find('\n', pos);
    std::string_view line =
        body.substr(pos, eol == std::string_view::npos ? body.size() - pos : eol - pos);
    pos = eol == std::string_view::npos ? body.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has) out.push_back(cur);
      cur = {};
      has = false;
      continue;
    }
    if (line.front() == ':') continue;
    auto colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") cur.event = value;
    if (field == "data") {
      if (!cur.data.empty()) cur.data += '\n';
      cur.data += value;
      has = true;
    }
  }
  if (has) out.push_back(cur);
  return out;
}

std::string openai_body(std::string_view model, std::string_view user, bool stream = false,
                        bool include_usage = false, std::string_view system = "") {
  json::object o;
  o["model"] = model;
  json::array messages;
  if (!system.empty()) messages.push_back(json::object{{"role", "system"}, {"content", system}});
  messages.push_back(json::object{{"role", "user"}, {"content", user}});
  o["messages"] = messages;
  if (stream) o["stream"] = true;
  if (include_usage) o["stream_options"] = json::object{{"include_usage", true}};
  return json::serialize(o);
}

std::string anthropic_body(std::string_view model, std::string_view user, bool stream = false,
                           std::string_view system = "") {
  json::object o{{"model", model}, {"max_tokens", 1024}};
  if (!system.empty()) o["system"] = system;
  o["messages"] = json::array{json::object{{"role", "user"}, {"content", user}}};
  if (stream) o["stream"] = true;
  return json::serialize(o);
}

std::string gemini_body(std::string_view user, std::string_view system = "") {
  json::object o;
  o["contents"] = json::array{
      json::object{{"role", "user"}, {"parts", json::array{json::object{{"text", user}}}}}};
  if (!system.empty())
    o["systemInstruction"] = json::object{{"parts", json::array{json::object{{"text", system}}}}};
  return json::serialize(o);
}

const Headers openai_auth{{"authorization", "Bearer test-key"}};
const Headers anthropic_auth{{"x-api-key", "test-key"}, {"anthropic-version", "2023-06-01"}};
const Headers gemini_auth{{"x-goog-api-key", "test-key"}};

std::int64_t prompt_estimate(std::initializer_list<std::string_view> texts) {
  std::int64_t n = 0;
  for (auto t : texts)
    n += sim::estimate_tokens(t);
  return n;
}

// Text assembled from an OpenAI-format stream; also returns the usage object when one came.
struct Assembled {
  std::string text, reasoning, finish;
  json::value usage;
  bool done = false;
  bool role_first = false;
};

Assembled assemble_openai(const std::vector<Event>& events) {
  Assembled a;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].data == "[DONE]") {
      a.done = true;
      EXPECT_EQ(i, events.size() - 1);
      continue;
    }
    auto v = json::parse(events[i].data);
    auto& o = v.as_object();
    EXPECT_EQ(o.at("object").as_string(), "chat.completion.chunk");
    if (auto* u = o.if_contains("usage"); u && !u->is_null()) a.usage = *u;
    auto& choices = o.at("choices").as_array();
    if (choices.empty()) continue;
    auto& delta = choices[0].at("delta").as_object();
    if (i == 0) a.role_first = delta.contains("role");
    if (auto* c = delta.if_contains("content"); c && c->is_string()) a.text += c->as_string();
    if (auto* r = delta.if_contains("reasoning_content"); r && r->is_string())
      a.reasoning += r->as_string();
    if (auto& fr = choices[0].at("finish_reason"); fr.is_string()) a.finish = fr.as_string();
  }
  return a;
}

class FakeLlm : public ::testing::Test {
 protected:
  FakeLlmServer server_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// OpenAI

TEST_F(FakeLlm, OpenAiNonStreamDefaultReplyAndUsage) {
  Client c(server_);
  const std::string system = "You are a helpful geographer.";
  const std::string user = "Describe the rivers of northern Italy";
  auto r = c.request("POST", "/v1/chat/completions",
                     openai_body("gpt-4o-mini", user, false, false, system), openai_auth);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.header("content-type").starts_with("application/json"));
  auto v = r.json();
  const std::string expected = sim::default_reply(system, user, "gpt-4o-mini");
  EXPECT_EQ(v.at("object").as_string(), "chat.completion");
  EXPECT_EQ(v.at("model").as_string(), "gpt-4o-mini");
  auto& choice = v.at("choices").at(0);
  EXPECT_EQ(choice.at("message").at("role").as_string(), "assistant");
  EXPECT_EQ(choice.at("message").at("content").as_string(), expected);
  EXPECT_EQ(choice.at("finish_reason").as_string(), "stop");
  auto& u = v.at("usage");
  EXPECT_EQ(u.at("prompt_tokens").as_int64(), prompt_estimate({system, user}));
  EXPECT_EQ(u.at("completion_tokens").as_int64(),
            static_cast<std::int64_t>(sim::count_tokens(expected)));
  EXPECT_EQ(u.at("total_tokens").as_int64(),
            u.at("prompt_tokens").as_int64() + u.at("completion_tokens").as_int64());
  // The DeepSeek path without /v1 is the same endpoint.
  auto r2 = c.request("POST", "/chat/completions",
                      openai_body("gpt-4o-mini", user, false, false, system), openai_auth);
  EXPECT_EQ(r2.json().at("choices").at(0).at("message").at("content").as_string(), expected);
}

TEST_F(FakeLlm, OpenAiStreamWithIncludeUsage) {
  Client c(server_);
  const std::string user = "[[reply:Hello, world! How are you?]]";
  auto r = c.request("POST", "/v1/chat/completions", openai_body("gpt-4o-mini", user, true, true),
                     openai_auth);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.header("content-type").starts_with("text/event-stream"));
  auto events = parse_sse(r.body);
  auto a = assemble_openai(events);
  EXPECT_TRUE(a.role_first);
  EXPECT_TRUE(a.done);
  EXPECT_EQ(a.text, "Hello, world! How are you?");
  EXPECT_EQ(a.finish, "stop");
  ASSERT_TRUE(a.usage.is_object());
  EXPECT_EQ(a.usage.at("completion_tokens").as_int64(), 8);  // Hello , world ! How are you ?
  EXPECT_EQ(a.usage.at("prompt_tokens").as_int64(), sim::estimate_tokens(user));
  // The usage chunk is the last before [DONE] and has no choices.
  auto last = json::parse(events[events.size() - 2].data);
  EXPECT_TRUE(last.at("choices").as_array().empty());
  // Every other chunk has "usage": null.
  EXPECT_TRUE(json::parse(events[1].data).at("usage").is_null());
}

TEST_F(FakeLlm, OpenAiStreamWithoutIncludeUsageHasNoUsage) {
  Client c(server_);
  auto r = c.request("POST", "/v1/chat/completions",
                     openai_body("gpt-4o", "[[lorem:20]]", true, false), openai_auth);
  auto events = parse_sse(r.body);
  auto a = assemble_openai(events);
  EXPECT_EQ(a.text, sim::lorem(20));
  EXPECT_TRUE(a.usage.is_null());
  for (auto& e : events)
    EXPECT_EQ(e.data.find("\"usage\""), std::string::npos) << e.data;
}

TEST_F(FakeLlm, OpenAiMaxTokensFinishesWithLength) {
  Client c(server_);
  json::object o = json::parse(openai_body("gpt-4o", "[[lorem:30]]")).as_object();
  o["max_tokens"] = 5;
  auto r = c.request("POST", "/v1/chat/completions", json::serialize(o), openai_auth);
  auto v = r.json();
  EXPECT_EQ(v.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 5);
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content").as_string(),
            "Lorem ipsum dolor sit amet");
}

// ---------------------------------------------------------------------------------------------
// DeepSeek

TEST_F(FakeLlm, DeepSeekUsageFieldsAndStreamUsageInFinishChunk) {
  Client c(server_);
  const std::string user = "[[reply:Sure thing.]]";
  auto r = c.request("POST", "/chat/completions", openai_body("deepseek-chat", user), openai_auth);
  auto u = r.json().at("usage");
  EXPECT_EQ(
      u.at("prompt_cache_hit_tokens").as_int64() + u.at("prompt_cache_miss_tokens").as_int64(),
      u.at("prompt_tokens").as_int64());
  EXPECT_EQ(u.at("completion_tokens").as_int64(), 3);

  auto s =
      c.request("POST", "/chat/completions", openai_body("deepseek-chat", user, true), openai_auth);
  EXPECT_NE(s.body.find(": keep-alive"), std::string::npos);
  auto events = parse_sse(s.body);
  auto a = assemble_openai(events);
  EXPECT_EQ(a.text, "Sure thing.");
  ASSERT_TRUE(a.usage.is_object());
  EXPECT_EQ(a.usage.at("completion_tokens").as_int64(), 3);
  auto finish = json::parse(events[events.size() - 2].data);
  EXPECT_EQ(finish.at("choices").at(0).at("finish_reason").as_string(), "stop");
  EXPECT_TRUE(finish.as_object().contains("usage"));
}

TEST_F(FakeLlm, DeepSeekReasonerEmitsReasoningFirst) {
  Client c(server_);
  const std::string user = "[[reply:9.9 is larger.]] Which is larger, 9.11 or 9.9?";
  auto r =
      c.request("POST", "/chat/completions", openai_body("deepseek-reasoner", user), openai_auth);
  auto v = r.json();
  auto& msg = v.at("choices").at(0).at("message");
  EXPECT_EQ(msg.at("content").as_string(), "9.9 is larger.");
  const std::string reasoning(msg.at("reasoning_content").as_string());
  EXPECT_FALSE(reasoning.empty());
  auto& u = v.at("usage");
  const auto reasoning_tokens = static_cast<std::int64_t>(sim::count_tokens(reasoning));
  EXPECT_EQ(u.at("completion_tokens_details").at("reasoning_tokens").as_int64(), reasoning_tokens);
  EXPECT_EQ(u.at("completion_tokens").as_int64(),
            reasoning_tokens + static_cast<std::int64_t>(sim::count_tokens("9.9 is larger.")));

  auto s = c.request("POST", "/chat/completions", openai_body("deepseek-reasoner", user, true),
                     openai_auth);
  auto events = parse_sse(s.body);
  auto a = assemble_openai(events);
  EXPECT_EQ(a.reasoning, reasoning);
  EXPECT_EQ(a.text, "9.9 is larger.");
  // All reasoning pieces come before the first content piece.
  bool seen_content = false;
  for (auto& e : events) {
    if (e.data == "[DONE]") continue;
    auto v = json::parse(e.data);
    auto& ch = v.at("choices").as_array();
    if (ch.empty()) continue;
    auto& d = ch[0].at("delta").as_object();
    if (auto* t = d.if_contains("content"); t && t->is_string() && !t->as_string().empty())
      seen_content = true;
    if (auto* t = d.if_contains("reasoning_content");
        t && t->is_string() && !t->as_string().empty()) {
      EXPECT_FALSE(seen_content);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Anthropic

TEST_F(FakeLlm, AnthropicNonStream) {
  Client c(server_);
  const std::string system = "You are terse.";
  const std::string user = "[[reply:Paris.]] Capital of France?";
  auto r =
      c.request("POST", "/v1/messages",
                anthropic_body("claude-sonnet-4-20250514", user, false, system), anthropic_auth);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.header("request-id").empty());
  auto v = r.json();
  EXPECT_EQ(v.at("type").as_string(), "message");
  EXPECT_EQ(v.at("role").as_string(), "assistant");
  EXPECT_EQ(v.at("content").at(0).at("type").as_string(), "text");
  EXPECT_EQ(v.at("content").at(0).at("text").as_string(), "Paris.");
  EXPECT_EQ(v.at("stop_reason").as_string(), "end_turn");
  EXPECT_EQ(v.at("usage").at("input_tokens").as_int64(), prompt_estimate({system, user}));
  EXPECT_EQ(v.at("usage").at("output_tokens").as_int64(), 2);
}

TEST_F(FakeLlm, AnthropicStreamHasEveryNamedEvent) {
  Client c(server_);
  auto r = c.request("POST", "/v1/messages",
                     anthropic_body("claude-3-5-haiku", "[[lorem:9]]", true), anthropic_auth);
  ASSERT_EQ(r.status, 200);
  auto events = parse_sse(r.body);
  std::vector<std::string> names;
  std::string text;
  std::int64_t output_tokens = -1, input_tokens = -1;
  for (auto& e : events) {
    auto v = json::parse(e.data);
    EXPECT_EQ(v.at("type").as_string(), e.event);  // the JSON type equals the event name
    if (names.empty() || names.back() != e.event) names.push_back(e.event);
    if (e.event == "message_start")
      input_tokens = v.at("message").at("usage").at("input_tokens").as_int64();
    if (e.event == "content_block_delta") text += v.at("delta").at("text").as_string();
    if (e.event == "message_delta") {
      output_tokens = v.at("usage").at("output_tokens").as_int64();
      EXPECT_EQ(v.at("delta").at("stop_reason").as_string(), "end_turn");
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "content_block_start", "ping",
                                             "content_block_delta", "content_block_stop",
                                             "message_delta", "message_stop"}));
  EXPECT_EQ(text, sim::lorem(9));
  EXPECT_EQ(output_tokens, 9);
  EXPECT_EQ(input_tokens, sim::estimate_tokens("[[lorem:9]]"));
}

TEST_F(FakeLlm, AnthropicRequiresVersionHeaderAndMaxTokens) {
  Client c(server_);
  auto r = c.request("POST", "/v1/messages", anthropic_body("claude", "hi"),
                     {{"x-api-key", "test-key"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json().at("error").at("type").as_string(), "invalid_request_error");
  EXPECT_NE(r.body.find("anthropic-version"), std::string::npos);
  auto r2 = c.request("POST", "/v1/messages",
                      R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})",
                      anthropic_auth);
  EXPECT_EQ(r2.status, 400);
  EXPECT_NE(r2.json().at("error").at("message").as_string().find("max_tokens"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Gemini

TEST_F(FakeLlm, GeminiGenerateContent) {
  Client c(server_);
  const std::string system = "Answer like a poet.";
  const std::string user = "[[reply:The sky is blue.]]";
  auto r = c.request("POST", "/v1beta/models/gemini-2.0-flash:generateContent",
                     gemini_body(user, system), gemini_auth);
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = r.json();
  auto& cand = v.at("candidates").at(0);
  EXPECT_EQ(cand.at("content").at("parts").at(0).at("text").as_string(), "The sky is blue.");
  EXPECT_EQ(cand.at("finishReason").as_string(), "STOP");
  auto& u = v.at("usageMetadata");
  EXPECT_EQ(u.at("promptTokenCount").as_int64(), prompt_estimate({system, user}));
  EXPECT_EQ(u.at("candidatesTokenCount").as_int64(), 5);
  EXPECT_EQ(u.at("totalTokenCount").as_int64(), u.at("promptTokenCount").as_int64() + 5);
  EXPECT_EQ(v.at("modelVersion").as_string(), "gemini-2.0-flash");
  EXPECT_FALSE(v.at("responseId").as_string().empty());
}

TEST_F(FakeLlm, GeminiStreamCrlfRunningUsageKeyInQuery) {
  Client c(server_);
  auto r = c.request("POST",
                     "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse&key=test-key",
                     gemini_body("[[lorem:6]]"));
  ASSERT_EQ(r.status, 200) << r.body;
  bool crlf = false;
  auto events = parse_sse(r.body, &crlf);
  EXPECT_TRUE(crlf);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  std::string text;
  std::int64_t last_count = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto v = json::parse(events[i].data);
    auto& cand = v.at("candidates").at(0);
    text += cand.at("content").at("parts").at(0).at("text").as_string();
    auto count = v.at("usageMetadata").at("candidatesTokenCount").as_int64();
    EXPECT_GE(count, last_count);
    last_count = count;
    EXPECT_EQ(cand.as_object().contains("finishReason"), i == events.size() - 1);
  }
  EXPECT_EQ(text, sim::lorem(6));
  EXPECT_EQ(last_count, 6);

  // Without alt=sse the stream is one JSON array of the same responses.
  auto arr = c.request("POST", "/v1beta/models/gemini-1.5-flash:streamGenerateContent",
                       gemini_body("[[lorem:6]]"), gemini_auth);
  auto v = arr.json();
  ASSERT_TRUE(v.is_array()) << arr.body;
  EXPECT_EQ(v.as_array().size(), events.size());
  EXPECT_EQ(v.as_array().back().at("usageMetadata").at("candidatesTokenCount").as_int64(), 6);
}

// ---------------------------------------------------------------------------------------------
// Keys and models

TEST_F(FakeLlm, AuthErrorsInEachVendorsShapeWithoutTheKey) {
  Client c(server_);
  for (auto* key : {"", "invalid-secret-123"}) {
    Headers h;
    if (*key) h.push_back({"authorization", std::string("Bearer ") + key});
    auto r = c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", "hi"), h);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.json().at("error").at("code").as_string(), "invalid_api_key");
    EXPECT_EQ(r.body.find("secret"), std::string::npos);

    Headers ha{{"anthropic-version", "2023-06-01"}};
    if (*key) ha.push_back({"x-api-key", key});
    auto a = c.request("POST", "/v1/messages", anthropic_body("claude", "hi"), ha);
    EXPECT_EQ(a.status, 401);
    EXPECT_EQ(a.json().at("error").at("type").as_string(), "authentication_error");
    EXPECT_EQ(a.body.find("secret"), std::string::npos);

    Headers hg;
    if (*key) hg.push_back({"x-goog-api-key", key});
    auto g =
        c.request("POST", "/v1beta/models/gemini-2.0-flash:generateContent", gemini_body("hi"), hg);
    EXPECT_EQ(g.status, 400);
    auto e = g.json().at("error");
    EXPECT_EQ(e.at("status").as_string(), "INVALID_ARGUMENT");
    EXPECT_EQ(e.at("details").at(0).at("reason").as_string(), "API_KEY_INVALID");
    EXPECT_EQ(g.body.find("secret"), std::string::npos);
  }
}

TEST_F(FakeLlm, ModelListsValidateKeys) {
  Client c(server_);
  auto o = c.request("GET", "/v1/models", {}, openai_auth);
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.json().at("object").as_string(), "list");
  auto a = c.request("GET", "/v1/models", {}, anthropic_auth);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.json().at("data").at(0).at("type").as_string(), "model");
  auto g = c.request("GET", "/v1beta/models", {}, gemini_auth);
  EXPECT_EQ(g.status, 200);
  EXPECT_TRUE(g.json().at("models").as_array().size() > 0);
  EXPECT_EQ(c.request("GET", "/v1/models", {}, {{"authorization", "Bearer invalid"}}).status, 401);
  EXPECT_EQ(c.request("GET", "/v1/models", {}, {{"x-api-key", "invalid"}}).status, 401);
  EXPECT_EQ(c.request("GET", "/v1beta/models?key=invalid").status, 400);
}

// ---------------------------------------------------------------------------------------------
// Faults

TEST_F(FakeLlm, StatusWithRetryHeadersPerVendor) {
  Client c(server_);
  auto o = c.request("POST", "/v1/chat/completions",
                     openai_body("gpt-4o", "[[status:429 retry-after=2 retry-after-ms=850]]"),
                     openai_auth);
  EXPECT_EQ(o.status, 429);
  EXPECT_EQ(o.header("retry-after"), "2");
  EXPECT_EQ(o.header("retry-after-ms"), "850");
  EXPECT_EQ(o.json().at("error").at("code").as_string(), "rate_limit_exceeded");

  auto a =
      c.request("POST", "/v1/messages", anthropic_body("claude", "[[status:529]]"), anthropic_auth);
  EXPECT_EQ(a.status, 529);
  EXPECT_EQ(a.json().at("error").at("type").as_string(), "overloaded_error");
  auto a429 = c.request("POST", "/v1/messages",
                        anthropic_body("claude", "[[status:429 retry-after=12]]"), anthropic_auth);
  EXPECT_EQ(a429.json().at("error").at("type").as_string(), "rate_limit_error");
  EXPECT_EQ(a429.header("retry-after"), "12");

  auto g = c.request("POST", "/v1beta/models/gemini-2.0-flash:generateContent",
                     gemini_body("[[status:429 retry-after=17]]"), gemini_auth);
  EXPECT_EQ(g.status, 429);
  auto e = g.json().at("error");
  EXPECT_EQ(e.at("status").as_string(), "RESOURCE_EXHAUSTED");
  bool retry_info = false;
  for (auto& d : e.at("details").as_array())
    if (d.at("@type").as_string() == "type.googleapis.com/google.rpc.RetryInfo") {
      EXPECT_EQ(d.at("retryDelay").as_string(), "17s");
      retry_info = true;
    }
  EXPECT_TRUE(retry_info);

  auto g503 = c.request("POST", "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                        gemini_body("[[status:503]]"), gemini_auth);
  EXPECT_EQ(g503.status, 503);
  EXPECT_EQ(g503.json().at("error").at("status").as_string(), "UNAVAILABLE");  // JSON, not SSE
  auto d402 = c.request("POST", "/chat/completions", openai_body("deepseek-chat", "[[status:402]]"),
                        openai_auth);
  EXPECT_EQ(d402.status, 402);
  EXPECT_EQ(d402.json().at("error").at("message").as_string(), "Insufficient Balance");
}

TEST_F(FakeLlm, StatusTimesThenSuccess) {
  Client c(server_);
  const auto body = openai_body("gpt-4o", "[[status:503 times=2 id=times-test]] [[reply:ok]]");
  EXPECT_EQ(c.request("POST", "/v1/chat/completions", body, openai_auth).status, 503);
  EXPECT_EQ(c.request("POST", "/v1/chat/completions", body, openai_auth).status, 503);
  auto ok = c.request("POST", "/v1/chat/completions", body, openai_auth);
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.json().at("choices").at(0).at("message").at("content").as_string(), "ok");
  EXPECT_EQ(c.request("POST", "/v1/chat/completions", body, openai_auth).status, 200);
  // A different directive text has its own count; /_fake/reset starts every count again.
  const auto other = openai_body("gpt-4o", "[[status:503 times=1 id=other]]");
  EXPECT_EQ(c.request("POST", "/v1/chat/completions", other, openai_auth).status, 503);
  EXPECT_EQ(c.request("POST", "/_fake/reset").status, 200);
  EXPECT_EQ(c.request("POST", "/v1/chat/completions", body, openai_auth).status, 503);
}

TEST_F(FakeLlm, HeaderDirectivesWorkWithArbitraryBodies) {
  Client c(server_);
  Headers h{{"x-fake-directives", "[[status:500 times=1 id=hdr]] [[reply:from header]]"},
            {"content-type", "text/plain"}};
  auto r1 = c.request("POST", "/anything", "not json at all", h);
  EXPECT_EQ(r1.status, 500);
  EXPECT_EQ(r1.json().at("error").at("type").as_string(), "server_error");
  auto r2 = c.request("POST", "/anything", "not json at all", h);
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(r2.json().at("choices").at(0).at("message").at("content").as_string(), "from header");
  // On a vendor path the key is still checked, the body is not.
  auto a = c.request("POST", "/v1/messages", "garbage",
                     {{"x-api-key", "k"},
                      {"anthropic-version", "2023-06-01"},
                      {"x-fake-directives", "[[reply:lenient]]"}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json().at("content").at(0).at("text").as_string(), "lenient");
  EXPECT_EQ(c.request("POST", "/v1/messages", "garbage",
                      {{"anthropic-version", "2023-06-01"}, {"x-fake-directives", "[[echo]]"}})
                .status,
            401);
  // Message directives win over the header's.
  auto r3 =
      c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", "[[reply:from message]]"),
                {{"authorization", "Bearer k"}, {"x-fake-directives", "[[reply:from header]]"}});
  EXPECT_EQ(r3.json().at("choices").at(0).at("message").at("content").as_string(), "from message");
}

TEST_F(FakeLlm, CutMidStreamClosesAfterNTokens) {
  Client c(server_);
  auto r = c.request("POST", "/v1/chat/completions",
                     openai_body("gpt-4o", "[[lorem:20]] [[cut:3]]", true), openai_auth);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.ec) << "the stream must not complete";
  auto a = assemble_openai(parse_sse(r.body));
  EXPECT_EQ(a.text, "Lorem ipsum dolor");
  EXPECT_FALSE(a.done);

  Client c2(server_);
  auto g = c2.request("POST", "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                      gemini_body("[[lorem:20]] [[cut:2]]"), gemini_auth);
  EXPECT_TRUE(g.ec);
  EXPECT_EQ(parse_sse(g.body).size(), 2u);
}

TEST_F(FakeLlm, CutMidBodyClosesAfterNBytes) {
  Client c(server_);
  auto r = c.request("POST", "/v1/messages", anthropic_body("claude", "[[lorem:50]] [[cut:40]]"),
                     anthropic_auth);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.ec);
  EXPECT_EQ(r.body.size(), 40u);
  EXPECT_GT(std::stoul(r.header("content-length")), 40u);
}

TEST_F(FakeLlm, MalformedBodyAndMalformedStreamLine) {
  Client c(server_);
  for (auto [path, body, headers] :
       {std::tuple{"/v1/chat/completions", openai_body("gpt-4o", "[[malformed]] hi"), openai_auth},
        std::tuple{"/v1/messages", anthropic_body("claude", "[[malformed]] hi"), anthropic_auth},
        std::tuple{"/v1beta/models/g:generateContent", gemini_body("[[malformed]] hi"),
                   gemini_auth}}) {
    auto r = c.request("POST", path, body, headers);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.ec);
    boost::system::error_code ec;
    json::parse(r.body, ec);
    EXPECT_TRUE(ec) << "must not be valid JSON: " << r.body;
  }
  auto s = c.request("POST", "/v1/chat/completions",
                     openai_body("gpt-4o", "[[malformed]] [[lorem:5]]", true), openai_auth);
  int invalid = 0;
  for (auto& e : parse_sse(s.body)) {
    if (e.data == "[DONE]") continue;
    boost::system::error_code ec;
    json::parse(e.data, ec);
    invalid += ec ? 1 : 0;
  }
  EXPECT_EQ(invalid, 1);
}

TEST_F(FakeLlm, SlowLatencyTokenDelayStillDeliverTheSameBytes) {
  Client c(server_);
  auto plain = c.request("POST", "/v1/chat/completions",
                         openai_body("gpt-4o", "[[reply:Slow and steady.]]", true), openai_auth);
  for (auto* d : {"[[slow:1]]", "[[latency:30]]", "[[token-delay:5]]"}) {
    auto r = c.request("POST", "/v1/chat/completions",
                       openai_body("gpt-4o", std::string("[[reply:Slow and steady.]] ") + d, true),
                       openai_auth);
    EXPECT_FALSE(r.ec) << d;
    EXPECT_EQ(assemble_openai(parse_sse(r.body)).text, "Slow and steady.") << d;
    EXPECT_EQ(parse_sse(r.body).size(), parse_sse(plain.body).size()) << d;
  }
}

TEST_F(FakeLlm, WrongContentType) {
  Client c(server_);
  auto r =
      c.request("POST", "/v1/chat/completions",
                openai_body("gpt-4o", "[[content-type:text/html; charset=utf-8]] hi"), openai_auth);
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  auto s = c.request("POST", "/v1/messages",
                     anthropic_body("claude", "[[content-type:application/json]] hi", true),
                     anthropic_auth);
  EXPECT_EQ(s.header("content-type"), "application/json");
  EXPECT_NE(s.body.find("event: message_start"), std::string::npos);
}

TEST_F(FakeLlm, MidstreamErrorPerVendor) {
  Client c(server_);
  const std::string user = "[[lorem:10]] [[midstream-error]]";
  auto o =
      c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", user, true), openai_auth);
  EXPECT_EQ(o.status, 200);
  EXPECT_FALSE(o.ec);
  auto events = parse_sse(o.body);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(json::parse(events.back().data).as_object().contains("error"));
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto v = json::parse(events[i].data);
    auto& ch = v.at("choices").as_array();
    if (!ch.empty())
      if (auto* t = ch[0].at("delta").as_object().if_contains("content")) text += t->as_string();
  }
  EXPECT_FALSE(text.empty());
  EXPECT_TRUE(sim::lorem(10).starts_with(text));
  EXPECT_NE(text, sim::lorem(10));

  auto a = c.request("POST", "/v1/messages", anthropic_body("claude", user, true), anthropic_auth);
  auto ae = parse_sse(a.body);
  ASSERT_FALSE(ae.empty());
  EXPECT_EQ(ae.back().event, "error");
  EXPECT_EQ(json::parse(ae.back().data).at("error").at("type").as_string(), "overloaded_error");
  for (auto& e : ae)
    EXPECT_NE(e.event, "message_stop");

  auto g = c.request("POST", "/v1beta/models/g:streamGenerateContent?alt=sse", gemini_body(user),
                     gemini_auth);
  auto ge = parse_sse(g.body);
  ASSERT_FALSE(ge.empty());
  EXPECT_EQ(json::parse(ge.back().data).at("error").at("status").as_string(), "UNAVAILABLE");
}

TEST_F(FakeLlm, UsageOff) {
  Client c(server_);
  auto o = c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", "[[usage:off]] hi"),
                     openai_auth);
  EXPECT_FALSE(o.json().as_object().contains("usage"));
  auto s = c.request("POST", "/v1/chat/completions",
                     openai_body("gpt-4o", "[[usage:off]] hi", true, true), openai_auth);
  EXPECT_EQ(s.body.find("prompt_tokens"), std::string::npos);
  auto g = c.request("POST", "/v1beta/models/g:generateContent", gemini_body("[[usage:off]] hi"),
                     gemini_auth);
  EXPECT_FALSE(g.json().as_object().contains("usageMetadata"));
}

TEST_F(FakeLlm, EchoRepliesWithTheMessage) {
  Client c(server_);
  auto r = c.request("POST", "/v1/messages", anthropic_body("claude", "[[echo]] repeat after me"),
                     anthropic_auth);
  EXPECT_EQ(r.json().at("content").at(0).at("text").as_string(), "repeat after me");
}

// ---------------------------------------------------------------------------------------------
// Malformed requests

TEST_F(FakeLlm, MalformedRequestsGetTheVendors400NamingTheField) {
  Client c(server_);
  struct Case {
    const char* path;
    std::string body;
    Headers headers;
    const char* field;
  };
  const Case cases[] = {
      {"/v1/chat/completions", "{not json", openai_auth, ""},
      {"/v1/chat/completions", R"({"model":"gpt-4o"})", openai_auth, "messages"},
      {"/v1/chat/completions", R"({"messages":[]})", openai_auth, "model"},
      {"/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":5}]})",
       openai_auth, "messages[0].content"},
      {"/v1/chat/completions", R"([1,2])", openai_auth, ""},
      {"/v1/messages", R"({"model":"c","max_tokens":5,"messages":"hi"})", anthropic_auth,
       "messages"},
      {"/v1/messages", R"({"model":"c","max_tokens":"5","messages":[]})", anthropic_auth,
       "max_tokens"},
      {"/v1/messages", R"({"model":"c","max_tokens":5,"messages":[{"role":"bot","content":"x"}]})",
       anthropic_auth, "messages.0.role"},
      {"/v1beta/models/g:generateContent", R"({"contents":[]})", gemini_auth, "contents"},
      {"/v1beta/models/g:generateContent", R"({"contents":[{"parts":[{"text":1}]}]})", gemini_auth,
       "contents[0].parts[0].text"},
  };
  for (const auto& k : cases) {
    auto r = c.request("POST", k.path, k.body, k.headers);
    EXPECT_EQ(r.status, 400) << k.path << " " << k.body;
    EXPECT_NE(r.body.find(k.field), std::string::npos) << r.body;
    auto v = r.json();
    if (std::string_view(k.path) == "/v1/messages")
      EXPECT_EQ(v.at("error").at("type").as_string(), "invalid_request_error");
    else if (std::string_view(k.path).starts_with("/v1beta"))
      EXPECT_EQ(v.at("error").at("status").as_string(), "INVALID_ARGUMENT");
    else
      EXPECT_EQ(v.at("error").at("type").as_string(), "invalid_request_error");
  }
  // Still serving on the same connection.
  EXPECT_EQ(c.request("GET", "/health").status, 200);
  EXPECT_EQ(c.request("POST", "/nowhere", "{}").status, 404);
}

TEST_F(FakeLlm, GarbageOnTheSocketDoesNotStopTheServer) {
  {
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), server_.port()});
    asio::write(s, asio::buffer(std::string("\x16\x03\x01 garbage \r\n\r\n\r\n")));
    boost::system::error_code ec;
    char buf[64];
    s.read_some(asio::buffer(buf), ec);  // the server closes the connection
  }
  Client c(server_);
  EXPECT_EQ(c.request("GET", "/health").status, 200);
}

// ---------------------------------------------------------------------------------------------
// Fixture replay

TEST_F(FakeLlm, ReplaysEveryFixtureByteForByte) {
  Client c(server_);
  int replayed = 0;
  for (auto& entry : std::filesystem::directory_iterator(CHORUS_FIXTURES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = json::parse(ss.str());
    auto* response = doc.as_object().if_contains("response");
    if (!response) continue;  // pricing.json
    const std::string name = entry.path().stem().string();
    auto r = c.request("POST", "/whatever/path", "{}", {{"x-fake-fixture", name}});
    EXPECT_FALSE(r.ec) << name;
    EXPECT_EQ(r.status, response->at("status").as_int64()) << name;
    auto& ro = response->as_object();
    std::string expected = ro.contains("body_raw") ? std::string(ro.at("body_raw").as_string())
                                                   : json::serialize(ro.at("body"));
    EXPECT_EQ(r.body, expected) << name;
    for (auto& [k, v] : ro.at("headers").as_object())
      EXPECT_EQ(r.header(std::string(k)), v.as_string()) << name << " header " << k;
    ++replayed;
  }
  EXPECT_GE(replayed, 20);
  auto missing = c.request("GET", "/", {}, {{"x-fake-fixture", "no-such-fixture"}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.json().at("error").at("message").as_string().find("no-such-fixture"),
            std::string::npos);
  EXPECT_EQ(c.request("GET", "/", {}, {{"x-fake-fixture", "../etc/passwd"}}).status, 404);
}

// ---------------------------------------------------------------------------------------------
// TLS, connections, stats

TEST(FakeLlmTls, VerifiesAgainstTheGeneratedCa) {
  FakeLlmOptions o;
  o.tls = true;
  FakeLlmServer server(o);
  EXPECT_TRUE(server.base_url().starts_with("https://127.0.0.1:"));
  ASSERT_TRUE(std::filesystem::exists(server.ca_file()));
  {
    Client c(server, server.ca_file());
    ASSERT_FALSE(c.handshake_error()) << c.handshake_error().message();
    auto r = c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", "[[reply:secure]]"),
                       openai_auth);
    EXPECT_EQ(r.json().at("choices").at(0).at("message").at("content").as_string(), "secure");
    EXPECT_EQ(c.request("GET", "/health").status, 200);  // kept alive
  }
  // Without the CA, verification fails: the certificate really is checked.
  Client untrusted(server, {}, true);
  EXPECT_TRUE(untrusted.handshake_error());
}

TEST(FakeLlmTls, WritesTheCaWhereAsked) {
  auto path = std::filesystem::temp_directory_path() /
              ("chorus-fake-llm-test-ca-" + std::to_string(::getpid()) + ".pem");
  FakeLlmOptions o;
  o.tls = true;
  o.ca_out = path.string();
  {
    FakeLlmServer server(o);
    EXPECT_EQ(server.ca_file(), path.string());
    std::ifstream in(path);
    std::string first;
    std::getline(in, first);
    EXPECT_EQ(first, "-----BEGIN CERTIFICATE-----");
  }
  std::filesystem::remove(path);
}

TEST_F(FakeLlm, TwoConcurrentKeepAliveClients) {
  constexpr int per_client = 25;
  std::atomic<int> ok{0};
  auto run = [&](std::string tag) {
    Client c(server_);
    for (int i = 0; i < per_client; ++i) {
      auto reply = tag + " " + std::to_string(i);
      auto r = c.request("POST", "/v1/chat/completions",
                         openai_body("gpt-4o", "[[reply:" + reply + "]]", i % 2 == 1), openai_auth);
      std::string text =
          i % 2 == 1
              ? assemble_openai(parse_sse(r.body)).text
              : std::string(r.json().at("choices").at(0).at("message").at("content").as_string());
      if (r.status == 200 && text == reply) ++ok;
    }
  };
  std::thread a(run, "alpha"), b(run, "beta");
  a.join();
  b.join();
  EXPECT_EQ(ok.load(), 2 * per_client);
  EXPECT_EQ(server_.requests(), 2u * per_client);
  Client c(server_);
  auto stats = c.request("GET", "/_fake/stats").json();
  EXPECT_EQ(stats.at("requests").as_int64(), 2 * per_client + 1);
  EXPECT_GE(stats.at("open_connections").as_int64(), 1);
}

TEST_F(FakeLlm, KeepAliveReusesOneConnection) {
  Client c(server_);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(
        c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", "hi"), openai_auth).status,
        200);
  EXPECT_EQ(server_.open_connections(), 1u);
  EXPECT_EQ(server_.requests(), 10u);
}

// ---------------------------------------------------------------------------------------------
// Script file and options

TEST(FakeLlmScript, RulesChooseRepliesAndFaults) {
  auto path = std::filesystem::temp_directory_path() /
              ("chorus-fake-llm-script-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << R"({"rules": [
      {"match": "weather", "reply": "It is sunny."},
      {"model": "claude-*", "directives": "[[status:529 times=1]]"},
      {"vendor": "gemini", "match": "poem", "directives": "[[lorem:4]]"}
    ]})";
  }
  FakeLlmOptions o;
  o.script_file = path.string();
  FakeLlmServer server(o);
  Client c(server);
  auto w = c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", "What is the weather?"),
                     openai_auth);
  EXPECT_EQ(w.json().at("choices").at(0).at("message").at("content").as_string(), "It is sunny.");
  // The message's own directive beats the script.
  auto w2 = c.request("POST", "/v1/chat/completions",
                      openai_body("gpt-4o", "weather [[reply:Rain.]]"), openai_auth);
  EXPECT_EQ(w2.json().at("choices").at(0).at("message").at("content").as_string(), "Rain.");
  EXPECT_EQ(
      c.request("POST", "/v1/messages", anthropic_body("claude-3", "hi"), anthropic_auth).status,
      529);
  EXPECT_EQ(
      c.request("POST", "/v1/messages", anthropic_body("claude-3", "hi"), anthropic_auth).status,
      200);
  auto g =
      c.request("POST", "/v1beta/models/g:generateContent", gemini_body("a poem"), gemini_auth);
  EXPECT_EQ(g.json().at("candidates").at(0).at("content").at("parts").at(0).at("text").as_string(),
            sim::lorem(4));
  std::filesystem::remove(path);

  FakeLlmOptions bad;
  bad.script_file = path.string();  // removed: unreadable
  EXPECT_THROW(FakeLlmServer{bad}, std::runtime_error);
}

TEST(FakeLlmOptionsTest, ServerLatencyAndTokenDelayOptions) {
  FakeLlmOptions o;
  o.latency = std::chrono::milliseconds(20);
  o.token_delay = std::chrono::milliseconds(2);
  o.threads = 2;
  FakeLlmServer server(o);
  Client c(server);
  auto r = c.request("POST", "/v1/chat/completions", openai_body("gpt-4o", "[[lorem:5]]", true),
                     openai_auth);
  EXPECT_EQ(assemble_openai(parse_sse(r.body)).text, sim::lorem(5));
  server.stop();
  server.stop();  // idempotent
}

// ---------------------------------------------------------------------------------------------
// The program

TEST(FakeLlmProgram, PrintsTheUrlServesAndExitsOnSigterm) {
  const std::string exe = std::string(CHORUS_BINARY_DIR) + "/bin/chorus-fake-llm";
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe;
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const char* argv[] = {exe.c_str(), "--port", "0", "--latency-ms", "1", nullptr};
  pid_t pid = 0;
  ASSERT_EQ(
      posix_spawn(&pid, exe.c_str(), &actions, nullptr, const_cast<char* const*>(argv), environ),
      0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string line;
  char ch = 0;
  while (::read(out[0], &ch, 1) == 1 && ch != '\n')
    line += ch;
  ::close(out[0]);
  const std::string prefix = "chorus-fake-llm listening on http://127.0.0.1:";
  ASSERT_TRUE(line.starts_with(prefix)) << line;
  const int port = std::stoi(line.substr(prefix.size()));
  {
    asio::io_context ioc;
    beast::tcp_stream s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    http::request<http::string_body> req(http::verb::get, "/health", 11);
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(s, b, res);
    EXPECT_EQ(res.result_int(), 200);
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
