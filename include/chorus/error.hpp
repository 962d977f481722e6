// Errors: a std::error_code category (chorus::errc) for control flow, plus chorus::Error, the
// detail a user needs to act on a failure (HTTP status, provider, request id, retry-after and the
// vendor's own message), as Boost.MySQL pairs error_code with diagnostics.
#pragma once

#include <chorus/config.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

namespace chorus {

/// The error code type of every Chorus operation: Boost's, as in Asio, Beast and Boost.MySQL, so
/// completion tokens (use_awaitable, use_future) throw on failure. It converts to std::error_code.
using error_code = boost::system::error_code;

/// What went wrong, in terms a caller can branch on. Names are stable: they are printed by the
/// CLI (`error: <name>: ...`), sent by the server and mapped to exception classes in the bindings.
enum class errc {
  // Provider / vendor outcomes.
  rate_limited = 1,  ///< 429 and friends; retryable, honours retry-after.
  auth,              ///< Bad, missing or unauthorised API key (401/403, Gemini API_KEY_INVALID).
  quota_exceeded,    ///< Billing quota or balance exhausted (OpenAI insufficient_quota, 402).
  overloaded,        ///< Vendor overloaded (503, Anthropic 529, mid-stream overloaded_error).
  context_length,    ///< Prompt longer than the model's context window.
  content_filter,    ///< The vendor blocked the prompt or the answer (Gemini SAFETY).
  bad_request,       ///< Any other 4xx: the request was wrong.
  server,            ///< 500/502/504: the vendor failed.
  protocol,          ///< The peer sent something we cannot parse (malformed JSON, bad SSE).
  // Transport.
  timeout,            ///< A connect, first-byte, idle or total deadline passed.
  cancelled,          ///< The caller cancelled the operation.
  connect_failed,     ///< DNS, TCP or proxy connection failed.
  tls_failed,         ///< TLS handshake failed, including certificate verification.
  connection_closed,  ///< The peer closed the connection before the response was complete.
  // Engine.
  invalid_argument,  ///< A caller-supplied value is out of range or malformed.
  invalid_workflow,  ///< The workflow document does not validate.
  unknown_provider,  ///< No provider registered under that id.
  unknown_model,     ///< The provider does not know that model.
  budget_exceeded,   ///< The run's cost or token budget would be exceeded.
  node_failed,       ///< A workflow node failed and its on_error policy failed the run.
  not_found,         ///< A named resource (file, node, template) does not exist.
};

/// The category of chorus::errc; its name() is "chorus".
CHORUS_API const boost::system::error_category& error_category() noexcept;

/// Makes an error_code from a chorus::errc (found by ADL, so `error_code ec = errc::auth` works).
CHORUS_API error_code make_error_code(errc e) noexcept;

/// The stable snake_case name of an error, e.g. "rate_limited"; "unknown" for foreign values.
CHORUS_API std::string_view to_string(errc e) noexcept;

/// Parses a name produced by to_string(errc); nullopt when it names no error.
CHORUS_API std::optional<errc> errc_from_string(std::string_view name) noexcept;

/// Whether retrying the same request later may succeed: rate_limited, overloaded, server,
/// timeout, connect_failed and connection_closed. quota_exceeded is NOT retryable.
CHORUS_API bool is_retryable(error_code ec) noexcept;

/// The name of any error code as the CLI and the server print it: the chorus name for chorus
/// codes, "cancelled" for asio's operation_aborted, "timeout" for timed_out, else "error".
CHORUS_API std::string_view error_kind(error_code ec) noexcept;

/// Everything known about one failure. Never holds an API key: bodies and messages pass through
/// redact_secrets() before they are stored here.
struct CHORUS_API Error {
  error_code code;          ///< The classification; empty when there was no error.
  std::string message;      ///< The vendor's message when there is one, else ours.
  std::string provider;     ///< Provider id ("openai", ...) or empty outside the provider layer.
  int status = 0;           ///< HTTP status; 0 when none (transport errors, in-stream errors).
  std::string request_id;   ///< The vendor's request id (x-request-id, request-id, ...).
  std::string vendor_code;  ///< The vendor's own error type/code ("insufficient_quota", ...).
  std::optional<std::chrono::milliseconds> retry_after;  ///< Server's hint, when it gave one.
  std::string body_excerpt;  ///< At most 512 bytes of the response body, secrets redacted.
  std::string node_id;       ///< The workflow node, when the error belongs to one.

  /// True when code is set.
  explicit operator bool() const noexcept { return static_cast<bool>(code); }
  /// is_retryable(code).
  bool retryable() const noexcept { return is_retryable(code); }
  /// One line for people: "<kind>: <message>" plus status/provider/request id when present.
  std::string describe() const;
};

/// Thrown by the blocking wrappers and converted by the bindings; carries the whole Error.
class CHORUS_API Exception : public boost::system::system_error {
 public:
  explicit Exception(Error error);
  const Error& error() const noexcept { return error_; }
  /// error().describe(): "<kind>: <message> (provider ..., status ...)".
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  Error error_;
  std::string what_;
};

/// Makes an Error from a code and a message.
CHORUS_API Error make_error(error_code code, std::string message);

/// Replaces anything that looks like an API key or bearer token in `text` with "[redacted]":
/// "Bearer …", "sk-…", "sk-ant-…", "AIza…", "x-api-key: …", and each value of `known_secrets`.
CHORUS_API std::string redact_secrets(std::string_view text,
                                      std::initializer_list<std::string_view> known_secrets = {});
/// The same with the secrets a request carries (http::Request::secrets).
CHORUS_API std::string redact_secrets(std::string_view text,
                                      const std::vector<std::string>& known_secrets);

}  // namespace chorus

template <>
struct boost::system::is_error_code_enum<chorus::errc> : std::true_type {};
