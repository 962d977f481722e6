// The server's persistence: one interface, two implementations (SQLite and PostgreSQL) that share
// their SQL through SqlStorage and differ only in the connection. Every method is synchronous
// and called from the server's io thread; each write that touches several rows is one
// transaction. Methods taking a user id only ever see that user's rows (ownership is enforced
// here, in the WHERE clauses, so a route cannot forget it).
#pragma once

#include "sql.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chorus::server {

/// Milliseconds since the Unix epoch.
std::int64_t now_ms();

struct User {
  std::string id, email, name, password_hash, tier;
  std::int64_t created_at = 0;
};

/// A login session or a personal API token; only the SHA-256 of the token is stored.
struct TokenRecord {
  std::string id, user_id, token_hash;
  std::string kind;  ///< "session" or "api".
  std::string name, csrf_token;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at, last_used_at;
};

/// A provider key, AES-256-GCM encrypted (base64 fields), with the master key's id.
struct ApiKeyRecord {
  std::string user_id, provider, ciphertext, nonce, key_id, last4;
  std::int64_t created_at = 0, updated_at = 0;
};

struct WorkflowRecord {
  std::string id, user_id, name, description;
  std::string configuration;  ///< The document exactly as the client sent it.
  std::int64_t version = 1;
  std::int64_t created_at = 0, updated_at = 0;
};

struct WorkflowVersion {
  std::string workflow_id, name, configuration;
  std::int64_t version = 0, created_at = 0;
};

struct ExecutionRecord {
  std::string id, workflow_id, user_id, status, input;
  std::int64_t workflow_version = 0;
  std::optional<std::string> output, error;  ///< error: JSON text {code, message, ...}.
  std::int64_t prompt_tokens = 0, completion_tokens = 0, total_tokens = 0;
  std::optional<double> cost;
  std::int64_t started_at = 0;
  std::optional<std::int64_t> finished_at;
  std::int64_t last_seq = 0;
};

struct ExecutionNodeRecord {
  std::string node_id, status;
  std::optional<std::string> output, error, provider, model;
  std::int64_t prompt_tokens = 0, completion_tokens = 0, total_tokens = 0;
  std::optional<double> cost;
  std::int64_t latency_ms = 0, attempts = 0;
};

struct EventRecord {
  std::int64_t seq = 0;
  std::string data;  ///< The event's JSON, as streamed.
};

/// One usage increment (added to the daily rollup).
struct UsageDelta {
  std::string provider, model, workflow_id;
  std::int64_t calls = 0, prompt_tokens = 0, completion_tokens = 0, total_tokens = 0;
  double cost = 0, platform_cost = 0;  ///< platform_cost: spent with server-held keys.
};

struct UsageRow {
  std::string day, provider, model, workflow_id;
  std::int64_t calls = 0, prompt_tokens = 0, completion_tokens = 0, total_tokens = 0;
  double cost = 0;
};

struct TemplateRecord {
  std::string id;
  std::optional<std::string> owner_id;  ///< Empty for the seeded templates.
  std::optional<std::string> slug;  ///< Seeded templates: the file name, for idempotent re-seeding.
  std::string name, description, category;
  std::string tags = "[]";  ///< JSON array text.
  bool is_public = false;
  std::string configuration;
  std::int64_t created_at = 0, updated_at = 0;
};

struct TemplateFilter {
  std::optional<std::string> category, tag, query;
  bool mine_only = false;
};

/// Everything written when a run ends, in one transaction.
struct ExecutionFinal {
  std::string execution_id, user_id, status;
  std::optional<std::string> output, error;
  std::int64_t prompt_tokens = 0, completion_tokens = 0, total_tokens = 0;
  std::optional<double> cost;
  std::int64_t finished_at = 0;
  std::vector<ExecutionNodeRecord> nodes;
  std::vector<EventRecord> events;  ///< Events not yet persisted.
  std::vector<UsageDelta> usage;
  std::string day;  ///< UTC day of the usage rollup (YYYY-MM-DD).
};

/// A user's Stripe state (billing.cpp, docs/billing.md).
struct BillingAccount {
  std::string user_id, email, name, tier;
  std::optional<std::string> customer_id, subscription_id;
  std::string status = "none";  ///< Stripe's subscription status ("active", ...) or "none".
  bool cancel_at_period_end = false;
  std::optional<std::int64_t> current_period_end;  ///< Unix seconds.
  std::int64_t last_event_at = 0;  ///< `created` (Unix seconds) of the newest applied event.
};

/// What one webhook event changes on a user; unset fields stay as they are.
struct BillingChange {
  std::string user_id;
  std::optional<std::string> tier, status, customer_id, subscription_id;
  std::optional<bool> cancel_at_period_end;
  std::optional<std::int64_t> current_period_end;
};

/// A webhook event as recorded (its id makes replays no-ops).
struct BillingEvent {
  std::string id, type;
  std::int64_t created = 0;  ///< Unix seconds, from the event.
  std::optional<std::string> user_id;
  std::string outcome;  ///< "applied", "ignored", "stale", ...
};

/// A metered quantity of one user in one period (a UTC day, YYYY-MM-DD).
struct UsageCount {
  std::string user_id, period;
  std::int64_t value = 0;
  std::int64_t last_seq = 0;  ///< reported_usage(): the highest report seq of the period.
};

/// One meter event sent (or to send) to Stripe.
struct UsageReportRecord {
  std::string user_id, period;
  std::int64_t seq = 0, value = 0;
  std::string identifier;  ///< Deterministic: user, period and seq.
  std::string status;      ///< "pending", "sent" or "failed".
  std::optional<std::string> error;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> sent_at;
  std::string customer_id;  ///< pending_usage_reports(): the user's Stripe customer.
};

template <class T>
struct Page {
  std::vector<T> items;
  std::int64_t total = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::string_view backend() const noexcept = 0;
  /// A trivial query; throws StorageError when the database is unreachable.
  virtual void ping() = 0;

  // Users.
  /// Throws StorageError with unique_violation() when the email exists.
  virtual void create_user(const User& u) = 0;
  virtual std::optional<User> find_user_by_email(const std::string& email) = 0;
  virtual std::optional<User> find_user(const std::string& id) = 0;
  virtual bool set_user_tier(const std::string& email, const std::string& tier) = 0;
  virtual void update_password(const std::string& user_id, const std::string& hash) = 0;

  // Sessions and personal API tokens.
  virtual void create_token(const TokenRecord& t) = 0;
  /// The unexpired token with that hash.
  virtual std::optional<TokenRecord> find_token(const std::string& token_hash,
                                                std::int64_t now) = 0;
  virtual void delete_token_by_hash(const std::string& token_hash) = 0;
  virtual bool delete_token(const std::string& user_id, const std::string& id) = 0;
  virtual std::vector<TokenRecord> list_tokens(const std::string& user_id,
                                               const std::string& kind) = 0;

  // Provider keys.
  virtual void upsert_api_key(const ApiKeyRecord& k) = 0;
  virtual bool delete_api_key(const std::string& user_id, const std::string& provider) = 0;
  virtual std::vector<ApiKeyRecord> list_api_keys(const std::string& user_id) = 0;

  // Workflows (each update keeps the previous configuration as a version).
  virtual void create_workflow(const WorkflowRecord& w) = 0;
  virtual std::optional<WorkflowRecord> get_workflow(const std::string& user_id,
                                                     const std::string& id) = 0;
  virtual Page<WorkflowRecord> list_workflows(const std::string& user_id, std::int64_t limit,
                                              std::int64_t offset) = 0;
  virtual std::optional<WorkflowRecord> update_workflow(const std::string& user_id,
                                                        const WorkflowRecord& w) = 0;
  virtual bool delete_workflow(const std::string& user_id, const std::string& id) = 0;
  virtual std::vector<WorkflowVersion> list_versions(const std::string& user_id,
                                                     const std::string& workflow_id) = 0;
  virtual std::int64_t count_workflows(const std::string& user_id) = 0;

  // Executions.
  virtual void create_execution(const ExecutionRecord& e) = 0;
  virtual std::optional<ExecutionRecord> get_execution(const std::string& user_id,
                                                       const std::string& id) = 0;
  virtual Page<ExecutionRecord> list_executions(const std::string& user_id,
                                                const std::optional<std::string>& workflow_id,
                                                std::int64_t limit, std::int64_t offset) = 0;
  virtual void set_execution_status(const std::string& id, const std::string& status) = 0;
  virtual std::vector<ExecutionNodeRecord> list_execution_nodes(
      const std::string& execution_id) = 0;
  virtual void append_events(const std::string& execution_id,
                             const std::vector<EventRecord>& events) = 0;
  virtual std::vector<EventRecord> list_events(const std::string& execution_id,
                                               std::int64_t after_seq) = 0;
  virtual void finish_execution(const ExecutionFinal& f) = 0;
  /// Marks every `running`/`queued` execution `interrupted` (start-up after a crash).
  virtual std::int64_t interrupt_running() = 0;
  virtual std::int64_t count_executions_since(const std::string& user_id,
                                              std::int64_t since_ms) = 0;
  virtual double platform_cost_since(const std::string& user_id, const std::string& since_day) = 0;

  // Templates.
  virtual void upsert_seed_template(const TemplateRecord& t) = 0;
  virtual void create_template(const TemplateRecord& t) = 0;
  /// A template the viewer may see: public, or theirs.
  virtual std::optional<TemplateRecord> get_template(const std::string& viewer_id,
                                                     const std::string& id) = 0;
  virtual std::vector<TemplateRecord> list_templates(const std::string& viewer_id,
                                                     const TemplateFilter& filter) = 0;

  // Usage.
  virtual std::vector<UsageRow> query_usage(const std::string& user_id, const std::string& from_day,
                                            const std::string& to_day) = 0;

  // Billing (billing.cpp).
  virtual std::optional<BillingAccount> billing_account(const std::string& user_id) = 0;
  virtual std::optional<BillingAccount> billing_account_by_customer(
      const std::string& customer_id) = 0;
  /// Stores the user's Stripe customer id unless one is stored; returns the stored id.
  virtual std::string set_stripe_customer(const std::string& user_id,
                                          const std::string& customer_id) = 0;
  /// Records a webhook event and applies `change` in one transaction. Returns false, changing
  /// nothing, when the event id was recorded before. The change is skipped (outcome "stale") when
  /// the user already has a newer event applied.
  virtual bool apply_billing_event(BillingEvent e, const std::optional<BillingChange>& change) = 0;
  virtual void set_cancel_at_period_end(const std::string& user_id, bool on) = 0;
  /// Finished executions per user and UTC day started since `since_ms`, for users with a Stripe
  /// customer.
  virtual std::vector<UsageCount> billable_executions(std::int64_t since_ms) = 0;
  /// Reported totals (value = sum, last_seq = highest seq) per user and period >= since_period.
  virtual std::vector<UsageCount> reported_usage(const std::string& since_period) = 0;
  /// Inserts a pending report; false when that (user, period, seq) exists already.
  virtual bool add_usage_report(const UsageReportRecord& r) = 0;
  /// Pending reports, oldest first, with the user's customer id.
  virtual std::vector<UsageReportRecord> pending_usage_reports(std::int64_t limit) = 0;
  virtual void finish_usage_report(const std::string& identifier, const std::string& status,
                                   const std::optional<std::string>& error, std::int64_t at) = 0;
  /// A user's reports of periods >= since_period, in order.
  virtual std::vector<UsageReportRecord> usage_reports(const std::string& user_id,
                                                       const std::string& since_period) = 0;
};

/// Opens the storage named by `url`: "postgres://..."/"postgresql://..." for PostgreSQL, anything
/// else is a SQLite file path. Runs the migrations. Throws StorageError.
std::unique_ptr<Storage> open_storage(const std::string& url);

}  // namespace chorus::server
