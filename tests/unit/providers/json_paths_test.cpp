// The field-selective JSON path (fast_json.hpp) against the Boost.JSON DOM reference: every
// fixture and a set of unusual documents must give identical results through both.
#include "fixture_util.hpp"

#include <chorus/sse.hpp>

namespace chorus::test {
namespace {

using providers::JsonPath;
using providers::Vendor;

std::string summary(const ChatResponse& r, const std::string& deltas, bool complete) {
  std::string s = r.content + "|" + r.reasoning + "|" + r.model + "|" + r.request_id + "|" +
                  r.finish_reason_raw + "|" + std::string(to_string(r.finish_reason)) + "|";
  for (const ToolCall& t : r.tool_calls)
    s += t.id + "," + t.name + "," + t.arguments + ";";
  const Usage& u = r.usage;
  for (std::int64_t n : {u.prompt_tokens, u.completion_tokens, u.total_tokens,
                         u.cached_prompt_tokens, u.reasoning_tokens})
    s += std::to_string(n) + ",";
  s += std::to_string(u.reported) + std::to_string(u.estimated) + "|" + r.error.describe() + "|" +
       r.error.vendor_code + "|" + r.error.body_excerpt + "|" + deltas + "|" +
       std::to_string(complete);
  return s;
}

std::string whole(Vendor v, std::string_view body, JsonPath path) {
  ChatResponse r;
  providers::parse_chat_response(v, body, r, path);
  return summary(r, "", false);
}

std::string streamed(Vendor v, std::string_view body, JsonPath path) {
  ChatResponse r;
  std::string deltas;
  DeltaHandler on_delta = [&](const StreamDelta& d) {
    deltas += std::string(d.text) + "/" + std::string(d.reasoning) + ";";
  };
  providers::StreamAssembler assembler(v, r, &on_delta, path);
  sse::Parser parser;
  parser.feed(body, [&](const sse::Event& ev) { assembler.on_event(ev.type, ev.data); });
  parser.finish();
  assembler.finish();
  return summary(r, deltas, assembler.complete());
}

TEST(JsonPaths, FixturesReadTheSameThroughBothPaths) {
  for (const std::string& name : fixture_names()) {
    const Fixture f = load_fixture(name);
    if (f.status < 200 || f.status > 299) continue;
    if (f.stream)
      EXPECT_EQ(streamed(f.vendor, f.body, JsonPath::fast),
                streamed(f.vendor, f.body, JsonPath::dom))
          << name;
    else
      EXPECT_EQ(whole(f.vendor, f.body, JsonPath::fast), whole(f.vendor, f.body, JsonPath::dom))
          << name;
  }
}

TEST(JsonPaths, UnusualDocumentsReadTheSameThroughBothPaths) {
  const std::vector<std::pair<Vendor, std::string>> bodies = {
      {Vendor::openai, R"({"choices":[{"message":{"content":"a\u00e9\ud83d\ude00\n\"b\""}}]})"},
      {Vendor::openai, R"({"choices":[{"message":{"content":"x","content":"y"}}]})"},
      {Vendor::openai, R"({"choices":[{"message":{"content":"\ud83d"}}]})"},
      {Vendor::openai, "{\"choices\":[{\"message\":{\"content\":\"\xed\xa0\x80\"}}]}"},
      {Vendor::openai, "{\"choices\":[{\"message\":{\"content\":\"\xc3\xa9\"}}]}"},
      {Vendor::openai, R"({"choices":[],"usage":{"prompt_tokens":1.9,"total_tokens":1e2}})"},
      {Vendor::openai,
       R"({"choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":99999999999999999999}})"},
      {Vendor::openai,
       R"({"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}}]})"},
      {Vendor::openai, R"({"choices":[{"message":{"tool_calls":[]}}]} x)"},
      {Vendor::openai, R"( {"choices":[{"message":{"content":"x"}}] , "model" : "m" } )"},
      {Vendor::deepseek,
       R"({"choices":[{"message":{"content":"a","reasoning_content":"r"}}],"usage":{"prompt_tokens":3,"prompt_cache_hit_tokens":2,"completion_tokens_details":{"reasoning_tokens":1}}})"},
      {Vendor::anthropic,
       R"({"content":[{"type":"thinking","thinking":"t"},{"type":"text","text":"a"},{"type":"text","text":"b\n"}],"usage":{"input_tokens":5,"cache_read_input_tokens":2,"output_tokens":3}})"},
      {Vendor::anthropic,
       R"({"content":[{"type":"tool_use","id":"t","name":"n","input":{"a":[1,2.5e3]}}]})"},
      {Vendor::gemini,
       R"({"candidates":[{"content":{"parts":[{"text":"a"},{"text":"t","thought":true},{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"thoughtsTokenCount":1}})"},
      {Vendor::gemini,
       R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"x":1}}}]}}]})"},
      {Vendor::gemini, R"({"promptFeedback":{"blockReason":"SAFETY"}})"},
      {Vendor::gemini, R"([{"candidates":[]}])"},
  };
  for (const auto& [vendor, body] : bodies) {
    EXPECT_EQ(whole(vendor, body, JsonPath::fast), whole(vendor, body, JsonPath::dom)) << body;
    const std::string event = "data: " + body + "\n\n";
    EXPECT_EQ(streamed(vendor, event, JsonPath::fast), streamed(vendor, event, JsonPath::dom))
        << body;
  }
  const std::string anthropic_stream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
      "\"model\":\"c\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
      "event: content_block_delta\ndata: {\"index\":0,\"delta\":{\"type\":\"input_json_delta\","
      "\"partial_json\":\"1}\"}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n"
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}\n\n";
  EXPECT_EQ(streamed(Vendor::anthropic, anthropic_stream, JsonPath::fast),
            streamed(Vendor::anthropic, anthropic_stream, JsonPath::dom));
}

}  // namespace
}  // namespace chorus::test
