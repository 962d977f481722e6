// Provider layer costs:
//  * BM_StreamParse/<vendor>: SSE framing + JSON + assembly per stream event (target <= 1 us),
//    with heap allocations per event counted (target: ~0 beyond appending the text);
//    BM_StreamParse/<vendor>_dom: the same through the Boost.JSON DOM reference path (the one
//    the field-selective reader hands unusual events to), for comparison;
//  * BM_ParseResponse/<vendor>[_dom]: a whole non-streamed body, fast and DOM paths;
//  * BM_Complete / BM_Stream20: client CPU per non-streamed call and per 20-token streamed call
//    end to end against the fake LLM server on loopback (targets <= 20 us and <= 40 us). The server
//    runs on its own thread; "CPU" is the benchmark thread's CPU time, i.e. the client's.
#include "providers/wire.hpp"

#include <chorus/provider.hpp>
#include <chorus/sse.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <string>

#if defined(CHORUS_HAVE_FAKE_LLM)
#include <fake_llm.hpp>
#endif

// Counts heap allocations so the benchmark can report allocations per event.
static std::atomic<std::uint64_t> g_allocations{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using chorus::providers::JsonPath;
using chorus::providers::Vendor;

constexpr int kTokens = 200;

std::string openai_stream() {
  std::string s;
  for (int i = 0; i < kTokens; ++i)
    s +=
        R"(data: {"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1731000000,)"
        R"("model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,)"
        R"("delta":{"content":" word"},"logprobs":null,"finish_reason":null}],"usage":null})"
        "\n\n";
  s +=
      R"(data: {"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1731000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})"
      "\n\n";
  s +=
      R"(data: {"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1731000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":200,"total_tokens":220}})"
      "\n\ndata: [DONE]\n\n";
  return s;
}

std::string anthropic_stream() {
  std::string s =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\","
      "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\","
      "\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}"
      "\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
  for (int i = 0; i < kTokens; ++i)
    s += "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
         "\"delta\":{\"type\":\"text_delta\",\"text\":\" word\"}}\n\n";
  s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
       "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
       "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":200}}\n\n"
       "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  return s;
}

std::string gemini_stream() {
  std::string s;
  for (int i = 0; i < kTokens; ++i)
    s += "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" word\"}],\"role\": "
         "\"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 20,"
         "\"candidatesTokenCount\": " +
         std::to_string(i + 1) + ",\"totalTokenCount\": " + std::to_string(21 + i) +
         "},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"abc\"}\r\n\r\n";
  s += "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": "
       "\"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": "
       "{\"promptTokenCount\": 20,\"candidatesTokenCount\": 200,\"totalTokenCount\": 220},"
       "\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"abc\"}\r\n\r\n";
  return s;
}

void BM_StreamParse(benchmark::State& state, Vendor vendor, std::string body,
                    JsonPath path = JsonPath::fast) {
  // Network-sized chunks, as the HTTP client hands them over.
  constexpr std::size_t chunk = 1400;
  std::uint64_t events = 0;
  std::uint64_t allocations = 0;
  chorus::ChatResponse r;
  for (auto _ : state) {
    r = chorus::ChatResponse{};
    r.content.reserve(4096);  // the caller's buffer; appending is the only per-token work
    chorus::DeltaHandler on_delta = [](const chorus::StreamDelta& d) {
      benchmark::DoNotOptimize(d.text.data());
    };
    chorus::providers::StreamAssembler assembler(vendor, r, &on_delta, path);
    chorus::sse::Parser parser;
    std::uint64_t n = 0;
    const auto before = g_allocations.load(std::memory_order_relaxed);
    for (std::size_t off = 0; off < body.size(); off += chunk)
      parser.feed(std::string_view(body).substr(off, chunk), [&](const chorus::sse::Event& ev) {
        ++n;
        assembler.on_event(ev.type, ev.data);
      });
    parser.finish();
    assembler.finish();
    allocations += g_allocations.load(std::memory_order_relaxed) - before;
    events += n;
    if (r.error) state.SkipWithError(r.error.describe().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(events));
  state.SetBytesProcessed(static_cast<std::int64_t>(body.size() * state.iterations()));
  state.counters["ns/event"] = benchmark::Counter(
      static_cast<double>(events), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["allocs/event"] =
      static_cast<double>(allocations) / static_cast<double>(events ? events : 1);
}

BENCHMARK_CAPTURE(BM_StreamParse, openai, Vendor::openai, openai_stream());
BENCHMARK_CAPTURE(BM_StreamParse, anthropic, Vendor::anthropic, anthropic_stream());
BENCHMARK_CAPTURE(BM_StreamParse, gemini, Vendor::gemini, gemini_stream());
BENCHMARK_CAPTURE(BM_StreamParse, openai_dom, Vendor::openai, openai_stream(), JsonPath::dom);
BENCHMARK_CAPTURE(BM_StreamParse, anthropic_dom, Vendor::anthropic, anthropic_stream(),
                  JsonPath::dom);
BENCHMARK_CAPTURE(BM_StreamParse, gemini_dom, Vendor::gemini, gemini_stream(), JsonPath::dom);

// Whole bodies as the vendors send them (shape of their documented examples).
std::string openai_body() {
  return R"({"id":"chatcmpl-AbC123","object":"chat.completion","created":1731000000,)"
         R"("model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant",)"
         R"("content":"Hello! How can I assist you today? Here is a slightly longer answer with a )"
         R"(few \"quoted\" words and a second line.\nThat is all.","refusal":null,"annotations":[]},)"
         R"("logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,)"
         R"("completion_tokens":31,"total_tokens":50,"prompt_tokens_details":{"cached_tokens":0,)"
         R"("audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
         R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},)"
         R"("service_tier":"default","system_fingerprint":"fp_0ba0d124f1"})";
}

std::string anthropic_body() {
  return R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant",)"
         R"("model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"Hello! How can I )"
         R"(assist you today? Here is a slightly longer answer with a few \"quoted\" words.\nThat )"
         R"(is all."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":19,)"
         R"("cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":31}})";
}

std::string gemini_body() {
  return R"({"candidates": [{"content": {"parts": [{"text": "Hello! How can I assist you today? )"
         R"(Here is a slightly longer answer with a few \"quoted\" words.\nThat is all."}],)"
         R"("role": "model"},"finishReason": "STOP","avgLogprobs": -0.1234}],"usageMetadata": )"
         R"({"promptTokenCount": 19,"candidatesTokenCount": 31,"totalTokenCount": 50,)"
         R"("promptTokensDetails": [{"modality": "TEXT","tokenCount": 19}]},)"
         R"("modelVersion": "gemini-2.0-flash","responseId": "abc123"})";
}

void BM_ParseResponse(benchmark::State& state, Vendor vendor, std::string body, JsonPath path) {
  for (auto _ : state) {
    chorus::ChatResponse r;
    chorus::providers::parse_chat_response(vendor, body, r, path);
    if (r.error) state.SkipWithError(r.error.describe().c_str());
    benchmark::DoNotOptimize(r.content.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(body.size() * state.iterations()));
}

BENCHMARK_CAPTURE(BM_ParseResponse, openai, Vendor::openai, openai_body(), JsonPath::fast);
BENCHMARK_CAPTURE(BM_ParseResponse, openai_dom, Vendor::openai, openai_body(), JsonPath::dom);
BENCHMARK_CAPTURE(BM_ParseResponse, anthropic, Vendor::anthropic, anthropic_body(), JsonPath::fast);
BENCHMARK_CAPTURE(BM_ParseResponse, anthropic_dom, Vendor::anthropic, anthropic_body(),
                  JsonPath::dom);
BENCHMARK_CAPTURE(BM_ParseResponse, gemini, Vendor::gemini, gemini_body(), JsonPath::fast);
BENCHMARK_CAPTURE(BM_ParseResponse, gemini_dom, Vendor::gemini, gemini_body(), JsonPath::dom);

#if defined(CHORUS_HAVE_FAKE_LLM)

chorus::test::FakeLlmServer& server() {
  static chorus::test::FakeLlmServer instance;
  return instance;
}

// The provider of `kind` against the fake server (no retries) and the request every call sends.
std::shared_ptr<chorus::Provider> bench_provider(const char* kind, boost::asio::io_context& ioc) {
  chorus::ProviderOptions o;
  o.api_key = "test-key";
  o.base_url = server().base_url() + (std::string_view(kind) == "openai" ? "/v1" : "");
  o.retry = chorus::RetryPolicy::none();
  return chorus::make_provider(kind, ioc.get_executor(), o);
}
chorus::ChatRequest bench_request(const char* kind, const char* prompt) {
  chorus::ChatRequest req;
  req.config.model = std::string_view(kind) == "anthropic" ? "claude-sonnet-4" : "gpt-4o-mini";
  req.messages.push_back({chorus::Role::user, prompt});
  return req;
}

void BM_Call(benchmark::State& state, const char* kind, bool stream, const char* prompt) {
  boost::asio::io_context ioc;
  auto p = bench_provider(kind, ioc);
  const chorus::ChatRequest req = bench_request(kind, prompt);
  std::size_t bytes = 0;
  for (auto _ : state) {
    bool ok = false;
    auto done = [&](chorus::error_code ec, chorus::ChatResponse r) {
      ok = !ec;
      bytes += r.content.size();
    };
    if (stream)
      p->async_stream(
          req, [](const chorus::StreamDelta&) {}, done);
    else
      p->async_complete(req, done);
    ioc.restart();
    ioc.run();
    if (!ok) {
      state.SkipWithError("call failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  benchmark::DoNotOptimize(bytes);
}

// The same calls with `in_flight` of them outstanding at once on one thread, as an application
// serving many users runs them (and as the peer comparison measures wrk, whose 32 connections are
// the physical limit of docs/benchmarks.md): the readiness wake-ups are shared by the calls that
// complete together, which a one-call-at-a-time loop cannot show
// (docs/decisions/benchmark-method.md).
void BM_CallsInFlight(benchmark::State& state, const char* kind, bool stream, const char* prompt) {
  const auto in_flight = static_cast<std::size_t>(state.range(0));
  boost::asio::io_context ioc;
  auto p = bench_provider(kind, ioc);
  const chorus::ChatRequest req = bench_request(kind, prompt);
  const std::size_t batch = in_flight * 8;
  std::size_t bytes = 0, failed = 0;
  while (state.KeepRunningBatch(static_cast<benchmark::IterationCount>(batch))) {
    std::size_t started = 0;
    std::function<void()> next = [&] {
      if (started == batch) return;
      ++started;
      auto done = [&](chorus::error_code ec, chorus::ChatResponse r) {
        failed += ec ? 1 : 0;
        bytes += r.content.size();
        next();
      };
      if (stream)
        p->async_stream(
            req, [](const chorus::StreamDelta&) {}, done);
      else
        p->async_complete(req, done);
    };
    for (std::size_t i = 0; i < in_flight; ++i)
      next();
    ioc.restart();
    ioc.run();
    if (failed) {
      state.SkipWithError("call failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  benchmark::DoNotOptimize(bytes);
}

// CHORUS_BENCH_CALLS=N fixes the number of calls (for callgrind: instructions per call are
// stable on a loaded machine where times are not).
void register_calls() {
  struct Case {
    const char* name;
    const char* kind;
    bool stream;
    const char* prompt;
  };
  static const Case cases[] = {
      {"BM_Call/complete_openai", "openai", false, "[[reply:Hello there, friend.]]"},
      {"BM_Call/stream20_openai", "openai", true, "[[lorem:20]]"},
      {"BM_Call/stream20_anthropic", "anthropic", true, "[[lorem:20]]"},
  };
  const char* fixed = std::getenv("CHORUS_BENCH_CALLS");
  for (const Case& c : cases) {
    auto* b = benchmark::RegisterBenchmark(
        c.name, [c](benchmark::State& state) { BM_Call(state, c.kind, c.stream, c.prompt); });
    b->UseRealTime();
    if (fixed && *fixed) b->Iterations(std::atoll(fixed));
    auto* f = benchmark::RegisterBenchmark(
        (std::string("BM_CallsInFlight/") + (c.name + std::strlen("BM_Call/"))).c_str(),
        [c](benchmark::State& state) { BM_CallsInFlight(state, c.kind, c.stream, c.prompt); });
    f->Arg(32)->UseRealTime();
  }
}

#else

void register_calls() {}

#endif

}  // namespace

int main(int argc, char** argv) {
  register_calls();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
