// Executor benchmarks (figures in docs/benchmarks.md, "Executor"):
//  - BM_EngineOverheadPerNode: CPU per node of a long chain with an instant in-process provider
//    (target <= 2 us/node), for llm nodes and for transform nodes (no provider at all);
//  - BM_EndToEndPerLlmNode: CPU of the client thread per llm node against the fake LLM server
//    over loopback HTTP (target <= 50 us/node);
//  - BM_MemoryPerConcurrentRuns: heap held per run while 1000 / 10000 runs of a 3-node workflow
//    are in flight (target <= 5 MB per 1000 runs).
#include <chorus/executor.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <malloc.h>

#include <cstdio>
#include <cstdlib>

#include <memory>
#include <string>
#include <string_view>

#if defined(CHORUS_HAVE_FAKE_LLM)
#include "fake_llm.hpp"
#endif

namespace {

using namespace chorus;

// Completes every call on the next turn of the io_context (or after `delay`), with a fixed reply.
class InstantProvider : public Provider {
 public:
  InstantProvider(asio::any_io_executor ex, std::chrono::milliseconds delay = {})
      : ex_(ex), delay_(delay) {}
  std::string_view id() const noexcept override { return "instant"; }
  std::string_view name() const noexcept override { return "Instant"; }
  std::vector<ModelInfo> models() const override {
    return {ModelInfo{"m", 1.0, 2.0, std::nullopt, std::nullopt}};
  }
  executor_type get_executor() const noexcept override { return ex_; }
  std::size_t in_flight = 0, peak = 0;
  std::function<void()> on_peak;
  std::size_t peak_target = 0;

 protected:
  // An instant call makes its response when it completes, as a real provider does (carrying a
  // 560-byte ChatResponse through the queue cost 4 moves per call: the benchmark's cost, not the
  // engine's).
  static ChatResponse reply(std::string model) {
    ChatResponse r;
    r.content = "ok";
    r.model = std::move(model);
    r.usage.prompt_tokens = 3;
    r.usage.completion_tokens = 1;
    r.usage.total_tokens = 4;
    r.cost = 5e-6;
    return r;
  }
  void do_complete(ChatRequest req, DeltaHandler,
                   asio::any_completion_handler<complete_signature> handler) override {
    if (delay_.count() == 0) {
      asio::post(ex_, [h = std::move(handler), m = std::move(req.config.model)]() mutable {
        std::move(h)(error_code{}, reply(std::move(m)));
      });
      return;
    }
    ++in_flight;
    if (in_flight > peak) peak = in_flight;
    if (peak_target && in_flight == peak_target && on_peak) on_peak();
    // A delayed call holds its response while it waits, as a waiting HTTP request holds its own
    // state (part of BM_MemoryPerConcurrentRuns' figure, comparable with earlier ones).
    auto timer = std::make_shared<asio::steady_timer>(ex_, delay_);
    timer->async_wait([this, timer, h = std::move(handler),
                       r = reply(std::move(req.config.model))](error_code) mutable {
      --in_flight;
      std::move(h)(error_code{}, std::move(r));
    });
  }
  void do_validate_key(std::string, asio::any_completion_handler<validate_signature> h) override {
    asio::post(ex_, [h = std::move(h)]() mutable { std::move(h)(error_code{}, Error{}); });
  }

 private:
  asio::any_io_executor ex_;
  std::chrono::milliseconds delay_;
};

// in -> n nodes in a chain -> out.
std::shared_ptr<const Workflow> chain(int n, std::string_view kind, std::string_view provider,
                                      std::string_view model) {
  std::string doc = R"({"nodes":[{"id":"in","type":"input","position":{"x":0,"y":0},"data":{}})";
  std::string edges;
  std::string prev = "in";
  for (int i = 0; i < n; ++i) {
    const std::string id = "n" + std::to_string(i);
    doc += R"(,{"id":")" + id + R"(","type":")" + std::string(kind) +
           R"(","position":{"x":0,"y":0},"data":)";
    if (kind == "llm")
      doc += R"({"provider":")" + std::string(provider) + R"(","model":")" + std::string(model) +
             R"(","prompt":"Say hello [[reply:ok]]","maxTokens":16}})";
    else
      doc += R"({"op":"trim"}})";
    edges += (edges.empty() ? "" : ",") +
             (R"({"id":"e)" + id + R"(","source":")" + prev + R"(","target":")" + id + R"("})");
    prev = id;
  }
  doc += R"(,{"id":"out","type":"output","position":{"x":0,"y":0},"data":{}}],"edges":[)" + edges +
         R"(,{"id":"eout","source":")" + prev + R"(","target":"out"}]})";
  auto parsed = Workflow::parse(doc);
  if (!parsed.workflow) throw std::runtime_error("benchmark workflow does not parse");
  return std::make_shared<const Workflow>(std::move(*parsed.workflow));
}

void engine_overhead(benchmark::State& state, std::string_view kind) {
  asio::io_context ctx;
  auto registry = std::make_shared<ProviderRegistry>();
  registry->add(std::make_shared<InstantProvider>(ctx.get_executor()));
  Executor ex(ctx.get_executor(), registry);
  const int nodes = static_cast<int>(state.range(0));
  auto wf = chain(nodes, kind, "instant", "m");
  for (auto _ : state) {
    bool ok = false;
    ex.async_run(wf, "hello", RunOptions{}, [&](error_code ec, RunResult r) {
      ok = !ec;
      benchmark::DoNotOptimize(r);
    });
    ctx.run();
    ctx.restart();
    if (!ok) state.SkipWithError("run failed");
  }
  state.counters["nodes"] = nodes + 2;
  state.counters["us_per_node"] = benchmark::Counter(
      static_cast<double>(nodes + 2) * 1e-6,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_EngineOverheadPerNode_Llm(benchmark::State& state) {
  engine_overhead(state, "llm");
}
void BM_EngineOverheadPerNode_Transform(benchmark::State& state) {
  engine_overhead(state, "transform");
}
BENCHMARK(BM_EngineOverheadPerNode_Llm)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_EngineOverheadPerNode_Transform)->Arg(10)->Arg(100)->Arg(1000);

// Heap held per in-flight run: 3-node workflow (in -> llm -> out), calls that last 2 s, measured
// when every run has its call in flight.
void BM_MemoryPerConcurrentRuns(benchmark::State& state) {
  const auto runs = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    asio::io_context ctx;
    auto registry = std::make_shared<ProviderRegistry>();
    auto provider =
        std::make_shared<InstantProvider>(ctx.get_executor(), std::chrono::milliseconds(2000));
    registry->add(provider);
    Executor ex(ctx.get_executor(), registry);
    auto wf = chain(1, "llm", "instant", "m");
    // Validate once before measuring (the executor caches it per shared document).
    ex.async_run(wf, "warm", RunOptions{}, [](error_code, RunResult) {});
    ctx.run();
    ctx.restart();
    const std::size_t before = mallinfo2().uordblks;
    std::size_t at_peak = 0;
    provider->peak_target = runs;
    provider->on_peak = [&] { at_peak = mallinfo2().uordblks; };
    std::size_t done = 0;
    for (std::size_t i = 0; i < runs; ++i)
      ex.async_run(wf, "input text of run " + std::to_string(i), RunOptions{},
                   [&](error_code ec, RunResult) { done += !ec; });
    ctx.run();
    if (done != runs || at_peak == 0) state.SkipWithError("runs did not all complete");
    const double per_run = static_cast<double>(at_peak - before) / static_cast<double>(runs);
    state.counters["bytes_per_run"] = per_run;
    state.counters["MB_per_1000_runs"] = per_run * 1000 / (1024.0 * 1024.0);
  }
}
BENCHMARK(BM_MemoryPerConcurrentRuns)
    ->Arg(1000)
    ->Arg(10000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

#if defined(CHORUS_HAVE_FAKE_LLM)
// CPU of this thread (the client's io_context) per llm node, against the fake server (own
// thread) over loopback HTTP with keep-alive. 32 runs of a 10-llm-node chain per iteration.
void BM_EndToEndPerLlmNode(benchmark::State& state) {
  test::FakeLlmServer server;
  asio::io_context ctx;
  ProviderOptions o;
  o.api_key = "sk-bench-key-000000";
  o.base_url = server.base_url() + "/v1";
  auto registry = ProviderRegistry::with_builtins(ctx.get_executor(), {{"openai", o}});
  Executor ex(ctx.get_executor(), registry);
  const int nodes = 10, runs = 32;
  auto wf = chain(nodes, "llm", "openai", "gpt-4o-mini");
  const bool stream = state.range(0) != 0;
  for (auto _ : state) {
    int ok = 0;
    for (int i = 0; i < runs; ++i) {
      RunOptions opts;
      if (stream) opts.on_event = [](const RunEvent&) {};
      ex.async_run(wf, "hello", std::move(opts), [&](error_code ec, RunResult r) {
        ok += !ec;
        if (ec) std::fprintf(stderr, "run failed: %s\n", r.error.describe().c_str());
      });
    }
    ctx.run();
    ctx.restart();
    if (ok != runs) {
      state.SkipWithError("runs failed");
      break;
    }
  }
  state.counters["us_cpu_per_llm_node"] = benchmark::Counter(
      static_cast<double>(nodes * runs) * 1e-6,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EndToEndPerLlmNode)->Arg(0)->Arg(1)->ArgName("stream")->Unit(benchmark::kMillisecond);
#endif

// `executor_bench --runs=N --nodes=M [--kind=llm|transform]`: N runs of an M-node chain and no
// benchmark, for instruction counts (`valgrind --tool=callgrind`): the difference between two N
// divided by the runs and the nodes (M + 2) is the engine's instructions per node, stable on a
// loaded machine where times are not.
int run_for_profile(int runs, int nodes, std::string_view kind) {
  asio::io_context ctx;
  auto registry = std::make_shared<ProviderRegistry>();
  registry->add(std::make_shared<InstantProvider>(ctx.get_executor()));
  Executor ex(ctx.get_executor(), registry);
  auto wf = chain(nodes, kind, "instant", "m");
  int ok = 0;
  for (int i = 0; i < runs; ++i) {
    ex.async_run(wf, "hello", RunOptions{}, [&](error_code ec, RunResult) { ok += !ec; });
    ctx.run();
    ctx.restart();
  }
  std::printf("%d/%d runs of %d %s nodes succeeded\n", ok, runs, nodes, std::string(kind).c_str());
  return ok == runs ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = -1, nodes = 10;
  std::string_view kind = "llm";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.starts_with("--runs=")) runs = std::atoi(argv[i] + 7);
    if (a.starts_with("--nodes=")) nodes = std::atoi(argv[i] + 8);
    if (a.starts_with("--kind=")) kind = a.substr(7);
  }
  if (runs >= 0) return run_for_profile(runs, nodes, kind);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
