// SSE parser throughput on a realistic OpenAI chat-completions stream, fed in the 16 KiB pieces
// the HTTP client delivers (and in small pieces, as a slow network does).
// Run: build/release/bin/sse_bench   (reports MB/s as bytes_per_second and ns per event)
#include <chorus/sse.hpp>

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

// The recorded OpenAI stream, its content events repeated to about 1 MiB.
const std::string& openai_stream() {
  static const std::string stream = [] {
    std::ifstream in(std::string(CHORUS_FIXTURES_DIR) + "/openai-stream-basic.json");
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = boost::json::parse(ss.str());
    std::string raw(doc.at("response").at("body_raw").as_string());
    // Events are separated by a blank line; keep the ones carrying content and repeat them.
    std::string events;
    std::size_t start = 0;
    while (start < raw.size()) {
      auto end = raw.find("\n\n", start);
      if (end == std::string::npos) break;
      std::string ev = raw.substr(start, end + 2 - start);
      if (ev.find("\"content\":\"") != std::string::npos) events += ev;
      start = end + 2;
    }
    if (events.empty()) throw std::runtime_error("no content events in the OpenAI fixture");
    std::string out;
    while (out.size() < (1u << 20))
      out += events;
    out += "data: [DONE]\n\n";
    return out;
  }();
  return stream;
}

void feed_in_pieces(benchmark::State& state, std::size_t piece) {
  const std::string& s = openai_stream();
  chorus::sse::Parser parser;
  std::size_t events = 0, data_bytes = 0;
  for (auto _ : state) {
    for (std::size_t off = 0; off < s.size(); off += piece) {
      parser.feed(std::string_view(s).substr(off, piece), [&](const chorus::sse::Event& e) {
        ++events;
        data_bytes += e.data.size();
      });
    }
    if (!parser.finish()) state.SkipWithError("stream did not end on an event boundary");
  }
  benchmark::DoNotOptimize(data_bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
  state.counters["events_per_iter"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kAvgIterations);
  // Seconds per event (CPU time): printed with an SI prefix, e.g. "33n" = 33 ns.
  state.counters["time_per_event"] = benchmark::Counter(
      static_cast<double>(events), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_SseOpenAiStream16K(benchmark::State& state) {
  feed_in_pieces(state, 16 * 1024);
}
void BM_SseOpenAiStream64B(benchmark::State& state) {
  feed_in_pieces(state, 64);
}

}  // namespace

BENCHMARK(BM_SseOpenAiStream16K);
BENCHMARK(BM_SseOpenAiStream64B);
BENCHMARK_MAIN();
