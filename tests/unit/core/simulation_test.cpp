#include <chorus/simulation.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sim = chorus::sim;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> tokens(std::string_view s) {
  std::vector<std::string> out;
  sim::split_tokens(s, [&](std::string_view t) { out.emplace_back(t); });
  return out;
}

std::size_t words(std::string_view s) {
  std::size_t n = 0;
  bool in = false;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

}  // namespace

TEST(SimulationDirectives, PlainTextHasNone) {
  auto d = sim::parse_directives("  What is the capital of France?  ");
  EXPECT_EQ(d.text, "What is the capital of France?");
  EXPECT_FALSE(d.reply);
  EXPECT_FALSE(d.lorem);
  EXPECT_FALSE(d.status);
  EXPECT_FALSE(d.echo);
  EXPECT_TRUE(d.ignored.empty());
}

TEST(SimulationDirectives, ReplyKeepsSpacesAndIsRemovedFromText) {
  auto d = sim::parse_directives("Say it [[reply:Hello there, world! 1 + 1 = 2]] please");
  ASSERT_TRUE(d.reply);
  EXPECT_EQ(*d.reply, "Hello there, world! 1 + 1 = 2");
  EXPECT_EQ(d.text, "Say it please");
  EXPECT_EQ(sim::make_reply(d, "", "m"), "Hello there, world! 1 + 1 = 2");
}

TEST(SimulationDirectives, EveryDirective) {
  auto d = sim::parse_directives(
      "[[lorem:12]][[echo]][[status:429 retry-after=2 retry-after-ms=1500 times=3]] [[cut:5]] "
      "[[malformed]] [[slow:7]] [[latency:20]] [[token-delay:3]] [[content-type:text/plain; "
      "charset=utf-8]] [[midstream-error]] [[usage:off]] hi");
  EXPECT_EQ(d.lorem, 12);
  EXPECT_TRUE(d.echo);
  ASSERT_TRUE(d.status);
  EXPECT_EQ(d.status->code, 429);
  EXPECT_EQ(d.status->retry_after_s, 2);
  EXPECT_EQ(d.status->retry_after_ms, 1500);
  EXPECT_EQ(d.status->times, 3);
  EXPECT_EQ(d.status->key, "[[status:429 retry-after=2 retry-after-ms=1500 times=3]]");
  EXPECT_EQ(d.cut, 5);
  EXPECT_TRUE(d.malformed);
  EXPECT_EQ(d.slow, 7ms);
  EXPECT_EQ(d.latency, 20ms);
  EXPECT_EQ(d.token_delay, 3ms);
  EXPECT_EQ(d.content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(d.midstream_error);
  EXPECT_TRUE(d.usage_off);
  EXPECT_EQ(d.text, "hi");
  EXPECT_TRUE(d.ignored.empty());
}

TEST(SimulationDirectives, UnknownAndMalformedAreIgnored) {
  auto d = sim::parse_directives(
      "a [[frobnicate:3]] b [[lorem:abc]] c [[status:42]] d [[status:503 times=x]] e [[echo:1]] "
      "f [[cut:-1]] g [[slow:99999999]] h");
  EXPECT_EQ(d.text, "a b c d e f g h");
  EXPECT_FALSE(d.lorem);
  EXPECT_FALSE(d.status);
  EXPECT_FALSE(d.echo);
  EXPECT_FALSE(d.cut);
  EXPECT_FALSE(d.slow);
  EXPECT_EQ(d.ignored.size(), 7u);
  EXPECT_EQ(d.ignored.front(), "[[frobnicate:3]]");
}

TEST(SimulationDirectives, TextThatIsNotADirectiveIsKept) {
  for (std::string_view s : {"array[[0]] stays", "unterminated [[lorem:5", "[[ spaced ]]", "[[",
                             "]]", "[[]]", "x[[[lorem:2]]"}) {
    auto d = sim::parse_directives(s);
    if (std::string_view(s) == "x[[[lorem:2]]") {
      EXPECT_EQ(d.text, "x[");
      EXPECT_EQ(d.lorem, 2);
      continue;
    }
    EXPECT_EQ(d.text, s) << s;
    EXPECT_FALSE(d.lorem) << s;
  }
}

TEST(SimulationDirectives, LastOneWinsAndMergeOverrides) {
  auto d = sim::parse_directives("[[lorem:3]] [[lorem:9]] text");
  EXPECT_EQ(d.lorem, 9);
  auto header = sim::parse_directives("[[status:503]] [[latency:5]]");
  auto message = sim::parse_directives("[[status:429 times=1]] hello");
  sim::merge_directives(header, message);
  ASSERT_TRUE(header.status);
  EXPECT_EQ(header.status->code, 429);
  EXPECT_EQ(header.latency, 5ms);
}

TEST(SimulationDirectives, NeverCrashesOnArbitraryBytes) {
  std::string junk;
  for (int i = 0; i < 2000; ++i)
    junk += static_cast<char>((i * 7919) % 256);
  junk += "[[reply:";
  for (std::size_t cut = 0; cut < junk.size(); cut += 37) {
    auto d = sim::parse_directives(std::string_view(junk).substr(0, cut));
    EXPECT_LE(d.text.size(), cut);
  }
}

TEST(SimulationTokens, SplitKeepsLeadingSpaceAndRoundTrips) {
  EXPECT_EQ(tokens("Hello world, it's 2025!"),
            (std::vector<std::string>{"Hello", " world", ",", " it's", " 2025", "!"}));
  EXPECT_TRUE(tokens("").empty());
  EXPECT_EQ(tokens("  \n"), (std::vector<std::string>{"  \n"}));
  for (std::string_view s : {"  leading", "trailing  ", "a\n\nb", "héllo wörld — ok.", "x,,y",
                             "日本語 テキスト", "tab\tsep"}) {
    std::string joined;
    for (auto& t : tokens(s))
      joined += t;
    EXPECT_EQ(joined, s);
    EXPECT_EQ(sim::count_tokens(s), tokens(s).size());
  }
  EXPECT_EQ(tokens("héllo wörld"), (std::vector<std::string>{"héllo", " wörld"}));
}

TEST(SimulationTokens, EstimateTokensCountsCodePoints) {
  EXPECT_EQ(sim::estimate_tokens(""), 0);
  EXPECT_EQ(sim::estimate_tokens("a"), 1);
  EXPECT_EQ(sim::estimate_tokens("abcd"), 1);
  EXPECT_EQ(sim::estimate_tokens("abcde"), 2);
  EXPECT_EQ(sim::estimate_tokens("日本語テ"), 1);  // 4 code points, 12 bytes
  EXPECT_EQ(sim::estimate_tokens("日本語テキ"), 2);
}

TEST(SimulationReply, LoremHasExactlyNTokens) {
  EXPECT_EQ(sim::lorem(0), "");
  EXPECT_EQ(sim::lorem(1), "Lorem");
  EXPECT_EQ(sim::lorem(3), "Lorem ipsum.");
  for (std::int64_t n : {1, 2, 5, 11, 12, 13, 50, 257}) {
    auto text = sim::lorem(n);
    EXPECT_EQ(sim::count_tokens(text), static_cast<std::size_t>(n)) << text;
  }
  EXPECT_EQ(sim::lorem(40), sim::lorem(40));
}

TEST(SimulationReply, DefaultReplyIsDeterministicPlausibleAndUsesThePrompt) {
  auto a = sim::default_reply("You are a careful historian.",
                              "Explain the causes of the French Revolution", "gpt-4o-mini");
  auto b = sim::default_reply("You are a careful historian.",
                              "Explain the causes of the French Revolution", "gpt-4o-mini");
  EXPECT_EQ(a, b);
  EXPECT_GE(words(a), 30u) << a;
  EXPECT_LE(words(a), 80u) << a;
  EXPECT_TRUE(a.find("french") != std::string::npos || a.find("revolution") != std::string::npos ||
              a.find("causes") != std::string::npos)
      << a;
  EXPECT_NE(a, sim::default_reply("You are a careful historian.",
                                  "Explain the causes of the French Revolution", "claude"));
  EXPECT_NE(a,
            sim::default_reply("", "Explain the causes of the Russian Revolution", "gpt-4o-mini"));
}

TEST(SimulationReply, DefaultReplyWordCountBoundsOverManyInputs) {
  for (int i = 0; i < 300; ++i) {
    std::string prompt = "prompt number " + std::to_string(i * 7919) + " about topic" +
                         std::to_string(i % 13) + " and storage";
    auto r = sim::default_reply(i % 2 ? "sys" : "", i % 5 ? prompt : std::string(), "m");
    EXPECT_GE(words(r), 30u) << r;
    EXPECT_LE(words(r), 80u) << r;
  }
}

TEST(SimulationReply, PrecedenceReplyLoremEchoDefault) {
  auto d = sim::parse_directives("[[echo]] repeat me");
  EXPECT_EQ(sim::make_reply(d, "", "m"), "repeat me");
  d = sim::parse_directives("[[echo]] [[lorem:3]] repeat me");
  EXPECT_EQ(sim::make_reply(d, "", "m"), "Lorem ipsum.");
  d = sim::parse_directives("[[echo]] [[lorem:3]] [[reply:fixed]] x");
  EXPECT_EQ(sim::make_reply(d, "", "m"), "fixed");
  d = sim::parse_directives("plain question about databases");
  EXPECT_EQ(sim::make_reply(d, "s", "m"),
            sim::default_reply("s", "plain question about databases", "m"));
}

TEST(SimulationFailureCounter, TimesCountsPerDirective) {
  sim::FailureCounter counter;
  auto twice = sim::parse_directives("[[status:503 times=2]]").status.value();
  auto other = sim::parse_directives("[[status:503 times=2 id=b]]").status.value();
  auto always = sim::parse_directives("[[status:500]]").status.value();
  EXPECT_TRUE(counter.should_fail(twice));
  EXPECT_TRUE(counter.should_fail(other));
  EXPECT_TRUE(counter.should_fail(twice));
  EXPECT_FALSE(counter.should_fail(twice));
  EXPECT_FALSE(counter.should_fail(twice));
  EXPECT_TRUE(counter.should_fail(other));
  EXPECT_FALSE(counter.should_fail(other));
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(counter.should_fail(always));
  counter.reset();
  EXPECT_TRUE(counter.should_fail(twice));
  auto never = sim::parse_directives("[[status:503 times=0]]").status.value();
  EXPECT_FALSE(counter.should_fail(never));
}

TEST(SimulationHash, Fnv1aKnownValues) {
  EXPECT_EQ(sim::fnv1a(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(sim::fnv1a("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(sim::fnv1a("foobar"), 0x85944171f73967e8ULL);
}

namespace chorus::sim {
namespace {

TEST(ClassifyReply, PicksTheLabelWhoseDescriptionMatchesTheText) {
  const std::string prompt =
      "Labels:\n- billing: invoices, charges, refunds\n- technical: errors, bugs, outages\n"
      "- general: anything else\n\nText:\n<<<\nMy invoice is wrong, I was charged twice\n>>>\n\n"
      "Answer with exactly one of: billing, technical, general";
  EXPECT_EQ(classify_reply(prompt), "billing");
  const std::string tech =
      "Labels:\n- billing: invoices, charges, refunds\n- technical: errors, bugs, outages\n\n"
      "Text:\n<<<\nThe export fails with errors since the outage\n>>>\n\n"
      "Answer with exactly one of: billing, technical";
  EXPECT_EQ(classify_reply(tech), "technical");
  // Same prompt, same label; no overlap picks the first label.
  EXPECT_EQ(classify_reply(prompt), classify_reply(prompt));
  EXPECT_EQ(classify_reply("Text:\n<<<\nzzz\n>>>\nAnswer with exactly one of: a1, b2"), "a1");
}

TEST(ClassifyReply, OnlyForClassificationPrompts) {
  EXPECT_EQ(classify_reply("Write a poem about the sea"), std::nullopt);
  EXPECT_EQ(classify_reply("Answer with exactly one of: a, b\nthen explain"), std::nullopt);
  Directives d = parse_directives(
      "Text:\n<<<\nrefund please\n>>>\nAnswer with exactly one of: sales, billing");
  EXPECT_EQ(make_reply(d, "", "sim-fast"), "sales");  // no description: no overlap, first label
}

}  // namespace
}  // namespace chorus::sim
