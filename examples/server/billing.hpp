// Subscriptions and metered usage with Stripe (docs/billing.md): the customer of each user, the
// webhook events that set users' tiers, and the periodic report of executions to Stripe meter
// events, exactly once across restarts. Without STRIPE_SECRET_KEY the server is self-hosted:
// nothing here talks to Stripe and the billing endpoints say so.
#pragma once

#include "storage.hpp"
#include "stripe_client.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace chorus::server {

class App;

/// The result of checking a Stripe-Signature header.
enum class SignatureCheck {
  ok,
  missing,    ///< No header, or no `t=` / no `v1=` in it.
  malformed,  ///< `t=` is not a number.
  mismatch,   ///< No v1 signature matches the payload.
  stale,      ///< The timestamp is further than the tolerance from now.
};

/// Checks `header` ("t=<unix seconds>,v1=<hex>,v1=<hex>,v0=<hex>") as Stripe signs webhooks:
/// any v1 equal (constant-time) to hex HMAC-SHA256(secret, "<t>.<payload>"), and |now - t| at most
/// `tolerance_s`. Sans-IO: the clock is a parameter.
SignatureCheck verify_stripe_signature(std::string_view header, std::string_view payload,
                                       std::string_view secret, std::int64_t now_s,
                                       std::int64_t tolerance_s);

/// Hex HMAC-SHA256(secret, "<t>.<payload>"): the v1 signature of a payload at time t.
std::string stripe_signature(std::string_view secret, std::int64_t t, std::string_view payload);

/// Parses {"tier": "price_...", ...}; throws std::invalid_argument naming `source` and the field.
std::map<std::string, std::string> parse_billing_prices(std::string_view json_text,
                                                        std::string_view source);

/// What a webhook delivery gets answered.
struct WebhookAnswer {
  int status = 200;
  std::string code;  ///< Error code when status is not 2xx.
  std::string message;
  std::string outcome;  ///< 2xx: "applied", "duplicate", "ignored" or "stale".
};

class Billing {
 public:
  explicit Billing(App& app);
  ~Billing();

  /// True when STRIPE_SECRET_KEY is set (else the server is self-hosted).
  bool enabled() const noexcept { return stripe_ != nullptr; }
  StripeClient& stripe() { return *stripe_; }
  /// The Stripe price id of a tier; nullopt when the tier cannot be bought.
  std::optional<std::string> price_of(const std::string& tier) const;
  /// The tier a Stripe price id buys; nullopt for an unknown price.
  std::optional<std::string> tier_of_price(std::string_view price_id) const;

  /// Starts the periodic usage report (no-op when disabled or metering is off).
  void start();

  /// The user's Stripe customer id, creating the customer (once: the Idempotency-Key is derived
  /// from the user id, and only the first id is stored) when the user has none yet. Fails with
  /// Stripe's error, or with errc::server and a zero-status result when storing failed.
  void async_customer(
      const BillingAccount& account,
      std::function<void(error_code, std::string customer_id, StripeResult r)> done);

  /// Verifies and applies one webhook delivery (raw body, Stripe-Signature header).
  WebhookAnswer handle_webhook(std::string_view signature_header, std::string_view payload);

  /// One pass of the metered-usage report: records what is new since the last report, then sends
  /// every pending report. `done` runs when the sends finished (or at once when a pass is running).
  void report_usage(std::function<void()> done = {});

 private:
  std::optional<BillingChange> change_for(const std::string& type, const boost::json::object& obj,
                                          std::string& why_ignored);
  void plan_reports();
  void send_next(std::shared_ptr<std::vector<UsageReportRecord>> batch, std::size_t i);
  void arm();

  App& app_;
  std::unique_ptr<StripeClient> stripe_;
  std::map<std::string, std::string> prices_;  ///< tier -> price id
  boost::asio::steady_timer timer_;
  bool reporting_ = false;
  std::vector<std::function<void()>> waiting_;  ///< report_usage() callers of the running pass.
};

}  // namespace chorus::server
