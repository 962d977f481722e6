// chorus-server: flags and environment (docs/server.md), then the io_context loop.
#include "app.hpp"
#include "billing.hpp"
#include "runs.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

using chorus::server::Config;
using chorus::server::RateSpec;

const char* kUsage = R"(usage: chorus-server [options]

  --host HOST                 address to listen on (default 127.0.0.1; env CHORUS_HOST)
  --port N                    port, 0 = any free port (default 8080; env CHORUS_PORT)
  --db URL                    SQLite file path or postgres://... URL (default chorus.db;
                              env CHORUS_DATABASE_URL)
  --static DIR                serve the editor's built files at / (env CHORUS_STATIC_DIR)
  --templates DIR             seed public templates from DIR/*.json (env CHORUS_TEMPLATES_DIR)
  --master-key-file FILE      master key file (default: <db>.master-key next to a SQLite file;
                              env CHORUS_MASTER_KEY takes precedence)
  --demo                      create/refresh the demo account and print its password (CHORUS_DEMO=1)
  --log-level LEVEL           debug | info | warn | error (default info; env CHORUS_LOG_LEVEL)
  --access-log                log every request at info
  --body-limit BYTES          largest accepted request body (default 1048576)
  --max-concurrent-runs N     worker cap; more executions queue (default 64)
  --instance-id ID            this instance's id in the run queue (default random; env
                              CHORUS_INSTANCE_ID)
  --heartbeat-ms N            claim heartbeat period (default 2000)
  --lease-ms N                a claim not renewed for this long is taken over (default 3 x
                              heartbeat)
  --orphaned-runs MODE        runs of a dead instance: interrupt (default) or resume (taken
                              over, completed nodes kept; env CHORUS_ORPHANED_RUNS)
  --rate-limit-ip R:B         requests per second and burst per client IP (default 100:200)
  --rate-limit-user R:B       requests per second and burst per user (default 50:100)
  --rate-limit-auth R:B       register/login per minute and burst per IP (default 10:10)
  --rate-limit-login R:B      failed logins per minute and burst per account (default 1:5)
  --no-rate-limits            disable the per-IP and per-user request limits
  --tiers FILE                tier limits as JSON (env CHORUS_TIERS holds the JSON itself)
  --set-tier EMAIL=TIER       change a user's subscription tier at start-up
  --secure-cookies            mark cookies Secure (behind a TLS proxy)
  --default-tier TIER         tier of new accounts, and of those whose subscription ends
                              (default free; env CHORUS_DEFAULT_TIER)
  --public-url URL            where users reach this server, for Stripe's redirects
                              (env CHORUS_PUBLIC_URL; default: the request's Host)
  --billing-prices JSON|FILE  Stripe price id per tier, {"pro": "price_...", "team": "price_..."}
                              (env CHORUS_BILLING_PRICES; or STRIPE_PRICE_<TIER> per tier)
  --billing-report-interval S seconds between metered-usage reports to Stripe (default 60)
  Billing is on when STRIPE_SECRET_KEY is set (then STRIPE_WEBHOOK_SECRET is required; optional
  STRIPE_API_BASE, STRIPE_PRICE_METERED, STRIPE_METER_EVENT): see docs/billing.md.
  --tls-cert FILE             serve HTTPS with this PEM certificate chain (env CHORUS_TLS_CERT);
                              needs --tls-key; cookies are then Secure
  --tls-key FILE              PEM private key of --tls-cert (env CHORUS_TLS_KEY)
)";

RateSpec parse_rate(const std::string& flag, const std::string& v, double scale) {
  auto colon = v.find(':');
  char* end = nullptr;
  double r = std::strtod(v.c_str(), &end);
  double b = colon == std::string::npos ? r : std::strtod(v.c_str() + colon + 1, nullptr);
  if (end == v.c_str() || r < 0 || b < 0)
    throw std::invalid_argument(flag + ": expected RATE:BURST, e.g. 100:200");
  return {r * scale, b};
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace chorus::server;
  Config cfg;
  std::vector<std::pair<std::string, std::string>> set_tiers;
  try {
    if (auto v = env("CHORUS_HOST"); !v.empty()) cfg.host = v;
    if (auto v = env("CHORUS_PORT"); !v.empty())
      cfg.port = static_cast<std::uint16_t>(std::stoi(v));
    if (auto v = env("CHORUS_DATABASE_URL"); !v.empty()) cfg.db = v;
    cfg.static_dir = env("CHORUS_STATIC_DIR");
    cfg.templates_dir = env("CHORUS_TEMPLATES_DIR");
    if (auto v = env("CHORUS_LOG_LEVEL"); !v.empty()) cfg.log_level = v;
    if (env("CHORUS_DEMO") == "1") cfg.demo = true;
    if (auto v = env("CHORUS_TIERS"); !v.empty()) cfg.tiers = parse_tiers(v);
    std::string tls_cert = env("CHORUS_TLS_CERT"), tls_key = env("CHORUS_TLS_KEY");
    cfg.billing.secret_key = env("STRIPE_SECRET_KEY");
    cfg.billing.webhook_secret = env("STRIPE_WEBHOOK_SECRET");
    if (auto v = env("STRIPE_API_BASE"); !v.empty()) cfg.billing.api_base = v;
    cfg.billing.metered_price = env("STRIPE_PRICE_METERED");
    if (const char* v = std::getenv("STRIPE_METER_EVENT")) cfg.billing.meter_event = v;
    if (auto v = env("CHORUS_BILLING_PRICES"); !v.empty())
      cfg.billing.prices = parse_billing_prices(v, "CHORUS_BILLING_PRICES");
    if (auto v = env("CHORUS_DEFAULT_TIER"); !v.empty()) cfg.default_tier = v;
    cfg.public_url = env("CHORUS_PUBLIC_URL");
    if (auto v = env("CHORUS_MAX_CONCURRENT_RUNS"); !v.empty())
      cfg.max_concurrent_runs = std::stoul(v);
    cfg.instance_id = env("CHORUS_INSTANCE_ID");
    auto orphaned_runs = [&](const std::string& v) {
      if (v != "resume" && v != "interrupt")
        throw std::invalid_argument("--orphaned-runs: expected resume or interrupt");
      cfg.resume_orphans = v == "resume";
    };
    auto millis = [](const std::string& flag, const std::string& v) {
      long long n = std::stoll(v);
      if (n < 10 || n > 3'600'000) throw std::invalid_argument(flag + " must be 10..3600000");
      return std::chrono::milliseconds(n);
    };
    if (auto v = env("CHORUS_ORPHANED_RUNS"); !v.empty()) orphaned_runs(v);
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (a == "--host")
        cfg.host = next();
      else if (a == "--port") {
        int p = std::stoi(next());
        if (p < 0 || p > 65535) throw std::invalid_argument("--port must be 0..65535");
        cfg.port = static_cast<std::uint16_t>(p);
      } else if (a == "--db")
        cfg.db = next();
      else if (a == "--static")
        cfg.static_dir = next();
      else if (a == "--templates")
        cfg.templates_dir = next();
      else if (a == "--master-key-file")
        cfg.master_key_file = next();
      else if (a == "--demo")
        cfg.demo = true;
      else if (a == "--log-level")
        cfg.log_level = next();
      else if (a == "--access-log")
        cfg.access_log = true;
      else if (a == "--body-limit")
        cfg.body_limit = std::stoul(next());
      else if (a == "--max-concurrent-runs")
        cfg.max_concurrent_runs = std::max<std::size_t>(1, std::stoul(next()));
      else if (a == "--instance-id") {
        cfg.instance_id = next();
        if (cfg.instance_id.empty() || cfg.instance_id.size() > 64)
          throw std::invalid_argument("--instance-id must be 1..64 characters");
      } else if (a == "--heartbeat-ms")
        cfg.heartbeat = millis(a, next());
      else if (a == "--lease-ms")
        cfg.lease = millis(a, next());
      else if (a == "--orphaned-runs")
        orphaned_runs(next());
      else if (a == "--rate-limit-ip")
        cfg.ip_rate = parse_rate(a, next(), 1);
      else if (a == "--rate-limit-user")
        cfg.user_rate = parse_rate(a, next(), 1);
      else if (a == "--rate-limit-auth")
        cfg.auth_ip_rate = parse_rate(a, next(), 1.0 / 60);
      else if (a == "--rate-limit-login")
        cfg.login_account_rate = parse_rate(a, next(), 1.0 / 60);
      else if (a == "--no-rate-limits")
        cfg.ip_rate = cfg.user_rate = RateSpec{0, 0};
      else if (a == "--secure-cookies")
        cfg.secure_cookies = true;
      else if (a == "--default-tier")
        cfg.default_tier = next();
      else if (a == "--public-url")
        cfg.public_url = next();
      else if (a == "--billing-prices") {
        std::string v = next();
        if (!v.starts_with("{")) {
          std::ifstream in(v);
          if (!in) throw std::invalid_argument("--billing-prices: cannot read the file " + v);
          std::stringstream ss;
          ss << in.rdbuf();
          v = ss.str();
        }
        cfg.billing.prices = parse_billing_prices(v, "--billing-prices");
      } else if (a == "--billing-report-interval") {
        long s = std::stol(next());
        if (s < 1 || s > 86'400)
          throw std::invalid_argument("--billing-report-interval must be 1..86400 seconds");
        cfg.billing.report_interval = std::chrono::seconds(s);
      } else if (a == "--tls-cert")
        tls_cert = next();
      else if (a == "--tls-key")
        tls_key = next();
      else if (a == "--tiers") {
        std::ifstream in(next());
        if (!in) throw std::invalid_argument("--tiers: cannot read the file");
        std::stringstream ss;
        ss << in.rdbuf();
        cfg.tiers = parse_tiers(ss.str());
      } else if (a == "--set-tier") {
        std::string v = next();
        auto eq = v.find('=');
        if (eq == std::string::npos) throw std::invalid_argument("--set-tier expects EMAIL=TIER");
        set_tiers.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      } else {
        throw std::invalid_argument("unknown option " + a + " (see --help)");
      }
    }
    namespace fs = std::filesystem;
    if (!tls_cert.empty() || !tls_key.empty()) {
      if (tls_cert.empty() || tls_key.empty())
        throw std::invalid_argument(
            "--tls-cert and --tls-key go together (env CHORUS_TLS_CERT, "
            "CHORUS_TLS_KEY)");
      for (const auto& f : {tls_cert, tls_key})
        if (!fs::is_regular_file(f)) throw std::invalid_argument("TLS file not found: " + f);
      check_tls_files(tls_cert, tls_key);  // before anything starts: a bad file stops here
      cfg.tls_cert_file = tls_cert;
      cfg.tls_key_file = tls_key;
      cfg.secure_cookies = true;
    }
    // An installed server (PREFIX/bin/chorus-server) finds its editor and templates in
    // PREFIX/share/chorus; the source tree's folders are the last resort.
    {
      std::error_code ec;
      fs::path share =
          fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path() / "share" / "chorus";
      if (!ec && cfg.templates_dir.empty() && fs::is_directory(share / "workflows"))
        cfg.templates_dir = (share / "workflows").string();
      if (!ec && cfg.static_dir.empty() && fs::is_directory(share / "editor"))
        cfg.static_dir = (share / "editor").string();
    }
    if (cfg.templates_dir.empty() && fs::is_directory(CHORUS_SERVER_DEFAULT_TEMPLATES))
      cfg.templates_dir = CHORUS_SERVER_DEFAULT_TEMPLATES;
    if (cfg.static_dir.empty() && fs::is_directory(CHORUS_SERVER_DEFAULT_STATIC))
      cfg.static_dir = CHORUS_SERVER_DEFAULT_STATIC;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chorus-server: %s\n", e.what());
    return 2;
  }

  try {
    boost::asio::io_context ioc(1);
    App app(ioc, cfg);
    for (const auto& [email, tier] : set_tiers) {
      if (!app.cfg.tiers.count(tier))
        throw std::invalid_argument("--set-tier: unknown tier " + tier);
      if (!app.db->set_user_tier(email, tier))
        throw std::invalid_argument("--set-tier: no user " + email);
    }
    HttpServerOptions opts;
    opts.host = cfg.host;
    opts.port = cfg.port;
    opts.body_limit = cfg.body_limit;
    opts.tls_cert_file = cfg.tls_cert_file;
    opts.tls_key_file = cfg.tls_key_file;
    HttpServer server(
        ioc, opts, [&app](HttpRequest& r, Responder respond) { app.handle(r, std::move(respond)); },
        [&app](const AccessRecord& a) { app.on_access(a); });
    std::uint16_t port = server.start();
    std::printf("chorus-server listening on %s://%s:%u\n",
                cfg.tls_cert_file.empty() ? "http" : "https",
                cfg.host == "0.0.0.0" ? "127.0.0.1" : cfg.host.c_str(), port);
    std::fflush(stdout);
    app.log.log(Logger::info, "listening",
                {{"host", cfg.host},
                 {"port", port},
                 {"tls", !cfg.tls_cert_file.empty()},
                 {"storage", app.db->backend()}});

    boost::asio::steady_timer timer(ioc);
    std::function<void()> arm = [&] {
      timer.expires_after(std::chrono::seconds(5));
      timer.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        app.tick();
        arm();
      });
    };
    arm();
    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) {
      app.log.log(Logger::info, "shutting down", {{"signal", sig}});
      server.stop();
      app.runs->cancel_all();
      timer.cancel();
      // Give cancelled runs a moment to write their final state, then stop.
      auto grace = std::make_shared<boost::asio::steady_timer>(ioc, std::chrono::milliseconds(500));
      grace->async_wait([&ioc, grace](boost::system::error_code) { ioc.stop(); });
    });
    // A handler that throws must not take the server down: log it and keep serving.
    for (;;) {
      try {
        ioc.run();
        break;
      } catch (const std::exception& e) {
        app.log.log(Logger::error, "unhandled exception in a handler", {{"error", e.what()}});
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chorus-server: %s\n", e.what());
    return 1;
  }
  return 0;
}
