// HTTP client CPU per request on a kept-alive connection. The client's io_context runs on the
// benchmark thread, so Google Benchmark's CPU time (thread CPU) is the client's cost alone; the
// server runs on other threads.
//
//   http_bench                       in-process server (the fake LLM server when built, else the
//                                    test server of tests/unit/http)
//   CHORUS_BENCH_URL=http://127.0.0.1:PORT/v1/chat/completions http_bench
//                                    against an external server (benchmarks/http_vs_wrk.sh)
//   http_bench --serve               only run the test server, print its port, wait for stdin EOF
#include "unit/http/test_server.hpp"

#include <chorus/http.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#if defined(CHORUS_HAVE_FAKE_LLM)
#include "support/fake_llm/fake_llm.hpp"
#endif

#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>

namespace {

namespace http = chorus::http;
namespace asio = boost::asio;

constexpr std::string_view request_body =
    R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}]})";

// A typical non-streamed OpenAI answer (about 400 bytes).
const std::string& chat_response() {
  static const std::string r = chorus::test::http_response(
      200,
      R"({"id":"chatcmpl-bench","object":"chat.completion","created":1733011200,)"
      R"("model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":"Hi! How can I help you today?","refusal":null},"logprobs":null,)"
      R"("finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,)"
      R"("total_tokens":18},"system_fingerprint":"fp_0ba0d124f1"})",
      "Content-Type: application/json\r\nX-Request-Id: req_bench\r\n");
  return r;
}

std::unique_ptr<chorus::test::TestServer> make_test_server() {
  return std::make_unique<chorus::test::TestServer>(
      [](chorus::test::Conn& c, const chorus::test::Exchange&) {
        return c.write(chat_response());
      });
}

struct Target {
  std::string url;
  std::shared_ptr<void> server;  // keeps an in-process server alive
  std::string kind;
};

const Target& target() {
  static const Target t = [] {
    Target t;
    if (const char* url = std::getenv("CHORUS_BENCH_URL"); url && *url) {
      t.url = url;
      t.kind = "external";
      return t;
    }
#if defined(CHORUS_HAVE_FAKE_LLM)
    auto fake = std::make_shared<chorus::test::FakeLlmServer>();
    t.url = fake->base_url() + "/v1/chat/completions";
    t.server = fake;
    t.kind = "fake_llm";
#else
    auto server = std::shared_ptr<chorus::test::TestServer>(make_test_server());
    t.url = server->url("/v1/chat/completions");
    t.server = server;
    t.kind = "test_server";
#endif
    return t;
  }();
  return t;
}

http::Request make_request() {
  http::Request req;
  req.method = "POST";
  req.url = target().url;
  req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer test-key"}};
  req.body = std::string(request_body);
  return req;
}

// Requests are chained from each completion, the io_context running throughout, as in a
// program that keeps its io_context busy (no run()/restart() per request).
void BM_KeptAliveRequest(benchmark::State& state) {
  asio::io_context io;
  http::Client client(io.get_executor(), http::ClientOptions{});
  const http::Request req = make_request();
  std::size_t bytes = 0;
  bool failed = false;
  std::function<void()> next = [&] {
    if (!state.KeepRunning()) return;
    client.async_request(req, [&](chorus::error_code ec, http::Response r) {
      if (ec || r.status != 200) {
        failed = true;
        state.SkipWithError("request failed");
        while (state.KeepRunning()) {
        }
        return;
      }
      bytes += r.body.size();
      next();
    });
  };
  next();
  io.run();
  if (failed) return;
  auto s = client.stats();
  state.counters["opened"] = static_cast<double>(s.opened);
  state.counters["reused"] = static_cast<double>(s.reused);
  state.counters["body_bytes"] = static_cast<double>(bytes);
  state.SetLabel(target().kind);
}

void BM_KeptAliveStream(benchmark::State& state) {
  asio::io_context io;
  http::Client client(io.get_executor(), http::ClientOptions{});
  const http::Request req = make_request();
  std::size_t bytes = 0;
  std::function<void()> next = [&] {
    if (!state.KeepRunning()) return;
    http::StreamHandler h;
    h.on_data = [&](std::string_view chunk) { bytes += chunk.size(); };
    client.async_stream(req, std::move(h), [&](chorus::error_code ec, http::Response r) {
      if (ec || r.status != 200) {
        state.SkipWithError("request failed");
        while (state.KeepRunning()) {
        }
        return;
      }
      next();
    });
  };
  next();
  io.run();
  state.counters["body_bytes"] = static_cast<double>(bytes);
  state.SetLabel(target().kind);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--serve") == 0) {
      auto server = make_test_server();
      std::cout << server->port() << std::endl;
      std::string line;
      while (std::getline(std::cin, line)) {
      }
      return 0;
    }
  }
  // CHORUS_BENCH_CALLS=N fixes the number of requests (for callgrind).
  const char* fixed = std::getenv("CHORUS_BENCH_CALLS");
  for (auto* b : {benchmark::RegisterBenchmark("BM_KeptAliveRequest", BM_KeptAliveRequest),
                  benchmark::RegisterBenchmark("BM_KeptAliveStream", BM_KeptAliveStream)})
    if (fixed && *fixed) b->Iterations(std::atoll(fixed));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
