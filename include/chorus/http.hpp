// The HTTP layer: an asynchronous HTTP/1.1 client over Boost.Beast with TLS (verification on by
// default), a keep-alive connection pool per (scheme, host, port), streamed bodies, timeouts,
// cancellation, proxies and retries. It moves bytes; it knows nothing of providers.
#pragma once

#include <chorus/config.hpp>
#include <chorus/error.hpp>
#include <chorus/retry.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::http {

namespace asio = boost::asio;

/// Header fields in order; names as given (compared case-insensitively).
using Headers = std::vector<std::pair<std::string, std::string>>;

/// Deadlines of one request. Zero disables a deadline.
struct Timeouts {
  std::chrono::milliseconds connect{10'000};      ///< DNS + TCP + proxy CONNECT + TLS handshake.
  std::chrono::milliseconds first_byte{120'000};  ///< From request sent to the response head.
  std::chrono::milliseconds idle{60'000};         ///< Longest silence between two body reads.
  std::chrono::milliseconds total{600'000};       ///< The whole exchange, retries included.
};

/// One request. `url` is absolute: http(s)://host[:port]/path[?query].
struct Request {
  std::string method = "POST";
  std::string url;
  Headers headers;
  std::string body;
  std::optional<Timeouts> timeouts;  ///< Overrides the client's defaults for this request.
  /// When set, connect failures and retryable statuses are retried before any body byte reached
  /// the caller. `should_retry`, when set, may veto a retry of a complete error response (a
  /// provider uses it to refuse retrying e.g. a 429 insufficient_quota).
  std::optional<RetryPolicy> retry;
  std::function<bool(int status, const Headers& headers, std::string_view body)> should_retry;
  /// Values to redact from anything this request puts into an Error (API keys it carries).
  std::vector<std::string> secrets;
};

/// A response. Non-2xx statuses are not errors at this layer: the caller classifies them.
struct Response {
  int status = 0;
  Headers headers;   ///< Names lower-cased.
  std::string body;  ///< Whole body (async_request), or the error body of a non-2xx stream.
  int attempts = 1;  ///< How many attempts the retry policy made.
  /// On failure, the details behind the completion's error_code: the same code plus a message
  /// saying what failed ("first_byte timeout of 100 ms", "certificate verify failed: ...") and the
  /// scheme://host:port/path (never the query, never a header value). Empty on success. Read it
  /// with a callback or `asio::as_tuple(token)`; throwing tokens only carry the error_code.
  Error error;

  /// The first value of a header, case-insensitive; empty when absent.
  std::string_view header(std::string_view name) const noexcept;
};

/// Callbacks of a streamed response. Both run on the client's executor. The next read starts
/// only when on_data returns (backpressure). Views are valid only during the call. Exceptions
/// thrown from them propagate out of the io_context's run(), as from any Asio handler.
struct StreamHandler {
  /// When the head of a 2xx response arrived (body still empty). Once per attempt: a retry after
  /// a 2xx body was cut before its first byte may call it again, never after on_data ran.
  std::function<void(const Response& head)> on_headers;
  /// Each chunk of a 2xx body, as it arrives (chunked or Content-Length framing removed).
  std::function<void(std::string_view chunk)> on_data;
};

/// Client-wide settings.
struct ClientOptions {
  std::size_t max_connections_per_host = 256;  ///< Requests beyond this queue for a connection.
  std::size_t max_idle_per_host = 32;          ///< Idle kept-alive connections kept per host.
  std::chrono::milliseconds idle_keepalive{60'000};  ///< An idle connection older is closed.
  Timeouts timeouts;
  bool verify_peer = true;  ///< TLS certificate + hostname verification. Never off by default.
  std::string ca_file;      ///< Extra CA bundle (PEM). Default: $CHORUS_CA_BUNDLE, then system.
  std::string proxy;        ///< "http://[user:pass@]host:port": CONNECT tunnel for https URLs.
  std::string http_proxy;   ///< The same for plain http URLs (also a CONNECT tunnel).
  std::string no_proxy;     ///< Comma-separated hosts/suffixes that bypass the proxy.
  std::string user_agent = "chorus/0.1";

  /// Defaults plus the environment: CHORUS_CA_BUNDLE, https_proxy/HTTPS_PROXY (for https),
  /// http_proxy/HTTP_PROXY (for http), no_proxy/NO_PROXY (lower case wins, as in curl).
  static ClientOptions from_environment();
};

/// Counters of the connection pool, for tests and metrics.
struct PoolStats {
  std::size_t opened = 0;  ///< Connections established.
  std::size_t reused = 0;  ///< Requests served by a kept-alive connection.
  /// Connections closed because they were dirty (cancel, error, timeout, partial read).
  std::size_t discarded = 0;
  std::size_t idle = 0;  ///< Idle connections currently pooled.
};

namespace detail {
class client_impl;
}

/// An HTTP/1.1 client. Thread-compatible: use it from its executor (a strand if the io_context
/// runs on several threads). Copies share the same pool.
class CHORUS_API Client {
 public:
  using executor_type = asio::any_io_executor;

  explicit Client(executor_type ex, ClientOptions options = ClientOptions::from_environment());
  ~Client();
  Client(const Client&) = default;
  Client& operator=(const Client&) = default;

  executor_type get_executor() const noexcept;
  const ClientOptions& options() const noexcept;
  PoolStats stats() const noexcept;

  /// Sends `req`, reads the whole response. Completes with void(error_code, Response).
  /// Errors: errc::timeout, cancelled (operation_aborted via a cancellation slot),
  /// connect_failed, tls_failed, connection_closed, protocol.
  template <asio::completion_token_for<void(error_code, Response)> Token>
  auto async_request(Request req, Token&& token) {
    return asio::async_initiate<Token, void(error_code, Response)>(
        [this](auto handler, Request r) { do_request(std::move(r), nullptr, std::move(handler)); },
        token, std::move(req));
  }

  /// Sends `req` and streams a 2xx body through `handler`; completes at end of body with the head
  /// (body empty). A non-2xx response is read whole into Response::body instead and on_data is
  /// not called. Cancelling closes the connection (never returned dirty to the pool).
  template <asio::completion_token_for<void(error_code, Response)> Token>
  auto async_stream(Request req, StreamHandler handler, Token&& token) {
    return asio::async_initiate<Token, void(error_code, Response)>(
        [this](auto h, Request r, StreamHandler s) {
          do_request(std::move(r), std::make_shared<StreamHandler>(std::move(s)), std::move(h));
        },
        token, std::move(req), std::move(handler));
  }

 private:
  void do_request(Request req, std::shared_ptr<StreamHandler> stream,
                  asio::any_completion_handler<void(error_code, Response)> handler);

  std::shared_ptr<detail::client_impl> impl_;
};

/// Splits an absolute URL into its parts; nullopt when it is not http(s)://host[:port][/...].
struct Url {
  std::string scheme;  ///< "http" or "https"
  std::string host;
  std::string port;    ///< Explicit or the scheme's default.
  std::string target;  ///< Path and query, at least "/".
};
CHORUS_API std::optional<Url> parse_url(std::string_view url);

/// Blocking convenience for scripts and the CLI: runs `req` on a private io_context and returns
/// the whole response (non-2xx included). Throws chorus::Exception carrying Response::error.
CHORUS_API Response request(Request req, ClientOptions options = ClientOptions::from_environment());

/// The same, without exceptions: on failure returns the partial response with `error` set.
CHORUS_API Response request(Request req, ClientOptions options, Error& error);

}  // namespace chorus::http
