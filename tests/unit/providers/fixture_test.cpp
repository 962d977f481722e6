// Every provider fixture replayed through the sans-IO parsers: whole bodies, error
// classification, and streams split at every byte boundary (and fed one byte at a time).
#include "fixture_util.hpp"

#include <chorus/sse.hpp>

namespace chorus::test {
namespace {

using providers::StreamAssembler;

// Feeds `chunks` of a stream body to a fresh parser + assembler and returns the response.
ChatResponse assemble(const Fixture& f, const std::vector<std::string_view>& chunks,
                      std::string* deltas = nullptr) {
  ChatResponse r;
  DeltaHandler on_delta = [&](const StreamDelta& d) {
    if (deltas) deltas->append(d.text);
  };
  StreamAssembler assembler(f.vendor, r, &on_delta);
  sse::Parser parser;
  for (std::string_view c : chunks)
    parser.feed(c, [&](const sse::Event& ev) { assembler.on_event(ev.type, ev.data); });
  parser.finish();
  assembler.finish();
  return r;
}

class FixtureReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureReplay, SansIoParsersMatchExpect) {
  const Fixture f = load_fixture(GetParam());
  if (f.status < 200 || f.status > 299) {
    Error e = providers::classify_error(f.vendor, f.status, f.headers, f.body);
    check_error(f.expect, e, f.name);
    EXPECT_EQ(e.provider, providers::vendor_id(f.vendor));
    return;
  }
  if (!f.stream) {
    ChatResponse r;
    providers::parse_chat_response(f.vendor, f.body, r);
    check_response(f.expect, r, f.name);
    r.cost = price_call(r.model, r.usage);
    check_cost(f.expect, r, f.name);
    return;
  }
  // Whole body in one chunk, with the deltas reassembling the content.
  std::string deltas;
  ChatResponse whole = assemble(f, {f.body}, &deltas);
  check_response(f.expect, whole, f.name + " (one chunk)");
  EXPECT_EQ(deltas, whole.content);
  whole.cost = price_call(whole.model, whole.usage);
  check_cost(f.expect, whole, f.name);

  // Every split point, including inside multi-byte UTF-8 sequences and CRLF pairs.
  const std::string_view body = f.body;
  for (std::size_t k = 0; k <= body.size(); ++k) {
    ChatResponse r = assemble(f, {body.substr(0, k), body.substr(k)});
    const std::string where = f.name + " split at " + std::to_string(k);
    check_response(f.expect, r, where);
    if (::testing::Test::HasFailure()) return;  // one split's report is enough
  }
  // One byte at a time.
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < body.size(); ++i)
    bytes.push_back(body.substr(i, 1));
  check_response(f.expect, assemble(f, bytes), f.name + " byte by byte");
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, FixtureReplay, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(FixtureSuite, CoversEveryVendorAndKind) {
  // Guards against an empty or misplaced fixture folder silently passing.
  EXPECT_GE(fixture_names().size(), 29u);
}

// A stream cut before its terminal event keeps the text and reports connection_closed.
TEST(StreamAssembler, TruncatedStreamKeepsTextAndFails) {
  const Fixture f = load_fixture("openai-stream-basic");
  const auto cut = f.body.find("\"finish_reason\":\"stop\"");
  ASSERT_NE(cut, std::string::npos);
  const auto end = f.body.rfind("\n\n", cut);
  ChatResponse r = assemble(f, {std::string_view(f.body).substr(0, end + 2)});
  EXPECT_EQ(r.error.code, make_error_code(errc::connection_closed));
  EXPECT_FALSE(r.content.empty());
  EXPECT_EQ(r.finish_reason, FinishReason::error);
}

TEST(StreamAssembler, AnthropicMidStreamErrorKeepsText) {
  const std::string body =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
      "\"model\":\"claude-sonnet-4-20250514\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}"
      "\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello th\"}}\n\n"
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}\n\n";
  Fixture f;
  f.vendor = providers::Vendor::anthropic;
  ChatResponse r = assemble(f, {body});
  EXPECT_EQ(r.content, "Hello th");
  EXPECT_EQ(r.error.code, make_error_code(errc::overloaded));
  EXPECT_TRUE(r.error.retryable());
  EXPECT_EQ(r.error.status, 0);
  EXPECT_EQ(r.error.message, "Overloaded");
}

TEST(StreamAssembler, OpenAiToolCallsAndMalformedJson) {
  const std::string body =
      "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
      "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n"
      "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}}]"
      "}\n\n"
      "data: {\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},"
      "\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  Fixture f;
  f.vendor = providers::Vendor::openai;
  ChatResponse r = assemble(f, {body});
  ASSERT_FALSE(r.error) << r.error.describe();
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].id, "call_1");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(r.tool_calls[0].arguments), json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(r.finish_reason, FinishReason::tool_calls);

  ChatResponse bad = assemble(f, {"data: {\"choices\": [\n\n"});
  EXPECT_EQ(bad.error.code, make_error_code(errc::protocol));
}

TEST(StreamAssembler, OpenAiCompatibleWithoutDoneOrUsageIsComplete) {
  const std::string body =
      "data: {\"object\":\"chat.completion.chunk\",\"model\":\"llama3\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
      "data: {\"object\":\"chat.completion.chunk\",\"model\":\"llama3\",\"choices\":[{\"index\":0,"
      "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
  Fixture f;
  f.vendor = providers::Vendor::openai_compatible;
  ChatResponse r = assemble(f, {body});
  EXPECT_FALSE(r.error) << r.error.describe();
  EXPECT_EQ(r.content, "Hi");
  EXPECT_FALSE(r.usage.reported);
}

TEST(ClassifyError, NonJsonBodyFallsBackToStatusAndRedactsKeys) {
  Error e = providers::classify_error(providers::Vendor::openai, 502, {},
                                      "<html>bad gateway for key sk-abcdefghijklmnop</html>");
  EXPECT_EQ(e.code, make_error_code(errc::server));
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.message.find("sk-abcdefghijklmnop"), std::string::npos) << e.message;
  EXPECT_EQ(e.body_excerpt.find("abcdefghijklmnop"), std::string::npos);
}

TEST(ClassifyError, AnthropicPromptTooLongIsContextLength) {
  Error e = providers::classify_error(
      providers::Vendor::anthropic, 400, {},
      R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}})");
  EXPECT_EQ(e.code, make_error_code(errc::context_length));
  EXPECT_EQ(e.vendor_code, "invalid_request_error");
}

TEST(ClassifyError, GeminiFractionalRetryDelay) {
  Error e = providers::classify_error(
      providers::Vendor::gemini, 429, {},
      R"({"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}})");
  EXPECT_EQ(e.code, make_error_code(errc::rate_limited));
  ASSERT_TRUE(e.retry_after);
  EXPECT_EQ(e.retry_after->count(), 1500);
}

}  // namespace
}  // namespace chorus::test
