// What a workflow run produces: the per-node and per-run results (NodeResult, RunResult) and the
// events streamed while it runs (RunEvent). Their JSON is the one wire shape of a run: `chorus run
// --json` prints RunResult::to_json(), the server streams RunEvent::to_json() as SSE `data:`, and
// the Python and Node bindings hand out the same objects. See docs/events.md.
#pragma once

#include <chorus/config.hpp>
#include <chorus/error.hpp>
#include <chorus/provider.hpp>

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace chorus {

/// How one node ended.
enum class NodeStatus {
  succeeded,  ///< Ran and produced its output.
  failed,     ///< Ran and failed (its on_error policy decided what happened next).
  skipped,    ///< Never ran: every input came from an untaken router branch or a skipped node.
  cancelled,  ///< Aborted or never started because the run was cancelled or stopped early.
};
CHORUS_API std::string_view to_string(NodeStatus s) noexcept;
/// Parses "succeeded", "failed", "skipped", "cancelled"; nullopt otherwise.
CHORUS_API std::optional<NodeStatus> node_status_from_string(std::string_view s) noexcept;

/// How a whole run ended.
enum class RunStatus {
  succeeded,        ///< Every node that had to run ran; `output` is the output node's text.
  failed,           ///< A node failed with on_error "fail", or the workflow did not validate.
  cancelled,        ///< The caller cancelled the run.
  budget_exceeded,  ///< The next LLM call would have exceeded max_cost_usd or max_tokens.
};
CHORUS_API std::string_view to_string(RunStatus s) noexcept;
/// Parses "succeeded", "failed", "cancelled", "budget_exceeded"; nullopt otherwise.
CHORUS_API std::optional<RunStatus> run_status_from_string(std::string_view s) noexcept;

/// The outcome of one node. A node that runs several times (inside a loop, or in a map body once
/// per item) gets one NodeResult summing all its runs: usage, cost, latency and attempts are
/// totals, `output` is the last finished run's (for a map body node: the last item to finish), and
/// `iterations` counts the runs.
struct CHORUS_API NodeResult {
  NodeStatus status = NodeStatus::skipped;
  std::string output;                    ///< The text passed downstream.
  Usage usage;                           ///< Tokens of every LLM call the node made.
  std::optional<double> cost = 0.0;      ///< USD; nullopt when a call's model had no known price.
  std::chrono::microseconds latency{0};  ///< Time spent running (all runs, retries included).
  int attempts = 0;                      ///< LLM calls made (retries and fallbacks included).
  Error error;                           ///< Why it failed or was cancelled; empty otherwise.
  std::string provider;                  ///< Provider id that produced the output (LLM nodes).
  std::string model;                     ///< Model that produced the output (LLM nodes).
  int iterations = 0;                    ///< How many times the node ran.
  /// The branch its last run took: a router's label, a loop's "continue" or "exit"; empty for
  /// other kinds (and for a router or loop that failed or never ran). Lets a resumed run
  /// (RunOptions::resume) follow the same branches without running the node again.
  std::string route;

  /// {"status","output","usage","cost","latencyMs","attempts","error","provider","model",
  /// "iterations"} plus "route" when set; `cost` and `error` are null when unknown / absent.
  boost::json::object to_json() const;
  /// Parses to_json()'s shape back; unknown fields are ignored. Throws chorus::Exception
  /// (invalid_argument, naming the field) on a malformed value.
  static NodeResult from_json(const boost::json::value& v);
};

/// The outcome of a run. Always complete: every node of the workflow has an entry, whatever the
/// status, so a failed, cancelled or budget-stopped run still shows what was done.
struct CHORUS_API RunResult {
  RunStatus status = RunStatus::succeeded;
  std::string run_id;
  std::string output;                       ///< The output node's text (see docs/executor.md).
  std::map<std::string, NodeResult> nodes;  ///< Keyed by node id.
  Usage usage;                              ///< Sum over all nodes.
  std::optional<double> cost = 0.0;         ///< Sum over all nodes; nullopt if any is unknown.
  std::chrono::microseconds wall_time{0};   ///< run_started to run_finished.
  Error error;                              ///< Why the run did not succeed; empty on success.

  /// {"status","runId","output","nodes":{id: NodeResult},"usage","cost","wallTimeMs","error"}.
  boost::json::object to_json() const;
  /// Parses to_json()'s shape back. Throws chorus::Exception (invalid_argument) when malformed.
  static RunResult from_json(const boost::json::value& v);
};

/// The kinds of run events, in the order a node sees them (see docs/events.md).
enum class RunEventType {
  run_started,    ///< First event of every run (seq 0).
  node_started,   ///< A node begins a run (again for every loop iteration / map item).
  token,          ///< Streamed text of an LLM node (only when RunOptions::stream_tokens).
  node_retry,     ///< An LLM call failed and is retried, or the next fallback is tried.
  node_finished,  ///< The node succeeded; `result` holds its NodeResult so far.
  node_failed,    ///< The node failed or was cancelled; `result` and `error` say why.
  node_skipped,   ///< The node will not run (untaken router branch).
  run_finished,   ///< Last event of every run; `run_result` holds the RunResult.
};
CHORUS_API std::string_view to_string(RunEventType t) noexcept;
CHORUS_API std::optional<RunEventType> run_event_type_from_string(std::string_view s) noexcept;

/// One event of a run. A view: the strings and pointers are valid only during the on_event
/// callback (no allocation per streamed token); call to_json() or copy what you keep.
struct CHORUS_API RunEvent {
  RunEventType type = RunEventType::run_started;
  std::string_view run_id;
  std::uint64_t seq = 0;              ///< 0, 1, 2, ... per run, without gaps.
  std::chrono::microseconds time{0};  ///< Since the run started.
  std::string_view node_id;           ///< Empty for run_started / run_finished.
  std::string_view node_type;         ///< "llm", "router", ... for node events.
  std::string_view text;              ///< token: the streamed text.
  int attempt = 0;                    ///< node_retry: the attempt about to start (2, 3, ...).
  int iteration = 0;                  ///< Loop iteration of the node (1-based; 0 outside loops).
  std::optional<int> item;            ///< Map item index, for nodes inside a map body.
  std::string_view provider;          ///< node_retry / node_started of LLM nodes.
  std::string_view model;
  std::chrono::milliseconds delay{0};     ///< node_retry: wait before the next attempt.
  const Error* error = nullptr;           ///< node_failed, node_retry, run_finished (when failed).
  const NodeResult* result = nullptr;     ///< node_finished, node_failed, node_skipped.
  const RunResult* run_result = nullptr;  ///< run_finished.
  std::string_view status;                ///< Terminal events: the node's / run's status name.
  /// node_finished / node_skipped / node_failed of a node taken from RunOptions::resume (not
  /// run again; no node_started precedes it).
  bool resumed = false;

  /// camelCase JSON: {"type","runId","seq","timeMs", then per type "nodeId","nodeType","text",
  /// "attempt","iteration","item","provider","model","delayMs","status","resumed","error",
  /// "result"}.
  /// Fields that do not apply are omitted. See docs/events.md for each type.
  boost::json::object to_json() const;
};

/// Error <-> JSON, as it appears in results and events: {"kind","message"} plus "provider",
/// "status", "requestId", "vendorCode", "retryAfterMs", "nodeId" when set. Empty Error -> null.
CHORUS_API boost::json::value error_to_json(const Error& e);
CHORUS_API Error error_from_json(const boost::json::value& v);
/// Usage <-> JSON: {"promptTokens","completionTokens","totalTokens","cachedPromptTokens",
/// "reasoningTokens"} (plus "estimated": true when counts are our estimate).
CHORUS_API boost::json::object usage_to_json(const Usage& u);
CHORUS_API Usage usage_from_json(const boost::json::value& v);

}  // namespace chorus
