#include "app.hpp"

#include "billing.hpp"
#include "runs.hpp"

#include <chorus/provider.hpp>
#include <chorus/workflow.hpp>

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

namespace chorus::server {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Small helpers

std::string iso_time(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  // Hand-formatted: this runs for every timestamp of every answer.
  char buf[25] = "0000-00-00T00:00:00.000Z";
  auto put = [&](int pos, int value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10)
      buf[pos + i] = static_cast<char>('0' + value % 10);
  };
  put(0, tm.tm_year + 1900, 4);
  put(5, tm.tm_mon + 1, 2);
  put(8, tm.tm_mday, 2);
  put(11, tm.tm_hour, 2);
  put(14, tm.tm_min, 2);
  put(17, tm.tm_sec, 2);
  put(20, static_cast<int>(ms % 1000), 3);
  return std::string(buf, 24);
}

std::string iso_day(std::int64_t ms) {
  return iso_time(ms).substr(0, 10);
}

bool valid_day(std::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (d[i] < '0' || d[i] > '9') return false;
  int m = (d[5] - '0') * 10 + (d[6] - '0'), day = (d[8] - '0') * 10 + (d[9] - '0');
  return m >= 1 && m <= 12 && day >= 1 && day <= 31;
}

json::value parse_stored(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return nullptr;
  return v;
}

namespace {
void collect_providers(const json::value& v, std::set<std::string>& out) {
  if (v.is_object()) {
    for (const auto& [k, val] : v.as_object()) {
      if (k == "provider" && val.is_string()) out.emplace(val.as_string());
      collect_providers(val, out);
    }
  } else if (v.is_array()) {
    for (const auto& x : v.as_array())
      collect_providers(x, out);
  }
}
}  // namespace

RunKeys decrypt_run_keys(App& app, const std::string& user_id, std::string_view document,
                         const std::vector<ApiKeyRecord>& stored) {
  RunKeys out;
  std::set<std::string> wanted;
  collect_providers(parse_stored(document), wanted);
  for (const auto& k : stored) {
    if (!wanted.count(k.provider)) continue;
    auto plain = app.keys.open({k.ciphertext, k.nonce, k.key_id}, user_id + "\n" + k.provider);
    if (!plain) {
      app.log.log(Logger::error, "a stored provider key could not be decrypted (wrong master key?)",
                  {{"userId", user_id}, {"provider", k.provider}, {"keyId", k.key_id}});
      wipe_keys(out.keys);
      out.unreadable = k.provider;
      return out;
    }
    out.keys[k.provider] = std::move(*plain);
  }
  return out;
}

void wipe_keys(std::map<std::string, std::string>& keys) {
  for (auto& [k, v] : keys)
    std::fill(v.begin(), v.end(), '\0');
  keys.clear();
}

namespace {
// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong form, no surrogate,
// nothing above U+10FFFF), 0 when there is none. Overlong forms such as C1 A9 passed an earlier
// check and broke the JSON of an answer quoting them (found by tests/fuzz/server_http_fuzz.cpp).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n = c >= 0xC2 && c <= 0xDF   ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4
                                           : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return 0;
  auto c1 = static_cast<unsigned char>(s[i + 1]);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
      (c == 0xF4 && c1 >= 0x90))
    return 0;
  return n;
}

// Valid UTF-8 without NUL: what every text column of both databases accepts.
bool clean_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence(s, i);
    if (n == 0 || s[i] == '\0') return false;
    i += n;
  }
  return true;
}

// `s` with each byte that does not belong to a whole UTF-8 sequence replaced by U+FFFD: the
// library cuts long quoted values in its messages at a byte count, which can split a character,
// and an answer must stay valid UTF-8 (found by schemathesis, tests/server/test_schemathesis.py).
std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (std::size_t n = utf8_sequence(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::size_t skip_ws(std::string_view t, std::size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\n' || t[i] == '\r' || t[i] == '\t'))
    ++i;
  return i;
}
// Index just past the string starting at t[i] == '"'.
std::size_t skip_string(std::string_view t, std::size_t i) {
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\')
      ++i;
    else if (t[i] == '"')
      return i + 1;
  }
  return t.size();
}
std::size_t skip_value(std::string_view t, std::size_t i) {
  if (i >= t.size()) return i;
  if (t[i] == '"') return skip_string(t, i);
  if (t[i] == '{' || t[i] == '[') {
    int depth = 0;
    for (; i < t.size(); ++i) {
      char ch = t[i];
      if (ch == '"') {
        i = skip_string(t, i) - 1;
      } else if (ch == '{' || ch == '[') {
        ++depth;
      } else if (ch == '}' || ch == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return t.size();
  }
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\n' &&
         t[i] != '\r' && t[i] != '\t')
    ++i;
  return i;
}
}  // namespace

std::optional<std::string_view> raw_member(std::string_view t, std::string_view key) {
  std::size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '{') return std::nullopt;
  ++i;
  for (;;) {
    i = skip_ws(t, i);
    if (i >= t.size() || t[i] != '"') return std::nullopt;
    std::size_t kend = skip_string(t, i);
    std::string_view k = t.substr(i + 1, kend - i - 2);
    i = skip_ws(t, kend);
    if (i >= t.size() || t[i] != ':') return std::nullopt;
    i = skip_ws(t, i + 1);
    std::size_t vend = skip_value(t, i);
    if (k == key) return t.substr(i, vend - i);
    i = skip_ws(t, vend);
    if (i >= t.size() || t[i] != ',') return std::nullopt;
    ++i;
  }
}

std::string with_raw(const json::object& meta, std::string_view key, std::string_view raw) {
  std::string s = json::serialize(meta);
  s.pop_back();
  if (!meta.empty()) s.push_back(',');
  s.push_back('"');
  s.append(key);
  s.append("\":");
  s.append(raw);
  s.push_back('}');
  return s;
}

bool read_paging(Ctx& c, std::int64_t& limit, std::int64_t& offset) {
  limit = 50;
  offset = 0;
  auto parse = [&](std::string_view name, std::int64_t& out, std::int64_t lo, std::int64_t hi) {
    auto v = c.req.query_param(name);
    if (!v) return true;
    char* end = nullptr;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < lo || n > hi) {
      c.error(400, "invalid_parameter",
              std::string(name) + " must be an integer between " + std::to_string(lo) + " and " +
                  std::to_string(hi),
              {{"field", name}});
      return false;
    }
    out = n;
    return true;
  };
  return parse("limit", limit, 1, 200) && parse("offset", offset, 0, 1'000'000'000);
}

// ---------------------------------------------------------------------------------------------
// Ctx

void Ctx::send(HttpResponse r) {
  for (auto& h : extra_headers)
    r.headers.push_back(h);
  responder(std::move(r));
}

void Ctx::json(int status, const json::value& body, HeaderList headers) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(body);
  r.headers = std::move(headers);
  send(std::move(r));
}

void Ctx::raw_json(int status, std::string body, HeaderList headers) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  send(std::move(r));
}

void Ctx::error(int status, std::string_view code, std::string_view message, json::object details,
                HeaderList headers) {
  if (req.path.starts_with("/v1/")) {  // the OpenAI-compatible API answers in OpenAI's shape
    json(status, openai_error_body(status, code, message, details), std::move(headers));
    return;
  }
  json::object err{{"code", code}, {"message", message}, {"details", std::move(details)}};
  json(status, json::object{{"error", std::move(err)}}, std::move(headers));
}

std::optional<json::object> Ctx::body_object() {
  std::string_view ct = req.header("content-type");
  if (!req.body.empty() && !ct.empty() && ct.find("json") == std::string_view::npos) {
    error(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)");
    return std::nullopt;
  }
  if (req.body.empty()) {
    error(400, "invalid_json", "the request body is empty; a JSON object is expected");
    return std::nullopt;
  }
  json::parse_options opt;
  opt.max_depth = app.cfg.json_max_depth;
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec, {}, opt);
  if (ec) {
    bool deep = ec == json::error::too_deep;
    error(400, deep ? "json_too_deep" : "invalid_json",
          deep ? "the JSON body nests deeper than " + std::to_string(app.cfg.json_max_depth) +
                     " levels"
               : "the body is not valid JSON: " + ec.message());
    return std::nullopt;
  }
  if (!v.is_object()) {
    error(400, "invalid_json", "the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(v.as_object());
}

// ---------------------------------------------------------------------------------------------
// Fields

const json::value* Fields::any(std::string_view name) const {
  auto it = o_.find(name);
  if (it == o_.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

void Fields::problem(std::string_view field, std::string_view message) {
  problems_.push_back(json::object{{"field", field}, {"message", message}});
}

std::optional<std::string> Fields::string(std::string_view name, bool required, std::size_t min_len,
                                          std::size_t max_len) {
  const json::value* v = any(name);
  if (!v) {
    if (required) problem(name, std::string(name) + " is required");
    return std::nullopt;
  }
  if (!v->is_string()) {
    problem(name, std::string(name) + " must be a string");
    return std::nullopt;
  }
  std::string s(v->as_string());
  if (s.find('\0') != std::string::npos) {
    problem(name, std::string(name) + " must not contain NUL characters");
    return std::nullopt;
  }
  if (s.size() < min_len) {
    problem(name,
            std::string(name) + " must be at least " + std::to_string(min_len) + " characters");
    return std::nullopt;
  }
  if (s.size() > max_len) {
    problem(name,
            std::string(name) + " must be at most " + std::to_string(max_len) + " characters");
    return std::nullopt;
  }
  return s;
}

std::optional<bool> Fields::boolean(std::string_view name) {
  const json::value* v = any(name);
  if (!v) return std::nullopt;
  if (!v->is_bool()) {
    problem(name, std::string(name) + " must be a boolean");
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<std::int64_t> Fields::integer(std::string_view name, std::int64_t min,
                                            std::int64_t max) {
  const json::value* v = any(name);
  if (!v) return std::nullopt;
  if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
    problem(name, std::string(name) + " must be an integer between " + std::to_string(min) +
                      " and " + std::to_string(max));
    return std::nullopt;
  }
  return v->as_int64();
}

void Fields::reject(Ctx& c) const {
  std::string msg = problems_.empty()
                        ? "invalid request"
                        : std::string(problems_[0].as_object().at("message").as_string());
  if (problems_.size() > 1) msg += " (and " + std::to_string(problems_.size() - 1) + " more)";
  c.error(400, "validation_failed", msg, {{"fields", problems_}});
}

// ---------------------------------------------------------------------------------------------
// Logger, metrics, rate limiter

void Logger::set_level(std::string_view n) {
  level_ = n == "debug" ? debug : n == "warn" ? warn : n == "error" ? error : info;
}

void Logger::log(Level l, std::string_view msg, json::object fields) {
  if (!enabled(l)) return;
  static const char* names[] = {"debug", "info", "warn", "error"};
  json::object o;
  o["ts"] = iso_time(now_ms());
  o["level"] = names[l];
  o["msg"] = msg;
  for (auto& kv : fields)
    o[kv.key()] = std::move(kv.value());
  std::string line = json::serialize(o);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void Metrics::observe_request(std::string_view method, int status, std::chrono::microseconds d) {
  count("chorus_http_requests_total{method=\"" + std::string(method) + "\",status=\"" +
        std::to_string(status) + "\"}");
  double s = static_cast<double>(d.count()) / 1e6;
  std::size_t i = 0;
  while (i < std::size(kBuckets) && s > kBuckets[i])
    ++i;
  ++hist_[i];
  hist_sum_ += s;
  ++hist_count_;
}

std::string Metrics::render() const {
  std::ostringstream out;
  auto family = [](const std::string& series) { return series.substr(0, series.find('{')); };
  std::string last;
  for (const auto& [k, v] : counters_) {
    if (family(k) != last) {
      last = family(k);
      out << "# TYPE " << last << " counter\n";
    }
    out << k << ' ' << v << '\n';
  }
  last.clear();
  for (const auto& [k, v] : gauges_) {
    if (family(k) != last) {
      last = family(k);
      out << "# TYPE " << last << " gauge\n";
    }
    out << k << ' ' << v << '\n';
  }
  out << "# TYPE chorus_http_request_duration_seconds histogram\n";
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
    cum += hist_[i];
    out << "chorus_http_request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << cum
        << '\n';
  }
  cum += hist_[std::size(kBuckets)];
  out << "chorus_http_request_duration_seconds_bucket{le=\"+Inf\"} " << cum << '\n';
  out << "chorus_http_request_duration_seconds_sum " << hist_sum_ << '\n';
  out << "chorus_http_request_duration_seconds_count " << hist_count_ << '\n';
  return out.str();
}

RateLimiter::Decision RateLimiter::take(const std::string& key, const RateSpec& spec, double cost) {
  Decision d;
  if (spec.per_second <= 0) return d;
  auto now = std::chrono::steady_clock::now();
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{spec.burst, now});
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(spec.burst, b.tokens + elapsed * spec.per_second);
  b.at = now;
  d.limit = spec.burst;
  if (b.tokens >= cost) {
    b.tokens -= cost;
    d.allowed = true;
  } else {
    d.allowed = false;
    d.retry_after_s = (cost - b.tokens) / spec.per_second;
  }
  d.remaining = std::floor(b.tokens);
  d.reset_s = (spec.burst - b.tokens) / spec.per_second;
  return d;
}

double RateLimiter::wait_for_token(const std::string& key, const RateSpec& spec) {
  if (spec.per_second <= 0) return 0;
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return 0;
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.at).count();
  double tokens = std::min(spec.burst, it->second.tokens + elapsed * spec.per_second);
  return tokens >= 1 ? 0 : (1 - tokens) / spec.per_second;
}

void RateLimiter::sweep() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (now - it->second.at > std::chrono::minutes(30))
      it = buckets_.erase(it);
    else
      ++it;
  }
}

// ---------------------------------------------------------------------------------------------
// Tiers

std::map<std::string, TierLimits> default_tiers() {
  return {
      {"free", {100, 2, 25, 20, 1.0, "pro"}},
      {"pro", {5000, 10, 200, 1000, 50.0, "team"}},
      {"team", {50000, 50, 500, 10000, 500.0, ""}},
  };
}

std::map<std::string, TierLimits> parse_tiers(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) throw std::invalid_argument("tiers: expected a JSON object of tiers");
  auto tiers = default_tiers();
  for (auto& [name, spec] : v.as_object()) {
    if (!spec.is_object())
      throw std::invalid_argument("tiers." + std::string(name) + ": expected an object");
    TierLimits& t = tiers[std::string(name)];
    for (auto& [k, val] : spec.as_object()) {
      std::string field = "tiers." + std::string(name) + "." + std::string(k);
      const json::value& value = val;  // clang 14 cannot capture a structured binding
      auto num = [&]() -> double {
        if (!value.is_number()) throw std::invalid_argument(field + ": expected a number");
        return value.to_number<double>();
      };
      if (k == "executionsPerDay")
        t.executions_per_day = static_cast<std::int64_t>(num());
      else if (k == "concurrentRuns")
        t.concurrent_runs = static_cast<std::int64_t>(num());
      else if (k == "maxNodes")
        t.max_nodes = static_cast<std::int64_t>(num());
      else if (k == "maxWorkflows")
        t.max_workflows = static_cast<std::int64_t>(num());
      else if (k == "monthlyPlatformCostUsd")
        t.monthly_platform_cost_usd = num();
      else if (k == "upgradeTo") {
        if (!val.is_string()) throw std::invalid_argument(field + ": expected a string");
        t.upgrade_to = std::string(val.as_string());
      } else
        throw std::invalid_argument(field + ": unknown limit");
    }
  }
  return tiers;
}

const TierLimits& App::tier(const std::string& name) const {
  auto it = cfg.tiers.find(name);
  if (it != cfg.tiers.end()) return it->second;
  return cfg.tiers.at("free");
}

// ---------------------------------------------------------------------------------------------
// App

App::App(boost::asio::io_context& c, Config config) : ioc(c), cfg(std::move(config)) {
  log.set_level(cfg.log_level);
  if (cfg.tiers.empty()) cfg.tiers = default_tiers();
  if (!cfg.tiers.count("free")) cfg.tiers["free"] = default_tiers()["free"];
  db = open_storage(cfg.db);
  // Runs left by stopped instances are handled by the RunManager (runs.cpp): only orphaned ones,
  // never those of live instances sharing the database.
  load_master_key();
  dummy_hash = hash_password(random_token());
  providers = ProviderRegistry::with_builtins(ioc.get_executor());
  runs = std::make_unique<RunManager>(*this);
  billing = std::make_unique<Billing>(*this);
  static const auto started = std::chrono::steady_clock::now();
  route("GET", "/api/health", false, [this](CtxPtr c) {
    bool db_ok = true;
    try {
      db->ping();
    } catch (const std::exception&) {
      db_ok = false;
    }
    auto up =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count();
    c->json(db_ok ? 200 : 503,
            json::object{{"status", db_ok ? "ok" : "degraded"},
                         {"version", chorus::version},
                         {"storage", {{"backend", db->backend()}, {"ok", db_ok}}},
                         {"uptimeSeconds", up},
                         {"providers",
                          [this] {
                            json::array a;
                            for (const auto& id : providers->ids())
                              a.push_back(json::value(id));
                            return a;
                          }()},
                         {"features", {{"models", true}, {"billing", true}}}});
  });
  register_auth_routes(*this);
  register_workflow_routes(*this);
  register_execution_routes(*this);
  register_template_routes(*this);
  register_user_routes(*this);
  register_model_routes(*this);
  register_openai_routes(*this);
  register_billing_routes(*this);
  billing->start();
  seed_templates();
  if (cfg.demo) seed_demo();
  log.log(Logger::info, "storage ready", {{"backend", db->backend()}});
}

App::~App() {
  blocking_pool.join();
}

void App::offload(std::function<void()> work, std::function<void()> done) {
  boost::asio::post(blocking_pool,
                    [this, work = std::move(work), done = std::move(done)]() mutable {
                      work();
                      boost::asio::post(ioc, std::move(done));
                    });
}

void App::load_master_key() {
  if (const char* env = std::getenv("CHORUS_MASTER_KEY"); env && *env) {
    auto k = parse_master_key(env);
    if (!k)
      throw std::invalid_argument("CHORUS_MASTER_KEY must be 64 hex digits or base64 of 32 bytes");
    keys.add(*k, true);
  } else {
    std::string path = cfg.master_key_file;
    if (path.empty()) {
      if (cfg.db.starts_with("postgres"))
        throw std::invalid_argument(
            "set CHORUS_MASTER_KEY (or --master-key-file) when the database is PostgreSQL");
      fs::path dbp(cfg.db.starts_with("sqlite://") ? cfg.db.substr(9) : cfg.db);
      path = (dbp.parent_path().empty() ? fs::path(".") : dbp.parent_path()) /
             (dbp.filename().string() + ".master-key");
    }
    if (fs::exists(path)) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      auto k = parse_master_key(ss.str());
      if (!k)
        throw std::invalid_argument("master key file " + path + " does not hold a 32-byte key");
      keys.add(*k, true);
    } else {
      std::string key = random_bytes(32);
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      if (fd < 0) throw std::runtime_error("cannot create master key file " + path);
      std::string hex = to_hex(key) + "\n";
      bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
      ::close(fd);
      if (!ok) throw std::runtime_error("cannot write master key file " + path);
      keys.add(key, true);
      log.log(Logger::warn,
              "GENERATED A NEW MASTER KEY: provider API keys are encrypted with it. Back it up; "
              "losing it makes stored keys unreadable. Set CHORUS_MASTER_KEY in production.",
              {{"file", path}});
      std::fprintf(stderr,
                   "\n*** chorus-server: generated a new master key in %s (mode 0600).\n"
                   "*** Back it up: stored provider keys cannot be decrypted without it.\n\n",
                   path.c_str());
    }
  }
  if (const char* old = std::getenv("CHORUS_MASTER_KEY_PREVIOUS"); old && *old) {
    if (auto k = parse_master_key(old)) keys.add(*k, false);
  }
}

json::array App::validate_workflow(std::string_view document, std::size_t* nodes) const {
  ValidationContext vc;
  for (const auto& id : providers->ids()) {
    std::vector<std::string> models;
    if (auto p = providers->find(id))
      for (const auto& m : p->models())
        models.push_back(m.id);
    vc.providers.emplace(id, std::move(models));
  }
  json::array out;
  auto parsed = Workflow::parse(document);
  if (nodes) *nodes = parsed.workflow ? parsed.workflow->nodes().size() : 0;
  std::vector<Problem> problems =
      parsed.workflow ? validate(*parsed.workflow, vc) : std::move(parsed.problems);
  for (const auto& p : problems)
    if (p.severity == Severity::error) out.push_back(p.to_json());
  for (auto& p : out)
    for (auto& member : p.as_object())
      if (member.value().is_string()) member.value() = repair_utf8(member.value().as_string());
  if (!parsed.workflow && out.empty())
    out.push_back(json::object{{"severity", "error"},
                               {"code", "invalid_document"},
                               {"message", "the workflow document could not be read"}});
  return out;
}

void App::seed_templates() {
  if (cfg.templates_dir.empty() || !fs::is_directory(cfg.templates_dir)) return;
  int count = 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(cfg.templates_dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
      log.log(Logger::warn, "skipping template that is not a JSON object", {{"file", p.string()}});
      continue;
    }
    const auto& o = v.as_object();
    auto str = [&](const char* k) {
      auto it = o.find(k);
      return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                      : std::string();
    };
    TemplateRecord t;
    t.slug = p.stem().string();
    t.id = "tpl-" + *t.slug;
    t.name = str("name").empty() ? *t.slug : str("name");
    t.description = str("description");
    t.category = str("category");
    if (auto it = o.find("tags"); it != o.end() && it->value().is_array()) {
      json::array tags;
      for (const auto& tag : it->value().as_array())
        if (tag.is_string()) tags.push_back(tag);
      t.tags = json::serialize(tags);
    }
    t.is_public = true;
    t.configuration = text;
    t.created_at = now_ms();
    db->upsert_seed_template(t);
    ++count;
  }
  log.log(Logger::info, "templates seeded", {{"count", count}, {"dir", cfg.templates_dir}});
}

void App::seed_demo() {
  const std::string email = "demo@chorus.local";
  demo_password = "demo-" + random_token().substr(0, 12);
  std::string hash = hash_password(demo_password);
  auto existing = db->find_user_by_email(email);
  if (!existing) {
    db->create_user({random_id(), email, "Demo user", hash, "pro", now_ms()});
  } else {
    // Re-seeding: keep the account and its data, set the new password.
    db->update_password(existing->id, hash);
  }
  std::printf("chorus-server demo account: %s / %s\n", email.c_str(), demo_password.c_str());
  std::fflush(stdout);
}

void App::add(std::string method, std::string pattern, bool auth, std::function<void(CtxPtr)> h) {
  Route r;
  r.method = std::move(method);
  r.auth = auth;
  r.handle = std::move(h);
  std::string_view p = pattern;
  while (!p.empty()) {
    if (p.front() == '/') p.remove_prefix(1);
    auto slash = p.find('/');
    r.segments.emplace_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash);
  }
  routes_.push_back(std::move(r));
}

void App::on_access(const AccessRecord& a) {
  metrics.observe_request(a.method, a.status, a.duration);
  if (cfg.access_log || log.enabled(Logger::debug))
    log.log(cfg.access_log ? Logger::info : Logger::debug, "request",
            {{"requestId", a.request_id},
             {"method", a.method},
             {"path", a.path},
             {"status", a.status},
             {"ip", a.remote_ip},
             {"durationMs", static_cast<double>(a.duration.count()) / 1000.0}});
}

void App::tick() {
  limiter.sweep();
  runs->update_gauges();
  runs->ping_listeners();
}

void App::handle(HttpRequest& req, Responder respond) {
  auto c =
      std::make_shared<Ctx>(Ctx{*this, std::move(req), std::move(respond), {}, {}, {}, false, {}});
  try {
    dispatch(c);
  } catch (const StorageError& e) {
    log.log(Logger::error, "storage error",
            {{"requestId", c->req.request_id}, {"error", e.what()}});
    c->error(503, "storage_unavailable", "the database failed; try again");
  } catch (const std::exception& e) {
    log.log(Logger::error, "internal error",
            {{"requestId", c->req.request_id}, {"error", e.what()}});
    c->error(500, "internal", "internal server error");
  }
}

void App::dispatch(const CtxPtr& c) {
  HttpRequest& req = c->req;
  bool api = req.path == "/api" || req.path.starts_with("/api/") || req.path.starts_with("/v1/");
  // Every path, not only the API's: the 404 of a static path quotes it, and an answer must stay
  // valid UTF-8 (found by tests/fuzz/server_http_fuzz.cpp).
  if (!clean_utf8(req.path) || req.path.size() > 2048) {
    c->error(400, "invalid_parameter",
             "the path must be valid UTF-8 without NUL, at most 2048 bytes");
    return;
  }
  if (api && !req.query.empty()) {
    // Every decoded query value must be clean text too.
    std::string_view q = req.query;
    while (!q.empty()) {
      auto amp = q.find('&');
      std::string_view pair = q.substr(0, amp);
      auto eq = pair.find('=');
      // Names too, decoded as the routes decode them (found by tests/fuzz/server_http_fuzz.cpp:
      // `%71=%ff` slipped through, and a raw name with invalid UTF-8 was echoed in `field`).
      HttpRequest probe;
      probe.query = "k=" + std::string(pair.substr(0, eq)) +
                    "&v=" + std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      auto name = probe.query_param("k"), value = probe.query_param("v");
      if (!clean_utf8(*name) || !clean_utf8(*value)) {
        json::object details;
        if (clean_utf8(*name)) details["field"] = *name;
        c->error(400, "invalid_parameter", "query parameters must be valid UTF-8 without NUL",
                 std::move(details));
        return;
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
  }
  if (!api) {
    if (req.path == "/metrics" && req.method == "GET") {
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4";
      runs->update_gauges();
      r.body = metrics.render();
      c->send(std::move(r));
      return;
    }
    serve_static(*c);
    return;
  }
  // Every API request counts against the client IP's bucket.
  auto d = limiter.take("ip:" + req.remote_ip, cfg.ip_rate);
  auto limited = [&](const RateLimiter::Decision& dec) {
    HeaderList h{
        {"Retry-After", std::to_string(static_cast<long long>(std::ceil(dec.retry_after_s)))}};
    c->error(429, "rate_limited", "too many requests; retry later",
             {{"retryAfterSeconds", std::ceil(dec.retry_after_s)}}, std::move(h));
  };
  if (cfg.ip_rate.per_second > 0) {
    c->extra_headers = {
        {"X-RateLimit-Limit", std::to_string(static_cast<long long>(d.limit))},
        {"X-RateLimit-Remaining", std::to_string(static_cast<long long>(d.remaining))},
        {"X-RateLimit-Reset", std::to_string(static_cast<long long>(std::ceil(d.reset_s)))}};
  }
  if (!d.allowed) {
    limited(d);
    return;
  }
  // Split the path into segments and find the route.
  std::vector<std::string_view> segs;
  {
    std::string_view p = req.path;
    while (!p.empty()) {
      if (p.front() == '/') {
        p.remove_prefix(1);
        continue;
      }
      auto slash = p.find('/');
      segs.push_back(p.substr(0, slash));
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash);
    }
  }
  bool path_matched = false;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::vector<std::string> params;
    bool match = true;
    for (std::size_t i = 0; i < segs.size() && match; ++i) {
      if (r.segments[i].starts_with(':'))
        params.emplace_back(segs[i]);
      else
        match = r.segments[i] == segs[i];
    }
    if (!match) continue;
    path_matched = true;
    if (r.method != req.method) continue;
    c->params = std::move(params);
    if (r.auth) {
      if (!authenticate(*c)) return;
      if (cfg.user_rate.per_second > 0) {
        auto u = limiter.take("user:" + c->user->id, cfg.user_rate);
        c->extra_headers = {
            {"X-RateLimit-Limit", std::to_string(static_cast<long long>(u.limit))},
            {"X-RateLimit-Remaining", std::to_string(static_cast<long long>(u.remaining))},
            {"X-RateLimit-Reset", std::to_string(static_cast<long long>(std::ceil(u.reset_s)))}};
        if (!u.allowed) {
          limited(u);
          return;
        }
      }
    }
    r.handle(c);
    return;
  }
  if (path_matched)
    c->error(405, "method_not_allowed", req.method + " is not allowed on " + req.path);
  else
    c->error(404, "not_found", "no such endpoint: " + req.path);
}

bool App::authenticate(Ctx& c) {
  std::string token;
  std::string_view auth = c.req.header("authorization");
  if (!auth.empty()) {
    if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer "))
      token = std::string(auth.substr(7));
  } else if (auto cookie = c.req.cookie("chorus_session")) {
    token = *cookie;
    c.cookie_auth = true;
  }
  if (token.empty() || token.size() > 200) {
    c.error(401, "unauthenticated", "sign in, or send Authorization: Bearer <token>");
    return false;
  }
  std::string hash = sha256_hex(token);
  auto now = std::chrono::steady_clock::now();
  std::optional<TokenRecord> rec;
  std::optional<User> user;
  if (auto it = auth_cache_.find(hash);
      it != auth_cache_.end() && it->second.until > now &&
      (!it->second.token.expires_at || *it->second.token.expires_at > now_ms())) {
    rec = it->second.token;
    user = it->second.user;
  } else {
    rec = db->find_token(hash, now_ms());
    if (!rec) {
      c.error(401, "unauthenticated", "the session or token is invalid or expired");
      return false;
    }
    user = db->find_user(rec->user_id);
    if (!user) {
      c.error(401, "unauthenticated", "the account no longer exists");
      return false;
    }
    if (auth_cache_.size() > 50'000) auth_cache_.clear();
    auth_cache_[hash] = CachedAuth{*rec, *user, now + std::chrono::seconds(2)};
  }
  // Cookie-authenticated writes must prove they come from our own pages (double submit).
  if (c.cookie_auth && c.req.method != "GET" && c.req.method != "HEAD" &&
      c.req.method != "OPTIONS") {
    std::string_view sent = c.req.header("x-csrf-token");
    if (sent.empty() || !constant_time_equal(sent, rec->csrf_token)) {
      c.error(403, "csrf_failed",
              "missing or wrong X-CSRF-Token header for a cookie-authenticated request");
      return false;
    }
  }
  c.user = std::move(user);
  c.token = std::move(rec);
  return true;
}

void App::forget_token(const std::string& token_hash) {
  auth_cache_.erase(token_hash);
}

void App::forget_user(const std::string& user_id) {
  std::erase_if(auth_cache_, [&](const auto& kv) { return kv.second.user.id == user_id; });
}

void App::forget_token_id(const std::string& token_id) {
  std::erase_if(auth_cache_, [&](const auto& kv) { return kv.second.token.id == token_id; });
}

void App::serve_static(Ctx& c) {
  if (c.req.method != "GET" && c.req.method != "HEAD") {
    c.error(404, "not_found", "no such endpoint: " + c.req.path);
    return;
  }
  if (cfg.static_dir.empty() || !fs::is_directory(cfg.static_dir)) {
    if (c.req.path == "/") {
      HttpResponse r;
      r.content_type = "text/html; charset=utf-8";
      r.body =
          "<!doctype html><title>Chorus</title><h1>chorus-server</h1><p>The API is at /api. "
          "Start with --static DIR to serve the editor.</p>";
      c.send(std::move(r));
    } else {
      c.error(404, "not_found", "no such file: " + c.req.path);
    }
    return;
  }
  // Resolve inside the static root only: no "..", no absolute escapes.
  std::string rel = c.req.path;
  if (rel.find("..") != std::string::npos || rel.find('\0') != std::string::npos) {
    c.error(404, "not_found", "no such file");
    return;
  }
  fs::path root = fs::path(cfg.static_dir);
  fs::path file = root / rel.substr(1);
  std::error_code ec;
  if (rel == "/" || fs::is_directory(file, ec)) file /= "index.html";
  bool fallback = false;
  if (!fs::is_regular_file(file, ec)) {
    // SPA fallback: unknown paths without an extension get index.html (client-side routing).
    if (fs::path(rel).has_extension()) {
      c.error(404, "not_found", "no such file: " + rel);
      return;
    }
    file = root / "index.html";
    fallback = true;
    if (!fs::is_regular_file(file, ec)) {
      c.error(404, "not_found", "no such file: " + rel);
      return;
    }
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
      {".wasm", "application/wasm"}};
  HttpResponse r;
  auto it = types.find(file.extension().string());
  r.content_type = it != types.end() ? it->second : "application/octet-stream";
  r.body = ss.str();
  bool hashed_asset = !fallback && rel.starts_with("/assets/");
  r.headers.push_back(
      {"Cache-Control", hashed_asset ? "public, max-age=31536000, immutable" : "no-cache"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  c.send(std::move(r));
}

}  // namespace chorus::server
