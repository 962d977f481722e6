// The execution queue in the database (docs/decisions/scale-out.md): every server instance that
// shares the database claims queued executions (`SELECT ... FOR UPDATE SKIP LOCKED` on
// PostgreSQL, one atomic `UPDATE ... RETURNING` on single-instance SQLite), heartbeats its
// claims, takes over the runs of dead instances, and writes a run's progress (events, finished
// node results, usage) fenced by its claim: a writer that lost its claim changes nothing.
//
// RunStore has its own connection to the database (the same URL as App::db), so the queue's
// statements never interleave with a route's transaction. Like every storage call it is
// synchronous and used from the io thread only.
#pragma once

#include "storage.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace chorus::server {

/// The advisory-lock namespace of instance liveness locks (PostgreSQL): an instance holds
/// pg_advisory_lock(kInstanceLockClass, owner_key) on its notification connection while it
/// lives; a dead instance's lock is gone at once (its connection closed).
inline constexpr std::int32_t kInstanceLockClass = 726362;

/// An execution this instance now owns.
struct ClaimedRun {
  ExecutionRecord record;
  std::string document;
  std::int64_t takeovers = 0;  ///< > 0: taken over from a dead instance.
  std::int64_t next_seq = 0;   ///< The seq of the next event (1 + the last stored one).
};

/// A finished node to store, and the provider it billed (usage is accounted idempotently: only
/// what exceeds what was already accounted for that node is added to the rollup).
struct NodeProgress {
  ExecutionNodeRecord node;
  std::string workflow_id;
  bool user_key = false;  ///< The call used the user's own key (not platform spend).
};

/// Progress of a running execution, written in one transaction.
struct ExecutionProgress {
  std::string execution_id, user_id;
  std::vector<EventRecord> events;
  std::vector<NodeProgress> nodes;
};

class RunStore {
 public:
  /// Connects to `url` (the App's database, migrations already applied).
  RunStore(const std::string& url, std::string instance_id, std::int32_t owner_key);
  ~RunStore();

  bool postgres() const noexcept { return postgres_; }
  const std::string& instance_id() const noexcept { return instance_; }

  /// Stores the document of a just-inserted `queued` execution; with `claim`, claims it for this
  /// instance in the same statement. True when claimed.
  bool enqueue(const std::string& id, const std::string& document, bool claim);
  /// Claims up to `limit` queued executions, oldest first.
  std::vector<ClaimedRun> claim(std::size_t limit);
  /// Runs whose owner is gone: on PostgreSQL a heartbeat older than `lease_ms` or an owner whose
  /// liveness lock is free; on SQLite (one instance) a stale heartbeat, or at start-up every run
  /// not owned by this instance. With `take`, claims up to `limit` of them (resume); without,
  /// marks them all `interrupted` and returns them.
  std::vector<ClaimedRun> orphans(std::size_t limit, std::int64_t lease_ms, bool startup,
                                  bool take);
  struct Beat {
    std::string id;
    bool cancel_requested = false;
  };
  /// Renews this instance's claims; returns the runs it still owns.
  std::vector<Beat> heartbeat();
  /// Gives up this instance's claim on a running execution it no longer runs (its end could not
  /// be written): any instance then handles it as orphaned.
  void release(const std::string& id);
  /// Writes events, node results and their usage; false (nothing written) when the claim is
  /// lost.
  bool save_progress(const ExecutionProgress& p);
  /// save_progress + the final row (+ a NOTIFY of the end) in one transaction; false when the
  /// claim is lost.
  bool finish(const ExecutionProgress& p, const ExecutionFinal& f);
  enum class CancelOutcome { not_active, cancelled, requested };
  /// Cancels a queued execution at once, or flags a running one for its owner.
  CancelOutcome request_cancel(const std::string& id);
  /// Status and last stored seq (-1 when no event is stored); nullopt when unknown.
  struct Progress {
    std::string status;
    std::int64_t last_seq = -1;
  };
  std::optional<Progress> progress(const std::string& id);
  /// Executions queued or running for a user, across instances.
  std::int64_t active_for_user(const std::string& user_id);
  /// Queued executions waiting for a worker (all instances).
  std::int64_t queued_count();
  /// NOTIFY on PostgreSQL; nothing on SQLite.
  void notify(std::string_view channel, std::string_view payload);
  /// The user's stored provider keys (sealed), for the claiming instance to decrypt.
  std::vector<ApiKeyRecord> api_keys(const std::string& user_id);

 private:
  void write_progress(const ExecutionProgress& p, const std::string& day);
  std::vector<ClaimedRun> read_claimed(const SqlResult& r);

  std::unique_ptr<SqlConnection> db_;
  std::string instance_;
  std::int64_t owner_key_;
  bool postgres_;
};

/// A positive 31-bit key for the instance's liveness lock, derived from its id.
std::int32_t owner_key_of(const std::string& instance_id);

}  // namespace chorus::server
