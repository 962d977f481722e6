// SqlStorage: the storage logic, written once in the SQL both SQLite and PostgreSQL accept
// (TEXT/BIGINT/DOUBLE PRECISION columns, ON CONFLICT upserts, LIMIT/OFFSET), plus the versioned
// migrations. SqliteStorage and PgStorage only choose the connection.
#include "storage.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace chorus::server {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// Each entry is one schema version; never edit a shipped entry, append a new one.
const char* const kMigrations[] = {
    // 1: the seed's tables plus sessions, tokens, versions, per-node results, events,
    // templates and the usage rollup.
    R"sql(
CREATE TABLE users (
  id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL, subscription_tier TEXT NOT NULL DEFAULT 'free',
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
  csrf_token TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, expires_at BIGINT,
  last_used_at BIGINT);
CREATE INDEX sessions_user ON sessions(user_id, kind);
CREATE TABLE user_api_keys (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, provider TEXT NOT NULL,
  ciphertext TEXT NOT NULL, nonce TEXT NOT NULL, key_id TEXT NOT NULL, last4 TEXT NOT NULL,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (user_id, provider));
CREATE TABLE workflows (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', configuration TEXT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX workflows_user ON workflows(user_id, updated_at);
CREATE TABLE workflow_versions (
  workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE, version BIGINT NOT NULL,
  name TEXT NOT NULL, configuration TEXT NOT NULL, created_at BIGINT NOT NULL,
  PRIMARY KEY (workflow_id, version));
CREATE TABLE workflow_executions (
  id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  workflow_version BIGINT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT,
  error TEXT, prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0,
  total_tokens BIGINT NOT NULL DEFAULT 0, cost DOUBLE PRECISION, started_at BIGINT NOT NULL,
  finished_at BIGINT, last_seq BIGINT NOT NULL DEFAULT 0);
CREATE INDEX executions_user ON workflow_executions(user_id, workflow_id, started_at);
CREATE INDEX executions_status ON workflow_executions(status);
CREATE TABLE execution_nodes (
  execution_id TEXT NOT NULL REFERENCES workflow_executions(id) ON DELETE CASCADE,
  node_id TEXT NOT NULL, status TEXT NOT NULL, output TEXT, error TEXT, provider TEXT, model TEXT,
  prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0,
  total_tokens BIGINT NOT NULL DEFAULT 0, cost DOUBLE PRECISION, latency_ms BIGINT NOT NULL DEFAULT 0,
  attempts BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (execution_id, node_id));
CREATE TABLE execution_events (
  execution_id TEXT NOT NULL REFERENCES workflow_executions(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (execution_id, seq));
CREATE TABLE templates (
  id TEXT PRIMARY KEY, owner_id TEXT REFERENCES users(id) ON DELETE CASCADE, slug TEXT UNIQUE,
  name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]', is_public BIGINT NOT NULL DEFAULT 0,
  configuration TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX templates_owner ON templates(owner_id);
CREATE TABLE usage_daily (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, day TEXT NOT NULL,
  provider TEXT NOT NULL, model TEXT NOT NULL, workflow_id TEXT NOT NULL,
  calls BIGINT NOT NULL DEFAULT 0, prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0, total_tokens BIGINT NOT NULL DEFAULT 0,
  cost DOUBLE PRECISION NOT NULL DEFAULT 0, platform_cost DOUBLE PRECISION NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day, provider, model, workflow_id));
)sql",
    // Billing (docs/billing.md): each user's Stripe customer and subscription state, the webhook
    // events already applied (idempotency by event id) and the metered usage reported to Stripe
    // (one row per report, written before it is sent: exactly once across restarts).
    R"sql(
ALTER TABLE users ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE users ADD COLUMN stripe_subscription_id TEXT;
ALTER TABLE users ADD COLUMN subscription_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE users ADD COLUMN cancel_at_period_end BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN current_period_end BIGINT;
ALTER TABLE users ADD COLUMN billing_event_at BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_stripe_customer ON users(stripe_customer_id);
CREATE TABLE billing_events (
  id TEXT PRIMARY KEY, type TEXT NOT NULL, user_id TEXT, created BIGINT NOT NULL,
  received_at BIGINT NOT NULL, outcome TEXT NOT NULL);
CREATE TABLE billing_usage_reports (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, period TEXT NOT NULL,
  seq BIGINT NOT NULL, value BIGINT NOT NULL, identifier TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL, error TEXT, created_at BIGINT NOT NULL, sent_at BIGINT,
  PRIMARY KEY (user_id, period, seq));
CREATE INDEX billing_usage_status ON billing_usage_reports(status, created_at);
)sql",
    // Scale-out (queue_store.cpp, docs/decisions/scale-out.md): executions are queued in the
    // database with their workflow document, claimed by one instance (claimed_by, its liveness
    // lock key, heartbeat_at), cancelled across instances (cancel_requested), and per-node usage
    // is accounted once (acc_*: what the rollup already holds for that node).
    R"sql(
ALTER TABLE workflow_executions ADD COLUMN document TEXT;
ALTER TABLE workflow_executions ADD COLUMN claimed_by TEXT;
ALTER TABLE workflow_executions ADD COLUMN owner_key BIGINT;
ALTER TABLE workflow_executions ADD COLUMN heartbeat_at BIGINT;
ALTER TABLE workflow_executions ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workflow_executions ADD COLUMN takeovers BIGINT NOT NULL DEFAULT 0;
CREATE INDEX executions_queue ON workflow_executions(status, started_at);
CREATE INDEX executions_claims ON workflow_executions(claimed_by, status);
ALTER TABLE execution_nodes ADD COLUMN acc_calls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE execution_nodes ADD COLUMN acc_prompt_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE execution_nodes ADD COLUMN acc_completion_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE execution_nodes ADD COLUMN acc_total_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE execution_nodes ADD COLUMN acc_cost DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE execution_nodes SET acc_calls = attempts, acc_prompt_tokens = prompt_tokens,
  acc_completion_tokens = completion_tokens, acc_total_tokens = total_tokens,
  acc_cost = COALESCE(cost, 0);
)sql",
};

std::string str(const std::optional<std::string>& v) {
  return v ? *v : std::string();
}
std::int64_t i64(const std::optional<std::string>& v) {
  return v ? std::atoll(v->c_str()) : 0;
}
std::optional<std::int64_t> opt_i64(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return std::atoll(v->c_str());
}
std::optional<double> opt_f64(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return std::strtod(v->c_str(), nullptr);
}
SqlValue opt(const std::optional<std::string>& v) {
  if (!v) return nullptr;
  return *v;
}
SqlValue opt(const std::optional<double>& v) {
  if (!v) return nullptr;
  return *v;
}
SqlValue opt(const std::optional<std::int64_t>& v) {
  if (!v) return nullptr;
  return *v;
}

template <class... A>
std::vector<SqlValue> P(A&&... a) {
  return std::vector<SqlValue>{SqlValue(std::forward<A>(a))...};
}

constexpr const char* kUserCols = "id, email, name, password_hash, subscription_tier, created_at";
User to_user(const SqlRow& r) {
  return {str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), i64(r[5])};
}

constexpr const char* kTokenCols =
    "id, user_id, token_hash, kind, name, csrf_token, created_at, expires_at, last_used_at";
TokenRecord to_token(const SqlRow& r) {
  return {str(r[0]), str(r[1]), str(r[2]),     str(r[3]),    str(r[4]),
          str(r[5]), i64(r[6]), opt_i64(r[7]), opt_i64(r[8])};
}

constexpr const char* kWorkflowCols =
    "id, user_id, name, description, configuration, version, created_at, updated_at";
WorkflowRecord to_workflow(const SqlRow& r) {
  return {str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), i64(r[5]), i64(r[6]), i64(r[7])};
}

constexpr const char* kExecCols =
    "id, workflow_id, user_id, status, input, workflow_version, output, error, prompt_tokens, "
    "completion_tokens, total_tokens, cost, started_at, finished_at, last_seq";
ExecutionRecord to_exec(const SqlRow& r) {
  ExecutionRecord e;
  e.id = str(r[0]);
  e.workflow_id = str(r[1]);
  e.user_id = str(r[2]);
  e.status = str(r[3]);
  e.input = str(r[4]);
  e.workflow_version = i64(r[5]);
  e.output = r[6];
  e.error = r[7];
  e.prompt_tokens = i64(r[8]);
  e.completion_tokens = i64(r[9]);
  e.total_tokens = i64(r[10]);
  e.cost = opt_f64(r[11]);
  e.started_at = i64(r[12]);
  e.finished_at = opt_i64(r[13]);
  e.last_seq = i64(r[14]);
  return e;
}

constexpr const char* kTemplateCols =
    "id, owner_id, slug, name, description, category, tags, is_public, configuration, created_at, "
    "updated_at";
TemplateRecord to_template(const SqlRow& r) {
  TemplateRecord t;
  t.id = str(r[0]);
  t.owner_id = r[1];
  t.slug = r[2];
  t.name = str(r[3]);
  t.description = str(r[4]);
  t.category = str(r[5]);
  t.tags = str(r[6]);
  t.is_public = i64(r[7]) != 0;
  t.configuration = str(r[8]);
  t.created_at = i64(r[9]);
  t.updated_at = i64(r[10]);
  return t;
}

constexpr const char* kBillingCols =
    "id, email, name, subscription_tier, stripe_customer_id, stripe_subscription_id, "
    "subscription_status, cancel_at_period_end, current_period_end, billing_event_at";
BillingAccount to_billing(const SqlRow& r) {
  BillingAccount b;
  b.user_id = str(r[0]);
  b.email = str(r[1]);
  b.name = str(r[2]);
  b.tier = str(r[3]);
  b.customer_id = r[4];
  b.subscription_id = r[5];
  b.status = str(r[6]);
  b.cancel_at_period_end = i64(r[7]) != 0;
  b.current_period_end = opt_i64(r[8]);
  b.last_event_at = i64(r[9]);
  return b;
}

UsageReportRecord to_report(const SqlRow& r) {
  UsageReportRecord u;
  u.user_id = str(r[0]);
  u.period = str(r[1]);
  u.seq = i64(r[2]);
  u.value = i64(r[3]);
  u.identifier = str(r[4]);
  u.status = str(r[5]);
  u.error = r[6];
  u.created_at = i64(r[7]);
  u.sent_at = opt_i64(r[8]);
  u.customer_id = str(r[9]);
  return u;
}

// "YYYY-MM-DD" of a day number since the Unix epoch.
std::string day_of_epoch_day(std::int64_t days) {
  using namespace std::chrono;
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string cols_sql(const char* cols, const char* rest) {
  return std::string("SELECT ") + cols + " " + rest;
}

class SqlStorage : public Storage {
 public:
  explicit SqlStorage(std::unique_ptr<SqlConnection> c) : db_(std::move(c)) { migrate(); }

  std::string_view backend() const noexcept override { return db_->dialect(); }
  void ping() override { db_->exec("SELECT 1"); }

  // --- users
  void create_user(const User& u) override {
    auto p = P(u.id, u.email, u.name, u.password_hash, u.tier, u.created_at);
    db_->exec(
        "INSERT INTO users (id, email, name, password_hash, subscription_tier, created_at, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        p);
  }
  std::optional<User> find_user_by_email(const std::string& email) override {
    auto p = P(email);
    static const std::string q = cols_sql(kUserCols, "FROM users WHERE email = $1");
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_user(r.rows[0]);
  }
  std::optional<User> find_user(const std::string& id) override {
    auto p = P(id);
    static const std::string q = cols_sql(kUserCols, "FROM users WHERE id = $1");
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_user(r.rows[0]);
  }
  bool set_user_tier(const std::string& email, const std::string& tier) override {
    auto p = P(tier, email, now_ms());
    return db_->exec("UPDATE users SET subscription_tier = $1, updated_at = $3 WHERE email = $2", p)
               .affected > 0;
  }

  void update_password(const std::string& user_id, const std::string& hash) override {
    auto p = P(user_id, hash, now_ms());
    db_->exec("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1", p);
  }

  // --- tokens
  void create_token(const TokenRecord& t) override {
    auto p = P(t.id, t.user_id, t.token_hash, t.kind, t.name, t.csrf_token, t.created_at,
               opt(t.expires_at));
    db_->exec(
        "INSERT INTO sessions (id, user_id, token_hash, kind, name, csrf_token, created_at, "
        "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        p);
  }
  std::optional<TokenRecord> find_token(const std::string& hash, std::int64_t now) override {
    auto p = P(hash, now);
    static const std::string q =
        cols_sql(kTokenCols,
                 "FROM sessions WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)");
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_token(r.rows[0]);
  }
  void delete_token_by_hash(const std::string& hash) override {
    auto p = P(hash);
    db_->exec("DELETE FROM sessions WHERE token_hash = $1", p);
  }
  bool delete_token(const std::string& user_id, const std::string& id) override {
    auto p = P(user_id, id);
    return db_->exec("DELETE FROM sessions WHERE user_id = $1 AND id = $2 AND kind = 'api'", p)
               .affected > 0;
  }
  std::vector<TokenRecord> list_tokens(const std::string& user_id,
                                       const std::string& kind) override {
    auto p = P(user_id, kind);
    static const std::string q =
        cols_sql(kTokenCols, "FROM sessions WHERE user_id = $1 AND kind = $2 ORDER BY created_at");
    std::vector<TokenRecord> out;
    for (auto& r : db_->exec(q, p).rows)
      out.push_back(to_token(r));
    return out;
  }

  // --- provider keys
  void upsert_api_key(const ApiKeyRecord& k) override {
    auto p = P(k.user_id, k.provider, k.ciphertext, k.nonce, k.key_id, k.last4, k.created_at);
    db_->exec(
        "INSERT INTO user_api_keys (user_id, provider, ciphertext, nonce, key_id, last4, "
        "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
        "ON CONFLICT (user_id, provider) DO UPDATE SET ciphertext = excluded.ciphertext, "
        "nonce = excluded.nonce, key_id = excluded.key_id, last4 = excluded.last4, "
        "updated_at = excluded.updated_at",
        p);
  }
  bool delete_api_key(const std::string& user_id, const std::string& provider) override {
    auto p = P(user_id, provider);
    return db_->exec("DELETE FROM user_api_keys WHERE user_id = $1 AND provider = $2", p).affected >
           0;
  }
  std::vector<ApiKeyRecord> list_api_keys(const std::string& user_id) override {
    auto p = P(user_id);
    std::vector<ApiKeyRecord> out;
    for (auto& r :
         db_->exec("SELECT user_id, provider, ciphertext, nonce, key_id, last4, created_at, "
                   "updated_at FROM user_api_keys WHERE user_id = $1 ORDER BY provider",
                   p)
             .rows)
      out.push_back(
          {str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), i64(r[6]), i64(r[7])});
    return out;
  }

  // --- workflows
  void create_workflow(const WorkflowRecord& w) override {
    auto p = P(w.id, w.user_id, w.name, w.description, w.configuration, w.created_at);
    db_->exec(
        "INSERT INTO workflows (id, user_id, name, description, configuration, version, "
        "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
        p);
  }
  std::optional<WorkflowRecord> get_workflow(const std::string& user_id,
                                             const std::string& id) override {
    auto p = P(user_id, id);
    static const std::string q =
        cols_sql(kWorkflowCols, "FROM workflows WHERE user_id = $1 AND id = $2");
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_workflow(r.rows[0]);
  }
  Page<WorkflowRecord> list_workflows(const std::string& user_id, std::int64_t limit,
                                      std::int64_t offset) override {
    auto p = P(user_id, limit, offset);
    // The list never shows documents: do not read them.
    static const std::string q =
        "SELECT id, user_id, name, description, '' AS configuration, version, created_at, "
        "updated_at "
        "FROM workflows WHERE user_id = $1 ORDER BY updated_at DESC, id LIMIT $2 OFFSET $3";
    Page<WorkflowRecord> page;
    for (auto& r : db_->exec(q, p).rows)
      page.items.push_back(to_workflow(r));
    page.total = count_workflows(user_id);
    return page;
  }
  std::int64_t count_workflows(const std::string& user_id) override {
    auto p = P(user_id);
    return i64(db_->exec("SELECT COUNT(*) FROM workflows WHERE user_id = $1", p).rows[0][0]);
  }
  std::optional<WorkflowRecord> update_workflow(const std::string& user_id,
                                                const WorkflowRecord& w) override {
    Transaction tx(*db_);
    auto current = get_workflow(user_id, w.id);
    if (!current) return std::nullopt;
    auto pv = P(current->id, current->version, current->name, current->configuration,
                current->updated_at);
    db_->exec(
        "INSERT INTO workflow_versions (workflow_id, version, name, configuration, created_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow_id, version) DO NOTHING",
        pv);
    auto p = P(user_id, w.id, w.name, w.description, w.configuration, w.updated_at);
    db_->exec(
        "UPDATE workflows SET name = $3, description = $4, configuration = $5, "
        "version = version + 1, updated_at = $6 WHERE user_id = $1 AND id = $2",
        p);
    auto updated = get_workflow(user_id, w.id);
    tx.commit();
    return updated;
  }
  bool delete_workflow(const std::string& user_id, const std::string& id) override {
    auto p = P(user_id, id);
    return db_->exec("DELETE FROM workflows WHERE user_id = $1 AND id = $2", p).affected > 0;
  }
  std::vector<WorkflowVersion> list_versions(const std::string& user_id,
                                             const std::string& workflow_id) override {
    auto p = P(user_id, workflow_id);
    std::vector<WorkflowVersion> out;
    for (auto& r :
         db_->exec("SELECT v.workflow_id, v.name, v.configuration, v.version, v.created_at "
                   "FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id "
                   "WHERE w.user_id = $1 AND v.workflow_id = $2 ORDER BY v.version DESC",
                   p)
             .rows)
      out.push_back({str(r[0]), str(r[1]), str(r[2]), i64(r[3]), i64(r[4])});
    return out;
  }

  // --- executions
  void create_execution(const ExecutionRecord& e) override {
    auto p = P(e.id, e.workflow_id, e.user_id, e.workflow_version, e.status, e.input, e.started_at);
    db_->exec(
        "INSERT INTO workflow_executions (id, workflow_id, user_id, workflow_version, status, "
        "input, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        p);
  }
  std::optional<ExecutionRecord> get_execution(const std::string& user_id,
                                               const std::string& id) override {
    auto p = P(user_id, id);
    static const std::string q =
        cols_sql(kExecCols, "FROM workflow_executions WHERE user_id = $1 AND id = $2");
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_exec(r.rows[0]);
  }
  Page<ExecutionRecord> list_executions(const std::string& user_id,
                                        const std::optional<std::string>& workflow_id,
                                        std::int64_t limit, std::int64_t offset) override {
    Page<ExecutionRecord> page;
    if (workflow_id) {
      auto p = P(user_id, *workflow_id, limit, offset);
      static const std::string q =
          cols_sql(kExecCols,
                   "FROM workflow_executions WHERE user_id = $1 AND workflow_id = $2 "
                   "ORDER BY started_at DESC, id LIMIT $3 OFFSET $4");
      for (auto& r : db_->exec(q, p).rows)
        page.items.push_back(to_exec(r));
      auto pc = P(user_id, *workflow_id);
      page.total = i64(db_->exec("SELECT COUNT(*) FROM workflow_executions WHERE user_id = $1 AND "
                                 "workflow_id = $2",
                                 pc)
                           .rows[0][0]);
    } else {
      auto p = P(user_id, limit, offset);
      static const std::string q =
          cols_sql(kExecCols,
                   "FROM workflow_executions WHERE user_id = $1 ORDER BY started_at DESC, id "
                   "LIMIT $2 OFFSET $3");
      for (auto& r : db_->exec(q, p).rows)
        page.items.push_back(to_exec(r));
      auto pc = P(user_id);
      page.total = i64(
          db_->exec("SELECT COUNT(*) FROM workflow_executions WHERE user_id = $1", pc).rows[0][0]);
    }
    return page;
  }
  void set_execution_status(const std::string& id, const std::string& status) override {
    auto p = P(id, status);
    db_->exec("UPDATE workflow_executions SET status = $2 WHERE id = $1", p);
  }
  std::vector<ExecutionNodeRecord> list_execution_nodes(const std::string& execution_id) override {
    auto p = P(execution_id);
    std::vector<ExecutionNodeRecord> out;
    for (auto& r :
         db_->exec("SELECT node_id, status, output, error, provider, model, prompt_tokens, "
                   "completion_tokens, total_tokens, cost, latency_ms, attempts FROM "
                   "execution_nodes WHERE execution_id = $1 ORDER BY node_id",
                   p)
             .rows) {
      ExecutionNodeRecord n;
      n.node_id = str(r[0]);
      n.status = str(r[1]);
      n.output = r[2];
      n.error = r[3];
      n.provider = r[4];
      n.model = r[5];
      n.prompt_tokens = i64(r[6]);
      n.completion_tokens = i64(r[7]);
      n.total_tokens = i64(r[8]);
      n.cost = opt_f64(r[9]);
      n.latency_ms = i64(r[10]);
      n.attempts = i64(r[11]);
      out.push_back(std::move(n));
    }
    return out;
  }
  void append_events(const std::string& execution_id,
                     const std::vector<EventRecord>& events) override {
    if (events.empty()) return;
    Transaction tx(*db_);
    insert_events(execution_id, events);
    tx.commit();
  }
  std::vector<EventRecord> list_events(const std::string& execution_id,
                                       std::int64_t after_seq) override {
    auto p = P(execution_id, after_seq);
    std::vector<EventRecord> out;
    for (auto& r : db_->exec("SELECT seq, data FROM execution_events WHERE execution_id = $1 AND "
                             "seq > $2 ORDER BY seq",
                             p)
                       .rows)
      out.push_back({i64(r[0]), str(r[1])});
    return out;
  }
  void finish_execution(const ExecutionFinal& f) override {
    Transaction tx(*db_);
    insert_events(f.execution_id, f.events);
    for (const auto& n : f.nodes) {
      auto p = P(f.execution_id, n.node_id, n.status, opt(n.output), opt(n.error), opt(n.provider),
                 opt(n.model), n.prompt_tokens, n.completion_tokens, n.total_tokens, opt(n.cost),
                 n.latency_ms, n.attempts);
      db_->exec(
          "INSERT INTO execution_nodes (execution_id, node_id, status, output, error, provider, "
          "model, prompt_tokens, completion_tokens, total_tokens, cost, latency_ms, attempts) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
          "ON CONFLICT (execution_id, node_id) DO UPDATE SET status = excluded.status, "
          "output = excluded.output, error = excluded.error, provider = excluded.provider, "
          "model = excluded.model, prompt_tokens = excluded.prompt_tokens, "
          "completion_tokens = excluded.completion_tokens, total_tokens = excluded.total_tokens, "
          "cost = excluded.cost, latency_ms = excluded.latency_ms, attempts = excluded.attempts",
          p);
    }
    for (const auto& u : f.usage) {
      auto p = P(f.user_id, f.day, u.provider, u.model, u.workflow_id, u.calls, u.prompt_tokens,
                 u.completion_tokens, u.total_tokens, u.cost, u.platform_cost);
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
          p);
    }
    std::int64_t last_seq = f.events.empty() ? 0 : f.events.back().seq;
    auto p = P(f.execution_id, f.status, opt(f.output), opt(f.error), f.prompt_tokens,
               f.completion_tokens, f.total_tokens, opt(f.cost), f.finished_at, last_seq);
    db_->exec(
        "UPDATE workflow_executions SET status = $2, output = $3, error = $4, prompt_tokens = $5, "
        "completion_tokens = $6, total_tokens = $7, cost = $8, finished_at = $9, "
        "last_seq = CASE WHEN $10 > last_seq THEN $10 ELSE last_seq END WHERE id = $1",
        p);
    tx.commit();
  }
  std::int64_t interrupt_running() override {
    auto p = P(now_ms());
    return db_
        ->exec(
            "UPDATE workflow_executions SET status = 'interrupted', finished_at = $1, "
            "error = '{\"code\":\"interrupted\",\"message\":\"the server stopped during the "
            "run\"}' "
            "WHERE status IN ('running', 'queued')",
            p)
        .affected;
  }
  std::int64_t count_executions_since(const std::string& user_id, std::int64_t since) override {
    auto p = P(user_id, since);
    return i64(db_->exec("SELECT COUNT(*) FROM workflow_executions WHERE user_id = $1 AND "
                         "started_at >= $2",
                         p)
                   .rows[0][0]);
  }
  double platform_cost_since(const std::string& user_id, const std::string& since_day) override {
    auto p = P(user_id, since_day);
    auto r =
        db_->exec("SELECT SUM(platform_cost) FROM usage_daily WHERE user_id = $1 AND day >= $2", p);
    return opt_f64(r.rows[0][0]).value_or(0.0);
  }

  // --- templates
  void upsert_seed_template(const TemplateRecord& t) override {
    auto p = P(t.id, opt(t.slug), t.name, t.description, t.category, t.tags, t.configuration,
               t.created_at);
    db_->exec(
        "INSERT INTO templates (id, owner_id, slug, name, description, category, tags, is_public, "
        "configuration, created_at, updated_at) VALUES ($1, NULL, $2, $3, $4, $5, $6, 1, $7, $8, "
        "$8) "
        "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, description = "
        "excluded.description, "
        "category = excluded.category, tags = excluded.tags, configuration = "
        "excluded.configuration, "
        "updated_at = excluded.updated_at",
        p);
  }
  void create_template(const TemplateRecord& t) override {
    auto p = P(t.id, opt(t.owner_id), t.name, t.description, t.category, t.tags,
               std::int64_t{t.is_public ? 1 : 0}, t.configuration, t.created_at);
    db_->exec(
        "INSERT INTO templates (id, owner_id, slug, name, description, category, tags, is_public, "
        "configuration, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9, "
        "$9)",
        p);
  }
  std::optional<TemplateRecord> get_template(const std::string& viewer_id,
                                             const std::string& id) override {
    auto p = P(viewer_id, id);
    static const std::string q = cols_sql(
        kTemplateCols, "FROM templates WHERE id = $2 AND (is_public = 1 OR owner_id = $1)");
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_template(r.rows[0]);
  }
  std::vector<TemplateRecord> list_templates(const std::string& viewer_id,
                                             const TemplateFilter& f) override {
    // Filters are applied with bound parameters; NULL means "no filter".
    auto p = P(viewer_id, opt(f.category),
               f.query ? SqlValue("%" + lower(*f.query) + "%") : SqlValue(nullptr),
               f.tag ? SqlValue("%\"" + *f.tag + "\"%") : SqlValue(nullptr),
               std::int64_t{f.mine_only ? 1 : 0});
    static const std::string q = cols_sql(
        kTemplateCols,
        "FROM templates WHERE ((is_public = 1 AND $5 = 0) OR owner_id = $1) "
        "AND (CAST($2 AS TEXT) IS NULL OR category = CAST($2 AS TEXT)) "
        "AND (CAST($3 AS TEXT) IS NULL OR LOWER(name) LIKE CAST($3 AS TEXT) OR "
        "LOWER(description) LIKE CAST($3 AS TEXT)) "
        "AND (CAST($4 AS TEXT) IS NULL OR tags LIKE CAST($4 AS TEXT)) ORDER BY category, name, id");
    std::vector<TemplateRecord> out;
    for (auto& r : db_->exec(q, p).rows)
      out.push_back(to_template(r));
    return out;
  }

  // --- usage
  std::vector<UsageRow> query_usage(const std::string& user_id, const std::string& from_day,
                                    const std::string& to_day) override {
    auto p = P(user_id, from_day, to_day);
    std::vector<UsageRow> out;
    for (auto& r : db_->exec("SELECT day, provider, model, workflow_id, calls, prompt_tokens, "
                             "completion_tokens, total_tokens, cost FROM usage_daily WHERE "
                             "user_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, provider, "
                             "model, workflow_id",
                             p)
                       .rows)
      out.push_back({str(r[0]), str(r[1]), str(r[2]), str(r[3]), i64(r[4]), i64(r[5]), i64(r[6]),
                     i64(r[7]), opt_f64(r[8]).value_or(0.0)});
    return out;
  }

  // --- billing
  std::optional<BillingAccount> billing_account(const std::string& user_id) override {
    auto p = P(user_id);
    static const std::string q =
        std::string("SELECT ") + kBillingCols + " FROM users WHERE id = $1";
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_billing(r.rows[0]);
  }
  std::optional<BillingAccount> billing_account_by_customer(
      const std::string& customer_id) override {
    auto p = P(customer_id);
    static const std::string q =
        std::string("SELECT ") + kBillingCols + " FROM users WHERE stripe_customer_id = $1";
    auto r = db_->exec(q, p);
    if (r.rows.empty()) return std::nullopt;
    return to_billing(r.rows[0]);
  }
  std::string set_stripe_customer(const std::string& user_id,
                                  const std::string& customer_id) override {
    auto p = P(user_id, customer_id, now_ms());
    db_->exec(
        "UPDATE users SET stripe_customer_id = $2, updated_at = $3 WHERE id = $1 AND "
        "stripe_customer_id IS NULL",
        p);
    auto pq = P(user_id);
    auto r = db_->exec("SELECT stripe_customer_id FROM users WHERE id = $1", pq);
    return r.rows.empty() ? std::string() : str(r.rows[0][0]);
  }
  bool apply_billing_event(BillingEvent e, const std::optional<BillingChange>& change) override {
    Transaction tx(*db_);
    if (change) e.user_id = change->user_id;
    auto p = P(e.id, e.type, opt(e.user_id), e.created, now_ms(), e.outcome);
    if (db_->exec("INSERT INTO billing_events (id, type, user_id, created, received_at, outcome) "
                  "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                  p)
            .affected == 0)
      return false;
    if (change) {
      // Stripe does not order deliveries: an event older than the last one applied to this user
      // is recorded but changes nothing.
      auto pc = P(change->user_id, opt(change->tier), opt(change->status), opt(change->customer_id),
                  opt(change->subscription_id),
                  change->cancel_at_period_end
                      ? SqlValue(std::int64_t{*change->cancel_at_period_end ? 1 : 0})
                      : SqlValue(nullptr),
                  opt(change->current_period_end), e.created, now_ms());
      auto applied = db_->exec(
          "UPDATE users SET subscription_tier = COALESCE(CAST($2 AS TEXT), subscription_tier), "
          "subscription_status = COALESCE(CAST($3 AS TEXT), subscription_status), "
          "stripe_customer_id = COALESCE(CAST($4 AS TEXT), stripe_customer_id), "
          "stripe_subscription_id = COALESCE(CAST($5 AS TEXT), stripe_subscription_id), "
          "cancel_at_period_end = COALESCE(CAST($6 AS BIGINT), cancel_at_period_end), "
          "current_period_end = COALESCE(CAST($7 AS BIGINT), current_period_end), "
          "billing_event_at = $8, updated_at = $9 WHERE id = $1 AND billing_event_at <= $8",
          pc);
      if (applied.affected == 0) {
        auto ps = P(e.id);
        db_->exec("UPDATE billing_events SET outcome = 'stale' WHERE id = $1", ps);
      }
    }
    tx.commit();
    return true;
  }
  void set_cancel_at_period_end(const std::string& user_id, bool on) override {
    auto p = P(user_id, std::int64_t{on ? 1 : 0}, now_ms());
    db_->exec("UPDATE users SET cancel_at_period_end = $2, updated_at = $3 WHERE id = $1", p);
  }
  std::vector<UsageCount> billable_executions(std::int64_t since_ms) override {
    auto p = P(since_ms);
    std::vector<UsageCount> out;
    for (auto& r : db_->exec("SELECT e.user_id, e.started_at / 86400000, COUNT(*) FROM "
                             "workflow_executions e JOIN users u ON u.id = e.user_id WHERE "
                             "u.stripe_customer_id IS NOT NULL AND e.started_at >= $1 AND "
                             "e.status NOT IN ('queued', 'running') "
                             "GROUP BY e.user_id, e.started_at / 86400000",
                             p)
                       .rows)
      out.push_back({str(r[0]), day_of_epoch_day(i64(r[1])), i64(r[2]), 0});
    return out;
  }
  std::vector<UsageCount> reported_usage(const std::string& since_period) override {
    auto p = P(since_period);
    std::vector<UsageCount> out;
    for (auto& r : db_->exec("SELECT user_id, period, SUM(value), MAX(seq) FROM "
                             "billing_usage_reports WHERE period >= $1 GROUP BY user_id, period",
                             p)
                       .rows)
      out.push_back({str(r[0]), str(r[1]), i64(r[2]), i64(r[3])});
    return out;
  }
  bool add_usage_report(const UsageReportRecord& u) override {
    auto p = P(u.user_id, u.period, u.seq, u.value, u.identifier, u.status, u.created_at);
    return db_->exec(
                  "INSERT INTO billing_usage_reports (user_id, period, seq, value, identifier, "
                  "status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                  "ON CONFLICT DO NOTHING",
                  p)
               .affected > 0;
  }
  std::vector<UsageReportRecord> pending_usage_reports(std::int64_t limit) override {
    auto p = P(limit);
    std::vector<UsageReportRecord> out;
    for (auto& r : db_->exec("SELECT b.user_id, b.period, b.seq, b.value, b.identifier, b.status, "
                             "b.error, b.created_at, b.sent_at, u.stripe_customer_id FROM "
                             "billing_usage_reports b JOIN users u ON u.id = b.user_id WHERE "
                             "b.status = 'pending' ORDER BY b.created_at, b.identifier LIMIT $1",
                             p)
                       .rows)
      out.push_back(to_report(r));
    return out;
  }
  void finish_usage_report(const std::string& identifier, const std::string& status,
                           const std::optional<std::string>& error, std::int64_t at) override {
    auto p = P(identifier, status, opt(error), at);
    db_->exec(
        "UPDATE billing_usage_reports SET status = $2, error = $3, sent_at = $4 WHERE "
        "identifier = $1 AND status = 'pending'",
        p);
  }
  std::vector<UsageReportRecord> usage_reports(const std::string& user_id,
                                               const std::string& since_period) override {
    auto p = P(user_id, since_period);
    std::vector<UsageReportRecord> out;
    for (auto& r : db_->exec("SELECT user_id, period, seq, value, identifier, status, error, "
                             "created_at, sent_at, '' FROM billing_usage_reports WHERE user_id = "
                             "$1 AND period >= $2 ORDER BY period, seq",
                             p)
                       .rows)
      out.push_back(to_report(r));
    return out;
  }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
  }

  void insert_events(const std::string& execution_id, const std::vector<EventRecord>& events) {
    for (const auto& e : events) {
      auto p = P(execution_id, e.seq, e.data);
      db_->exec(
          "INSERT INTO execution_events (execution_id, seq, data) VALUES ($1, $2, $3) "
          "ON CONFLICT (execution_id, seq) DO NOTHING",
          p);
    }
    if (!events.empty()) {
      auto p = P(execution_id, events.back().seq);
      db_->exec("UPDATE workflow_executions SET last_seq = $2 WHERE id = $1 AND last_seq < $2", p);
    }
  }

  void migrate() {
    db_->lock_migrations();
    struct Unlock {
      SqlConnection& c;
      ~Unlock() { c.unlock_migrations(); }
    } unlock{*db_};
    db_->exec_script(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
        "applied_at BIGINT NOT NULL)");
    auto r = db_->exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    std::int64_t current = i64(r.rows[0][0]);
    const std::int64_t count = static_cast<std::int64_t>(std::size(kMigrations));
    for (std::int64_t v = current + 1; v <= count; ++v) {
      Transaction tx(*db_);
      db_->exec_script(kMigrations[v - 1]);
      auto p = P(v, now_ms());
      db_->exec("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", p);
      tx.commit();
    }
  }

  std::unique_ptr<SqlConnection> db_;
};

class SqliteStorage final : public SqlStorage {
 public:
  explicit SqliteStorage(const std::string& path) : SqlStorage(open_sqlite(path)) {}
};

class PgStorage final : public SqlStorage {
 public:
  explicit PgStorage(const std::string& url) : SqlStorage(open_postgres(url)) {}
};

}  // namespace

std::unique_ptr<Storage> open_storage(const std::string& url) {
  if (url.starts_with("postgres://") || url.starts_with("postgresql://"))
    return std::make_unique<PgStorage>(url);
  std::string path = url.starts_with("sqlite://") ? url.substr(9) : url;
  return std::make_unique<SqliteStorage>(path);
}

}  // namespace chorus::server
