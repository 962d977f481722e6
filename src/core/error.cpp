#include <chorus/error.hpp>

#include <boost/asio/error.hpp>

#include <array>
#include <cctype>
#include <utility>

namespace chorus {
namespace {

constexpr std::array<std::pair<errc, std::string_view>, 21> names{{
    {errc::rate_limited, "rate_limited"},
    {errc::auth, "auth"},
    {errc::quota_exceeded, "quota_exceeded"},
    {errc::overloaded, "overloaded"},
    {errc::context_length, "context_length"},
    {errc::content_filter, "content_filter"},
    {errc::bad_request, "bad_request"},
    {errc::server, "server"},
    {errc::protocol, "protocol"},
    {errc::timeout, "timeout"},
    {errc::cancelled, "cancelled"},
    {errc::connect_failed, "connect_failed"},
    {errc::tls_failed, "tls_failed"},
    {errc::connection_closed, "connection_closed"},
    {errc::invalid_argument, "invalid_argument"},
    {errc::invalid_workflow, "invalid_workflow"},
    {errc::unknown_provider, "unknown_provider"},
    {errc::unknown_model, "unknown_model"},
    {errc::budget_exceeded, "budget_exceeded"},
    {errc::node_failed, "node_failed"},
    {errc::not_found, "not_found"},
}};

std::string_view describe_errc(errc e) {
  switch (e) {
    case errc::rate_limited:
      return "rate limited by the provider";
    case errc::auth:
      return "authentication failed";
    case errc::quota_exceeded:
      return "quota or balance exhausted";
    case errc::overloaded:
      return "provider overloaded";
    case errc::context_length:
      return "prompt exceeds the model's context window";
    case errc::content_filter:
      return "blocked by the provider's content filter";
    case errc::bad_request:
      return "bad request";
    case errc::server:
      return "provider server error";
    case errc::protocol:
      return "malformed response from the peer";
    case errc::timeout:
      return "timed out";
    case errc::cancelled:
      return "cancelled";
    case errc::connect_failed:
      return "connection failed";
    case errc::tls_failed:
      return "TLS handshake or certificate verification failed";
    case errc::connection_closed:
      return "connection closed before the response was complete";
    case errc::invalid_argument:
      return "invalid argument";
    case errc::invalid_workflow:
      return "invalid workflow";
    case errc::unknown_provider:
      return "unknown provider";
    case errc::unknown_model:
      return "unknown model";
    case errc::budget_exceeded:
      return "budget exceeded";
    case errc::node_failed:
      return "node failed";
    case errc::not_found:
      return "not found";
  }
  return "unknown error";
}

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "chorus"; }
  std::string message(int ev) const override { return std::string(describe_errc(errc(ev))); }
};

bool is_secret_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

std::string_view to_string(errc e) noexcept {
  for (const auto& [value, name] : names)
    if (value == e) return name;
  return "unknown";
}

std::optional<errc> errc_from_string(std::string_view name) noexcept {
  for (const auto& [value, n] : names)
    if (n == name) return value;
  return std::nullopt;
}

bool is_retryable(error_code ec) noexcept {
  if (ec.category() != error_category()) return false;
  switch (static_cast<errc>(ec.value())) {
    case errc::rate_limited:
    case errc::overloaded:
    case errc::server:
    case errc::timeout:
    case errc::connect_failed:
    case errc::connection_closed:
      return true;
    default:
      return false;
  }
}

std::string_view error_kind(error_code ec) noexcept {
  if (!ec) return "ok";
  if (ec.category() == error_category()) return to_string(static_cast<errc>(ec.value()));
  if (ec == boost::asio::error::operation_aborted) return "cancelled";
  if (ec == boost::asio::error::timed_out) return "timeout";
  return "error";
}

std::string Error::describe() const {
  std::string out(error_kind(code));
  out += ": ";
  out += message.empty() ? code.message() : message;
  std::string extra;
  auto add = [&](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    extra += extra.empty() ? " (" : ", ";
    extra += key;
    extra += value;
  };
  add("provider ", provider);
  if (status != 0) add("status ", std::to_string(status));
  add("request id ", request_id);
  add("node ", node_id);
  if (retry_after) add("retry after ", std::to_string(retry_after->count()) + " ms");
  if (!extra.empty()) out += extra + ")";
  return out;
}

Exception::Exception(Error error)
    : boost::system::system_error(error.code), error_(std::move(error)), what_(error_.describe()) {}

Error make_error(error_code code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

namespace {

template <class Secrets>
std::string redact(std::string_view text, const Secrets& known) {
  std::string out(text);
  for (std::string_view secret : known) {
    if (secret.size() < 4) continue;  // too short to be a key; replacing would mangle text
    for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos))
      out.replace(pos, secret.size(), "[redacted]");
  }
  // Well-known key shapes: a prefix followed by a run of key characters.
  static constexpr std::string_view prefixes[] = {"Bearer ", "bearer ",     "sk-",
                                                  "AIza",    "x-api-key: ", "x-goog-api-key: "};
  for (std::string_view prefix : prefixes) {
    std::size_t pos = 0;
    while ((pos = out.find(prefix, pos)) != std::string::npos) {
      std::size_t start = pos + prefix.size();
      std::size_t end = start;
      while (end < out.size() && is_secret_char(out[end]))
        ++end;
      if (end - start >= 6) {
        out.replace(start, end - start, "[redacted]");
        pos = start + 10;
      } else {
        pos = end;
      }
    }
  }
  return out;
}

}  // namespace

std::string redact_secrets(std::string_view text, std::initializer_list<std::string_view> known) {
  return redact(text, known);
}

std::string redact_secrets(std::string_view text, const std::vector<std::string>& known) {
  return redact(text, known);
}

}  // namespace chorus
