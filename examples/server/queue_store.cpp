#include "queue_store.hpp"

#include "app.hpp"
#include "crypto.hpp"

#include <algorithm>
#include <cstdlib>

namespace chorus::server {

namespace {

std::string str(const std::optional<std::string>& v) {
  return v ? *v : std::string();
}
std::int64_t i64(const std::optional<std::string>& v) {
  return v ? std::atoll(v->c_str()) : 0;
}
double f64(const std::optional<std::string>& v) {
  return v ? std::strtod(v->c_str(), nullptr) : 0.0;
}
SqlValue opt(const std::optional<std::string>& v) {
  if (!v) return nullptr;
  return *v;
}
SqlValue opt(const std::optional<double>& v) {
  if (!v) return nullptr;
  return *v;
}

template <class... A>
std::vector<SqlValue> P(A&&... a) {
  return std::vector<SqlValue>{SqlValue(std::forward<A>(a))...};
}

// Columns of a claimed execution, in read_claimed()'s order.
constexpr const char* kClaimedCols =
    "id, workflow_id, user_id, input, workflow_version, started_at, document, takeovers";

// The orphan condition: $1 = this instance, $2 = heartbeats older than this are stale, {S} = 1
// at start-up (then this instance's own runs are a previous process's). PostgreSQL also treats
// a run whose owner's liveness lock is gone as orphaned (the owner's connection closed: it
// died), so a crashed instance's runs move on at once, not after a lease.
constexpr const char* kPgOrphan =
    "status = 'running' AND ((claimed_by = $1 AND {S} = 1) OR ((claimed_by IS NULL OR "
    "claimed_by <> $1) AND (heartbeat_at IS NULL OR heartbeat_at < $2 OR owner_key IS NULL OR "
    "owner_key NOT IN (SELECT l.objid::bigint FROM pg_locks l WHERE l.locktype = 'advisory' AND "
    "l.classid = 726362 AND l.objsubid = 2 AND l.granted AND l.database = (SELECT oid FROM "
    "pg_database WHERE datname = current_database())))))";
// SQLite has one instance: at start-up every running run is a previous process's.
constexpr const char* kSqliteOrphan =
    "status = 'running' AND ({S} = 1 OR ((claimed_by IS NULL OR claimed_by <> $1) AND "
    "(heartbeat_at IS NULL OR heartbeat_at < $2)))";

std::string orphan_condition(bool postgres, const char* param) {
  std::string c = postgres ? kPgOrphan : kSqliteOrphan;
  auto at = c.find("{S}");
  c.replace(at, 3, param);
  return c;
}

}  // namespace

std::int32_t owner_key_of(const std::string& instance_id) {
  std::string h = sha256_hex(instance_id);
  return static_cast<std::int32_t>(std::strtoul(h.substr(0, 8).c_str(), nullptr, 16) & 0x7fffffffu);
}

RunStore::RunStore(const std::string& url, std::string instance_id, std::int32_t owner_key)
    : instance_(std::move(instance_id)), owner_key_(owner_key) {
  postgres_ = url.starts_with("postgres://") || url.starts_with("postgresql://");
  if (postgres_) {
    db_ = open_postgres(url);
  } else {
    db_ = open_sqlite(url.starts_with("sqlite://") ? url.substr(9) : url);
  }
}

RunStore::~RunStore() = default;

std::vector<ClaimedRun> RunStore::read_claimed(const SqlResult& r) {
  std::vector<ClaimedRun> out;
  out.reserve(r.rows.size());
  for (const auto& row : r.rows) {
    ClaimedRun c;
    c.record.id = str(row[0]);
    c.record.workflow_id = str(row[1]);
    c.record.user_id = str(row[2]);
    c.record.status = "running";
    c.record.input = str(row[3]);
    c.record.workflow_version = i64(row[4]);
    c.record.started_at = i64(row[5]);
    c.document = str(row[6]);
    c.takeovers = i64(row[7]);
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const ClaimedRun& a, const ClaimedRun& b) {
    return a.record.started_at < b.record.started_at;
  });
  for (auto& c : out) {
    if (c.takeovers == 0) continue;  // a fresh claim has no events yet
    auto p = P(c.record.id);
    auto m = db_->exec("SELECT MAX(seq) FROM execution_events WHERE execution_id = $1", p);
    c.next_seq = m.rows.empty() || !m.rows[0][0] ? 0 : i64(m.rows[0][0]) + 1;
  }
  return out;
}

bool RunStore::enqueue(const std::string& id, const std::string& document, bool claim) {
  if (!claim) {
    auto p = P(id, document);
    db_->exec("UPDATE workflow_executions SET document = $2 WHERE id = $1", p);
    notify("chorus_queue", id);
    return false;
  }
  auto p = P(id, document, instance_, owner_key_, now_ms());
  return db_->exec(
                "UPDATE workflow_executions SET document = $2, status = 'running', claimed_by = "
                "$3, owner_key = $4, heartbeat_at = $5 WHERE id = $1 AND status = 'queued'",
                p)
             .affected > 0;
}

std::vector<ClaimedRun> RunStore::claim(std::size_t limit) {
  if (limit == 0) return {};
  auto p = P(instance_, owner_key_, now_ms(), static_cast<std::int64_t>(limit));
  static const std::string pg =
      std::string(
          "UPDATE workflow_executions SET status = 'running', claimed_by = $1, "
          "owner_key = $2, heartbeat_at = $3 WHERE status = 'queued' AND id IN (SELECT "
          "id FROM workflow_executions WHERE status = 'queued' AND document IS NOT NULL "
          "ORDER BY started_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING ") +
      kClaimedCols;
  static const std::string lite =
      std::string(
          "UPDATE workflow_executions SET status = 'running', claimed_by = $1, "
          "owner_key = $2, heartbeat_at = $3 WHERE status = 'queued' AND id IN (SELECT "
          "id FROM workflow_executions WHERE status = 'queued' AND document IS NOT NULL "
          "ORDER BY started_at, id LIMIT $4) RETURNING ") +
      kClaimedCols;
  return read_claimed(db_->exec(postgres_ ? pg : lite, p));
}

std::vector<ClaimedRun> RunStore::orphans(std::size_t limit, std::int64_t lease_ms, bool startup,
                                          bool take) {
  const std::int64_t now = now_ms();
  // A crash between inserting an execution and storing its document leaves a queued row no one
  // can run: end it.
  {
    auto p = P(now, now - lease_ms);
    auto r = db_->exec(
        "UPDATE workflow_executions SET status = 'interrupted', finished_at = $1, error = "
        "'{\"code\":\"interrupted\",\"message\":\"the server stopped before the run started\"}' "
        "WHERE status = 'queued' AND document IS NULL AND started_at < $2 RETURNING id",
        p);
    for (const auto& row : r.rows)
      notify("chorus_events", str(row[0]) + ":end");
  }
  const std::string lock = postgres_ ? " FOR UPDATE SKIP LOCKED" : "";
  const std::int64_t stale = now - lease_ms, first = startup ? 1 : 0;
  if (take) {
    if (limit == 0) return {};
    const auto n = static_cast<std::int64_t>(limit);
    std::string q =
        "UPDATE workflow_executions SET claimed_by = $1, owner_key = $3, heartbeat_at = $4, "
        "takeovers = takeovers + 1 WHERE status = 'running' AND id IN (SELECT id FROM "
        "workflow_executions WHERE " +
        orphan_condition(postgres_, "$6") + " ORDER BY started_at, id LIMIT $5" + lock +
        ") RETURNING " + kClaimedCols;
    auto p = P(instance_, stale, owner_key_, now, n, first);
    return read_claimed(db_->exec(q, p));
  }
  std::string q =
      "UPDATE workflow_executions SET status = 'interrupted', finished_at = $3, error = "
      "'{\"code\":\"interrupted\",\"message\":\"the server stopped during the run\"}' WHERE "
      "status = 'running' AND id IN (SELECT id FROM workflow_executions WHERE " +
      orphan_condition(postgres_, "$5") + " ORDER BY started_at, id LIMIT $4" + lock +
      ") RETURNING " + kClaimedCols;
  auto p = P(instance_, stale, now, std::int64_t{100000}, first);
  auto out = read_claimed(db_->exec(q, p));
  for (const auto& c : out)
    notify("chorus_events", c.record.id + ":end");
  return out;
}

std::vector<RunStore::Beat> RunStore::heartbeat() {
  auto p = P(instance_, now_ms());
  auto r = db_->exec(
      "UPDATE workflow_executions SET heartbeat_at = $2 WHERE claimed_by = $1 AND status = "
      "'running' RETURNING id, cancel_requested",
      p);
  std::vector<Beat> out;
  out.reserve(r.rows.size());
  for (const auto& row : r.rows)
    out.push_back({str(row[0]), i64(row[1]) != 0});
  return out;
}

void RunStore::release(const std::string& id) {
  auto p = P(id, instance_);
  db_->exec(
      "UPDATE workflow_executions SET claimed_by = NULL, owner_key = NULL, heartbeat_at = NULL "
      "WHERE id = $1 AND claimed_by = $2 AND status = 'running'",
      p);
}

void RunStore::write_progress(const ExecutionProgress& p, const std::string& day) {
  const auto& events = p.events;
  if (!events.empty()) {
    if (postgres_) {
      // One multi-row INSERT: one round trip per flush.
      std::string q = "INSERT INTO execution_events (execution_id, seq, data) VALUES ";
      std::vector<SqlValue> params;
      params.reserve(1 + 2 * events.size());
      params.emplace_back(p.execution_id);
      for (std::size_t i = 0; i < events.size(); ++i) {
        if (i) q += ", ";
        q += "($1, $" + std::to_string(2 + 2 * i) + ", $" + std::to_string(3 + 2 * i) + ")";
        params.emplace_back(events[i].seq);
        params.emplace_back(events[i].data);
      }
      q += " ON CONFLICT (execution_id, seq) DO NOTHING";
      db_->exec(q, params);
    } else {
      for (const auto& e : events) {
        auto ep = P(p.execution_id, e.seq, e.data);
        db_->exec(
            "INSERT INTO execution_events (execution_id, seq, data) VALUES ($1, $2, $3) "
            "ON CONFLICT (execution_id, seq) DO NOTHING",
            ep);
      }
    }
  }
  for (const auto& np : p.nodes) {
    const auto& n = np.node;
    auto pn = P(p.execution_id, n.node_id, n.status, opt(n.output), opt(n.error), opt(n.provider),
                opt(n.model), n.prompt_tokens, n.completion_tokens, n.total_tokens, opt(n.cost),
                n.latency_ms, n.attempts);
    auto acc = db_->exec(
        "INSERT INTO execution_nodes (execution_id, node_id, status, output, error, provider, "
        "model, prompt_tokens, completion_tokens, total_tokens, cost, latency_ms, attempts) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (execution_id, node_id) DO UPDATE SET status = excluded.status, "
        "output = excluded.output, error = excluded.error, provider = excluded.provider, "
        "model = excluded.model, prompt_tokens = excluded.prompt_tokens, "
        "completion_tokens = excluded.completion_tokens, total_tokens = excluded.total_tokens, "
        "cost = excluded.cost, latency_ms = excluded.latency_ms, attempts = excluded.attempts "
        "RETURNING acc_calls, acc_prompt_tokens, acc_completion_tokens, acc_total_tokens, "
        "acc_cost",
        pn);
    if (!n.provider || n.provider->empty() || n.attempts == 0 || acc.rows.empty()) continue;
    // Usage is cumulative per node (loops add up); account only what was not accounted yet, so
    // a node restored by a resumed run, or written twice, is never billed twice.
    const auto& a = acc.rows[0];
    std::int64_t calls = std::max<std::int64_t>(0, n.attempts - i64(a[0]));
    std::int64_t pt = std::max<std::int64_t>(0, n.prompt_tokens - i64(a[1]));
    std::int64_t ct = std::max<std::int64_t>(0, n.completion_tokens - i64(a[2]));
    std::int64_t tt = std::max<std::int64_t>(0, n.total_tokens - i64(a[3]));
    double cost = std::max(0.0, n.cost.value_or(0.0) - f64(a[4]));
    if (calls == 0 && pt == 0 && ct == 0 && tt == 0 && cost <= 0) continue;
    auto pa = P(p.execution_id, n.node_id, calls, pt, ct, tt, cost);
    db_->exec(
        "UPDATE execution_nodes SET acc_calls = acc_calls + $3, acc_prompt_tokens = "
        "acc_prompt_tokens + $4, acc_completion_tokens = acc_completion_tokens + $5, "
        "acc_total_tokens = acc_total_tokens + $6, acc_cost = acc_cost + $7 WHERE execution_id = "
        "$1 AND node_id = $2",
        pa);
    auto pu = P(p.user_id, day, *n.provider, n.model.value_or(""), np.workflow_id, calls, pt, ct,
                tt, cost, np.user_key ? 0.0 : cost);
    db_->exec(
        "INSERT INTO usage_daily (user_id, day, provider, model, workflow_id, calls, "
        "prompt_tokens, completion_tokens, total_tokens, cost, platform_cost) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (user_id, day, provider, model, workflow_id) DO UPDATE SET "
        "calls = usage_daily.calls + excluded.calls, "
        "prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, "
        "completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, "
        "total_tokens = usage_daily.total_tokens + excluded.total_tokens, "
        "cost = usage_daily.cost + excluded.cost, "
        "platform_cost = usage_daily.platform_cost + excluded.platform_cost",
        pu);
  }
}

bool RunStore::save_progress(const ExecutionProgress& p) {
  if (p.events.empty() && p.nodes.empty()) return true;
  std::int64_t last = p.events.empty() ? -1 : p.events.back().seq;
  Transaction tx(*db_);
  // The fence: only the owner of a running execution writes to it.
  auto pf = P(p.execution_id, instance_, last);
  if (db_->exec("UPDATE workflow_executions SET last_seq = CASE WHEN $3 > last_seq THEN $3 ELSE "
                "last_seq END WHERE id = $1 AND claimed_by = $2 AND status = 'running'",
                pf)
          .affected == 0)
    return false;
  write_progress(p, iso_day(now_ms()));
  if (!p.events.empty()) notify("chorus_events", p.execution_id + ":" + std::to_string(last));
  tx.commit();
  return true;
}

bool RunStore::finish(const ExecutionProgress& p, const ExecutionFinal& f) {
  std::int64_t last = p.events.empty() ? -1 : p.events.back().seq;
  Transaction tx(*db_);
  auto pf = P(f.execution_id, instance_, f.status, opt(f.output), opt(f.error), f.prompt_tokens,
              f.completion_tokens, f.total_tokens, opt(f.cost), f.finished_at, last);
  if (db_->exec("UPDATE workflow_executions SET status = $3, output = $4, error = $5, "
                "prompt_tokens = $6, completion_tokens = $7, total_tokens = $8, cost = $9, "
                "finished_at = $10, last_seq = CASE WHEN $11 > last_seq THEN $11 ELSE last_seq "
                "END WHERE id = $1 AND claimed_by = $2 AND status = 'running'",
                pf)
          .affected == 0)
    return false;
  write_progress(p, f.day.empty() ? iso_day(f.finished_at) : f.day);
  notify("chorus_events", f.execution_id + ":end");
  tx.commit();
  return true;
}

RunStore::CancelOutcome RunStore::request_cancel(const std::string& id) {
  auto pq = P(id, now_ms());
  if (db_->exec("UPDATE workflow_executions SET status = 'cancelled', finished_at = $2, error = "
                "'{\"kind\":\"cancelled\",\"message\":\"cancelled before it started\"}' WHERE id "
                "= $1 AND status = 'queued'",
                pq)
          .affected > 0) {
    notify("chorus_events", id + ":end");
    return CancelOutcome::cancelled;
  }
  auto pr = P(id);
  if (db_->exec("UPDATE workflow_executions SET cancel_requested = 1 WHERE id = $1 AND status = "
                "'running'",
                pr)
          .affected > 0) {
    notify("chorus_cancel", id);
    return CancelOutcome::requested;
  }
  return CancelOutcome::not_active;
}

std::optional<RunStore::Progress> RunStore::progress(const std::string& id) {
  auto p = P(id);
  auto r = db_->exec(
      "SELECT status, (SELECT MAX(seq) FROM execution_events WHERE execution_id = $1) FROM "
      "workflow_executions WHERE id = $1",
      p);
  if (r.rows.empty()) return std::nullopt;
  Progress out;
  out.status = str(r.rows[0][0]);
  out.last_seq = r.rows[0][1] ? i64(r.rows[0][1]) : -1;
  return out;
}

std::int64_t RunStore::active_for_user(const std::string& user_id) {
  auto p = P(user_id);
  return i64(db_->exec("SELECT COUNT(*) FROM workflow_executions WHERE status IN ('queued', "
                       "'running') AND user_id = $1",
                       p)
                 .rows[0][0]);
}

std::int64_t RunStore::queued_count() {
  return i64(
      db_->exec("SELECT COUNT(*) FROM workflow_executions WHERE status = 'queued'").rows[0][0]);
}

void RunStore::notify(std::string_view channel, std::string_view payload) {
  if (!postgres_) return;
  auto p = P(std::string(channel), std::string(payload));
  db_->exec("SELECT pg_notify($1, $2)", p);
}

std::vector<ApiKeyRecord> RunStore::api_keys(const std::string& user_id) {
  auto p = P(user_id);
  std::vector<ApiKeyRecord> out;
  for (auto& r : db_->exec("SELECT user_id, provider, ciphertext, nonce, key_id, last4, "
                           "created_at, updated_at FROM user_api_keys WHERE user_id = $1",
                           p)
                     .rows)
    out.push_back(
        {str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), i64(r[6]), i64(r[7])});
  return out;
}

}  // namespace chorus::server
