// A small Stripe API client on the library's HTTP client (chorus::http::Client): form-encoded
// requests (nested keys as Stripe spells them: `line_items[0][price]`), a pinned Stripe-Version,
// an Idempotency-Key on every POST, asynchronous on the server's io_context. The secret key goes
// only into the Authorization header and is redacted from every message this client produces.
#pragma once

#include <chorus/error.hpp>
#include <chorus/http.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::server {

namespace asio = boost::asio;

/// The Stripe API version every request pins (Stripe-Version header), so a change of the
/// account's default version cannot change the shapes this server reads. Webhook payloads follow
/// the endpoint's version: configure the webhook endpoint with the same one (docs/billing.md).
inline constexpr std::string_view kStripeApiVersion = "2025-03-31.basil";

/// Form fields in order (keys already in Stripe's bracket notation).
using FormFields = std::vector<std::pair<std::string, std::string>>;

/// application/x-www-form-urlencoded text of `fields` (RFC 3986 unreserved characters kept,
/// everything else percent-encoded, brackets included).
std::string form_encode(const FormFields& fields);

/// Appends the fields of a JSON object in Stripe's nested notation: {"a": {"b": ["x"]}} gives
/// `a[b][0]=x`; booleans are "true"/"false", numbers their JSON text, null an empty value (which
/// Stripe reads as "unset"). Empty objects and arrays add nothing.
void flatten_form(const boost::json::object& object, FormFields& out, std::string_view prefix = {});

/// The outcome of one Stripe call that got an answer.
struct StripeResult {
  int status = 0;           ///< HTTP status.
  boost::json::value body;  ///< The parsed JSON body (null when it was not JSON).
  std::string message;      ///< Not 2xx: Stripe's error message (secrets redacted), else empty.
  std::string request_id;   ///< Stripe's Request-Id header, for support.
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

struct StripeOptions {
  std::string secret_key;                           ///< STRIPE_SECRET_KEY.
  std::string api_base = "https://api.stripe.com";  ///< STRIPE_API_BASE (stripe-mock in tests).
  std::chrono::milliseconds timeout{30'000};        ///< Whole exchange, retries included.
};

/// Calls the Stripe API. Use it from its executor (the server's io thread).
class StripeClient {
 public:
  StripeClient(asio::any_io_executor ex, StripeOptions options);

  /// POST `path` (e.g. "/v1/customers") with `form`; `idempotency_key` is sent as
  /// Idempotency-Key: give the same key for the same logical operation so that a retry (ours, or
  /// the HTTP client's) never does it twice. Completes with void(error_code, StripeResult):
  /// a transport error (timeout, connect_failed, ...) or, for a non-2xx answer, errc::auth (401),
  /// rate_limited (429), server (5xx) or bad_request (other 4xx), with the result filled in.
  template <asio::completion_token_for<void(error_code, StripeResult)> Token>
  auto async_post(std::string path, FormFields form, std::string idempotency_key, Token&& token) {
    return asio::async_initiate<Token, void(error_code, StripeResult)>(
        [this](auto handler, std::string p, FormFields f, std::string key) {
          call("POST", std::move(p), std::move(f), std::move(key), std::move(handler));
        },
        token, std::move(path), std::move(form), std::move(idempotency_key));
  }

  /// GET `path` with `query` as its query string; completes as async_post.
  template <asio::completion_token_for<void(error_code, StripeResult)> Token>
  auto async_get(std::string path, FormFields query, Token&& token) {
    return asio::async_initiate<Token, void(error_code, StripeResult)>(
        [this](auto handler, std::string p, FormFields q) {
          call("GET", std::move(p), std::move(q), {}, std::move(handler));
        },
        token, std::move(path), std::move(query));
  }

  const StripeOptions& options() const noexcept { return options_; }

 private:
  void call(std::string method, std::string path, FormFields form, std::string idempotency_key,
            asio::any_completion_handler<void(error_code, StripeResult)> handler);

  http::Client http_;
  StripeOptions options_;
};

}  // namespace chorus::server
