// The server application: configuration, shared state, routing and the helpers every route uses.
// Everything runs on one io_context thread (see docs/decisions/server-threading.md), so the
// state here needs no locks; CPU-heavy work (argon2id) goes to `blocking_pool` and comes back.
#pragma once

#include "crypto.hpp"
#include "http_server.hpp"
#include "storage.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace chorus {
class ProviderRegistry;
class Executor;
}  // namespace chorus

namespace chorus::server {

namespace json = boost::json;

/// The limits of a subscription tier. 0 (or a negative cost) means unlimited.
struct TierLimits {
  std::int64_t executions_per_day = 0;
  std::int64_t concurrent_runs = 0;
  std::int64_t max_nodes = 0;
  std::int64_t max_workflows = 0;
  double monthly_platform_cost_usd = -1;  ///< Spend with server-held provider keys per month.
  std::string upgrade_to;                 ///< The tier to suggest, empty for the top tier.
};

struct RateSpec {
  double per_second = 0;  ///< 0 disables the limit.
  double burst = 0;
};

/// Stripe billing (billing.hpp, docs/billing.md). An empty secret key = self-hosted mode.
struct BillingConfig {
  std::string secret_key;                           ///< STRIPE_SECRET_KEY; never logged.
  std::string webhook_secret;                       ///< STRIPE_WEBHOOK_SECRET (whsec_...).
  std::string api_base = "https://api.stripe.com";  ///< STRIPE_API_BASE.
  std::map<std::string, std::string>
      prices;                 ///< tier -> price id (--billing-prices, STRIPE_PRICE_<TIER>).
  std::string metered_price;  ///< STRIPE_PRICE_METERED: added to checkouts when set.
  std::string meter_event = "chorus_executions";  ///< STRIPE_METER_EVENT; empty = no metering.
  std::chrono::seconds report_interval{60};       ///< --billing-report-interval.
  std::int64_t webhook_tolerance_s = 300;
};

struct Config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string db = "chorus.db";
  std::string static_dir, templates_dir, master_key_file;
  std::string log_level = "info";
  bool demo = false;
  bool access_log = false;
  std::size_t body_limit = 1 << 20;
  std::size_t json_max_depth = 64;
  std::size_t max_concurrent_runs = 64;  ///< Worker cap; beyond it executions queue.
  // Scale-out (docs/scaling.md): the queue in the database, claims and their heartbeats.
  std::string instance_id;                    ///< --instance-id; random when empty.
  std::chrono::milliseconds heartbeat{2000};  ///< --heartbeat-ms: claim renewal period.
  std::chrono::milliseconds lease{0};         ///< --lease-ms; 0 = 3 x heartbeat.
  bool resume_orphans = true;                 ///< --orphaned-runs resume|interrupt.
  RateSpec ip_rate{100, 200};                 ///< Every request, per client IP.
  RateSpec user_rate{50, 100};                ///< Authenticated requests, per user.
  RateSpec auth_ip_rate{10.0 / 60, 10};       ///< Register/login, per IP.
  RateSpec login_account_rate{5.0 / 300, 5};  ///< Login attempts, per account (email).
  std::map<std::string, TierLimits> tiers;
  std::chrono::hours session_ttl{24 * 14};
  bool secure_cookies = false;        ///< Set when TLS is terminated in front (--secure-cookies).
  std::string default_tier = "free";  ///< New accounts' tier (--default-tier, CHORUS_DEFAULT_TIER).
  std::string public_url;  ///< Where users reach the editor (CHORUS_PUBLIC_URL), for redirects.
  BillingConfig billing;
  std::string tls_cert_file, tls_key_file;  ///< --tls-cert/--tls-key: serve HTTPS (cookies Secure).
};

/// The default tier table (free, pro, team); overridable with --tiers FILE / CHORUS_TIERS.
std::map<std::string, TierLimits> default_tiers();
/// Parses a tier table from JSON ({"free": {"executionsPerDay": 100, ...}, ...}); throws
/// std::invalid_argument naming the bad field.
std::map<std::string, TierLimits> parse_tiers(std::string_view json_text);

/// Structured JSON logs on stderr.
class Logger {
 public:
  enum Level { debug = 0, info = 1, warn = 2, error = 3 };
  void set_level(std::string_view name);
  bool enabled(Level l) const noexcept { return l >= level_; }
  void log(Level l, std::string_view msg, json::object fields = {});

 private:
  Level level_ = info;
};

/// Prometheus counters, gauges and one latency histogram.
class Metrics {
 public:
  void count(const std::string& series, double by = 1) { counters_[series] += by; }
  void gauge(const std::string& series, double v) { gauges_[series] = v; }
  void observe_request(std::string_view method, int status, std::chrono::microseconds d);
  std::string render() const;

 private:
  std::map<std::string, double> counters_, gauges_;
  static constexpr double kBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};
  std::uint64_t hist_[std::size(kBuckets) + 1] = {};
  double hist_sum_ = 0;
  std::uint64_t hist_count_ = 0;
};

/// Token buckets by key, refilled continuously.
class RateLimiter {
 public:
  struct Decision {
    bool allowed = true;
    double limit = 0, remaining = 0;
    double retry_after_s = 0;  ///< When not allowed: until one token is back.
    double reset_s = 0;        ///< Until the bucket is full again.
  };
  Decision take(const std::string& key, const RateSpec& spec, double cost = 1);
  /// Seconds until `key` has one token again (0 when it has one now); takes nothing.
  double wait_for_token(const std::string& key, const RateSpec& spec);
  /// Drops full, idle buckets (called periodically).
  void sweep();

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  std::unordered_map<std::string, Bucket> buckets_;
};

class App;
class RunManager;
class Billing;

/// One request being handled. Shared so async handlers can answer later.
struct Ctx {
  App& app;
  HttpRequest req;
  Responder responder;
  std::vector<std::string> params;  ///< `:id` segments of the route.
  std::optional<User> user;
  std::optional<TokenRecord> token;
  bool cookie_auth = false;
  HeaderList extra_headers;  ///< Added to every response (rate-limit headers).

  void send(HttpResponse r);
  void json(int status, const json::value& body, HeaderList headers = {});
  /// Sends an already serialised JSON body.
  void raw_json(int status, std::string body, HeaderList headers = {});
  /// {"error":{"code","message","details"}}.
  void error(int status, std::string_view code, std::string_view message, json::object details = {},
             HeaderList headers = {});
  /// The body as a JSON object, or answers 400/415 and returns nullopt.
  std::optional<json::object> body_object();
};
using CtxPtr = std::shared_ptr<Ctx>;

/// Reads and checks fields of a JSON body, collecting every problem for one 400 answer.
class Fields {
 public:
  explicit Fields(const json::object& o) : o_(o) {}
  std::optional<std::string> string(std::string_view name, bool required, std::size_t min_len = 0,
                                    std::size_t max_len = 10000);
  std::optional<bool> boolean(std::string_view name);
  std::optional<std::int64_t> integer(std::string_view name, std::int64_t min, std::int64_t max);
  const json::value* any(std::string_view name) const;
  void problem(std::string_view field, std::string_view message);
  bool ok() const noexcept { return problems_.empty(); }
  /// Answers 400 validation_failed with every problem in details.fields.
  void reject(Ctx& c) const;

 private:
  const json::object& o_;
  json::array problems_;
};

/// Route table entry.
struct Route {
  std::string method;
  std::vector<std::string> segments;  ///< ":x" matches one segment.
  bool auth = true;
  std::function<void(CtxPtr)> handle;
};

class App {
 public:
  App(boost::asio::io_context& ioc, Config cfg);
  ~App();

  /// Entry point of every HTTP request.
  void handle(HttpRequest& req, Responder respond);
  /// Writes one access record (metrics, and a log line at debug / with --access-log).
  void on_access(const AccessRecord& a);
  /// Periodic housekeeping (rate-limit buckets, gauges).
  void tick();

  boost::asio::io_context& ioc;
  Config cfg;
  Logger log;
  Metrics metrics;
  RateLimiter limiter;
  std::unique_ptr<Storage> db;
  KeyRing keys;
  boost::asio::thread_pool blocking_pool{2};
  std::shared_ptr<ProviderRegistry> providers;
  std::unique_ptr<RunManager> runs;
  std::unique_ptr<Billing> billing;
  std::string dummy_hash;  ///< Verified against on unknown emails: constant-time login.
  std::string demo_password;

  /// Forgets cached authentications of a token (logout, revocation).
  void forget_token(const std::string& token_hash);
  void forget_token_id(const std::string& token_id);
  /// Forgets cached authentications of a user (their tier changed: limits apply at once).
  void forget_user(const std::string& user_id);

  /// Runs `work` on the blocking pool, then `done` on the io thread.
  void offload(std::function<void()> work, std::function<void()> done);

  /// Tier limits of a user (the "free" tier for unknown names).
  const TierLimits& tier(const std::string& name) const;

  /// The problems of a workflow document (parse + validate with the known providers); empty
  /// when valid. `nodes` receives the node count.
  json::array validate_workflow(std::string_view document, std::size_t* nodes = nullptr) const;

 private:
  void add(std::string method, std::string pattern, bool auth, std::function<void(CtxPtr)> h);
  void dispatch(const CtxPtr& c);
  bool authenticate(Ctx& c);
  void serve_static(Ctx& c);
  void seed_templates();
  void seed_demo();
  void load_master_key();

  std::vector<Route> routes_;
  // Token hash -> (token, user) for a couple of seconds: hot API clients skip two queries per
  // request. Revocations in this process evict at once; another instance sharing PostgreSQL
  // sees a revocation within kAuthCacheTtl.
  struct CachedAuth {
    TokenRecord token;
    User user;
    std::chrono::steady_clock::time_point until;
  };
  std::unordered_map<std::string, CachedAuth> auth_cache_;
  friend void register_auth_routes(App&);
  friend void register_workflow_routes(App&);
  friend void register_execution_routes(App&);
  friend void register_template_routes(App&);
  friend void register_user_routes(App&);

 public:
  /// Registers a route (used by the routes_*.cpp files).
  void route(std::string method, std::string pattern, bool auth, std::function<void(CtxPtr)> h) {
    add(std::move(method), std::move(pattern), auth, std::move(h));
  }
};

void register_auth_routes(App&);
void register_workflow_routes(App&);
void register_execution_routes(App&);
void register_template_routes(App&);
void register_user_routes(App&);
void register_model_routes(App&);
void register_billing_routes(App&);
void register_openai_routes(App&);
/// {"error":{"message","type","param","code"}}: OpenAI's error shape, used for every error under
/// /v1/ (routes_openai.cpp).
json::value openai_error_body(int status, std::string_view code, std::string_view message,
                              const json::object& details);

/// Why start_execution() refused a run: an HTTP status and the error's code, message, details.
struct StartFailure {
  int status = 400;
  std::string code, message;
  json::object details;
  HeaderList headers;  ///< Retry-After on 429.
};
/// What POST /api/workflows/:id/execute and POST /v1/chat/completions share: checks the user's
/// tier limits, validates `wf.configuration`, decrypts the user's provider keys, inserts the
/// execution (recording `wf.version`) and starts it. Returns the execution or why it did not start.
std::variant<ExecutionRecord, StartFailure> start_execution(App& app, const User& user,
                                                            const WorkflowRecord& wf,
                                                            std::string input,
                                                            const std::string& request_id);

/// ISO-8601 UTC ("2026-01-31T12:00:00.000Z") of a ms timestamp; the day ("2026-01-31").
std::string iso_time(std::int64_t ms);
std::string iso_day(std::int64_t ms);
/// Parses "YYYY-MM-DD" strictly.
bool valid_day(std::string_view day);
/// Parses JSON text stored by the server (never fails on stored data; null on garbage).
json::value parse_stored(std::string_view text);

/// A user's provider keys for one run, decrypted.
struct RunKeys {
  std::map<std::string, std::string> keys;  ///< Provider id -> plain key.
  std::string unreadable;  ///< A provider whose stored key did not decrypt (then `keys` is empty).
};
/// Decrypts, of `stored` (the user's key records), the keys of the providers `document` names
/// anywhere ("provider": "..."). A key that does not decrypt (wrong master key) is logged
/// without its value and named in `unreadable`; nothing else is returned then.
RunKeys decrypt_run_keys(App& app, const std::string& user_id, std::string_view document,
                         const std::vector<ApiKeyRecord>& stored);
/// Overwrites the keys' bytes, then clears the map.
void wipe_keys(std::map<std::string, std::string>& keys);
/// The exact text of a top-level member of a JSON object text that already parsed; nullopt when
/// absent. Lets the server store a document exactly as the client sent it.
std::optional<std::string_view> raw_member(std::string_view object_text, std::string_view key);
/// serialize(meta) with `"key": raw` appended as the last member (raw is trusted JSON text).
std::string with_raw(const json::object& meta, std::string_view key, std::string_view raw);
/// limit/offset query parameters with defaults and bounds; answers 400 and returns false if bad.
bool read_paging(Ctx& c, std::int64_t& limit, std::int64_t& offset);

}  // namespace chorus::server
