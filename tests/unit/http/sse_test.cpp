// The SSE parser against hand-written edge cases and the recorded provider streams, each fed
// whole, byte by byte, and split in two (and three, for short inputs) at every position.
#include <chorus/sse.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

// Counts heap allocations made while `counting` is set (this test binary only).
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace chorus::sse {
namespace {

struct Got {
  std::string type, data, id;
  bool operator==(const Got&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Got& g) {
  return os << "{type=" << g.type << " data=" << testing::PrintToString(g.data) << " id=" << g.id
            << "}";
}

std::vector<Got> parse_chunks(const std::vector<std::string_view>& chunks, bool* clean = nullptr) {
  Parser p;
  std::vector<Got> out;
  for (auto c : chunks)
    p.feed(c, [&](const Event& e) {
      out.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
    });
  bool ok = p.finish();
  if (clean) *clean = ok;
  return out;
}

std::vector<Got> parse_whole(std::string_view s) {
  return parse_chunks({s});
}

// Checks that every split of `s` into 2 pieces (and 3 pieces when short) and byte-by-byte feeding
// gives `expected`.
void expect_all_splits(std::string_view s, const std::vector<Got>& expected) {
  ASSERT_EQ(parse_whole(s), expected) << "whole input";
  for (std::size_t i = 0; i <= s.size(); ++i)
    ASSERT_EQ(parse_chunks({s.substr(0, i), s.substr(i)}), expected) << "split at " << i;
  if (s.size() <= 80) {
    for (std::size_t i = 0; i <= s.size(); ++i) {
      for (std::size_t j = i; j <= s.size(); ++j) {
        ASSERT_EQ(parse_chunks({s.substr(0, i), s.substr(i, j - i), s.substr(j)}), expected)
            << "split at " << i << "," << j;
      }
    }
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < s.size(); ++i)
    bytes.push_back(s.substr(i, 1));
  ASSERT_EQ(parse_chunks(bytes), expected) << "byte by byte";
}

TEST(Sse, SingleEvent) {
  expect_all_splits("data: hello\n\n", {{"message", "hello", ""}});
}

TEST(Sse, MultiLineDataJoinedWithNewline) {
  expect_all_splits("data: a\ndata:b\ndata:  c\n\n", {{"message", "a\nb\n c", ""}});
}

TEST(Sse, EventNameIdAndPersistingId) {
  expect_all_splits("event: delta\nid: 7\ndata: x\n\ndata: y\n\n",
                    {{"delta", "x", "7"}, {"message", "y", "7"}});
}

TEST(Sse, AllLineEndings) {
  std::vector<Got> want{{"message", "1", ""}, {"message", "2", ""}, {"message", "3", ""}};
  expect_all_splits("data: 1\r\n\r\ndata: 2\r\rdata: 3\n\n", want);
  expect_all_splits("data: 1\r\rdata: 2\n\ndata: 3\r\n\r\n", want);
}

TEST(Sse, CrAtChunkEndThenLfIsOneLineEnd) {
  // "data: a\r" + "\ndata: b\r\n\r\n": the split \r\n must not yield a blank line.
  auto got = parse_chunks({"data: a\r", "\ndata: b\r\n\r\n"});
  EXPECT_EQ(got, (std::vector<Got>{{"message", "a\nb", ""}}));
  // Whereas \r then \r is two line ends: a dispatch.
  got = parse_chunks({"data: a\r", "\rdata: b\r\r"});
  EXPECT_EQ(got, (std::vector<Got>{{"message", "a", ""}, {"message", "b", ""}}));
}

TEST(Sse, LeadingBomSkippedOnlyAtStart) {
  expect_all_splits(
      "\xEF\xBB\xBF"
      "data: x\n\n",
      {{"message", "x", ""}});
  // A second BOM is content: the field name becomes "\xEF\xBB\xBF" "data", an unknown field.
  expect_all_splits(
      "\xEF\xBB\xBF\xEF\xBB\xBF"
      "data: x\n\n",
      {});
  // Not a BOM: bytes that start like one are kept as content.
  expect_all_splits(
      "\xEF\xBB"
      "data: x\n\ndata: y\n\n",
      {{"message", "y", ""}});
}

TEST(Sse, CommentsAndUnknownFieldsIgnored) {
  expect_all_splits(": keep-alive\n\n:\ndata: x\nfoo: bar\n\n", {{"message", "x", ""}});
}

TEST(Sse, FieldWithoutColonHasEmptyValue) {
  expect_all_splits("data\ndata\n\n", {{"message", "\n", ""}});
  // One empty data line: the data buffer is "\n", not empty, so an event with empty data fires.
  expect_all_splits("data\n\n", {{"message", "", ""}});
}

TEST(Sse, OnlyOneSpaceAfterColonRemoved) {
  expect_all_splits("data:  two\n\ndata:none\n\n",
                    {{"message", " two", ""}, {"message", "none", ""}});
}

TEST(Sse, IdWithNulIgnored) {
  std::string s = "id: good\ndata: a\n\nid: b";
  s.push_back('\0');
  s += "d\ndata: b\n\n";
  expect_all_splits(s, {{"message", "a", "good"}, {"message", "b", "good"}});
}

TEST(Sse, RetryDigitsOnly) {
  Parser p;
  auto ignore = [](const Event&) {};
  p.feed("retry: 1500\n\n", ignore);
  EXPECT_EQ(p.retry(), std::chrono::milliseconds(1500));
  p.feed("retry: 12a\n\nretry: -5\n\nretry: 1.5\n\nretry:\n\n", ignore);
  EXPECT_EQ(p.retry(), std::chrono::milliseconds(1500));
  p.feed("retry:20\n\n", ignore);
  EXPECT_EQ(p.retry(), std::chrono::milliseconds(20));
}

TEST(Sse, EventWithoutDataNotDispatched) {
  expect_all_splits("event: ping\n\nevent: delta\ndata: d\n\n", {{"delta", "d", ""}});
  // The event type does not leak into the next event.
  expect_all_splits("event: ping\n\ndata: d\n\n", {{"message", "d", ""}});
}

TEST(Sse, UnterminatedEventDroppedAtFinish) {
  bool clean = true;
  auto got = parse_chunks({"data: a\n\ndata: partial\n"}, &clean);
  EXPECT_EQ(got, (std::vector<Got>{{"message", "a", ""}}));
  EXPECT_FALSE(clean);
  got = parse_chunks({"data: a\n\ndata: part"}, &clean);
  EXPECT_FALSE(clean);
  got = parse_chunks({"data: a\n\n"}, &clean);
  EXPECT_TRUE(clean);
}

TEST(Sse, ReusableAfterFinish) {
  Parser p;
  std::vector<std::string> data;
  auto on = [&](const Event& e) { data.emplace_back(e.data); };
  p.feed("id: 1\ndata: a\n\ndata: cut", on);
  EXPECT_FALSE(p.finish());
  p.feed(
      "\xEF\xBB\xBF"
      "data: b\n\n",
      on);  // a new stream may start with a BOM again
  EXPECT_TRUE(p.finish());
  EXPECT_EQ(data, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.last_event_id(), "1");
  p.reset();
  EXPECT_EQ(p.last_event_id(), "");
}

TEST(Sse, NoAllocationPerEventOnceWarm) {
  std::string stream;
  for (int i = 0; i < 200; ++i)
    stream += "event: delta\nid: " + std::to_string(i) + "\ndata: {\"text\":\"token " +
              std::to_string(i) + "\"}\n\n";
  Parser p;
  std::size_t events = 0;
  auto on = [&](const Event&) { ++events; };
  auto feed_all = [&] {
    for (std::size_t off = 0; off < stream.size(); off += 37)  // splits lines across chunks
      p.feed(std::string_view(stream).substr(off, 37), on);
  };
  feed_all();  // warm-up grows the buffers
  allocations = 0;
  counting = true;
  feed_all();
  counting = false;
  EXPECT_EQ(events, 400u);
  EXPECT_EQ(allocations, 0u);
}

TEST(Sse, Utf8SplitInsideMultibyteSequence) {
  expect_all_splits("data: h\xC3\xA9llo \xF0\x9F\x98\x80\n\n",
                    {{"message", "h\xC3\xA9llo \xF0\x9F\x98\x80", ""}});
}

// An independent, naive reading of the spec used as the oracle for the recorded streams:
// normalise line ends on the whole text first, then split lines.
std::vector<Got> reference_parse(std::string s) {
  if (s.rfind("\xEF\xBB\xBF", 0) == 0) s.erase(0, 3);
  std::string norm;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      norm.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      norm.push_back(s[i]);
    }
  }
  std::vector<Got> out;
  std::string data, type, id;
  std::size_t start = 0;
  while (true) {
    auto nl = norm.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = norm.substr(start, nl - start);
    start = nl + 1;
    if (line.empty()) {
      if (!data.empty()) {
        data.pop_back();
        out.push_back({type.empty() ? "message" : type, data, id});
      }
      data.clear();
      type.clear();
      continue;
    }
    if (line[0] == ':') continue;
    auto colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "data") data += value + "\n";
    if (field == "event") type = value;
    if (field == "id" && value.find('\0') == std::string::npos) id = value;
  }
  return out;
}

TEST(Sse, RecordedProviderStreamsAtEverySplit) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CHORUS_FIXTURES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    auto doc = boost::json::parse(ss.str(), ec);
    if (ec || !doc.is_object()) continue;
    const auto* resp = doc.as_object().if_contains("response");
    if (!resp || !resp->is_object()) continue;
    const auto* raw = resp->as_object().if_contains("body_raw");
    if (!raw || !raw->is_string()) continue;
    std::string body(raw->as_string());
    if (body.find("data:") == std::string::npos) continue;
    SCOPED_TRACE(entry.path().filename().string());
    ++files;
    auto expected = reference_parse(body);
    ASSERT_FALSE(expected.empty());
    // Same stream with every line ending style: the vendors' own, CRLF and CR.
    std::string crlf, cr;
    for (char c : body) {
      if (c == '\n') {
        crlf += "\r\n";
        cr += '\r';
      } else {
        crlf += c;
        cr += c;
      }
    }
    for (const std::string* variant : {&body, &crlf, &cr}) {
      if (variant != &body && body.find('\r') != std::string::npos) continue;
      ASSERT_EQ(parse_whole(*variant), expected);
      for (std::size_t i = 0; i <= variant->size(); ++i) {
        std::string_view v = *variant;
        ASSERT_EQ(parse_chunks({v.substr(0, i), v.substr(i)}), expected) << "split at " << i;
      }
      std::vector<std::string_view> bytes;
      for (std::size_t i = 0; i < variant->size(); ++i)
        bytes.push_back(std::string_view(*variant).substr(i, 1));
      ASSERT_EQ(parse_chunks(bytes), expected) << "byte by byte";
    }
    if (entry.path().filename().string().rfind("openai", 0) == 0) {
      EXPECT_EQ(expected.back().data, "[DONE]");
    }
  }
  EXPECT_GE(files, 4) << "expected the openai/anthropic/gemini/deepseek stream fixtures in "
                      << CHORUS_FIXTURES_DIR;
}

}  // namespace
}  // namespace chorus::sse
