// Fuzzes the reference server's request handling end to end, minus the socket: raw bytes go
// through Beast's request parser with the server's limits and the server's HttpRequest conversion
// (parse_http_request, examples/server/http_server.cpp), then through App::handle: rate limits,
// routing, authentication (bearer, cookie + CSRF), JSON body checks and every route, on an App
// with a SQLite database on tmpfs.
// Input: one HTTP/1.1 request (request line, headers, body).
// State: one App per process (seeded once in LLVMFuzzerInitialize: two users with fixed tokens,
// workflows, an execution, a stored provider key, the example templates). Requests change that
// state (a replay of one input alone is still deterministic enough: the fixtures are fixed ids).
// Oracles: the responder is called at most once; a JSON answer is valid JSON and every error
// answer is {"error":{"code","message","details"}} (OpenAI's {"error":{"message","type",...}}
// under /v1); no 500 (an exception escaped a route) and no
// 503 (the local database never fails); header names and values carry no CR/LF/NUL; the other
// user's data (marker text) never reaches this client; the stored provider key's plaintext never
// appears in an answer; a 429 carries Retry-After.
#include "app.hpp"
#include "http_server.hpp"
#include "runs.hpp"

#include "fuzz_util.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace chorus::server;

// Fixed credentials the seeds use (tests/fuzz/seeds/server_http_fuzz/).
constexpr std::string_view kSessionToken = "fuzzsession0000000000000000000000000000000000";
constexpr std::string_view kCsrfToken = "fuzzcsrf00000000000000000000000000000000000000";
constexpr std::string_view kApiToken = "chorus_pat_fuzz0000000000000000000000000000000";
constexpr std::string_view kOtherToken = "fuzzother000000000000000000000000000000000000";
// Text only the other user's records hold, and the plaintext of the stored provider key.
constexpr std::string_view kOtherMarker = "OTHERUSERMARKER";
constexpr std::string_view kProviderKey = "sk-fuzz-PLAINTEXTKEY-0123456789";

constexpr std::string_view kDocument =
    R"({"id":"fuzz","name":"Fuzz flow","nodes":[)"
    R"({"id":"in","type":"input","position":{"x":0,"y":0},"data":{}},)"
    R"({"id":"llm","type":"llm","position":{"x":200,"y":0},"data":{"provider":"simulated",)"
    R"("model":"sim-fast","prompt":"[[echo]]{{input}}"}},)"
    R"({"id":"out","type":"output","position":{"x":400,"y":0},"data":{}}],)"
    R"("edges":[{"id":"e1","source":"in","target":"llm"},{"id":"e2","source":"llm","target":"out"}]})";

class RecordingSink final : public SseSink {
 public:
  void send(std::shared_ptr<const std::string> bytes) override {
    if (closed_) return;
    bytes_ += bytes->size();
    if (!first_frame_) first_frame_ = std::move(bytes);
  }
  void close() override { finish(); }
  bool closed() const noexcept override { return closed_; }
  void on_close(std::function<void()> f) override {
    if (closed_)
      f();
    else
      handlers_.push_back(std::move(f));
  }
  // The client goes away.
  void finish() {
    if (closed_) return;
    closed_ = true;
    auto hs = std::move(handlers_);
    for (auto& h : hs)
      h();
  }
  std::shared_ptr<const std::string> first_frame_;

 private:
  bool closed_ = false;
  std::size_t bytes_ = 0;
  std::vector<std::function<void()>> handlers_;
};

struct World {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::unique_ptr<App> app;
  std::vector<std::shared_ptr<RecordingSink>> sinks;  // streams of the current input
};

World* world = nullptr;

// Runs the io_context until `done` or the deadline; the blocking pool (argon2) posts back here.
void run_until(const std::function<bool()>& done, std::chrono::milliseconds budget) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  while (!done() && std::chrono::steady_clock::now() < deadline)
    world->ioc.run_one_for(std::chrono::milliseconds(5));
  world->ioc.poll();
}

bool clean_header_text(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// `input_has_secret`: the input itself carries the marker or the key (an echo is no leak).
void check_response(const HttpResponse& r, bool input_has_secret, bool openai_shape) {
  CHORUS_FUZZ_CHECK(r.status >= 100 && r.status <= 599);
  CHORUS_FUZZ_CHECK(r.status != 500);  // an exception escaped a route
  CHORUS_FUZZ_CHECK(r.status != 503);  // the local database does not fail
  CHORUS_FUZZ_CHECK(clean_header_text(r.content_type));
  bool retry_after = false;
  for (const auto& [k, v] : r.headers) {
    CHORUS_FUZZ_CHECK(!k.empty() && clean_header_text(k) && k.find(':') == std::string::npos);
    CHORUS_FUZZ_CHECK(clean_header_text(v));
    if (k == "Retry-After") retry_after = true;
    CHORUS_FUZZ_CHECK(input_has_secret || v.find(kOtherMarker) == std::string::npos);
  }
  if (r.status == 429) CHORUS_FUZZ_CHECK(retry_after);
  if (r.sse) return;
  if (!input_has_secret) {
    CHORUS_FUZZ_CHECK(r.body.find(kOtherMarker) == std::string::npos);
    CHORUS_FUZZ_CHECK(r.body.find(kProviderKey) == std::string::npos);
  }
  if (r.content_type.starts_with("application/json")) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    CHORUS_FUZZ_CHECK(!ec);
    if (r.status >= 400) {
      CHORUS_FUZZ_CHECK(v.is_object() && v.as_object().contains("error"));
      const auto& e = v.as_object().at("error");
      CHORUS_FUZZ_CHECK(e.is_object());
      const auto* code = e.as_object().if_contains("code");
      const auto* message = e.as_object().if_contains("message");
      CHORUS_FUZZ_CHECK(message && message->is_string());
      const auto* type = e.as_object().if_contains("type");
      if (openai_shape && type) {  // /v1 routes answer as OpenAI: {message, type, param, code}
        CHORUS_FUZZ_CHECK(type->is_string() && !type->as_string().empty());
      } else {  // the server's shape (also /v1 inputs stopped before the router: bad path, query)
        const auto* details = e.as_object().if_contains("details");
        CHORUS_FUZZ_CHECK(code && code->is_string() && !code->as_string().empty());
        CHORUS_FUZZ_CHECK(details && details->is_object());
      }
    }
  }
}

// One request through App::handle; the answer is checked whenever it comes (also after the
// budget: a `wait: true` run may answer late, and the responder must stay callable).
void handle(HttpRequest req, bool input_has_secret, std::chrono::milliseconds budget) {
  auto answers = std::make_shared<int>(0);
  bool openai_shape = req.path == "/v1" || req.path.starts_with("/v1/");
  world->app->handle(req, [answers, input_has_secret, openai_shape](HttpResponse r) {
    ++*answers;
    CHORUS_FUZZ_CHECK(*answers == 1);
    check_response(r, input_has_secret, openai_shape);
    if (r.sse) {
      auto sink = std::make_shared<RecordingSink>();
      world->sinks.push_back(sink);
      r.sse(sink);
    }
  });
  run_until([&] { return *answers > 0; }, budget);
}

HttpRequest make_request(std::string method, std::string path, std::string body,
                         std::string_view token) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  r.remote_ip = "127.0.0.2";
  r.request_id = "fuzz-setup";
  r.headers = {{"content-type", "application/json"},
               {"authorization", "Bearer " + std::string(token)}};
  return r;
}

// The fixed tokens and the fuzz user's workflow come back when an input revoked or deleted them
// (logout, DELETE /api/user/tokens/:id, DELETE /api/workflows/:id), so later inputs still reach
// the routes behind authentication and the `:id` lookups.
void restore_fixtures() {
  App& app = *world->app;
  auto now = now_ms();
  auto token = [&](std::string id, std::string user, std::string_view secret, std::string kind) {
    if (app.db->find_token(sha256_hex(secret), now)) return;
    TokenRecord t;
    t.id = std::move(id);
    t.user_id = std::move(user);
    t.token_hash = sha256_hex(secret);
    t.kind = std::move(kind);
    t.name = t.kind == "api" ? "fuzz token" : "";
    t.csrf_token = std::string(kCsrfToken);
    t.created_at = now;
    app.db->create_token(t);
  };
  token("tok-fuzz-session", "u-fuzz", kSessionToken, "session");
  token("tok-fuzz-api", "u-fuzz", kApiToken, "api");
  token("tok-other", "u-other", kOtherToken, "session");
  auto workflow = [&](std::string id, std::string user, std::string name) {
    if (app.db->get_workflow(user, id)) return;
    WorkflowRecord w;
    w.id = std::move(id);
    w.user_id = std::move(user);
    w.name = std::move(name);
    w.configuration = std::string(kDocument);
    w.created_at = w.updated_at = now;
    app.db->create_workflow(w);
  };
  workflow("wf-fuzz", "u-fuzz", "Fuzz flow");
  workflow("wf-other", "u-other", std::string(kOtherMarker));
}

void seed_state() {
  App& app = *world->app;
  auto now = now_ms();
  app.db->create_user(
      {"u-fuzz", "fuzz@example.com", "Fuzz", hash_password("fuzz password"), "free", now});
  app.db->create_user({"u-other", "other@example.com", std::string(kOtherMarker),
                       hash_password("other password"), "free", now});
  restore_fixtures();

  auto execution = [&](std::string id, std::string wf, std::string user, std::string input) {
    ExecutionRecord e;
    e.id = id;
    e.workflow_id = std::move(wf);
    e.user_id = user;
    e.status = "queued";
    e.input = std::move(input);
    e.started_at = now;
    app.db->create_execution(e);
    ExecutionFinal f;
    f.execution_id = id;
    f.user_id = user;
    f.status = "succeeded";
    f.output = e.input;
    f.finished_at = now;
    f.day = iso_day(now);
    f.events = {{1, R"({"type":"run_started","runId":")" + id + R"(","seq":1,"timeMs":0})"},
                {2, R"({"type":"run_finished","runId":")" + id + R"(","seq":2,"timeMs":1})"}};
    app.db->finish_execution(f);
  };
  execution("ex-fuzz", "wf-fuzz", "u-fuzz", "hello");
  execution("ex-other", "wf-other", "u-other", std::string(kOtherMarker));

  // A stored provider key (through the route, so it is encrypted as in production), and a
  // template of the other user's.
  handle(make_request("PUT", "/api/user/api-keys",
                      R"({"provider":"openai","key":")" + std::string(kProviderKey) +
                          R"(","skip_validation":true})",
                      kApiToken),
         true, std::chrono::seconds(30));
  handle(make_request("POST", "/api/templates",
                      R"({"name":")" + std::string(kOtherMarker) +
                          R"(","workflowId":"wf-other","public":false})",
                      kOtherToken),
         true, std::chrono::seconds(30));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // No real provider is ever contacted: every vendor points at a closed local port.
  for (const char* v : {"OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL",
                        "DEEPSEEK_BASE_URL", "OPENAI_COMPATIBLE_BASE_URL"})
    setenv(v, "http://127.0.0.1:9", 1);
  for (const char* v : {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                        "ALL_PROXY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                        "GOOGLE_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_COMPATIBLE_API_KEY"})
    unsetenv(v);
  setenv("CHORUS_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
         1);
  setenv("CHORUS_SIMULATED_TOKEN_DELAY_MS", "0", 1);

  // SQLite on tmpfs rather than ":memory:": the server opens a second connection to the same
  // database (the run queue, queue_store.cpp), and each ":memory:" connection is its own database.
  static const std::string db = (std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp") +
                                std::string("/chorus-server-fuzz-") + std::to_string(getpid()) +
                                ".db";
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(db + suffix);
  std::atexit([] {
    for (const char* suffix : {"", "-wal", "-shm"})
      unlink((db + suffix).c_str());
  });
  Config cfg;
  cfg.db = db;
  cfg.templates_dir = CHORUS_SOURCE_DIR "/examples/workflows";
  cfg.log_level = "error";
  cfg.ip_rate = cfg.user_rate = RateSpec{0, 0};  // else nearly every input would be a 429
  // Register/login keep their default limits: they bound how often argon2id runs.
  cfg.tiers = default_tiers();
  cfg.tiers["free"].executions_per_day = 5000;
  cfg.tiers["free"].max_workflows = 200;
  world = new World;
  world->app = std::make_unique<App>(world->ioc, cfg);
  seed_state();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  HttpRequest req;
  std::string error;
  if (!parse_http_request(raw, req, error)) {
    CHORUS_FUZZ_CHECK(!error.empty());
    return 0;
  }
  CHORUS_FUZZ_CHECK(!req.method.empty());
  CHORUS_FUZZ_CHECK(!req.request_id.empty() && clean_header_text(req.request_id));
  for (const auto& [k, v] : req.headers)
    for (char c : k)
      CHORUS_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  (void)req.query_param("limit");
  (void)req.cookie("chorus_session");
  restore_fixtures();
  bool has_secret = raw.find("PLAINTEXTKEY") != std::string_view::npos ||
                    raw.find(kOtherMarker) != std::string_view::npos;
  handle(std::move(req), has_secret, std::chrono::seconds(2));
  // The client of any stream this input opened goes away; runs keep going in the background.
  for (auto& s : world->sinks)
    s->finish();
  world->sinks.clear();
  world->ioc.poll();
  return 0;
}
