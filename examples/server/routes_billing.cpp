// /api/billing: the plan, its limits and the usage against them, invoices (GET); Stripe Checkout,
// the Billing Portal, cancel/resume at period end (POST); the Stripe webhook. See docs/billing.md.
#include "app.hpp"
#include "billing.hpp"
#include "crypto.hpp"
#include "runs.hpp"

namespace chorus::server {

namespace {

json::object limits_json(const TierLimits& t) {
  return {{"executionsPerDay", t.executions_per_day},
          {"concurrentRuns", t.concurrent_runs},
          {"maxNodes", t.max_nodes},
          {"maxWorkflows", t.max_workflows},
          {"monthlyPlatformCostUsd", t.monthly_platform_cost_usd < 0
                                         ? json::value(nullptr)
                                         : json::value(t.monthly_platform_cost_usd)}};
}

bool subscribed(const BillingAccount& a) {
  return a.subscription_id && !a.subscription_id->empty() &&
         (a.status == "active" || a.status == "trialing" || a.status == "past_due");
}

// Answers 404 billing_disabled in self-hosted mode; true when it did.
bool disabled(App& app, Ctx& c) {
  if (app.billing->enabled()) return false;
  c.error(404, "billing_disabled",
          "billing is not enabled on this server (self-hosted: no STRIPE_SECRET_KEY); accounts are "
          "on the '" +
              app.cfg.default_tier +
              "' plan unless the administrator sets another with chorus-server --set-tier",
          {{"defaultTier", app.cfg.default_tier}});
  return true;
}

// The account of the signed-in user, read now (never from the authentication cache).
std::optional<BillingAccount> account_of(App& app, Ctx& c) {
  auto a = app.db->billing_account(c.user->id);
  if (!a) c.error(401, "unauthenticated", "the account no longer exists");
  return a;
}

json::object summary(App& app, const BillingAccount& a) {
  const TierLimits& t = app.tier(a.tier);
  std::int64_t now = now_ms();
  std::int64_t day_start = now / 86'400'000 * 86'400'000;
  std::string month_start = iso_day(now).substr(0, 8) + "01";
  json::object usage{
      {"executionsPerDay", app.db->count_executions_since(a.user_id, day_start)},
      {"concurrentRuns", app.runs->running_for_user(a.user_id)},
      {"maxNodes", nullptr},  // per workflow: checked when a workflow is saved or run
      {"maxWorkflows", app.db->count_workflows(a.user_id)},
      {"monthlyPlatformCostUsd", app.db->platform_cost_since(a.user_id, month_start)}};
  json::array plans;
  for (const auto& [name, limits] : app.cfg.tiers)
    plans.push_back(json::object{
        {"tier", name},
        {"limits", limits_json(limits)},
        {"purchasable", app.billing->enabled() && app.billing->price_of(name).has_value()},
        {"current", name == a.tier}});
  json::object out{
      {"enabled", app.billing->enabled()},
      {"tier", a.tier},
      {"status", a.status},
      {"cancelAtPeriodEnd", a.cancel_at_period_end},
      {"currentPeriodEnd", a.current_period_end
                               ? json::value(iso_time(*a.current_period_end * 1000))
                               : json::value(nullptr)},
      {"hasCustomer", a.customer_id.has_value() && !a.customer_id->empty()},
      {"limits", limits_json(t)},
      {"usage", std::move(usage)},
      {"upgradeTo", t.upgrade_to.empty() ? json::value(nullptr) : json::value(t.upgrade_to)},
      {"plans", std::move(plans)}};
  if (app.billing->enabled() && !app.cfg.billing.meter_event.empty()) {
    std::int64_t sent = 0, pending = 0;
    for (const auto& r : app.db->usage_reports(a.user_id, month_start)) {
      if (r.status == "sent") sent += r.value;
      if (r.status == "pending") pending += r.value;
    }
    out["metered"] = json::object{{"eventName", app.cfg.billing.meter_event},
                                  {"reportedThisMonth", sent},
                                  {"pendingThisMonth", pending}};
  } else {
    out["metered"] = nullptr;
  }
  return out;
}

json::object invoice_json(const json::object& inv) {
  auto s = [&](std::string_view k) -> json::value {
    auto* v = inv.if_contains(k);
    return v && v->is_string() ? *v : json::value(nullptr);
  };
  auto n = [&](std::string_view k) -> std::int64_t {
    auto* v = inv.if_contains(k);
    return v && v->is_int64() ? v->get_int64() : 0;
  };
  return {{"id", s("id")},
          {"number", s("number")},
          {"status", s("status")},
          {"amountDue", n("amount_due")},
          {"amountPaid", n("amount_paid")},
          {"currency", s("currency")},
          {"created", iso_time(n("created") * 1000)},
          {"hostedInvoiceUrl", s("hosted_invoice_url")},
          {"invoicePdf", s("invoice_pdf")}};
}

// A Stripe failure as the client sees it: 502, Stripe's message (keys redacted by the client).
void stripe_failed(App& app, Ctx& c, const char* what, error_code ec, const std::string& message,
                   int status = 0, const std::string& request_id = {}) {
  app.log.log(Logger::error, "stripe call failed",
              {{"requestId", c.req.request_id},
               {"operation", what},
               {"error", message},
               {"stripeStatus", status},
               {"stripeRequestId", request_id}});
  bool answered = status != 0;
  c.error(502, answered ? "stripe_error" : "stripe_unavailable",
          std::string(answered ? "Stripe refused to " : "could not reach Stripe to ") + what +
              ": " + message,
          {{"stripeStatus", status}, {"kind", std::string(error_kind(ec))}});
}

// Where Stripe sends the user back: CHORUS_PUBLIC_URL, else this request's origin.
std::string origin(App& app, Ctx& c) {
  std::string base = app.cfg.public_url;
  if (base.empty()) {
    std::string host(c.req.header("host"));
    if (host.empty()) host = app.cfg.host + ":" + std::to_string(app.cfg.port);
    bool tls = app.cfg.secure_cookies || !app.cfg.tls_cert_file.empty();
    base = (tls ? "https://" : "http://") + host;
  }
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base;
}

// An optional absolute http(s) URL field.
std::optional<std::string> url_field(Fields& f, std::string_view name) {
  auto v = f.string(name, false, 1, 2000);
  if (v && !v->starts_with("https://") && !v->starts_with("http://")) {
    f.problem(name, std::string(name) + " must be an absolute http(s) URL");
    return std::nullopt;
  }
  return v;
}

// The body as an object; an empty body is an empty object (these bodies are all optional).
std::optional<json::object> optional_body(Ctx& c) {
  if (c.req.body.empty()) return json::object{};
  return c.body_object();
}

bool safe_stripe_id(const std::string& id) {
  if (id.empty() || id.size() > 255) return false;
  for (char ch : id)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_'))
      return false;
  return true;
}

// Guards an asynchronous continuation: a storage failure there answers 503, as App::handle does.
template <class F>
void guarded(App& app, const CtxPtr& c, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    app.log.log(Logger::error, "billing handler failed",
                {{"requestId", c->req.request_id}, {"error", e.what()}});
    c->error(503, "storage_unavailable", "the database failed; try again");
  }
}

void set_cancel(App& app, const CtxPtr& c, bool cancel) {
  if (disabled(app, *c)) return;
  auto a = account_of(app, *c);
  if (!a) return;
  if (!subscribed(*a) || !safe_stripe_id(*a->subscription_id))
    return c->error(409, "no_subscription",
                    "there is no active subscription to " +
                        std::string(cancel ? "cancel" : "resume") + "; upgrade first");
  FormFields form{{"cancel_at_period_end", cancel ? "true" : "false"}};
  app.billing->stripe().async_post(
      "/v1/subscriptions/" + *a->subscription_id, std::move(form),
      "chorus-" + std::string(cancel ? "cancel-" : "resume-") + random_id(),
      [&app, c, cancel, user_id = a->user_id](error_code ec, StripeResult r) {
        guarded(app, c, [&] {
          if (ec)
            return stripe_failed(app, *c,
                                 cancel ? "cancel the subscription" : "resume the subscription", ec,
                                 r.message, r.status, r.request_id);
          // Stripe confirms with customer.subscription.updated; show the change now.
          app.db->set_cancel_at_period_end(user_id, cancel);
          app.log.log(Logger::info,
                      cancel ? "subscription set to cancel at period end" : "subscription resumed",
                      {{"userId", user_id}});
          auto now = app.db->billing_account(user_id);
          if (!now) return c->error(401, "unauthenticated", "the account no longer exists");
          c->json(200, summary(app, *now));
        });
      });
}

}  // namespace

void register_billing_routes(App& app) {
  app.route("GET", "/api/billing", true, [&app](CtxPtr c) {
    auto a = account_of(app, *c);
    if (!a) return;
    json::object body = summary(app, *a);
    if (!app.billing->enabled() || !a->customer_id || a->customer_id->empty()) {
      body["invoices"] = json::array();
      return c->json(200, body);
    }
    app.billing->stripe().async_get(
        "/v1/invoices", {{"customer", *a->customer_id}, {"limit", "10"}},
        [&app, c, body = std::move(body)](error_code ec, StripeResult r) mutable {
          json::array invoices;
          if (!ec && r.body.is_object())
            if (auto* data = r.body.as_object().if_contains("data"); data && data->is_array())
              for (const auto& inv : data->get_array())
                if (inv.is_object()) invoices.push_back(invoice_json(inv.get_object()));
          if (ec) {
            // The plan and limits are still worth showing: say why the invoices are missing.
            app.log.log(Logger::warn, "listing invoices failed", {{"error", r.message}});
            body["invoicesError"] = "could not list invoices from Stripe: " + r.message;
          }
          body["invoices"] = std::move(invoices);
          c->json(200, body);
        });
  });

  app.route("POST", "/api/billing/checkout", true, [&app](CtxPtr c) {
    if (disabled(app, *c)) return;
    auto body = c->body_object();
    if (!body) return;
    Fields f(*body);
    auto plan = f.string("plan", true, 1, 64);
    auto success = url_field(f, "successUrl");
    auto cancel = url_field(f, "cancelUrl");
    std::optional<std::string> price;
    if (plan) {
      price = app.billing->price_of(*plan);
      if (!app.cfg.tiers.count(*plan))
        f.problem("plan", "unknown plan '" + *plan + "'");
      else if (!price)
        f.problem("plan", "the plan '" + *plan + "' cannot be bought on this server (no price)");
    }
    if (!f.ok()) return f.reject(*c);
    auto a = account_of(app, *c);
    if (!a) return;
    if (subscribed(*a))
      return c->error(409, "already_subscribed",
                      "you already have a subscription (" + a->tier +
                          "); change or cancel it in the billing portal (POST "
                          "/api/billing/portal)",
                      {{"tier", a->tier}, {"status", a->status}});
    std::string base = origin(app, *c);
    std::string success_url = success.value_or(base + "/#/billing?checkout=success");
    std::string cancel_url = cancel.value_or(base + "/#/billing?checkout=cancelled");
    std::string tier = *plan, price_id = *price, user_id = a->user_id;
    app.billing->async_customer(*a, [&app, c, tier, price_id, user_id, success_url, cancel_url](
                                        error_code ec, std::string customer, StripeResult cr) {
      if (ec && cr.status == 0 && ec == errc::server)
        return c->error(503, "storage_unavailable", "the database failed; try again");
      if (ec)
        return stripe_failed(app, *c, "create the customer", ec, cr.message, cr.status,
                             cr.request_id);
      FormFields form{{"mode", "subscription"},
                      {"customer", customer},
                      {"client_reference_id", user_id},
                      {"success_url", success_url},
                      {"cancel_url", cancel_url}};
      json::object nested{
          {"line_items", json::array{json::object{{"price", price_id}, {"quantity", 1}}}},
          {"metadata", {{"chorus_user_id", user_id}, {"chorus_tier", tier}}},
          {"subscription_data",
           {{"metadata", {{"chorus_user_id", user_id}, {"chorus_tier", tier}}}}}};
      if (!app.cfg.billing.metered_price.empty())  // usage-based part: no quantity on metered
        nested["line_items"].as_array().push_back(
            json::object{{"price", app.cfg.billing.metered_price}});
      flatten_form(nested, form);
      app.billing->stripe().async_post(
          "/v1/checkout/sessions", std::move(form), "chorus-checkout-" + random_id(),
          [&app, c, tier, user_id](error_code ec, StripeResult r) {
            std::string url, id;
            if (!ec && r.body.is_object()) {
              const auto& o = r.body.as_object();
              if (auto* u = o.if_contains("url"); u && u->is_string())
                url = std::string(u->get_string());
              if (auto* i = o.if_contains("id"); i && i->is_string())
                id = std::string(i->get_string());
            }
            if (!ec && url.empty()) {
              ec = errc::protocol;
              r.message = "the checkout session has no url";
            }
            if (ec)
              return stripe_failed(app, *c, "start the checkout", ec, r.message, r.status,
                                   r.request_id);
            app.log.log(Logger::info, "checkout session created",
                        {{"userId", user_id}, {"tier", tier}, {"sessionId", id}});
            c->json(200, json::object{{"url", url}, {"sessionId", id}, {"plan", tier}});
          });
    });
  });

  app.route("POST", "/api/billing/portal", true, [&app](CtxPtr c) {
    if (disabled(app, *c)) return;
    auto body = optional_body(*c);
    if (!body) return;
    Fields f(*body);
    auto ret = url_field(f, "returnUrl");
    if (!f.ok()) return f.reject(*c);
    auto a = account_of(app, *c);
    if (!a) return;
    if (!a->customer_id || a->customer_id->empty())
      return c->error(
          409, "no_customer",
          "there is no billing account yet: upgrade first (POST /api/billing/checkout)");
    FormFields form{{"customer", *a->customer_id},
                    {"return_url", ret.value_or(origin(app, *c) + "/#/billing")}};
    app.billing->stripe().async_post(
        "/v1/billing_portal/sessions", std::move(form), "chorus-portal-" + random_id(),
        [&app, c](error_code ec, StripeResult r) {
          std::string url;
          if (!ec && r.body.is_object())
            if (auto* u = r.body.as_object().if_contains("url"); u && u->is_string())
              url = std::string(u->get_string());
          if (!ec && url.empty()) {
            ec = errc::protocol;
            r.message = "the portal session has no url";
          }
          if (ec)
            return stripe_failed(app, *c, "open the billing portal", ec, r.message, r.status,
                                 r.request_id);
          c->json(200, json::object{{"url", url}});
        });
  });

  app.route("POST", "/api/billing/cancel", true, [&app](CtxPtr c) { set_cancel(app, c, true); });
  app.route("POST", "/api/billing/resume", true, [&app](CtxPtr c) { set_cancel(app, c, false); });

  // Stripe calls this: no session, the signature over the raw body authenticates it.
  app.route("POST", "/api/billing/webhook", false, [&app](CtxPtr c) {
    if (disabled(app, *c)) return;
    WebhookAnswer a = app.billing->handle_webhook(c->req.header("stripe-signature"), c->req.body);
    app.metrics.count("chorus_billing_webhooks_total{outcome=\"" +
                      (a.status == 200 ? a.outcome : a.code) + "\"}");
    if (a.status != 200) return c->error(a.status, a.code, a.message);
    c->json(200, json::object{{"received", true}, {"outcome", a.outcome}});
  });
}

}  // namespace chorus::server
