// The workflow engine. A run is a dataflow over the validated graph: a node starts when every
// (non-back) incoming edge is resolved, live or dead; a node whose inputs are all dead is skipped
// and kills its own outgoing edges (router skip propagation); loop nodes re-arm the nodes of their
// cycle; a map node runs its body once per item, each item in its own Scope. Everything happens on
// the Executor's executor: synchronous nodes run inline from a ready queue, LLM calls are
// asynchronous provider operations bound to that executor and to a per-call cancellation signal.
// See docs/executor.md for the semantics and docs/events.md for the event order.
#include <chorus/executor.hpp>
#include <chorus/pricing.hpp>
#include <chorus/simulation.hpp>

#include "limits.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cstdio>
#include <future>
#include <random>

namespace chorus {

// ---------------------------------------------------------------------------------------------
// StopSignal

void StopSignal::request_stop() {
  std::map<std::uint64_t, std::function<void()>> callbacks;
  {
    std::lock_guard lock(mutex_);
    if (stopped_.exchange(true, std::memory_order_acq_rel)) return;
    callbacks.swap(callbacks_);
  }
  for (auto& [id, cb] : callbacks)
    cb();
}

std::uint64_t StopSignal::subscribe(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (!stopped_.load(std::memory_order_acquire)) {
      const auto id = next_id_++;
      callbacks_.emplace(id, std::move(callback));
      return id;
    }
  }
  callback();
  return 0;
}

void StopSignal::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  callbacks_.erase(id);
}

namespace detail {

// What every run of one validated document shares: node indices per edge (the document stores
// ids), and the nodes in id order (the order of RunResult::nodes, filled with hints in O(1)).
struct RunPlan {
  std::vector<std::size_t> edge_source, edge_target;
  std::vector<std::size_t> by_id;

  explicit RunPlan(const Workflow& wf) {
    const auto& edges = wf.edges();
    edge_source.resize(edges.size());
    edge_target.resize(edges.size());
    for (std::size_t e = 0; e < edges.size(); ++e) {
      edge_source[e] = wf.node_index(edges[e].source);
      edge_target[e] = wf.node_index(edges[e].target);
    }
    const auto& nodes = wf.nodes();
    by_id.resize(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
      by_id[i] = i;
    std::sort(by_id.begin(), by_id.end(),
              [&](std::size_t a, std::size_t b) { return nodes[a].id < nodes[b].id; });
  }
};

class executor_state {
 public:
  executor_state(asio::any_io_executor e, std::shared_ptr<ProviderRegistry> p)
      : ex(std::move(e)), providers(std::move(p)), gate(std::make_shared<CallGate>(ex)) {}

  asio::any_io_executor ex;
  std::shared_ptr<ProviderRegistry> providers;
  std::shared_ptr<CallGate> gate;  // only touched on ex

  // Workflows already validated, with their plan (shared documents run many times are validated
  // and planned once). Null when `wf` was not validated yet.
  std::shared_ptr<const RunPlan> validated(const std::shared_ptr<const Workflow>& wf) {
    std::lock_guard lock(mutex);
    auto it = validated_.find(wf.get());
    if (it == validated_.end() || it->second.first.lock() != wf) return nullptr;
    return it->second.second;
  }
  std::shared_ptr<const RunPlan> remember(const std::shared_ptr<const Workflow>& wf) {
    auto plan = std::make_shared<const RunPlan>(*wf);
    std::lock_guard lock(mutex);
    if (validated_.size() >= sweep_at_) {  // documents run once (copied per run) expire
      std::erase_if(validated_, [](const auto& kv) { return kv.second.first.expired(); });
      if (validated_.size() > 1024) validated_.clear();
      sweep_at_ = std::max<std::size_t>(64, 2 * validated_.size());
    }
    validated_[wf.get()] = {wf, plan};
    return plan;
  }

 private:
  std::mutex mutex;
  std::map<const Workflow*,
           std::pair<std::weak_ptr<const Workflow>, std::shared_ptr<const RunPlan>>>
      validated_;
  std::size_t sweep_at_ = 64;
};

}  // namespace detail

namespace {

using clock = std::chrono::steady_clock;
using detail::CallGate;
constexpr std::size_t npos = Graph::npos;

std::string make_run_id() {
  thread_local std::mt19937_64 rng{
      std::random_device{}() ^ static_cast<std::uint64_t>(clock::now().time_since_epoch().count())};
  const std::uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

enum class NState : std::uint8_t { pending, running, done };
enum class EState : std::uint8_t { unresolved, live, dead };

struct NodeSlot {  // 56 bytes: one per node of every waiting run
  std::string output;
  std::uint64_t last_start = 0;
  int activations = 0;
  std::int32_t continues = 0;  // loop nodes: times "continue" was taken
  NState state = NState::pending;
  bool has_output = false;
  NodeStatus status = NodeStatus::skipped;
};

struct EdgeSlot {
  EState state = EState::unresolved;
  std::uint64_t fired = 0;
};

struct RunState;
struct MapRun;

// The nodes of the top level, or of one map item.
struct Scope {
  RunState* run = nullptr;
  Scope* parent = nullptr;
  std::size_t map_node = npos;
  int item = -1;
  std::vector<NodeSlot> nodes;  // by node index; only members are used
  std::vector<EdgeSlot> edges;  // by edge index
  std::size_t busy = 0;         // member nodes running asynchronously
  bool done = false;
  std::map<std::size_t, std::unique_ptr<MapRun>> maps;
  // A map item's scope only (item >= 0): its item and what runs when it ends.
  struct Item {
    std::string text;
    std::function<void(Scope&)> on_done;
  };
  std::unique_ptr<Item> item_part;
  const std::string& item_text() const { return item_part->text; }
};

// What a finished node produced.
struct Outcome {
  NodeStatus status = NodeStatus::succeeded;
  std::string output;
  bool has_output = true;
  Error error;
  std::optional<std::string> route;  // router: chosen label
  std::optional<LoopDecision> loop;  // loop: decision
  bool error_branch = false;         // llm on_error branch taken
  bool fail_run = false;             // the failure fails the run
  // Accounting of this activation.
  Usage usage;
  std::optional<double> cost = 0.0;
  std::chrono::microseconds latency{0};
  int attempts = 0;
  std::string provider, model;
};

struct MapRun {
  std::vector<std::string> items;
  std::vector<std::string> outputs;
  std::vector<std::unique_ptr<Scope>> children;
  std::size_t next = 0;
  std::size_t running = 0;
  std::size_t finished = 0;
  std::size_t concurrency = 1;
  clock::time_point start;
};

struct LlmCall;

// What a run keeps of its RunOptions: the limits go into its CallGate and `resume` into
// RunState::resume when it starts, so a waiting run holds only these (docs/benchmarks.md, memory
// per run).
struct RunSettings {
  std::function<void(const RunEvent&)> on_event;
  std::shared_ptr<StopSignal> stop;
  std::optional<double> max_cost_usd;
  std::optional<std::int64_t> max_tokens;
  std::map<std::string, std::string> api_keys;
  std::string run_id;
  std::chrono::milliseconds retry_base_delay{0}, retry_max_delay{0};
  std::int64_t default_max_tokens = 0;
  bool stream_tokens = true;
};

// The parts of RunOptions used once, when the run starts.
struct RunSetup {
  std::size_t max_concurrency = 0;
  std::map<std::string, std::size_t> provider_concurrency;
  std::map<std::string, RateLimit> rate_limits;
  std::map<std::string, NodeResult> resume;
};

// RunOptions::resume, and its records by node index (null: none).
struct Resume {
  std::map<std::string, NodeResult> records;
  std::vector<const NodeResult*> by_node;
};

// A node's result while its run goes on: NodeResult's content in half its room, since a waiting
// run keeps one per finished node (docs/decisions/run-memory.md). Most nodes have no error; the
// output of a top-level node stays in its slot (the text downstream nodes read, alive as long as
// the run) and joins the result when the run ends.
struct NodeRecord {
  NodeStatus status = NodeStatus::skipped;
  bool output_in_slot = false;  // the top scope's slot of this node holds `output`
  int attempts = 0;
  int iterations = 0;
  Usage usage;
  std::optional<double> cost = 0.0;
  std::chrono::microseconds latency{0};
  std::string output;
  std::string provider, model;
  // What few nodes have: an error (failure, cancellation), a route (routers and loops).
  struct Rare {
    Error error;
    std::string route;
  };
  std::unique_ptr<Rare> rare;

  NodeRecord() = default;
  explicit NodeRecord(const NodeResult& r)
      : status(r.status),
        attempts(r.attempts),
        iterations(r.iterations),
        usage(r.usage),
        cost(r.cost),
        latency(r.latency),
        output(r.output),
        provider(r.provider),
        model(r.model),
        rare(r.error.code || !r.route.empty() ? std::make_unique<Rare>(Rare{r.error, r.route})
                                              : nullptr) {}

  Rare& rare_part() {
    if (!rare) rare = std::make_unique<Rare>();
    return *rare;
  }
  Error& set_error(const Error& e) { return rare_part().error = e; }

  // The public shape, copied (events). `slot`: the node's top-scope slot text.
  void copy_to(NodeResult& r, const std::string* slot) const {
    counts(r);
    r.output = output_in_slot && slot ? *slot : output;
    r.provider = provider;
    r.model = model;
    if (rare) {
      r.error = rare->error;
      r.route = rare->route;
    }
  }
  // The public shape, moved out of this record and the slot (when the run ends).
  void move_to(NodeResult& r, std::string* slot) {
    counts(r);
    r.output = output_in_slot && slot ? std::move(*slot) : std::move(output);
    r.provider = std::move(provider);
    r.model = std::move(model);
    if (rare) {
      r.error = std::move(rare->error);
      r.route = std::move(rare->route);
    }
  }

 private:
  void counts(NodeResult& r) const {
    r.status = status;
    r.attempts = attempts;
    r.iterations = iterations;
    r.usage = usage;
    r.cost = cost;
    r.latency = latency;
  }
};

struct RunState : std::enable_shared_from_this<RunState> {
  std::shared_ptr<detail::executor_state> exec;
  std::shared_ptr<const Workflow> wf;
  const Graph* g = nullptr;
  std::shared_ptr<const detail::RunPlan> plan;
  std::string input;
  RunSettings opts;
  // optional + emplace: Boost 1.81's any_completion_handler move-assignment recurses forever.
  std::optional<asio::any_completion_handler<Executor::run_signature>> handler;
  std::uint64_t stop_subscription = 0;

  clock::time_point start;
  std::uint64_t seq = 0;
  std::uint64_t tick = 0;
  std::unique_ptr<Scope> top;
  // Per node, created at its first terminal outcome (null: not touched yet); most nodes of a
  // waiting run have none yet (docs/decisions/run-memory.md).
  std::vector<std::unique_ptr<NodeRecord>> results;
  NodeRecord& new_result(std::size_t i) {
    results[i] = std::make_unique<NodeRecord>();
    return *results[i];
  }
  // The text of node i's top-scope slot, where a record with output_in_slot keeps its output.
  std::string* slot_text(std::size_t i) { return top ? &top->nodes[i].output : nullptr; }
  // Absent when the run resumes nothing.
  std::unique_ptr<Resume> resume;

  std::vector<std::pair<Scope*, std::size_t>> ready;
  std::vector<Scope*> dirty;
  bool draining = false;

  std::shared_ptr<CallGate> gate;  // per-run limits, when any
  std::vector<std::weak_ptr<LlmCall>> calls;

  bool stopping = false;
  bool finished = false;
  RunStatus stop_status = RunStatus::succeeded;
  std::unique_ptr<Error> stop_reason;  // set by stop(): most runs never stop early
  const Error& stop_error() const {
    static const Error none;
    return stop_reason ? *stop_reason : none;
  }

  double spent_cost = 0, reserved_cost = 0;
  std::int64_t spent_tokens = 0, reserved_tokens = 0;
  // Prices looked up for budget checks, by "provider\nmodel"; created by the first lookup.
  using PriceMap = std::map<std::string, std::optional<std::pair<double, double>>, std::less<>>;
  std::unique_ptr<PriceMap> prices;

  const Node& node(std::size_t i) const { return wf->nodes()[i]; }
  const Edge& edge(std::size_t e) const { return wf->edges()[e]; }
  bool want_events() const { return static_cast<bool>(opts.on_event); }

  void emit(RunEvent& ev) {
    ev.run_id = opts.run_id;
    ev.seq = seq++;
    ev.time = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start);
    opts.on_event(ev);
  }

  // -- events ------------------------------------------------------------------------------

  int iteration_of(const Scope& s, std::size_t i) const;
  void node_event(RunEventType type, const Scope& s, std::size_t i, const Error* error = nullptr,
                  const NodeRecord* record = nullptr, std::string_view status = {}) {
    if (!want_events()) return;
    std::optional<NodeResult> result;  // built only for listeners
    if (record) record->copy_to(result.emplace(), slot_text(i));
    RunEvent ev;
    ev.type = type;
    ev.node_id = node(i).id;
    ev.node_type = node(i).type;
    ev.iteration = iteration_of(s, i);
    if (s.item >= 0) ev.item = s.item;
    ev.error = error;
    ev.result = result ? &*result : nullptr;
    ev.status = status;
    if (type == RunEventType::node_started) {
      if (const auto* llm = node(i).data_as<LlmData>()) {
        ev.provider = llm->provider;
        ev.model = llm->model;
      }
    }
    emit(ev);
  }

  // -- scheduling --------------------------------------------------------------------------

  Scope* scope_of(Scope& from, std::size_t i) {
    const std::size_t m = g->map_of[i];
    for (Scope* s = &from; s; s = s->parent)
      if (s->map_node == m) return s;
    return nullptr;
  }
  bool member(const Scope& s, std::size_t i) const { return g->map_of[i] == s.map_node; }

  std::unique_ptr<Scope> make_scope(Scope* parent, std::size_t map_node, int item,
                                    std::string item_text) {
    auto s = std::make_unique<Scope>();
    s->run = this;
    s->parent = parent;
    s->map_node = map_node;
    s->item = item;
    if (item >= 0)
      s->item_part = std::make_unique<Scope::Item>(Scope::Item{std::move(item_text), {}});
    s->nodes.resize(wf->nodes().size());
    s->edges.resize(wf->edges().size());
    return s;
  }

  // Schedules the member nodes of `s` without incoming edges from inside the scope.
  void seed(Scope& s) {
    auto consider = [&](std::size_t i) {
      for (std::size_t e : g->in_edges[i])
        if (!g->back_edge[e] && member(s, src_cached(e))) return;
      ready.emplace_back(&s, i);
    };
    if (s.map_node == npos) {
      for (std::size_t i : g->topo_order)
        if (member(s, i)) consider(i);
    } else {
      for (std::size_t i : g->map_body[s.map_node])
        consider(i);
    }
    dirty.push_back(&s);
  }

  std::size_t dst(std::size_t e) const { return plan->edge_target[e]; }

  void check_ready(Scope& s, std::size_t i) {
    NodeSlot& slot = s.nodes[i];
    if (slot.state != NState::pending) return;
    const bool first_only = node(i).kind == NodeKind::merge &&
                            std::get<MergeData>(node(i).data).mode == MergeMode::first;
    std::size_t required = 0, unresolved = 0, live = 0;
    for (std::size_t e : g->in_edges[i]) {
      if (!member(s, src_cached(e))) continue;
      if (slot.activations == 0 && g->back_edge[e]) continue;
      ++required;
      const EState st = s.edges[e].state;
      if (st == EState::unresolved) ++unresolved;
      if (st == EState::live) ++live;
    }
    if (first_only && live > 0) {
      ready.emplace_back(&s, i);
      slot.state = NState::running;  // claimed: later inputs are ignored
      return;
    }
    if (unresolved > 0) return;
    if (required > 0 && live == 0) {
      skip(s, i);
      return;
    }
    ready.emplace_back(&s, i);
    slot.state = NState::running;
  }

  std::vector<std::string_view> inputs_scratch;
  std::size_t src_cached(std::size_t e) const { return plan->edge_source[e]; }

  void drain() {
    if (draining) return;
    draining = true;
    while (!ready.empty() || !dirty.empty()) {
      while (!ready.empty()) {
        auto [s, i] = ready.back();
        ready.pop_back();
        if (stopping) {
          s->nodes[i].state = NState::pending;  // never started: cancelled at the end
          continue;
        }
        start_node(*s, i);
      }
      if (!dirty.empty()) {
        Scope* s = dirty.back();
        dirty.pop_back();
        if (s->busy == 0 && !s->done && ready.empty()) {
          s->done = true;
          close_scope(*s);
          if (s->item_part && s->item_part->on_done) s->item_part->on_done(*s);
          if (s == top.get()) {
            draining = false;
            finish_run();
            return;
          }
        }
      }
    }
    draining = false;
  }

  // Nodes still pending when their scope goes quiet never run: skipped, or cancelled when the
  // run was stopped.
  void close_scope(Scope& s) {
    auto close = [&](std::size_t i) {
      NodeSlot& slot = s.nodes[i];
      if (slot.state == NState::done) return;
      slot.state = NState::done;
      if (slot.activations > 0 && !stopping) return;  // a loop body left armed by the last exit
      Outcome o;
      o.has_output = false;
      if (stopping) {
        o.status = NodeStatus::cancelled;
        o.error = stop_error().code ? stop_error() : make_error(errc::cancelled, "run cancelled");
        o.error.node_id = node(i).id;
      } else {
        o.status = NodeStatus::skipped;
      }
      record(s, i, o);
    };
    if (s.map_node == npos) {
      for (std::size_t i : g->topo_order)
        if (member(s, i)) close(i);
    } else {
      for (std::size_t i : g->map_body[s.map_node])
        close(i);
    }
  }

  void skip(Scope& s, std::size_t i) {
    if (resume && &s == top.get() && try_resume(s, i)) return;
    Outcome o;
    o.status = NodeStatus::skipped;
    o.has_output = false;
    s.nodes[i].state = NState::running;
    finish_node(s, i, std::move(o));
  }

  // The inputs of an activation: outputs of the live incoming edges that fired since the node's
  // previous start (all live ones on the first start), in edge order.
  void gather_inputs(Scope& s, std::size_t i, std::vector<std::string_view>& out) {
    const NodeSlot& slot = s.nodes[i];
    bool any_member_edge = false;
    for (int pass = 0; pass < 2 && out.empty(); ++pass) {
      for (std::size_t e : g->in_edges[i]) {
        const std::size_t from = src_cached(e);
        if (!member(s, from)) continue;
        any_member_edge = true;
        const EdgeSlot& es = s.edges[e];
        if (es.state != EState::live) continue;
        if (pass == 0 && slot.activations > 0 && es.fired <= slot.last_start) continue;
        out.push_back(edge_value(s, e, from));
      }
    }
    if (!any_member_edge && s.item >= 0) out.push_back(s.item_text());
  }

  std::string_view edge_value(Scope& s, std::size_t, std::size_t from) {
    return s.nodes[from].output;
  }

  bool lookup(Scope& s, std::size_t i, const TemplateRef& r, std::string_view joined,
              std::string& scratch, std::string_view& out) {
    switch (r.kind) {
      case TemplateRefKind::input:
        out = joined;
        return true;
      case TemplateRefKind::workflow_input:
        out = input;
        return true;
      case TemplateRefKind::node_output: {
        const std::size_t n = wf->node_index(r.node_id);
        if (n == npos) return false;
        Scope* owner = scope_of(s, n);
        if (!owner || !owner->nodes[n].has_output) return false;
        out = owner->nodes[n].output;
        return true;
      }
      case TemplateRefKind::item:
        for (Scope* p = &s; p; p = p->parent) {
          if (p->item >= 0) {
            out = p->item_text();
            return true;
          }
        }
        return false;
      case TemplateRefKind::loop_iteration:
        scratch = std::to_string(std::max(1, iteration_of(s, i)));
        out = scratch;
        return true;
    }
    return false;
  }

  // What a template lookup needs, behind one pointer so the std::function holding the lookup
  // stays in its small buffer (no allocation per render).
  struct LookupContext {
    RunState* run;
    Scope* scope;
    std::size_t node;
    std::string_view joined;
    std::string scratch;
  };
  static TemplateLookup make_lookup(LookupContext& c) {
    return [&c](const TemplateRef& r) -> std::optional<std::string_view> {
      std::string_view v;
      if (c.run->lookup(*c.scope, c.node, r, c.joined, c.scratch, v)) return v;
      return std::nullopt;
    };
  }

  Error render(Scope& s, std::size_t i, const Template& tpl, std::string_view joined,
               std::string& out) {
    LookupContext c{this, &s, i, joined, {}};
    return render_template(tpl, make_lookup(c), out, node(i).id);
  }

  void start_node(Scope& s, std::size_t i);
  bool try_resume(Scope& s, std::size_t i);
  bool resume_outcome(std::size_t i, const NodeResult& rec, Outcome& o) const;
  void resume_node(Scope& s, std::size_t i, const Outcome& o);
  void resume_record(Scope& s, std::size_t i, const NodeResult& rec);
  void resume_body(Scope& s, std::size_t map_node);
  void start_llm(Scope& s, std::size_t i, std::string joined);
  void start_router_classify(Scope& s, std::size_t i, std::string joined);
  void start_map(Scope& s, std::size_t i, std::string joined);
  void launch_items(Scope& s, std::size_t i);
  void finish_node(Scope& s, std::size_t i, Outcome&& o);
  void record(Scope& s, std::size_t i, const Outcome& o, const std::string* output = nullptr);
  void fire(Scope& s, std::size_t i, const Outcome& o);
  void stop(RunStatus status, Error error);
  void finish_run();
};

int RunState::iteration_of(const Scope& s, std::size_t i) const {
  const auto& loops = g->loops_of[i];
  if (loops.empty()) return 0;
  const std::size_t l = loops.front();
  const Scope* owner = &s;
  while (owner && g->map_of[l] != owner->map_node)
    owner = owner->parent;
  if (!owner) return 0;
  return static_cast<int>(owner->nodes[l].continues) + 1;
}

// ---------------------------------------------------------------------------------------------
// LLM calls: retries, fallbacks, limits, budgets, streaming, cancellation.

// The provider/model pairs a call may try, in order: views of the node's data (the document
// outlives the run), so starting a call copies no strings.
struct Targets {
  const std::string* provider = nullptr;
  const std::string* model = nullptr;
  const std::vector<ModelRef>* fallbacks = nullptr;
  std::size_t size() const { return 1 + (fallbacks ? fallbacks->size() : 0); }
};
struct TargetRef {
  const std::string& provider;
  const std::string& model;
};

struct LlmCall : std::enable_shared_from_this<LlmCall> {
  std::shared_ptr<RunState> run;
  Scope* scope = nullptr;
  std::size_t node = 0;
  Targets targets;
  std::size_t target = 0;
  int attempt_in_target = 0;  // attempts made on the current target
  int retries = 0;
  bool stream = false;
  // The request; released once the last possible attempt took it (a waiting call holds none).
  std::unique_ptr<ChatRequest> base = std::make_unique<ChatRequest>();
  std::int64_t max_tokens = 0;
  std::int64_t prompt_estimate = -1;  // computed when a limit or budget needs it
  // By reference: a ChatResponse is large; moving it through every layer showed in profiles.
  std::function<void(LlmCall&, error_code, ChatResponse&)> on_done;

  // Accounting over all attempts. Not an Outcome: a waiting call keeps no Error and no output.
  // Created when the first attempt ends: a call waiting on its first answer holds none.
  struct Account {
    Usage usage;
    std::optional<double> cost = 0.0;
    std::chrono::microseconds latency{0};
    std::string provider, model;
    std::unique_ptr<Error> error;  // set on failure only
    Error& set_error(Error e) {
      if (error)
        *error = std::move(e);
      else
        error = std::make_unique<Error>(std::move(e));
      return *error;
    }
  };
  std::unique_ptr<Account> account;
  Account& acc() {
    if (!account) account = std::make_unique<Account>();
    return *account;
  }
  int attempts = 0;  // over all targets

  // The node's outcome so far (status and output are the caller's).
  Outcome take_outcome() {
    Outcome o;
    Account& a = acc();
    o.usage = a.usage;
    o.cost = a.cost;
    o.latency = a.latency;
    o.attempts = attempts;
    o.provider = std::move(a.provider);
    o.model = std::move(a.model);
    if (a.error) o.error = std::move(*a.error);
    return o;
  }
  clock::time_point started;

  // In-flight state.
  enum class Phase { idle, queued, calling, backoff, done } phase = Phase::idle;
  asio::cancellation_signal cancel;
  std::unique_ptr<asio::steady_timer> timer;  // backoff only
  std::optional<CallGate::Ticket> run_ticket, exec_ticket;
  bool holds_run_gate = false, holds_exec_gate = false;
  bool granted = false, exec_granted = false;
  double reserved_cost = 0;
  std::int64_t reserved_tokens = 0;
  std::shared_ptr<Provider> provider;

  TargetRef current() const {
    if (target == 0) return {*targets.provider, *targets.model};
    const ModelRef& f = (*targets.fallbacks)[target - 1];
    return {f.provider, f.model};
  }

  // Tokens of the prompt (system + messages) by sim::estimate_tokens; the request is still held
  // whenever this is needed (before the last attempt's call takes it).
  std::int64_t estimate() {
    if (prompt_estimate < 0) {
      prompt_estimate = base ? sim::estimate_tokens(base->config.system_prompt) : 0;
      if (base)
        for (const Message& m : base->messages)
          prompt_estimate += sim::estimate_tokens(m.content);
    }
    return prompt_estimate;
  }

  void start() {
    started = clock::now();
    run->calls.push_back(weak_from_this());
    attempt();
  }

  void attempt() {
    if (run->stopping) return complete(errc::cancelled);
    provider = run->exec->providers ? run->exec->providers->find(current().provider) : nullptr;
    if (!provider) {
      ChatResponse r;
      r.error = make_error(errc::unknown_provider,
                           "no provider registered as '" + current().provider + "'");
      r.error.provider = current().provider;
      return after_failure(errc::unknown_provider, r);
    }
    phase = Phase::queued;
    const bool gated = run->gate || run->exec->gate->active();
    const double tokens = gated ? static_cast<double>(estimate() + max_tokens) : 0.0;
    auto self = shared_from_this();
    if (run->gate) {
      granted = false;
      auto ticket = run->gate->enqueue(current().provider, tokens, [self, tokens] {
        self->run_ticket.reset();
        self->granted = true;
        self->holds_run_gate = true;
        self->enter_exec_gate(tokens);
      });
      if (!granted) run_ticket = ticket;  // granted inline: the ticket is spent already
    } else {
      enter_exec_gate(tokens);
    }
  }

  void enter_exec_gate(double tokens) {
    if (phase != Phase::queued) return;
    auto self = shared_from_this();
    if (run->exec->gate->active()) {
      exec_granted = false;
      auto ticket = run->exec->gate->enqueue(current().provider, tokens, [self] {
        self->exec_ticket.reset();
        self->exec_granted = true;
        self->holds_exec_gate = true;
        self->call();
      });
      if (!exec_granted) exec_ticket = ticket;
    } else {
      call();
    }
  }

  void release_gates() {
    if (run_ticket) {
      run->gate->cancel(*run_ticket);
      run_ticket.reset();
    }
    if (exec_ticket) {
      run->exec->gate->cancel(*exec_ticket);
      exec_ticket.reset();
    }
    if (holds_run_gate) {
      holds_run_gate = false;
      run->gate->release(current().provider);
    }
    if (holds_exec_gate) {
      holds_exec_gate = false;
      run->exec->gate->release(current().provider);
    }
  }

  // USD per token (input, output) of the current target, when known.
  std::optional<std::pair<double, double>> price() {
    std::string key = current().provider + '\n' + current().model;
    if (!run->prices) run->prices = std::make_unique<RunState::PriceMap>();
    auto it = run->prices->find(key);
    if (it != run->prices->end()) return it->second;
    std::optional<std::pair<double, double>> p;
    for (const ModelInfo& m : provider->models()) {
      if (m.id == current().model && m.input_per_mtok && m.output_per_mtok) {
        p = std::pair{*m.input_per_mtok / 1e6, *m.output_per_mtok / 1e6};
        break;
      }
    }
    if (!p) {
      if (const Price* pr = pricing()->find(current().model); pr && pr->input && pr->output)
        p = std::pair{*pr->input / 1e6, *pr->output / 1e6};
    }
    run->prices->emplace(std::move(key), p);
    return p;
  }

  void call() {
    if (run->stopping) {
      release_gates();
      return complete(errc::cancelled);
    }
    // Budget: reserve this call's worst case; refuse it when the run would go over.
    const bool budgeted = run->opts.max_tokens || run->opts.max_cost_usd;
    const std::int64_t prompt_tokens = budgeted ? estimate() : 0;
    const std::int64_t worst_tokens = budgeted ? prompt_tokens + max_tokens : 0;
    double worst_cost = 0;
    if (run->opts.max_cost_usd) {
      if (auto p = price())
        worst_cost = static_cast<double>(prompt_tokens) * p->first +
                     static_cast<double>(max_tokens) * p->second;
    }
    std::string over;
    if (run->opts.max_tokens &&
        run->spent_tokens + run->reserved_tokens + worst_tokens > *run->opts.max_tokens) {
      over = "max_tokens " + std::to_string(*run->opts.max_tokens) + ": " +
             std::to_string(run->spent_tokens) + " spent, " + std::to_string(run->reserved_tokens) +
             " reserved by calls in flight, this call may use " + std::to_string(worst_tokens);
    } else if (run->opts.max_cost_usd &&
               run->spent_cost + run->reserved_cost + worst_cost > *run->opts.max_cost_usd) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "max_cost_usd %.6f: $%.6f spent, $%.6f reserved by calls in flight, this call "
                    "may cost $%.6f",
                    *run->opts.max_cost_usd, run->spent_cost, run->reserved_cost, worst_cost);
      over = buf;
    }
    if (!over.empty()) {
      release_gates();
      phase = Phase::idle;  // stop() below aborts the other calls, not this one
      Error e = make_error(errc::budget_exceeded,
                           "budget exceeded before calling " + current().provider + "/" +
                               current().model + " for node '" + run->node(node).id + "': " + over);
      e.node_id = run->node(node).id;
      run->stop(RunStatus::budget_exceeded, e);
      acc().set_error(e);
      phase = Phase::done;
      auto self = shared_from_this();
      ChatResponse r;
      r.error = e;
      forget();
      return on_done(*this, errc::budget_exceeded, r);
    }
    reserved_tokens = worst_tokens;
    reserved_cost = worst_cost;
    run->reserved_tokens += reserved_tokens;
    run->reserved_cost += reserved_cost;

    // The last possible attempt takes the request; others copy it for the next one.
    const bool last = retries == 0 && target + 1 == targets.size();
    ChatRequest& req = *base;
    req.config.model = current().model;
    if (auto k = run->opts.api_keys.find(current().provider); k != run->opts.api_keys.end())
      req.api_key = k->second;
    else
      req.api_key.clear();
    phase = Phase::calling;
    ++attempts;
    auto self = shared_from_this();
    auto done = asio::bind_cancellation_slot(
        cancel.slot(), asio::bind_executor(run->exec->ex, [self](error_code ec, ChatResponse&& r) {
          self->on_response(ec, r);
        }));
    // `self` keeps this call alive until the end, even when the provider completes inline.
    auto take = [&]() -> ChatRequest { return last ? std::move(req) : ChatRequest(req); };
    if (stream) {
      RunState* rs = run.get();
      Scope* sc = scope;
      const std::size_t n = node;
      provider->async_stream(
          take(),
          [rs, sc, n](const StreamDelta& d) {
            if (d.text.empty() || !rs->want_events()) return;
            RunEvent ev;
            ev.type = RunEventType::token;
            ev.node_id = rs->node(n).id;
            ev.node_type = rs->node(n).type;
            ev.text = d.text;
            ev.iteration = rs->iteration_of(*sc, n);
            if (sc->item >= 0) ev.item = sc->item;
            rs->emit(ev);
          },
          std::move(done));
    } else {
      provider->async_complete(take(), std::move(done));
    }
    if (last) base.reset();
  }

  void on_response(error_code ec, ChatResponse& r) {
    // Keep `cancel` (whose slot the provider's operation holds) alive until the handlers the
    // operation still has queued (cancelled timers) have run: some operations touch the slot
    // when they are destroyed, after completing (src/http/client.cpp, reported).
    asio::post(run->exec->ex, [keep = shared_from_this()] {});
    release_gates();
    run->reserved_tokens -= reserved_tokens;
    run->reserved_cost -= reserved_cost;
    reserved_tokens = 0;
    reserved_cost = 0;
    run->spent_tokens += r.usage.total_tokens;
    Account& a = acc();
    a.usage += r.usage;
    if (r.cost) {
      run->spent_cost += *r.cost;
      if (a.cost) *a.cost += *r.cost;
    } else if (!ec || r.usage.total_tokens > 0) {
      a.cost.reset();  // tokens were billed at a price we do not know
    }
    if (!ec) {
      a.provider = current().provider;
      a.model = r.model.empty() ? current().model : r.model;
      return complete(ec, r);
    }
    if (run->stopping || ec == errc::cancelled || ec == asio::error::operation_aborted)
      return complete(errc::cancelled, r);
    after_failure(ec, r);
  }

  void after_failure(error_code ec, ChatResponse& r) {
    if (!r.error.code) r.error = make_error(ec, ec.message());
    if (r.error.provider.empty()) r.error.provider = current().provider;
    ++attempt_in_target;
    std::chrono::milliseconds delay{0};
    bool retry = false;
    if (attempt_in_target <= retries && is_retryable(ec)) {
      RetryPolicy policy;
      policy.max_attempts = retries + 1;
      policy.base_delay = run->opts.retry_base_delay;
      policy.max_delay = run->opts.retry_max_delay;
      policy.max_retry_after = run->opts.retry_max_delay;
      thread_local std::mt19937_64 rng{std::random_device{}()};
      if (auto d = policy.next_delay(attempt_in_target, r.error, rng())) {
        delay = *d;
        retry = true;
      }
    }
    if (!retry) {
      if (target + 1 >= targets.size()) {
        acc().set_error(r.error);
        return complete(ec, r);
      }
      ++target;
      attempt_in_target = 0;
    }
    if (run->want_events()) {
      RunEvent ev;
      ev.type = RunEventType::node_retry;
      ev.node_id = run->node(node).id;
      ev.node_type = run->node(node).type;
      ev.attempt = attempts + 1;
      ev.iteration = run->iteration_of(*scope, node);
      if (scope->item >= 0) ev.item = scope->item;
      ev.provider = current().provider;
      ev.model = current().model;
      ev.delay = delay;
      ev.error = &r.error;
      run->emit(ev);
    }
    if (delay.count() == 0) return attempt();
    phase = Phase::backoff;
    if (!timer) timer = std::make_unique<asio::steady_timer>(run->exec->ex);
    timer->expires_after(delay);
    timer->async_wait([self = shared_from_this()](error_code e) {
      if (e || self->run->stopping) return self->complete(errc::cancelled);
      self->attempt();
    });
  }

  // Aborts whatever the call is doing (the run is stopping).
  void abort() {
    switch (phase) {
      case Phase::queued:
        release_gates();
        complete(errc::cancelled);
        break;
      case Phase::calling:
        cancel.emit(asio::cancellation_type::terminal);
        break;
      case Phase::backoff:
        if (timer) timer->cancel();
        break;
      default:
        break;
    }
  }

  void complete(error_code ec) {
    ChatResponse none;
    complete(ec, none);
  }

  void complete(error_code ec, ChatResponse& r) {
    if (phase == Phase::done) return;
    phase = Phase::done;
    if (ec == errc::cancelled && !(account && account->error && account->error->code)) {
      acc()
          .set_error(run->stop_error().code ? run->stop_error()
                                            : make_error(errc::cancelled, "cancelled"))
          .node_id = run->node(node).id;
    }
    acc().latency = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started);
    forget();
    on_done(*this, ec, r);
  }

  // Drops the run's weak reference: a weak_ptr would keep this whole allocation (make_shared)
  // until the run ends, so a long run would hold every finished call.
  void forget() {
    std::erase_if(run->calls, [this](const std::weak_ptr<LlmCall>& w) {
      return w.expired() || w.lock().get() == this;
    });
  }
};

// ---------------------------------------------------------------------------------------------
// Resuming (RunOptions::resume): recorded results taken instead of running nodes again.

// The outcome node i's recorded result stands for, as far as scheduling needs it (status and
// branch); false when the record cannot stand for a finished node (run it again).
bool RunState::resume_outcome(std::size_t i, const NodeResult& rec, Outcome& o) const {
  if (rec.status != NodeStatus::succeeded && rec.status != NodeStatus::skipped) return false;
  o.status = rec.status;
  o.has_output = rec.status == NodeStatus::succeeded;
  if (rec.status == NodeStatus::skipped) return true;
  const Node& n = node(i);
  if (n.kind == NodeKind::router) {
    if (!rec.route.empty()) {
      o.route = rec.route;
    } else {
      // Recorded without its route: a condition router decides again on the same input (its
      // output); a classification cannot be replayed.
      const auto& d = std::get<RouterData>(n.data);
      if (d.mode == RouterMode::classify) return false;
      o.route = select_route(d, rec.output);
      if (!o.route) return false;
    }
  } else if (n.kind == NodeKind::loop) {
    if (rec.route == "exit")
      o.loop = LoopDecision::exit_condition_met;
    else if (rec.route == "continue")
      o.loop = LoopDecision::continue_;
    else
      return false;
  }
  return true;
}

// Takes the record of node i as its result: slot, accounting, terminal event (resumed).
void RunState::resume_record(Scope& s, std::size_t i, const NodeResult& rec) {
  NodeSlot& slot = s.nodes[i];
  slot.state = NState::done;
  slot.status = rec.status;
  if (rec.status == NodeStatus::succeeded) {
    slot.has_output = true;
    slot.output = rec.output;
    slot.activations = std::max(1, rec.iterations);
  }
  results[i] = std::make_unique<NodeRecord>(rec);
  spent_tokens += rec.usage.total_tokens;
  if (rec.cost) spent_cost += *rec.cost;
  if (!want_events()) return;
  RunEvent ev;
  ev.type = rec.status == NodeStatus::succeeded ? RunEventType::node_finished
            : rec.status == NodeStatus::skipped ? RunEventType::node_skipped
                                                : RunEventType::node_failed;
  ev.node_id = node(i).id;
  ev.node_type = node(i).type;
  ev.iteration = iteration_of(s, i);
  ev.error = rec.error.code ? &rec.error : nullptr;
  ev.result = &rec;
  ev.status = to_string(rec.status);
  ev.resumed = true;
  emit(ev);
}

// A completed map: its body does not run; every body node's record is its result, whatever its
// status (nodes without one end as the body of a map without items: skipped).
void RunState::resume_body(Scope& s, std::size_t map_node) {
  for (std::size_t b = 0; b < g->map_of.size(); ++b) {
    if (g->map_of[b] != map_node) continue;
    const NodeResult* rec = resume->by_node[b];
    if (!rec) continue;
    resume_record(s, b, *rec);
    if (node(b).kind == NodeKind::map && rec->status == NodeStatus::succeeded) resume_body(s, b);
  }
}

void RunState::resume_node(Scope& s, std::size_t i, const Outcome& o) {
  const bool was_draining = draining;
  draining = true;
  const NodeResult& rec = *resume->by_node[i];
  resume_record(s, i, rec);
  if (node(i).kind == NodeKind::map && rec.status == NodeStatus::succeeded) resume_body(s, i);
  if (!stopping || o.status == NodeStatus::skipped) fire(s, i, o);
  dirty.push_back(&s);
  draining = was_draining;
  drain();
}

// Node i of the top scope is about to start or be skipped: when RunOptions::resume holds a
// usable record, takes it instead (with the whole loop cycle when i is on one) and returns true.
bool RunState::try_resume(Scope& s, std::size_t i) {
  const auto& recs = resume->by_node;
  if (!recs[i]) return false;
  Outcome o;
  if (g->loops_of[i].empty()) {
    if (!resume_outcome(i, *recs[i], o)) return false;
    resume_node(s, i, o);
    return true;
  }
  // On a loop's cycle: all of the cycle (the nodes sharing i's loop nodes) or nothing, and only
  // when its loops exited.
  const auto& loops = g->loops_of[i];
  std::vector<std::size_t> cycle;
  std::vector<Outcome> outcomes;
  for (std::size_t y : g->topo_order) {
    if (g->map_of[y] != g->map_of[i] || g->loops_of[y] != loops) continue;
    Outcome oy;
    if (!recs[y] || !resume_outcome(y, *recs[y], oy)) return false;
    if (oy.loop && *oy.loop == LoopDecision::continue_) return false;
    if (y != i && s.nodes[y].state != NState::pending) return false;
    cycle.push_back(y);
    outcomes.push_back(std::move(oy));
  }
  // Claim every member first, so edges fired among them start none of them; the loop counts
  // give the events their last iteration.
  for (std::size_t y : cycle) {
    s.nodes[y].state = NState::running;
    if (node(y).kind == NodeKind::loop && recs[y]->iterations > 0)
      s.nodes[y].continues = recs[y]->iterations - 1;
  }
  for (std::size_t k = 0; k < cycle.size(); ++k)
    resume_node(s, cycle[k], outcomes[k]);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Nodes

void RunState::start_node(Scope& s, std::size_t i) {
  if (resume && &s == top.get() && try_resume(s, i)) return;
  NodeSlot& slot = s.nodes[i];
  const Node& n = node(i);
  slot.state = NState::running;
  // Inputs are taken before last_start moves, so only edges fired since the previous start count.
  std::vector<std::string_view>& inputs = inputs_scratch;  // start_node never nests
  inputs.clear();
  gather_inputs(s, i, inputs);
  if (n.kind == NodeKind::merge && std::get<MergeData>(n.data).mode == MergeMode::first &&
      inputs.size() > 1)
    inputs.resize(1);
  ++slot.activations;
  slot.last_start = ++tick;
  node_event(RunEventType::node_started, s, i);

  Outcome o;
  auto fail = [&](Error e) {
    o.status = NodeStatus::failed;
    o.has_output = false;
    o.fail_run = true;
    if (e.node_id.empty()) e.node_id = n.id;
    o.error = std::move(e);
  };
  const auto t0 = clock::now();
  switch (n.kind) {
    case NodeKind::input: {
      const auto& d = std::get<InputData>(n.data);
      o.output = input.empty() && d.default_value ? *d.default_value : input;
      break;
    }
    case NodeKind::output: {
      const auto& d = std::get<OutputData>(n.data);
      std::string joined = join_inputs(inputs);
      if (d.output_template) {
        if (Error e = render(s, i, *d.output_template, joined, o.output)) fail(std::move(e));
      } else {
        o.output = std::move(joined);
      }
      break;
    }
    case NodeKind::transform: {
      const auto& d = std::get<TransformData>(n.data);
      std::string joined = join_inputs(inputs);
      LookupContext c{this, &s, i, joined, {}};
      if (Error e = apply_transform(d, inputs, make_lookup(c), o.output, n.id)) fail(std::move(e));
      break;
    }
    case NodeKind::merge: {
      const auto& d = std::get<MergeData>(n.data);
      std::string joined = join_inputs(inputs);
      if (d.merge_template) {
        if (Error e = render(s, i, *d.merge_template, joined, o.output)) fail(std::move(e));
      } else {
        o.output = std::move(joined);
      }
      break;
    }
    case NodeKind::router: {
      const auto& d = std::get<RouterData>(n.data);
      std::string joined = join_inputs(inputs);
      if (d.mode == RouterMode::classify) return start_router_classify(s, i, std::move(joined));
      o.route = select_route(d, joined);
      if (!o.route) {
        fail(make_error(errc::node_failed, "router '" + n.id +
                                               "': no route matched its input and it has no "
                                               "defaultRoute"));
      }
      o.output = std::move(joined);
      break;
    }
    case NodeKind::loop: {
      const auto& d = std::get<LoopData>(n.data);
      std::string joined = join_inputs(inputs);
      o.loop = decide_loop(d, joined, slot.continues);
      if (d.loop_template) {
        if (Error e = render(s, i, *d.loop_template, joined, o.output)) fail(std::move(e));
      } else {
        o.output = std::move(joined);
      }
      break;
    }
    case NodeKind::llm:
      return start_llm(s, i, join_inputs(inputs));
    case NodeKind::map:
      return start_map(s, i, join_inputs(inputs));
    case NodeKind::unknown:
      fail(make_error(errc::invalid_workflow,
                      "node '" + n.id + "' has unknown type '" + n.type + "'"));
      break;
  }
  o.latency = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0);
  finish_node(s, i, std::move(o));
}

void RunState::start_llm(Scope& s, std::size_t i, std::string joined) {
  const Node& n = node(i);
  const auto& d = std::get<LlmData>(n.data);
  auto call = std::make_shared<LlmCall>();
  call->run = shared_from_this();
  call->scope = &s;
  call->node = i;
  call->targets = {&d.provider, &d.model, &d.fallbacks};
  call->retries = d.retries.value_or(0);
  call->stream = opts.stream_tokens && want_events();
  ModelConfig& cfg = call->base->config;
  cfg.temperature = d.temperature;
  cfg.max_tokens = d.max_tokens;
  cfg.stop = d.stop;
  cfg.json_mode = d.json_mode;
  if (d.timeout_ms) cfg.timeout = std::chrono::milliseconds(*d.timeout_ms);
  Error e;
  if (!d.system_prompt.empty()) e = render(s, i, d.system_prompt, joined, cfg.system_prompt);
  std::string prompt;
  if (!e) e = render(s, i, d.prompt.empty() ? input_template() : d.prompt, joined, prompt);
  if (e) {
    Outcome o;
    o.status = NodeStatus::failed;
    o.has_output = false;
    o.fail_run = true;
    o.error = std::move(e);
    return finish_node(s, i, std::move(o));
  }
  call->max_tokens = d.max_tokens.value_or(opts.default_max_tokens);
  call->base->messages.push_back(Message{Role::user, std::move(prompt)});
  call->on_done = [](LlmCall& c, error_code ec, ChatResponse& r) {
    RunState& run = *c.run;
    Scope& sc = *c.scope;
    const auto& data = std::get<LlmData>(run.node(c.node).data);
    Outcome o = c.take_outcome();
    --sc.busy;
    if (!ec) {
      o.status = NodeStatus::succeeded;
      o.output = std::move(r.content);
    } else if (ec == errc::cancelled) {
      o.status = NodeStatus::cancelled;
      o.has_output = false;
    } else if (ec == errc::budget_exceeded) {
      o.status = NodeStatus::failed;
      o.has_output = false;
    } else {
      if (o.error.node_id.empty()) o.error.node_id = run.node(c.node).id;
      switch (data.on_error) {
        case OnError::fail:
          o.status = NodeStatus::failed;
          o.has_output = false;
          o.fail_run = true;
          break;
        case OnError::continue_:
          o.status = NodeStatus::succeeded;
          o.output = data.default_output.value_or("");
          break;
        case OnError::branch:
          o.status = NodeStatus::failed;
          o.error_branch = true;
          o.output = o.error.describe();
          break;
      }
    }
    run.finish_node(sc, c.node, std::move(o));
  };
  ++s.busy;
  call->start();
}

void RunState::start_router_classify(Scope& s, std::size_t i, std::string joined) {
  const auto& d = std::get<RouterData>(node(i).data);
  auto call = std::make_shared<LlmCall>();
  call->run = shared_from_this();
  call->scope = &s;
  call->node = i;
  call->targets = {&d.provider, &d.model, nullptr};
  ClassifyPrompt p = build_classify_prompt(d, joined);
  call->base->config.system_prompt = std::move(p.system);
  call->base->config.temperature = d.temperature.value_or(0.0);
  call->max_tokens = 64;
  call->base->config.max_tokens = 64;
  call->base->messages.push_back(Message{Role::user, std::move(p.user)});
  auto text = std::make_shared<std::string>(std::move(joined));
  call->on_done = [text](LlmCall& c, error_code ec, ChatResponse& r) {
    RunState& run = *c.run;
    Scope& sc = *c.scope;
    Outcome o = c.take_outcome();
    --sc.busy;
    const auto& data = std::get<RouterData>(run.node(c.node).data);
    if (!ec) {
      o.route = match_label(data, r.content);
      if (o.route) {
        o.output = std::move(*text);
      } else {
        o.status = NodeStatus::failed;
        o.has_output = false;
        o.fail_run = true;
        std::string answer = r.content.substr(0, 200);
        o.error = make_error(errc::node_failed, "router '" + run.node(c.node).id +
                                                    "': the classification answer '" + answer +
                                                    "' names no label and there is no "
                                                    "defaultRoute");
        o.error.node_id = run.node(c.node).id;
      }
    } else {
      o.status = ec == errc::cancelled ? NodeStatus::cancelled : NodeStatus::failed;
      o.has_output = false;
      o.fail_run = ec != errc::cancelled && ec != errc::budget_exceeded;
      if (o.error.node_id.empty()) o.error.node_id = run.node(c.node).id;
    }
    run.finish_node(sc, c.node, std::move(o));
  };
  ++s.busy;
  call->start();
}

void RunState::start_map(Scope& s, std::size_t i, std::string joined) {
  const auto& d = std::get<MapData>(node(i).data);
  std::string error;
  auto items = split_map_items(d, joined, error);
  if (items && d.max_items && static_cast<std::int64_t>(items->size()) > *d.max_items) {
    error = "map '" + node(i).id + "' has " + std::to_string(items->size()) +
            " items, more than its maxItems " + std::to_string(*d.max_items);
    items.reset();
  }
  if (!items) {
    Outcome o;
    o.status = NodeStatus::failed;
    o.has_output = false;
    o.fail_run = true;
    o.error = make_error(errc::invalid_argument, "map '" + node(i).id + "': " + error);
    o.error.node_id = node(i).id;
    return finish_node(s, i, std::move(o));
  }
  auto m = std::make_unique<MapRun>();
  m->items = std::move(*items);
  m->outputs.resize(m->items.size());
  m->children.resize(m->items.size());
  m->concurrency = static_cast<std::size_t>(std::max<std::int64_t>(1, d.concurrency));
  m->start = clock::now();
  s.maps[i] = std::move(m);
  ++s.busy;
  launch_items(s, i);
  dirty.push_back(&s);
}

void RunState::launch_items(Scope& s, std::size_t i) {
  MapRun& m = *s.maps[i];
  const auto& body = g->map_body[i];
  auto finish_map = [this, &s, i] {
    MapRun& mr = *s.maps[i];
    Outcome o;
    o.latency = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - mr.start);
    if (stopping) {
      o.status = NodeStatus::cancelled;
      o.has_output = false;
      o.error = stop_error();
      o.error.node_id = node(i).id;
    } else {
      o.output = collect_map_outputs(std::get<MapData>(node(i).data), mr.outputs);
    }
    --s.busy;
    finish_node(s, i, std::move(o));
  };
  if (m.items.empty()) return finish_map();
  while (!stopping && m.running < m.concurrency && m.next < m.items.size()) {
    const std::size_t k = m.next++;
    ++m.running;
    m.children[k] = make_scope(&s, i, static_cast<int>(k), m.items[k]);
    Scope& child = *m.children[k];
    child.item_part->on_done = [this, &s, i, k, &body, finish_map](Scope& c) {
      MapRun& mr = *s.maps[i];
      // The item's result: the outputs of the body's sinks (no edge to another body node).
      std::string out;
      for (std::size_t b : body) {
        bool sink = true;
        for (std::size_t e : g->out_edges[b])
          if (member(c, dst(e))) sink = false;
        if (!sink || c.nodes[b].status != NodeStatus::succeeded || !c.nodes[b].has_output) continue;
        if (!out.empty()) out += "\n\n";
        out += c.nodes[b].output;
      }
      mr.outputs[k] = std::move(out);
      --mr.running;
      ++mr.finished;
      if (!stopping && mr.next < mr.items.size()) {
        // Start the next item from a fresh handler: this one runs inside the child's drain.
        launch_items(s, i);
      } else if (mr.running == 0) {
        finish_map();
      }
    };
    seed(child);
  }
  if (stopping && m.running == 0) finish_map();
}

void RunState::record(Scope& s, std::size_t i, const Outcome& o, const std::string* output) {
  if (!output) output = &o.output;
  const bool first = !results[i];
  NodeRecord& r = first ? new_result(i) : *results[i];
  if (first || o.status == NodeStatus::failed || r.status != NodeStatus::failed)
    r.status = o.status;
  if (o.has_output || o.status != NodeStatus::skipped) {
    // A top-level node's text stays in its slot (no second copy while the run goes on); a map
    // item's scope ends before the run does, so its nodes' text is copied.
    r.output_in_slot = &s == top.get() && output == &s.nodes[i].output;
    if (r.output_in_slot)
      std::string().swap(r.output);
    else
      r.output = *output;
  }
  r.usage += o.usage;
  if (r.cost && o.cost)
    *r.cost += *o.cost;
  else
    r.cost.reset();
  r.latency += o.latency;
  r.attempts += o.attempts;
  if (o.error.code) r.set_error(o.error);
  if (!o.provider.empty()) {
    r.provider = o.provider;
    r.model = o.model;
  }
  if (o.status == NodeStatus::succeeded) {
    if (o.route)
      r.rare_part().route = *o.route;
    else if (o.loop)
      r.rare_part().route = *o.loop == LoopDecision::continue_ ? "continue" : "exit";
  }
  if (o.status != NodeStatus::skipped && o.status != NodeStatus::cancelled) ++r.iterations;
  if (o.status == NodeStatus::cancelled && s.nodes[i].activations > 0) ++r.iterations;

  RunEventType type = RunEventType::node_finished;
  if (o.status == NodeStatus::skipped) type = RunEventType::node_skipped;
  if (o.status == NodeStatus::failed || o.status == NodeStatus::cancelled)
    type = RunEventType::node_failed;
  node_event(type, s, i, o.error.code ? &o.error : nullptr, &r, to_string(o.status));
}

void RunState::finish_node(Scope& s, std::size_t i, Outcome&& o) {
  // No draining until every consequence of this node (edges, skips) is applied: a scope must
  // not look quiet half-way through propagation.
  const bool was_draining = draining;
  draining = true;
  NodeSlot& slot = s.nodes[i];
  slot.state = NState::done;
  slot.status = o.status;
  if (o.has_output) {
    slot.has_output = true;
    slot.output = std::move(o.output);
    record(s, i, o, &slot.output);
  } else {
    record(s, i, o, &o.output);
  }
  if (o.status == NodeStatus::failed && o.fail_run && !stopping) {
    // The node error without the context the run error carries itself (provider, status,
    // request id, this node): describe() appends that once.
    Error inner = o.error;
    inner.provider.clear();
    inner.status = 0;
    inner.request_id.clear();
    if (inner.node_id == node(i).id) inner.node_id.clear();
    Error e =
        make_error(errc::node_failed, "node '" + node(i).id + "' failed: " + inner.describe());
    e.node_id = node(i).id;
    e.provider = o.error.provider;
    e.status = o.error.status;
    e.request_id = o.error.request_id;
    stop(RunStatus::failed, std::move(e));
  }
  if (!stopping || o.status == NodeStatus::skipped) fire(s, i, o);
  dirty.push_back(&s);
  draining = was_draining;
  drain();
}

void RunState::fire(Scope& s, std::size_t i, const Outcome& o) {
  const Node& n = node(i);
  const bool ran = o.status == NodeStatus::succeeded || o.error_branch;
  if (o.loop && *o.loop == LoopDecision::continue_ && ran) {
    // Re-arm the cycle: every other node of the loop's strongly connected component goes back
    // to pending and the edges inside it to unresolved; then "continue" fires.
    ++s.nodes[i].continues;
    auto in_cycle = [&](std::size_t x) {
      if (x == i) return true;
      const auto& l = g->loops_of[x];
      return std::find(l.begin(), l.end(), i) != l.end();
    };
    for (std::size_t x = 0; x < s.nodes.size(); ++x)
      if (member(s, x) && in_cycle(x) && s.nodes[x].state == NState::done)
        s.nodes[x].state = NState::pending;
    for (std::size_t e = 0; e < s.edges.size(); ++e)
      if (in_cycle(src_cached(e)) && in_cycle(dst(e)) && member(s, src_cached(e)))
        s.edges[e].state = EState::unresolved;
  }
  // Edges first, then their targets (a target checked early must see every edge of this node).
  const std::uint64_t before = tick;
  for (std::size_t e : g->out_edges[i]) {
    const std::size_t to = dst(e);
    if (!member(s, to)) continue;
    const std::string& handle = edge(e).source_handle;
    EState st = EState::live;
    if (!ran) {
      st = EState::dead;
    } else if (o.route) {
      st = handle == *o.route ? EState::live : EState::dead;
    } else if (o.loop) {
      const bool is_continue = handle == "continue";
      if (*o.loop == LoopDecision::continue_) {
        if (!is_continue) continue;  // exit edges wait for the final visit
      } else {
        st = is_continue ? EState::dead : EState::live;
      }
    } else if (n.kind == NodeKind::llm) {
      const bool is_error = handle == "error";
      st = (is_error == o.error_branch) ? EState::live : EState::dead;
    }
    s.edges[e].state = st;
    s.edges[e].fired = ++tick;
  }
  for (std::size_t e : g->out_edges[i]) {
    // Fired by this call: a skip propagating from check_ready never fires this node's edges.
    if (s.edges[e].fired > before && member(s, dst(e))) check_ready(s, dst(e));
  }
}

void RunState::stop(RunStatus status, Error error) {
  if (stopping || finished) return;
  stopping = true;
  stop_status = status;
  stop_reason = std::make_unique<Error>(std::move(error));
  // Stopped before its start handler ran (a cancellation emitted right after async_run): there
  // is nothing to abort yet; the start handler sees `stopping` and ends the run at once.
  if (!top) return;
  // Aborting may complete calls inline; their nodes finish once every call was aborted.
  const bool was_draining = draining;
  draining = true;
  auto calls_now = calls;
  for (auto& w : calls_now)
    if (auto c = w.lock()) c->abort();
  draining = was_draining;
  // Maps stop launching items; scopes close when their in-flight work has ended.
  dirty.push_back(top.get());
  drain();
}

void RunState::finish_run() {
  if (finished) return;
  finished = true;
  RunResult result;
  result.run_id = opts.run_id;
  const auto& nodes = wf->nodes();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const bool touched = results[i] != nullptr;
    NodeRecord& r = touched ? *results[i] : new_result(i);
    if (!touched) {
      // A map body whose map never ran.
      r.status = stopping ? NodeStatus::cancelled : NodeStatus::skipped;
      if (stopping) r.set_error(stop_error()).node_id = nodes[i].id;
    }
    result.usage += r.usage;
    if (result.cost && r.cost)
      *result.cost += *r.cost;
    else
      result.cost.reset();
  }
  std::string output;
  bool any_output = false;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].kind != NodeKind::output || g->map_of[i] != npos) continue;
    const NodeRecord& r = *results[i];
    if (r.status != NodeStatus::succeeded) continue;
    if (any_output) output += "\n\n";
    output += r.output_in_slot ? *slot_text(i) : r.output;
    any_output = true;
  }
  result.output = std::move(output);
  for (std::size_t i : plan->by_id) {  // in key order: each insertion is O(1) at the end
    auto it = result.nodes.emplace_hint(result.nodes.end(), std::piecewise_construct,
                                        std::forward_as_tuple(nodes[i].id), std::tuple<>());
    results[i]->move_to(it->second, slot_text(i));
  }
  result.status = stopping ? stop_status : RunStatus::succeeded;
  result.error = stopping ? stop_error() : Error{};
  result.wall_time = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start);
  if (want_events()) {
    RunEvent ev;
    ev.type = RunEventType::run_finished;
    ev.run_result = &result;
    ev.status = to_string(result.status);
    ev.error = result.error.code ? &result.error : nullptr;
    emit(ev);
  }
  if (opts.stop) opts.stop->unsubscribe(stop_subscription);
  auto slot = asio::get_associated_cancellation_slot(*handler);
  if (slot.is_connected()) slot.clear();
  error_code ec = result.error.code;
  auto h = std::move(*handler);
  handler.reset();
  auto ex = asio::get_associated_executor(h, exec->ex);
  // Break the cycles (calls and scopes hold this state) before handing the result out.
  calls.clear();
  asio::dispatch(ex, [h = std::move(h), ec, r = std::move(result)]() mutable {
    std::move(h)(ec, std::move(r));
  });
}

// Completes a run that never started (invalid workflow) with every node skipped.
RunResult invalid_result(const Workflow* wf, const std::string& run_id, Error error) {
  RunResult r;
  r.run_id = run_id;
  r.status = RunStatus::failed;
  if (wf) {
    for (const auto& n : wf->nodes())
      r.nodes.insert_or_assign(n.id, NodeResult{});
  }
  r.error = std::move(error);
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Executor

Executor::Executor(executor_type ex, std::shared_ptr<ProviderRegistry> providers)
    : state_(std::make_shared<detail::executor_state>(std::move(ex), std::move(providers))) {}

Executor::executor_type Executor::get_executor() const noexcept {
  return state_->ex;
}

const std::shared_ptr<ProviderRegistry>& Executor::providers() const noexcept {
  return state_->providers;
}

void Executor::set_limits(ExecutorLimits limits) {
  asio::post(state_->ex, [state = state_, l = std::move(limits)]() mutable {
    state->gate->configure(l.max_concurrency, std::move(l.provider_concurrency),
                           std::move(l.rate_limits));
  });
}

void Executor::do_run(std::shared_ptr<const Workflow> workflow, std::string input,
                      RunOptions options, asio::any_completion_handler<run_signature> handler) {
  auto run = std::make_shared<RunState>();
  run->exec = state_;
  run->wf = std::move(workflow);
  run->input = std::move(input);
  RunSettings& o = run->opts;
  o.on_event = std::move(options.on_event);
  o.stop = std::move(options.stop);
  o.max_cost_usd = options.max_cost_usd;
  o.max_tokens = options.max_tokens;
  o.api_keys = std::move(options.api_keys);
  o.run_id = std::move(options.run_id);
  o.retry_base_delay = options.retry_base_delay;
  o.retry_max_delay = options.retry_max_delay;
  o.default_max_tokens = options.default_max_tokens;
  o.stream_tokens = options.stream_tokens;
  RunSetup setup{options.max_concurrency, std::move(options.provider_concurrency),
                 std::move(options.rate_limits), std::move(options.resume)};
  if (run->opts.run_id.empty()) run->opts.run_id = make_run_id();
  run->handler.emplace(std::move(handler));

  // The token's cancellation slot: a cancellation stops the run (on the executor's thread).
  auto slot = asio::get_associated_cancellation_slot(*run->handler);
  if (slot.is_connected()) {
    std::weak_ptr<RunState> weak = run;
    slot.assign([weak](asio::cancellation_type) {
      if (auto r = weak.lock())
        r->stop(RunStatus::cancelled, make_error(errc::cancelled, "run cancelled"));
    });
  }

  asio::post(state_->ex, [run, setup = std::move(setup)]() mutable {
    run->start = clock::now();
    const Workflow* wf = run->wf.get();
    auto fail_invalid = [&](std::string message, errc code = errc::invalid_workflow) {
      Error e = make_error(code, std::move(message));
      RunResult r = invalid_result(wf, run->opts.run_id, e);
      if (run->want_events()) {
        RunEvent ev;
        ev.type = RunEventType::run_started;
        run->emit(ev);
        ev = RunEvent{};
        ev.type = RunEventType::run_finished;
        ev.run_result = &r;
        ev.status = to_string(r.status);
        ev.error = &r.error;
        run->emit(ev);
      }
      auto sl = asio::get_associated_cancellation_slot(*run->handler);
      if (sl.is_connected()) sl.clear();
      auto h = std::move(*run->handler);
      run->handler.reset();
      auto ex = asio::get_associated_executor(h, run->exec->ex);
      asio::dispatch(ex, [h = std::move(h), code, r = std::move(r)]() mutable {
        std::move(h)(code, std::move(r));
      });
    };
    if (!wf) return fail_invalid("no workflow given");
    run->plan = run->exec->validated(run->wf);
    if (!run->plan) {
      ValidationContext ctx;
      if (run->exec->providers) {
        for (const auto& id : run->exec->providers->ids()) {
          auto p = run->exec->providers->find(id);
          std::vector<std::string> models;
          if (p)
            for (const auto& m : p->models())
              models.push_back(m.id);
          ctx.providers.emplace(id, std::move(models));
        }
      }
      auto problems = validate(*wf, ctx);
      if (has_errors(problems)) {
        std::string msg = "the workflow does not validate:";
        for (const auto& p : problems)
          if (p.severity == Severity::error) msg += "\n" + p.describe();
        return fail_invalid(std::move(msg));
      }
      run->plan = run->exec->remember(run->wf);
    }
    if (!setup.resume.empty()) {
      auto res = std::make_unique<Resume>();
      res->records = std::move(setup.resume);
      res->by_node.assign(wf->nodes().size(), nullptr);
      for (const auto& [id, rec] : res->records) {
        const std::size_t i = wf->node_index(id);
        if (i == npos) {
          return fail_invalid(
              "RunOptions::resume names node '" + id + "', which is not a node of the workflow",
              errc::invalid_argument);
        }
        res->by_node[i] = &rec;
      }
      run->resume = std::move(res);
    }
    run->g = &wf->graph();
    run->results.resize(wf->nodes().size());
    if (setup.max_concurrency || !setup.provider_concurrency.empty() ||
        !setup.rate_limits.empty()) {
      run->gate = std::make_shared<CallGate>(run->exec->ex);
      run->gate->configure(setup.max_concurrency, std::move(setup.provider_concurrency),
                           std::move(setup.rate_limits));
    }
    if (run->want_events()) {
      RunEvent ev;
      ev.type = RunEventType::run_started;
      run->emit(ev);
    }
    run->top = run->make_scope(nullptr, npos, -1, {});
    if (run->opts.stop) {
      std::weak_ptr<RunState> weak = run;
      auto ex = run->exec->ex;
      run->stop_subscription = run->opts.stop->subscribe([weak, ex] {
        asio::post(ex, [weak] {
          if (auto r = weak.lock())
            r->stop(RunStatus::cancelled, make_error(errc::cancelled, "run cancelled"));
        });
      });
    }
    if (run->stopping) {  // stopped before it started: every node ends cancelled
      run->dirty.push_back(run->top.get());
      return run->drain();
    }
    run->seed(*run->top);
    run->drain();
  });
}

RunResult Executor::run(const Workflow& workflow, std::string input, RunOptions options,
                        error_code& ec) {
  RunResult result;
  bool done = false;
  const auto* io = state_->ex.target<asio::io_context::executor_type>();
  asio::io_context* ctx = io ? &io->context() : nullptr;
  if (!ctx || io->running_in_this_thread()) {
    if (ctx) {  // waiting here would wait forever
      ec = errc::invalid_argument;
      return invalid_result(nullptr, options.run_id,
                            make_error(errc::invalid_argument,
                                       "Executor::run called from a thread that runs the "
                                       "executor's io_context; use async_run there"));
    }
    std::promise<std::pair<error_code, RunResult>> promise;
    auto fut = promise.get_future();
    async_run(workflow, std::move(input), std::move(options),
              [&promise](error_code e, RunResult r) {
                promise.set_value({e, std::move(r)});
              });
    auto [e, r] = fut.get();
    ec = e;
    return std::move(r);
  }
  async_run(workflow, std::move(input), std::move(options), [&](error_code e, RunResult r) {
    ec = e;
    result = std::move(r);
    done = true;
  });
  if (ctx->stopped()) ctx->restart();
  while (!done) {
    if (ctx->run_one() == 0 && !done) ctx->restart();
  }
  return result;
}

RunResult Executor::run(const Workflow& workflow, std::string input, RunOptions options) {
  error_code ec;
  RunResult r = run(workflow, std::move(input), std::move(options), ec);
  if (ec) throw Exception(r.error.code ? r.error : make_error(ec, ec.message()));
  return r;
}

}  // namespace chorus
