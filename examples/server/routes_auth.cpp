// POST /api/auth/register, /api/auth/login, /api/auth/logout; GET /api/user/profile;
// personal API tokens under /api/user/tokens.
#include "app.hpp"
#include "runs.hpp"

#include <boost/json/serialize.hpp>

#include <cmath>

namespace chorus::server {

namespace {

json::object user_json(App& app, const User& u) {
  const TierLimits& t = app.tier(u.tier);
  return {{"id", u.id},
          {"email", u.email},
          {"name", u.name},
          {"tier", u.tier},
          {"createdAt", iso_time(u.created_at)},
          {"limits",
           {{"executionsPerDay", t.executions_per_day},
            {"concurrentRuns", t.concurrent_runs},
            {"maxNodes", t.max_nodes},
            {"maxWorkflows", t.max_workflows},
            {"monthlyPlatformCostUsd", t.monthly_platform_cost_usd < 0
                                           ? json::value(nullptr)
                                           : json::value(t.monthly_platform_cost_usd)}}}};
}

std::string lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

bool plausible_email(std::string_view e) {
  auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= e.size() ||
      e.find('@', at + 1) != std::string_view::npos)
    return false;
  for (char ch : e)
    if (static_cast<unsigned char>(ch) <= ' ') return false;
  return e.find('.', at) != std::string_view::npos;
}

// Throttles register/login per client IP; answers 429 and returns false when over.
bool throttle_ip(App& app, Ctx& c) {
  auto d = app.limiter.take("auth-ip:" + c.req.remote_ip, app.cfg.auth_ip_rate);
  if (d.allowed) return true;
  auto secs = static_cast<long long>(std::ceil(d.retry_after_s));
  c.error(429, "rate_limited", "too many sign-in attempts from this address; retry later",
          {{"retryAfterSeconds", secs}}, {{"Retry-After", std::to_string(secs)}});
  return false;
}

// A new session: the token is returned once (cookie + body), only its SHA-256 is stored.
void start_session(App& app, const CtxPtr& c, const User& u, int status) {
  std::string token = random_token();
  TokenRecord t;
  t.id = random_id();
  t.user_id = u.id;
  t.token_hash = sha256_hex(token);
  t.kind = "session";
  t.csrf_token = random_token();
  t.created_at = now_ms();
  t.expires_at = t.created_at +
                 std::chrono::duration_cast<std::chrono::milliseconds>(app.cfg.session_ttl).count();
  app.db->create_token(t);
  auto max_age =
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(app.cfg.session_ttl).count());
  std::string secure = app.cfg.secure_cookies ? "; Secure" : "";
  HeaderList h{{"Set-Cookie", "chorus_session=" + token +
                                  "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" + max_age + secure},
               {"Set-Cookie", "chorus_csrf=" + t.csrf_token +
                                  "; Path=/; SameSite=Lax; Max-Age=" + max_age + secure},
               {"Cache-Control", "no-store"}};
  c->json(status,
          json::object{{"user", user_json(app, u)},
                       {"token", token},
                       {"csrfToken", t.csrf_token},
                       {"expiresAt", iso_time(*t.expires_at)}},
          std::move(h));
}

json::object token_json(const TokenRecord& t) {
  json::object o{{"id", t.id}, {"name", t.name}, {"createdAt", iso_time(t.created_at)}};
  o["expiresAt"] = t.expires_at ? json::value(iso_time(*t.expires_at)) : json::value(nullptr);
  return o;
}

}  // namespace

void register_auth_routes(App& app) {
  app.route("POST", "/api/auth/register", false, [&app](CtxPtr c) {
    if (!throttle_ip(app, *c)) return;
    auto body = c->body_object();
    if (!body) return;
    Fields f(*body);
    auto email = f.string("email", true, 3, 254);
    auto password = f.string("password", true, 8, 1024);
    auto name = f.string("name", false, 0, 200);
    if (email && !plausible_email(*email)) f.problem("email", "email must be an email address");
    if (!f.ok()) return f.reject(*c);
    std::string mail = lower(*email);
    if (app.db->find_user_by_email(mail)) {
      c->error(409, "email_taken", "an account with this email already exists",
               {{"field", "email"}});
      return;
    }
    auto hash = std::make_shared<std::string>();
    app.offload([hash, pw = *password] { *hash = hash_password(pw); },
                [&app, c, hash, mail, name] {
                  try {
                    User u{random_id(),          mail,    name.value_or(""), *hash,
                           app.cfg.default_tier, now_ms()};
                    try {
                      app.db->create_user(u);
                    } catch (const StorageError& e) {
                      if (!e.unique_violation()) throw;
                      c->error(409, "email_taken", "an account with this email already exists",
                               {{"field", "email"}});
                      return;
                    }
                    app.log.log(Logger::info, "user registered",
                                {{"userId", u.id}, {"requestId", c->req.request_id}});
                    start_session(app, c, u, 201);
                  } catch (const std::exception& e) {
                    app.log.log(Logger::error, "register failed", {{"error", e.what()}});
                    c->error(503, "storage_unavailable", "the database failed; try again");
                  }
                });
  });

  app.route("POST", "/api/auth/login", false, [&app](CtxPtr c) {
    if (!throttle_ip(app, *c)) return;
    auto body = c->body_object();
    if (!body) return;
    Fields f(*body);
    auto email = f.string("email", true, 1, 254);
    auto password = f.string("password", true, 1, 1024);
    if (!f.ok()) return f.reject(*c);
    std::string mail = lower(*email);
    std::string account_key = "login-account:" + mail;
    if (double wait = app.limiter.wait_for_token(account_key, app.cfg.login_account_rate);
        wait > 0) {
      auto secs = static_cast<long long>(std::ceil(wait));
      c->error(429, "rate_limited", "too many failed sign-ins for this account; retry later",
               {{"retryAfterSeconds", secs}}, {{"Retry-After", std::to_string(secs)}});
      return;
    }
    auto user = app.db->find_user_by_email(mail);
    // Unknown emails verify against a dummy hash: same work, same answer, same timing.
    std::string phc = user ? user->password_hash : app.dummy_hash;
    auto ok = std::make_shared<bool>(false);
    app.offload([ok, pw = *password, phc] { *ok = verify_password(pw, phc); },
                [&app, c, ok, user, account_key] {
                  if (!*ok || !user) {
                    app.limiter.take(account_key, app.cfg.login_account_rate);
                    c->error(401, "invalid_credentials", "wrong email or password");
                    return;
                  }
                  try {
                    start_session(app, c, *user, 200);
                  } catch (const std::exception& e) {
                    app.log.log(Logger::error, "login failed", {{"error", e.what()}});
                    c->error(503, "storage_unavailable", "the database failed; try again");
                  }
                });
  });

  app.route("POST", "/api/auth/logout", true, [&app](CtxPtr c) {
    app.db->delete_token_by_hash(c->token->token_hash);
    app.forget_token(c->token->token_hash);
    std::string secure = app.cfg.secure_cookies ? "; Secure" : "";
    c->json(200, json::object{{"ok", true}},
            {{"Set-Cookie", "chorus_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0" + secure},
             {"Set-Cookie", "chorus_csrf=; Path=/; SameSite=Lax; Max-Age=0" + secure}});
  });

  app.route("GET", "/api/user/profile", true, [&app](CtxPtr c) {
    json::object o = user_json(app, *c->user);
    std::int64_t day_start = now_ms() / 86'400'000 * 86'400'000;
    o["today"] = {{"executions", app.db->count_executions_since(c->user->id, day_start)},
                  {"runningExecutions", app.runs->running_for_user(c->user->id)}};
    o["authMethod"] = c->cookie_auth            ? "cookie"
                      : c->token->kind == "api" ? "api_token"
                                                : "bearer_session";
    c->json(200, o);
  });

  app.route("POST", "/api/user/tokens", true, [&app](CtxPtr c) {
    auto body = c->body_object();
    if (!body) return;
    Fields f(*body);
    auto name = f.string("name", true, 1, 100);
    auto days = f.integer("expiresInDays", 1, 3650);
    if (!f.ok()) return f.reject(*c);
    std::string token = "chorus_pat_" + random_token();
    TokenRecord t;
    t.id = random_id();
    t.user_id = c->user->id;
    t.token_hash = sha256_hex(token);
    t.kind = "api";
    t.name = *name;
    t.created_at = now_ms();
    if (days) t.expires_at = t.created_at + *days * 86'400'000;
    app.db->create_token(t);
    json::object o = token_json(t);
    o["token"] = token;
    c->json(201, o, {{"Cache-Control", "no-store"}});
  });

  app.route("GET", "/api/user/tokens", true, [&app](CtxPtr c) {
    json::array items;
    for (const auto& t : app.db->list_tokens(c->user->id, "api"))
      items.push_back(token_json(t));
    c->json(200, json::object{{"items", std::move(items)}});
  });

  app.route("DELETE", "/api/user/tokens/:id", true, [&app](CtxPtr c) {
    if (!app.db->delete_token(c->user->id, c->params[0])) {
      c->error(404, "not_found", "no such token");
      return;
    }
    app.forget_token_id(c->params[0]);
    c->json(200, json::object{{"ok", true}});
  });
}

}  // namespace chorus::server
