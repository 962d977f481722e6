// chorus run workflow.json --input "...": runs a workflow with the library's Executor and shows
// it as it runs (a live tree of nodes on a terminal, JSON lines with --events), then prints the
// final output and a cost table, or the RunResult as JSON with --json. See docs/cli.md.
#include "commands.hpp"

#include <chorus/executor.hpp>
#include <chorus/provider.hpp>
#include <chorus/workflow.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace chorus::cli {
namespace {

constexpr std::string_view run_usage = R"(usage: chorus run [options] workflow.json

Runs a workflow document. On a terminal, a live tree of the nodes (status, tokens, cost) is drawn
on stderr; the final output goes to stdout, then a cost table to stderr.

options:
  -i, --input TEXT        the run's input ({{workflow.input}}); "-" reads standard input
  --input-file FILE       read the input from FILE ("-": standard input)
  --json                  print the RunResult as JSON on stdout (nothing else on stdout)
  --events                print every run event as one JSON line on stdout (with --json, the
                          result follows as the last line)
  --max-cost USD          stop with budget_exceeded before a call that could exceed USD
  --max-tokens N          the same for tokens (prompt estimate + maxTokens per call)
  --concurrency N         at most N LLM calls in flight
  --no-stream             do not stream tokens (no token events)
  -f, --follow            print each node's text on stderr as it streams (instead of the tree)
  --run-id ID             the run's id (default: random)
  -q, --quiet             no live tree, no cost table
  -h, --help              this text

Use "-" as workflow.json to read the document from standard input.
Providers come from the environment (OPENAI_API_KEY, ..., *_BASE_URL); `simulated` needs none.

exit status: 0 succeeded, 1 failed (a node failed), 2 usage error or unreadable file,
             3 invalid workflow, 4 budget exceeded, 130 cancelled (Ctrl-C)
)";

constexpr int exit_ok = 0, exit_failed = 1, exit_usage = 2, exit_invalid = 3, exit_budget = 4,
              exit_cancelled = 130;

std::string format_cost(const std::optional<double>& c) {
  if (!c) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.6f", *c);
  return buf;
}

std::string format_ms(std::chrono::microseconds us) {
  char buf[32];
  if (us.count() >= 1'000'000)
    std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(us.count()) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0fms", static_cast<double>(us.count()) / 1e3);
  return buf;
}

// The live tree: one line per node, redrawn in place on stderr.
class LiveTree {
 public:
  explicit LiveTree(const Workflow& wf) {
    for (const auto& n : wf.nodes()) {
      Row r;
      r.id = n.id;
      r.type = n.type;
      r.depth = n.parent_id.empty() ? 0 : 1;
      index_[n.id] = rows_.size();
      rows_.push_back(std::move(r));
    }
  }

  void on_event(const RunEvent& e) {
    auto it = index_.find(std::string(e.node_id));
    if (it != index_.end()) {
      Row& r = rows_[it->second];
      switch (e.type) {
        case RunEventType::node_started:
          r.state = "running";
          break;
        case RunEventType::token:
          r.streamed += 1;
          break;
        case RunEventType::node_retry:
          r.state = "retry " + std::to_string(e.attempt);
          break;
        case RunEventType::node_finished:
        case RunEventType::node_failed:
        case RunEventType::node_skipped:
          r.state = std::string(e.status);
          if (e.result) {
            r.tokens = e.result->usage.total_tokens;
            r.cost = e.result->cost;
            r.latency = e.result->latency;
          }
          break;
        default:
          break;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (e.type == RunEventType::token && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    draw();
  }

  void draw() {
    if (drawn_ > 0) std::fprintf(stderr, "\x1b[%dA", drawn_);
    for (const Row& r : rows_) {
      const char* mark = r.state == "succeeded"   ? "\x1b[32m✓\x1b[0m"
                         : r.state == "failed"    ? "\x1b[31m✗\x1b[0m"
                         : r.state == "cancelled" ? "\x1b[33m■\x1b[0m"
                         : r.state == "skipped"   ? "\x1b[90m-\x1b[0m"
                         : r.state == "pending"   ? "\x1b[90m·\x1b[0m"
                                                  : "\x1b[36m…\x1b[0m";
      std::string detail = r.state;
      if (r.tokens > 0)
        detail += "  " + std::to_string(r.tokens) + " tok";
      else if (r.streamed > 0)
        detail += "  " + std::to_string(r.streamed) + " tok streamed";
      if (r.cost && *r.cost > 0) detail += "  " + format_cost(r.cost);
      if (r.latency.count() > 0) detail += "  " + format_ms(r.latency);
      std::fprintf(stderr, "\x1b[2K%*s%s %s (%s)  %s\n", r.depth * 2, "", mark, r.id.c_str(),
                   r.type.c_str(), detail.c_str());
    }
    drawn_ = static_cast<int>(rows_.size());
    std::fflush(stderr);
  }

 private:
  struct Row {
    std::string id, type;
    int depth = 0;
    std::string state = "pending";
    std::int64_t streamed = 0;
    std::int64_t tokens = 0;
    std::optional<double> cost = 0.0;
    std::chrono::microseconds latency{0};
  };
  std::vector<Row> rows_;
  std::map<std::string, std::size_t> index_;
  int drawn_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

void print_cost_table(const Workflow& wf, const RunResult& r) {
  std::fprintf(stderr, "\n%-24s %-10s %8s %8s %12s %10s\n", "node", "status", "prompt", "output",
               "cost", "time");
  for (const auto& n : wf.nodes()) {
    auto it = r.nodes.find(n.id);
    if (it == r.nodes.end()) continue;
    const NodeResult& nr = it->second;
    std::fprintf(stderr, "%-24s %-10s %8lld %8lld %12s %10s\n", n.id.c_str(),
                 std::string(to_string(nr.status)).c_str(),
                 static_cast<long long>(nr.usage.prompt_tokens),
                 static_cast<long long>(nr.usage.completion_tokens), format_cost(nr.cost).c_str(),
                 format_ms(nr.latency).c_str());
  }
  std::fprintf(stderr, "%-24s %-10s %8lld %8lld %12s %10s\n", "total",
               std::string(to_string(r.status)).c_str(),
               static_cast<long long>(r.usage.prompt_tokens),
               static_cast<long long>(r.usage.completion_tokens), format_cost(r.cost).c_str(),
               format_ms(r.wall_time).c_str());
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "chorus run: %s\n(see chorus run --help)\n", msg.c_str());
  return exit_usage;
}

// --follow: each node's text as it streams, on stderr, for logs and pipes where the live tree
// cannot redraw. One node holds the floor and streams live; parallel nodes are buffered and
// printed whole, in the order they started speaking, when the floor frees. Every node that ends
// gets one summary line.
class FollowPrinter {
 public:
  void on_event(const RunEvent& e) {
    switch (e.type) {
      case RunEventType::token: {
        const std::string id = speaker(e);
        Pending& p = pending(id);
        if (floor_ == id) {
          std::fwrite(e.text.data(), 1, e.text.size(), stderr);
        } else if (floor_.empty()) {
          take_floor(p);
          std::fwrite(e.text.data(), 1, e.text.size(), stderr);
        } else {
          p.text.append(e.text);
        }
        break;
      }
      case RunEventType::node_finished:
      case RunEventType::node_failed:
      case RunEventType::node_skipped: {
        const std::string id = speaker(e);
        Pending& p = pending(id);
        p.summary = summary(id, e);
        if (floor_ == id || (floor_.empty() && p.text.empty())) {
          if (floor_ == id) std::fputc('\n', stderr);
          std::fputs(p.summary.c_str(), stderr);
          erase(id);
          floor_.clear();
          hand_over();
        }
        break;
      }
      default:
        break;
    }
    std::fflush(stderr);
  }

 private:
  struct Pending {
    std::string id, text, summary;  // summary set once the node ended
  };

  Pending& pending(std::string_view id) {
    for (auto& p : queue_)
      if (p.id == id) return p;
    queue_.push_back(Pending{std::string(id), {}, {}});
    return queue_.back();
  }
  void erase(std::string_view id) {
    std::erase_if(queue_, [&](const Pending& p) { return p.id == id; });
  }
  void take_floor(Pending& p) {
    floor_ = p.id;
    std::fprintf(stderr, "[%s] %s", p.id.c_str(), p.text.c_str());
    p.text.clear();
  }
  // Gives the floor to the earliest buffered node; nodes that already ended print whole.
  void hand_over() {
    while (!queue_.empty()) {
      Pending& next = queue_.front();
      if (next.text.empty() && next.summary.empty()) {
        queue_.push_back(std::move(next));  // silent so far: let a speaking node go first
        queue_.pop_front();
        if (std::all_of(queue_.begin(), queue_.end(),
                        [](const Pending& p) { return p.text.empty() && p.summary.empty(); }))
          return;
        continue;
      }
      if (next.text.empty()) {  // ended without a word: just its summary
        std::fputs(next.summary.c_str(), stderr);
        queue_.pop_front();
        continue;
      }
      take_floor(next);
      if (next.summary.empty()) return;  // still running: it streams live from here
      std::fputc('\n', stderr);
      std::fputs(next.summary.c_str(), stderr);
      floor_.clear();
      queue_.pop_front();
    }
  }
  // A node inside a map body speaks once per item: "node[2]".
  static std::string speaker(const RunEvent& e) {
    std::string id(e.node_id);
    if (e.item) id += "[" + std::to_string(*e.item) + "]";
    return id;
  }
  static std::string summary(const std::string& id, const RunEvent& e) {
    std::string line = "-- " + id + " " + std::string(e.status);
    if (e.result && e.result->usage.total_tokens > 0)
      line += "  " + std::to_string(e.result->usage.total_tokens) + " tokens";
    if (e.result && e.result->cost && *e.result->cost > 0)
      line += "  " + format_cost(e.result->cost);
    if (e.result && e.result->latency.count() > 0) line += "  " + format_ms(e.result->latency);
    return line + "\n";
  }

  std::string floor_;
  std::deque<Pending> queue_;
};

}  // namespace

int run(Args args) {
  std::string workflow_path;
  std::optional<std::string> input;
  bool json_out = false, events = false, quiet = false, stream = true, follow = false;
  RunOptions opts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      (void)name;
      return std::string(args[++i]);
    };
    if (a == "-h" || a == "--help") {
      std::fputs(run_usage.data(), stdout);
      return exit_ok;
    } else if (a == "-i" || a == "--input") {
      auto v = value(a);
      if (!v) return usage_error("--input needs a value");
      if (*v == "-") {
        std::string text;
        read_all("-", text);
        input = std::move(text);
      } else {
        input = std::move(*v);
      }
    } else if (a == "--input-file") {
      auto v = value(a);
      if (!v) return usage_error("--input-file needs a file name");
      std::string text;
      if (!read_all(*v, text)) return usage_error("cannot read input file '" + *v + "'");
      input = std::move(text);
    } else if (a == "--json") {
      json_out = true;
    } else if (a == "--events") {
      events = true;
    } else if (a == "--no-stream") {
      stream = false;
    } else if (a == "-f" || a == "--follow") {
      follow = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "--max-cost") {
      auto v = value(a);
      char* end = nullptr;
      const double d = v ? std::strtod(v->c_str(), &end) : -1;
      if (!v || end == v->c_str() || *end != '\0' || !(d >= 0))
        return usage_error("--max-cost needs a number of US dollars >= 0");
      opts.max_cost_usd = d;
    } else if (a == "--max-tokens" || a == "--concurrency") {
      auto v = value(a);
      char* end = nullptr;
      const long long n = v ? std::strtoll(v->c_str(), &end, 10) : -1;
      if (!v || end == v->c_str() || *end != '\0' || n < 1)
        return usage_error(std::string(a) + " needs a whole number >= 1");
      if (a == "--max-tokens")
        opts.max_tokens = n;
      else
        opts.max_concurrency = static_cast<std::size_t>(n);
    } else if (a == "--run-id") {
      auto v = value(a);
      if (!v) return usage_error("--run-id needs a value");
      opts.run_id = std::move(*v);
    } else if (a.size() > 1 && a[0] == '-') {
      return usage_error("unknown option '" + std::string(a) + "'");
    } else if (workflow_path.empty()) {
      workflow_path = std::string(a);
    } else {
      return usage_error("one workflow at a time (got '" + workflow_path + "' and '" +
                         std::string(a) + "')");
    }
  }
  if (workflow_path.empty()) return usage_error("no workflow file given");

  std::string text;
  if (!read_all(workflow_path, text))
    return usage_error("cannot read workflow '" + workflow_path + "'");
  ParseResult parsed = Workflow::parse(text);
  if (!parsed.workflow) {  // other problems are reported, all at once, by the executor
    for (const auto& p : parsed.problems)
      if (p.severity == Severity::error)
        std::fprintf(stderr, "%s: %s\n", workflow_path.c_str(), p.describe().c_str());
    if (parsed.problems.empty())
      std::fprintf(stderr, "%s: not a workflow document\n", workflow_path.c_str());
    std::fprintf(stderr, "error: invalid_workflow: the workflow does not validate\n");
    return exit_invalid;
  }
  auto wf = std::make_shared<const Workflow>(std::move(*parsed.workflow));

  asio::io_context ctx;
  std::shared_ptr<ProviderRegistry> registry;
  try {
    registry = ProviderRegistry::with_builtins(ctx.get_executor());
  } catch (const Exception& e) {
    std::fprintf(stderr, "error: %s\n", e.error().describe().c_str());
    return exit_usage;
  }
  Executor executor(ctx.get_executor(), registry);

  const bool tty = !json_out && !events && !quiet && !follow && isatty(STDERR_FILENO);
  std::optional<LiveTree> tree;
  if (tty) tree.emplace(*wf);
  std::optional<FollowPrinter> follower;
  if (follow && !quiet) follower.emplace();
  opts.stream_tokens = stream;
  opts.stop = StopSignal::create();
  if (events || tree || follower) {
    opts.on_event = [&](const RunEvent& e) {
      if (events) {
        std::string line = boost::json::serialize(e.to_json());
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fflush(stdout);
      }
      if (tree) tree->on_event(e);
      if (follower) follower->on_event(e);
    };
  }

  // Ctrl-C / SIGTERM cancel the run; the result still shows what was done.
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  auto stop = opts.stop;
  signals.async_wait([stop](error_code ec, int) {
    if (!ec) stop->request_stop();
  });

  error_code ec;
  RunResult result;
  bool done = false;
  executor.async_run(wf, input.value_or(""), std::move(opts), [&](error_code e, RunResult r) {
    ec = e;
    result = std::move(r);
    done = true;
    signals.cancel();
  });
  ctx.run();
  if (!done) {
    std::fprintf(stderr, "error: the run did not complete\n");
    return exit_failed;
  }

  if (json_out) {
    std::string out = boost::json::serialize(result.to_json());
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else if (!events) {
    std::fwrite(result.output.data(), 1, result.output.size(), stdout);
    if (!result.output.empty() && result.output.back() != '\n') std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  if (!quiet && !json_out && !events) print_cost_table(*wf, result);
  if (ec) {
    // Every problem on its own line, then the one-line summary the other commands print.
    Error e = result.error ? result.error : make_error(ec, ec.message());
    if (!e.code) e.code = ec;
    print_error_line(e);
  }
  switch (result.status) {
    case RunStatus::succeeded:
      return exit_ok;
    case RunStatus::budget_exceeded:
      return exit_budget;
    case RunStatus::cancelled:
      return exit_cancelled;
    case RunStatus::failed:
      return ec == errc::invalid_workflow ? exit_invalid : exit_failed;
  }
  return exit_failed;
}

}  // namespace chorus::cli
