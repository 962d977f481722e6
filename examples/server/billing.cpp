#include "billing.hpp"

#include "app.hpp"
#include "crypto.hpp"

#include <boost/json/parse.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace chorus::server {

namespace {

constexpr std::int64_t kDayMs = 86'400'000;
/// Periods (UTC days) the reporter looks back at: executions finishing late, or a server that was
/// down for a few days, are still reported (Stripe accepts meter events up to 35 days old).
constexpr std::int64_t kReportLookbackDays = 7;

std::string env_or_empty(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

// A string member of an object, or of an expanded object's "id" (Stripe's `customer` may be an
// id or the expanded customer).
std::string id_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_object())
    if (auto* id = v->get_object().if_contains("id"); id && id->is_string())
      return std::string(id->get_string());
  return {};
}

const json::object* object_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

std::string meta(const json::object& o, std::string_view key) {
  if (auto* m = object_at(o, "metadata")) return id_at(*m, key);
  return {};
}

std::optional<std::int64_t> int_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return std::nullopt;
}

// The first subscription item (price and, since API version 2025-03-31, the period end).
const json::object* first_item(const json::object& sub) {
  if (auto* items = object_at(sub, "items"))
    if (auto* data = items->if_contains("data");
        data && data->is_array() && !data->get_array().empty() && data->get_array()[0].is_object())
      return &data->get_array()[0].get_object();
  return nullptr;
}

// The subscription an invoice belongs to: `subscription` before API version 2025-03-31,
// `parent.subscription_details.subscription` since.
std::string invoice_subscription(const json::object& inv) {
  if (auto s = id_at(inv, "subscription"); !s.empty()) return s;
  if (auto* parent = object_at(inv, "parent"))
    if (auto* d = object_at(*parent, "subscription_details")) return id_at(*d, "subscription");
  return {};
}

bool paid_status(std::string_view s) {
  return s == "active" || s == "trialing" || s == "past_due";
}

}  // namespace

std::string stripe_signature(std::string_view secret, std::int64_t t, std::string_view payload) {
  std::string signed_text = std::to_string(t);
  signed_text.push_back('.');
  signed_text.append(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  return to_hex(std::string_view(reinterpret_cast<const char*>(mac), len));
}

SignatureCheck verify_stripe_signature(std::string_view header, std::string_view payload,
                                       std::string_view secret, std::int64_t now_s,
                                       std::int64_t tolerance_s) {
  std::string_view t_text;
  std::vector<std::string_view> v1;
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view part = header.substr(0, comma);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos) {
      std::string_view k = part.substr(0, eq), v = part.substr(eq + 1);
      if (k == "t")
        t_text = v;
      else if (k == "v1")
        v1.push_back(v);  // v0 and unknown schemes are ignored, as Stripe's libraries do
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  if (t_text.empty() || v1.empty()) return SignatureCheck::missing;
  if (t_text.size() > 12 ||
      !std::all_of(t_text.begin(), t_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return SignatureCheck::malformed;
  std::int64_t t = std::stoll(std::string(t_text));
  std::string expected = stripe_signature(secret, t, payload);
  bool match = false;
  for (auto sig : v1)  // every candidate is compared: no early exit on the first match
    match = constant_time_equal(sig, expected) || match;
  if (!match) return SignatureCheck::mismatch;
  if (t < now_s - tolerance_s || t > now_s + tolerance_s) return SignatureCheck::stale;
  return SignatureCheck::ok;
}

std::map<std::string, std::string> parse_billing_prices(std::string_view text,
                                                        std::string_view source) {
  error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object())
    throw std::invalid_argument(std::string(source) +
                                ": expected a JSON object {\"tier\": \"price_...\"}");
  std::map<std::string, std::string> out;
  for (const auto& kv : v.as_object()) {
    if (!kv.value().is_string() || kv.value().get_string().empty())
      throw std::invalid_argument(std::string(source) + "." + std::string(kv.key()) +
                                  ": expected a Stripe price id string");
    out[std::string(kv.key())] = std::string(kv.value().get_string());
  }
  return out;
}

Billing::Billing(App& app) : app_(app), timer_(app.ioc) {
  const BillingConfig& b = app.cfg.billing;
  if (!app.cfg.tiers.count(app.cfg.default_tier))
    throw std::invalid_argument("--default-tier: unknown tier '" + app.cfg.default_tier + "'");
  for (const auto& [tier, price] : b.prices)
    if (!app.cfg.tiers.count(tier))
      throw std::invalid_argument("billing prices: unknown tier '" + tier + "'");
  prices_ = b.prices;
  // STRIPE_PRICE_<TIER> (upper case) for every tier the prices do not name yet.
  for (const auto& [tier, limits] : app.cfg.tiers) {
    if (prices_.count(tier)) continue;
    std::string name = "STRIPE_PRICE_";
    for (char ch : tier)
      name.push_back(ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 'a' + 'A')
                     : (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ? ch
                                                                            : '_');
    if (auto v = env_or_empty(name); !v.empty()) prices_[tier] = v;
  }
  if (b.secret_key.empty()) {
    app.log.log(Logger::info, "billing disabled (self-hosted): no STRIPE_SECRET_KEY",
                {{"defaultTier", app.cfg.default_tier}});
    return;
  }
  if (b.webhook_secret.empty())
    throw std::invalid_argument(
        "STRIPE_WEBHOOK_SECRET is required when STRIPE_SECRET_KEY is set (webhooks set the tiers)");
  if (!http::parse_url(b.api_base + "/"))
    throw std::invalid_argument("STRIPE_API_BASE must be an http(s) URL");
  stripe_ = std::make_unique<StripeClient>(app.ioc.get_executor(),
                                           StripeOptions{b.secret_key, b.api_base, {}});
  json::object priced;
  for (const auto& [tier, price] : prices_)
    priced[tier] = price;
  app.log.log(Logger::info, "billing enabled",
              {{"apiBase", b.api_base},
               {"stripeVersion", kStripeApiVersion},
               {"prices", std::move(priced)},
               {"meterEvent", b.meter_event}});
}

Billing::~Billing() = default;

std::optional<std::string> Billing::price_of(const std::string& tier) const {
  auto it = prices_.find(tier);
  if (it == prices_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Billing::tier_of_price(std::string_view price_id) const {
  for (const auto& [tier, price] : prices_)
    if (price == price_id) return tier;
  return std::nullopt;
}

void Billing::async_customer(
    const BillingAccount& account,
    std::function<void(error_code, std::string customer_id, StripeResult r)> done) {
  if (account.customer_id && !account.customer_id->empty()) {
    done({}, *account.customer_id, {});
    return;
  }
  FormFields form{{"email", account.email}, {"metadata[chorus_user_id]", account.user_id}};
  if (!account.name.empty()) form.emplace_back("name", account.name);
  std::string user_id = account.user_id;
  stripe_->async_post(
      "/v1/customers", std::move(form), "chorus-customer-" + user_id,
      [this, user_id, done = std::move(done)](error_code ec, StripeResult r) {
        std::string id = r.body.is_object() ? id_at(r.body.as_object(), "id") : "";
        if (!ec && id.empty()) {
          ec = errc::protocol;
          r.message = "the customer has no id";
        }
        if (ec) {
          done(ec, {}, std::move(r));
          return;
        }
        try {
          // A concurrent first upgrade may have stored one already: keep that.
          std::string stored = app_.db->set_stripe_customer(user_id, id);
          app_.log.log(Logger::info, "stripe customer created",
                       {{"userId", user_id}, {"customerId", stored}});
          done({}, stored, {});
        } catch (const std::exception& e) {
          app_.log.log(Logger::error, "storing the stripe customer failed", {{"error", e.what()}});
          done(errc::server, {}, StripeResult{});  // status 0: not Stripe's
        }
      });
}

std::optional<BillingChange> Billing::change_for(const std::string& type, const json::object& obj,
                                                 std::string& why) {
  const std::string& fallback = app_.cfg.default_tier;
  auto user_for = [&](const std::string& customer,
                      const std::string& user_id) -> std::optional<BillingAccount> {
    if (!customer.empty())
      if (auto a = app_.db->billing_account_by_customer(customer)) return a;
    if (!user_id.empty()) return app_.db->billing_account(user_id);
    return std::nullopt;
  };
  if (type == "checkout.session.completed") {
    if (id_at(obj, "mode") != "subscription") {
      why = "not a subscription checkout";
      return std::nullopt;
    }
    std::string user_id = id_at(obj, "client_reference_id");
    if (user_id.empty()) user_id = meta(obj, "chorus_user_id");
    auto account = user_for(id_at(obj, "customer"), user_id);
    if (!account) {
      why = "no user for this checkout";
      return std::nullopt;
    }
    BillingChange c;
    c.user_id = account->user_id;
    if (auto cus = id_at(obj, "customer"); !cus.empty()) c.customer_id = cus;
    if (auto sub = id_at(obj, "subscription"); !sub.empty()) c.subscription_id = sub;
    std::string tier = meta(obj, "chorus_tier");
    if (app_.cfg.tiers.count(tier)) c.tier = tier;
    c.status = "active";
    c.cancel_at_period_end = false;
    return c;
  }
  if (type == "customer.subscription.created" || type == "customer.subscription.updated" ||
      type == "customer.subscription.deleted") {
    auto account = user_for(id_at(obj, "customer"), meta(obj, "chorus_user_id"));
    if (!account) {
      why = "no user for this customer";
      return std::nullopt;
    }
    std::string sub_id = id_at(obj, "id");
    // Events of another (older) subscription of the same customer do not touch the current one.
    if (account->subscription_id && !account->subscription_id->empty() &&
        *account->subscription_id != sub_id && type != "customer.subscription.created" &&
        paid_status(account->status)) {
      why = "not the user's current subscription";
      return std::nullopt;
    }
    BillingChange c;
    c.user_id = account->user_id;
    c.customer_id = id_at(obj, "customer");
    c.subscription_id = sub_id;
    std::string status =
        type == "customer.subscription.deleted" ? "canceled" : id_at(obj, "status");
    c.status = status;
    const json::object* item = first_item(obj);
    std::optional<std::string> tier;
    if (item)
      if (auto* price = object_at(*item, "price")) tier = tier_of_price(id_at(*price, "id"));
    if (!tier) {
      std::string m = meta(obj, "chorus_tier");
      if (app_.cfg.tiers.count(m)) tier = m;
    }
    if (paid_status(status)) {
      if (tier) c.tier = *tier;
    } else if (status == "canceled" || status == "unpaid" || status == "incomplete_expired" ||
               status == "paused") {
      c.tier = fallback;  // access ends; "incomplete" keeps the current tier until it resolves
    }
    if (auto* v = obj.if_contains("cancel_at_period_end"); v && v->is_bool())
      c.cancel_at_period_end = v->get_bool();
    if (type == "customer.subscription.deleted") c.cancel_at_period_end = false;
    c.current_period_end = int_at(obj, "current_period_end");
    if (!c.current_period_end && item) c.current_period_end = int_at(*item, "current_period_end");
    return c;
  }
  if (type == "invoice.paid" || type == "invoice.payment_failed") {
    std::string sub = invoice_subscription(obj);
    if (sub.empty()) {
      why = "not a subscription invoice";
      return std::nullopt;
    }
    auto account = user_for(id_at(obj, "customer"), {});
    if (!account) {
      why = "no user for this customer";
      return std::nullopt;
    }
    if (account->subscription_id && *account->subscription_id != sub) {
      why = "not the user's current subscription";
      return std::nullopt;
    }
    BillingChange c;
    c.user_id = account->user_id;
    c.subscription_id = sub;
    // A failed payment keeps the tier while Stripe retries (status past_due); Stripe then sends
    // customer.subscription.updated/deleted, which ends the paid tier.
    c.status = type == "invoice.paid" ? "active" : "past_due";
    return c;
  }
  why = "event type not handled";
  return std::nullopt;
}

WebhookAnswer Billing::handle_webhook(std::string_view signature_header, std::string_view payload) {
  const BillingConfig& b = app_.cfg.billing;
  std::int64_t now_s = now_ms() / 1000;
  switch (verify_stripe_signature(signature_header, payload, b.webhook_secret, now_s,
                                  b.webhook_tolerance_s)) {
    case SignatureCheck::ok:
      break;
    case SignatureCheck::missing:
      return {400,
              "invalid_signature",
              "the Stripe-Signature header is missing or has no t= and v1= parts",
              {}};
    case SignatureCheck::malformed:
      return {400, "invalid_signature", "the Stripe-Signature timestamp is not a number", {}};
    case SignatureCheck::mismatch:
      return {400,
              "invalid_signature",
              "no v1 signature matches the payload (check STRIPE_WEBHOOK_SECRET)",
              {}};
    case SignatureCheck::stale:
      return {400,
              "stale_signature",
              "the Stripe-Signature timestamp is more than " +
                  std::to_string(b.webhook_tolerance_s) +
                  " s from the server's clock (a replayed or delayed delivery)",
              {}};
  }
  error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object()) return {400, "invalid_json", "the event is not a JSON object", {}};
  const auto& ev = v.as_object();
  std::string id = id_at(ev, "id"), type = id_at(ev, "type");
  const json::object* data = object_at(ev, "data");
  const json::object* obj = data ? object_at(*data, "object") : nullptr;
  if (id.empty() || type.empty() || !obj)
    return {400, "invalid_event", "the event needs id, type and data.object", {}};
  BillingEvent rec;
  rec.id = id;
  rec.type = type;
  rec.created = int_at(ev, "created").value_or(now_s);
  std::string why;
  auto change = change_for(type, *obj, why);
  rec.outcome = change ? "applied" : "ignored";
  std::optional<std::string> old_tier;
  if (change)
    if (auto a = app_.db->billing_account(change->user_id)) old_tier = a->tier;
  if (!app_.db->apply_billing_event(rec, change)) {
    app_.log.log(Logger::info, "stripe event replayed: ignored", {{"eventId", id}, {"type", type}});
    return {200, {}, {}, "duplicate"};
  }
  if (!change) {
    app_.log.log(Logger::info, "stripe event ignored",
                 {{"eventId", id}, {"type", type}, {"reason", why}});
    return {200, {}, {}, "ignored"};
  }
  auto now = app_.db->billing_account(change->user_id);
  // Applied: the user's last event is this one; stale: a newer one was applied before.
  bool stale = now && now->last_event_at != rec.created;
  // The user's next request re-reads the user: the new tier's limits apply at once.
  app_.forget_user(change->user_id);
  app_.log.log(Logger::info,
               stale ? "stripe event older than the last one applied: recorded only"
                     : "stripe event applied",
               {{"eventId", id},
                {"type", type},
                {"userId", change->user_id},
                {"tier", now ? json::value(now->tier) : json::value(nullptr)},
                {"previousTier", old_tier ? json::value(*old_tier) : json::value(nullptr)},
                {"status", now ? json::value(now->status) : json::value(nullptr)}});
  return {200, {}, {}, stale ? "stale" : "applied"};
}

// ---------------------------------------------------------------------------------------------
// Metered usage

void Billing::start() {
  if (!enabled() || app_.cfg.billing.meter_event.empty()) return;
  arm();
}

void Billing::arm() {
  timer_.expires_after(app_.cfg.billing.report_interval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    report_usage([this] { arm(); });
  });
}

void Billing::plan_reports() {
  std::int64_t now = now_ms();
  std::int64_t since = (now / kDayMs - (kReportLookbackDays - 1)) * kDayMs;
  std::map<std::pair<std::string, std::string>, UsageCount> reported;
  for (auto& r : app_.db->reported_usage(iso_day(since)))
    reported[{r.user_id, r.period}] = r;
  for (const auto& c : app_.db->billable_executions(since)) {
    auto it = reported.find({c.user_id, c.period});
    std::int64_t sum = it == reported.end() ? 0 : it->second.value;
    std::int64_t seq = (it == reported.end() ? 0 : it->second.last_seq) + 1;
    if (c.value <= sum) continue;
    UsageReportRecord r;
    r.user_id = c.user_id;
    r.period = c.period;
    r.seq = seq;
    r.value = c.value - sum;
    // Deterministic per (user, period, seq): a resend after a crash is the same meter event.
    r.identifier = "chorus-" + c.user_id + "-" + c.period + "-" + std::to_string(seq);
    r.status = "pending";
    r.created_at = now;
    // Another instance may have written this seq first: then its report stands and ours is not.
    app_.db->add_usage_report(r);
  }
}

void Billing::report_usage(std::function<void()> done) {
  if (!enabled() || app_.cfg.billing.meter_event.empty()) {
    if (done) done();
    return;
  }
  if (done) waiting_.push_back(std::move(done));
  if (reporting_) return;
  reporting_ = true;
  auto batch = std::make_shared<std::vector<UsageReportRecord>>();
  try {
    plan_reports();
    *batch = app_.db->pending_usage_reports(100);
  } catch (const std::exception& e) {
    app_.log.log(Logger::error, "metered usage: storage failed", {{"error", e.what()}});
    batch->clear();
  }
  send_next(std::move(batch), 0);
}

void Billing::send_next(std::shared_ptr<std::vector<UsageReportRecord>> batch, std::size_t i) {
  if (i >= batch->size()) {
    reporting_ = false;
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& f : waiting)
      f();
    return;
  }
  const UsageReportRecord& r = (*batch)[i];
  // The event's time: when it was recorded, kept inside its period, so a resend is identical.
  std::int64_t period_end_s = 0;
  {
    int y = 0, m = 0, d = 0;
    std::sscanf(r.period.c_str(), "%d-%d-%d", &y, &m, &d);
    namespace chr = std::chrono;
    chr::sys_days start{chr::year{y} / chr::month{static_cast<unsigned>(m)} /
                        chr::day{static_cast<unsigned>(d)}};
    period_end_s = chr::duration_cast<chr::seconds>(start.time_since_epoch()).count() + 86'399;
  }
  std::int64_t ts = std::min(r.created_at / 1000, period_end_s);
  FormFields form{{"event_name", app_.cfg.billing.meter_event},
                  {"identifier", r.identifier},
                  {"timestamp", std::to_string(ts)},
                  {"payload[stripe_customer_id]", r.customer_id},
                  {"payload[value]", std::to_string(r.value)}};
  stripe_->async_post(
      "/v1/billing/meter_events", std::move(form), r.identifier,
      [this, batch, i](error_code ec, StripeResult res) {
        const UsageReportRecord& r = (*batch)[i];
        try {
          if (!ec) {
            app_.db->finish_usage_report(r.identifier, "sent", std::nullopt, now_ms());
            app_.metrics.count("chorus_billing_meter_events_total{result=\"sent\"}");
            app_.log.log(Logger::info, "metered usage reported",
                         {{"userId", r.user_id},
                          {"period", r.period},
                          {"value", r.value},
                          {"identifier", r.identifier}});
          } else if ((ec == errc::bad_request && res.status != 409) || ec == errc::auth) {
            // Stripe refused it (unknown customer, no such meter): resending cannot help. A 409 is
            // the same Idempotency-Key in flight from another instance: left pending, retried.
            app_.db->finish_usage_report(r.identifier, "failed", res.message, now_ms());
            app_.metrics.count("chorus_billing_meter_events_total{result=\"failed\"}");
            app_.log.log(
                Logger::error, "metered usage refused by stripe",
                {{"identifier", r.identifier}, {"status", res.status}, {"error", res.message}});
          } else {
            app_.log.log(Logger::warn, "metered usage not reported yet; will retry",
                         {{"identifier", r.identifier}, {"error", res.message}});
          }
        } catch (const std::exception& e) {
          app_.log.log(Logger::error, "metered usage: storage failed", {{"error", e.what()}});
        }
        send_next(batch, i + 1);
      });
}

}  // namespace chorus::server
