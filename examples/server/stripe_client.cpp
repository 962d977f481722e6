#include "stripe_client.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace chorus::server {

namespace json = boost::json;

std::string form_encode(const FormFields& fields) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  auto put = [&](std::string_view s) {
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.' || c == '~') {
        out.push_back(ch);
      } else {
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
      }
    }
  };
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out.push_back('&');
    put(k);
    out.push_back('=');
    put(v);
  }
  return out;
}

namespace {

void flatten_value(const json::value& v, FormFields& out, const std::string& key) {
  switch (v.kind()) {
    case json::kind::object:
      flatten_form(v.get_object(), out, key);
      break;
    case json::kind::array: {
      std::size_t i = 0;
      for (const auto& item : v.get_array())
        flatten_value(item, out, key + "[" + std::to_string(i++) + "]");
      break;
    }
    case json::kind::string:
      out.emplace_back(key, std::string(v.get_string()));
      break;
    case json::kind::bool_:
      out.emplace_back(key, v.get_bool() ? "true" : "false");
      break;
    case json::kind::null:
      out.emplace_back(key, std::string());
      break;
    default:  // numbers
      out.emplace_back(key, json::serialize(v));
      break;
  }
}

error_code classify(int status) {
  if (status == 401 || status == 403) return errc::auth;
  if (status == 429) return errc::rate_limited;
  if (status >= 500) return errc::server;
  return errc::bad_request;
}

}  // namespace

void flatten_form(const json::object& object, FormFields& out, std::string_view prefix) {
  for (const auto& kv : object) {
    std::string key = prefix.empty() ? std::string(kv.key())
                                     : std::string(prefix) + "[" + std::string(kv.key()) + "]";
    flatten_value(kv.value(), out, key);
  }
}

StripeClient::StripeClient(asio::any_io_executor ex, StripeOptions options)
    : http_(std::move(ex)), options_(std::move(options)) {
  while (!options_.api_base.empty() && options_.api_base.back() == '/')
    options_.api_base.pop_back();
}

void StripeClient::call(std::string method, std::string path, FormFields form,
                        std::string idempotency_key,
                        asio::any_completion_handler<void(error_code, StripeResult)> handler) {
  http::Request req;
  req.method = method;
  std::string encoded = form_encode(form);
  req.url = options_.api_base + path;
  if (method == "GET") {
    if (!encoded.empty()) req.url += (path.find('?') == std::string::npos ? "?" : "&") + encoded;
  } else {
    req.body = std::move(encoded);
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.headers.emplace_back("Idempotency-Key", idempotency_key);
  }
  req.headers.emplace_back("Authorization", "Bearer " + options_.secret_key);
  req.headers.emplace_back("Stripe-Version", std::string(kStripeApiVersion));
  req.headers.emplace_back("Accept", "application/json");
  http::Timeouts t;
  t.connect = std::min<std::chrono::milliseconds>(t.connect, options_.timeout);
  t.first_byte = options_.timeout;
  t.idle = options_.timeout;
  t.total = options_.timeout;
  req.timeouts = t;
  // Safe to retry: GETs, and POSTs carry their Idempotency-Key on every attempt. Stripe marks
  // the answers it wants retried with Stripe-Should-Retry.
  RetryPolicy retry;
  retry.max_attempts = 3;
  retry.base_delay = std::chrono::milliseconds(300);
  retry.max_delay = std::chrono::milliseconds(3000);
  req.retry = retry;
  req.should_retry = [](int status, const http::Headers& headers, std::string_view) {
    for (const auto& [k, v] : headers)
      if (k == "stripe-should-retry") return v == "true";
    return status == 429 || status >= 500;
  };
  req.secrets = {options_.secret_key};
  std::vector<std::string> secret{options_.secret_key};
  http_.async_request(std::move(req), [handler = std::move(handler), secret = std::move(secret)](
                                          error_code ec, http::Response resp) mutable {
    StripeResult r;
    if (ec) {
      r.message =
          redact_secrets(resp.error.message.empty() ? ec.message() : resp.error.message, secret);
      std::move(handler)(ec, std::move(r));
      return;
    }
    r.status = resp.status;
    r.request_id = std::string(resp.header("request-id"));
    error_code pec;
    r.body = json::parse(resp.body, pec);
    if (pec) r.body = nullptr;
    if (r.ok()) {
      std::move(handler)(error_code{}, std::move(r));
      return;
    }
    std::string msg;
    if (r.body.is_object())
      if (auto* e = r.body.as_object().if_contains("error"); e && e->is_object())
        if (auto* m = e->as_object().if_contains("message"); m && m->is_string())
          msg = std::string(m->as_string());
    if (msg.empty()) msg = "Stripe answered HTTP " + std::to_string(resp.status);
    r.message = redact_secrets(msg, secret);
    std::move(handler)(classify(resp.status), std::move(r));
  });
}

}  // namespace chorus::server
