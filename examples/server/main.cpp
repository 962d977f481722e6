// chorus-server: flags and environment (docs/server.md), then the io_context loop.
#include "app.hpp"
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
  --rate-limit-ip R:B         requests per second and burst per client IP (default 100:200)
  --rate-limit-user R:B       requests per second and burst per user (default 50:100)
  --rate-limit-auth R:B       register/login per minute and burst per IP (default 10:10)
  --rate-limit-login R:B      failed logins per minute and burst per account (default 1:5)
  --no-rate-limits            disable the per-IP and per-user request limits
  --tiers FILE                tier limits as JSON (env CHORUS_TIERS holds the JSON itself)
  --set-tier EMAIL=TIER       change a user's subscription tier at start-up
  --secure-cookies            mark cookies Secure (behind a TLS proxy)
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
    if (auto v = env("CHORUS_MAX_CONCURRENT_RUNS"); !v.empty())
      cfg.max_concurrent_runs = std::stoul(v);
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
    HttpServer server(
        ioc, opts, [&app](HttpRequest& r, Responder respond) { app.handle(r, std::move(respond)); },
        [&app](const AccessRecord& a) { app.on_access(a); });
    std::uint16_t port = server.start();
    std::printf("chorus-server listening on http://%s:%u\n",
                cfg.host == "0.0.0.0" ? "127.0.0.1" : cfg.host.c_str(), port);
    std::fflush(stdout);
    app.log.log(Logger::info, "listening",
                {{"host", cfg.host}, {"port", port}, {"storage", app.db->backend()}});

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
