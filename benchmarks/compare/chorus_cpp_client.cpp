// The Chorus C++ client of the peer comparison (benchmarks/compare/run): one workload, N units,
// CONCURRENCY in flight, against an OpenAI-compatible BASE_URL (chorus-fake-llm), then ONE JSON
// line on stdout and nothing else. The runner measures this process from outside (wait4: CPU
// user+sys, peak RSS; wall time), so the figures include everything the process does.
//
//   chorus_compare_client WORKLOAD N CONCURRENCY BASE_URL
//
// WORKLOAD: call (non-streamed chat call), stream (streamed call), chain (3-node llm chain),
// fanout (input -> 10 parallel llm nodes -> merge -> output), concurrent (N runs of the 3-node
// chain started at once; each call waits LATENCY ms at the server: `[[latency:MS]]`, MS from
// CHORUS_COMPARE_HOLD_MS, default 500), startup (build the client and exit; N ignored).
// Exit status: 0 when every unit succeeded, 1 otherwise (the first error goes to stderr),
// 2 on bad arguments.
#include <chorus/executor.hpp>
#include <chorus/provider.hpp>
#include <chorus/workflow.hpp>

#include <boost/asio/io_context.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace chorus;

constexpr std::string_view kModel = "gpt-4o-mini";

struct Options {
  std::string workload;
  long n = 0;
  long concurrency = 1;
  std::string base_url;
};

std::string llm_node(const std::string& id, const std::string& prompt) {
  return R"({"id":")" + id +
         R"(","type":"llm","position":{"x":0,"y":0},"data":{"provider":"openai","model":")" +
         std::string(kModel) + R"(","prompt":")" + prompt + R"("}})";
}

std::string edge(const std::string& from, const std::string& to) {
  return R"({"id":")" + from + "-" + to + R"(","source":")" + from + R"(","target":")" + to +
         R"("})";
}

// in -> a -> b -> c -> out; every prompt carries the run's input.
std::string chain_doc(std::string_view directive) {
  const std::string d(directive);
  return R"({"id":"chain3","nodes":[{"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},)" +
         llm_node("a", "Step one: {{input}}" + d) + "," + llm_node("b", "Step two: {{input}}" + d) +
         "," + llm_node("c", "Step three: {{input}}" + d) +
         R"(,{"id":"out","type":"output","position":{"x":0,"y":0},"data":{}}],"edges":[)" +
         edge("in", "a") + "," + edge("a", "b") + "," + edge("b", "c") + "," + edge("c", "out") +
         "]}";
}

// in -> w0..w9 (parallel) -> merge (all) -> out.
std::string fanout_doc() {
  std::string nodes = R"({"id":"in","type":"input","position":{"x":0,"y":0},"data":{}})";
  std::string edges;
  for (int i = 0; i < 10; ++i) {
    const std::string id = "w" + std::to_string(i);
    nodes += "," + llm_node(id, "Worker " + std::to_string(i) + ": {{input}}");
    edges += (edges.empty() ? "" : ",") + edge("in", id) + "," + edge(id, "merge");
  }
  nodes += R"(,{"id":"merge","type":"merge","position":{"x":0,"y":0},"data":{"mode":"all"}})";
  nodes += R"(,{"id":"out","type":"output","position":{"x":0,"y":0},"data":{}})";
  edges += "," + edge("merge", "out");
  return R"({"id":"fanout10","nodes":[)" + nodes + R"(],"edges":[)" + edges + "]}";
}

std::shared_ptr<const Workflow> parse_or_die(const std::string& doc) {
  auto parsed = Workflow::parse(doc);
  if (!parsed.workflow) {
    std::fprintf(stderr, "chorus_compare_client: the benchmark workflow does not parse\n");
    std::exit(1);
  }
  return std::make_shared<const Workflow>(std::move(*parsed.workflow));
}

// Keeps `concurrency` units in flight until `n` have been started; `start(i, done)` starts unit i
// and calls done(ok, error_text) once. Single-threaded (everything on one io_context).
class Driver {
 public:
  template <class Start>
  Driver(long n, long concurrency, Start start) : n_(n), concurrency_(concurrency), start_(start) {}

  void run(asio::io_context& ctx) {
    for (long i = 0; i < concurrency_ && next_ < n_; ++i)
      launch();
    ctx.run();
  }
  long ok() const { return ok_; }
  long failed() const { return failed_; }

 private:
  void launch() {
    const long i = next_++;
    start_(i, [this](bool ok, const std::string& why) {
      if (ok) {
        ++ok_;
      } else {
        if (failed_++ == 0) std::fprintf(stderr, "chorus_compare_client: %s\n", why.c_str());
      }
      if (next_ < n_) launch();
    });
  }

  long n_, concurrency_, next_ = 0, ok_ = 0, failed_ = 0;
  std::function<void(long, std::function<void(bool, const std::string&)>)> start_;
};

ChatRequest make_request(std::string text) {
  ChatRequest req;
  req.config.model = std::string(kModel);
  req.messages.push_back(Message{Role::user, std::move(text)});
  return req;
}

int usage() {
  std::fprintf(stderr,
               "usage: chorus_compare_client call|stream|chain|fanout|concurrent|startup N "
               "CONCURRENCY BASE_URL\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return usage();
  Options opt;
  opt.workload = argv[1];
  opt.n = std::strtol(argv[2], nullptr, 10);
  opt.concurrency = std::strtol(argv[3], nullptr, 10);
  opt.base_url = argv[4];
  if (opt.n < 0 || opt.concurrency < 1) return usage();

  const auto t0 = std::chrono::steady_clock::now();
  asio::io_context ctx(1);
  ProviderOptions po;
  po.api_key = "sk-compare-bench";
  po.base_url = opt.base_url + "/v1";
  po.retry = RetryPolicy::none();
  auto registry = ProviderRegistry::with_builtins(ctx.get_executor(), {{"openai", po}});
  auto provider = registry->find("openai");
  Executor executor(ctx.get_executor(), registry);

  long units = opt.n;
  long ok = 0, failed = 0;
  std::size_t checksum = 0;  // bytes of answer text seen, so nothing is optimised away
  auto finish_call = [&](auto& done) {
    return [&checksum, done](error_code ec, ChatResponse r) {
      checksum += r.content.size();
      const bool good = !ec && !r.content.empty();
      done(good, good ? std::string() : "call failed: " + r.error.describe());
    };
  };
  auto finish_run = [&](auto& done) {
    return [&checksum, done](error_code ec, RunResult r) {
      checksum += r.output.size();
      const bool good = !ec && r.status == RunStatus::succeeded && !r.output.empty();
      done(good, good ? std::string() : "run failed: " + r.error.describe());
    };
  };

  if (opt.workload == "startup") {
    units = 0;
  } else if (opt.workload == "call") {
    Driver d(opt.n, opt.concurrency, [&](long i, auto done) {
      provider->async_complete(make_request("Say something, call " + std::to_string(i)),
                               finish_call(done));
    });
    d.run(ctx);
    ok = d.ok(), failed = d.failed();
  } else if (opt.workload == "stream") {
    Driver d(opt.n, opt.concurrency, [&](long i, auto done) {
      provider->async_stream(
          make_request("Stream something, call " + std::to_string(i)),
          [&checksum](const StreamDelta& delta) { checksum += delta.text.size(); },
          finish_call(done));
    });
    d.run(ctx);
    ok = d.ok(), failed = d.failed();
  } else if (opt.workload == "chain" || opt.workload == "fanout" || opt.workload == "concurrent") {
    std::string hold;
    if (opt.workload == "concurrent") {
      const char* env = std::getenv("CHORUS_COMPARE_HOLD_MS");
      hold = " [[latency:" + std::string(env && *env ? env : "500") + "]]";
      opt.concurrency = opt.n;  // every run in flight at once
    }
    auto wf = parse_or_die(opt.workload == "fanout" ? fanout_doc() : chain_doc(hold));
    Driver d(opt.n, opt.concurrency, [&](long i, auto done) {
      RunOptions ro;
      ro.stream_tokens = false;
      ro.run_id = "r" + std::to_string(i);
      executor.async_run(wf, "topic " + std::to_string(i), std::move(ro), finish_run(done));
    });
    d.run(ctx);
    ok = d.ok(), failed = d.failed();
  } else {
    return usage();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // VmHWM: this process's peak RSS since exec (ru_maxrss also counts the parent it was forked
  // from, e.g. the runner's Python).
  long hwm_kb = 0;
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %ld", &hwm_kb) == 1) break;
    std::fclose(f);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  std::printf(
      "{\"system\":\"chorus-cpp\",\"workload\":\"%s\",\"n\":%ld,\"ok\":%ld,\"failed\":%ld,"
      "\"self_cpu_s\":%.6f,\"self_wall_s\":%.6f,\"self_maxrss_kb\":%ld,\"vmhwm_kb\":%ld,"
      "\"checksum\":%zu}\n",
      opt.workload.c_str(), units, ok, failed, cpu, wall, ru.ru_maxrss, hwm_kb, checksum);
  return failed == 0 && ok == units ? 0 : 1;
}
