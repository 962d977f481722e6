// A small HTTP/1.1 server over Beast: keep-alive, body and header limits, idle timeouts, and
// Server-Sent Events. The routes never see Beast: they get an HttpRequest and answer through a
// Responder (possibly later, from another completion), so only http_server.cpp includes Beast.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  ///< "GET", "POST", ...
  std::string path;    ///< Decoded path without the query.
  std::string query;   ///< Raw query string (after '?').
  HeaderList headers;  ///< Names lower-cased.
  std::string body;
  std::string remote_ip;
  std::string request_id;  ///< From X-Request-Id when sane, else generated.

  /// First header value (name lower-case); empty when absent.
  std::string_view header(std::string_view name) const noexcept;
  /// Decoded query parameter.
  std::optional<std::string> query_param(std::string_view name) const;
  /// A cookie's value.
  std::optional<std::string> cookie(std::string_view name) const;
};

/// Where an SSE stream writes. Shared events are written without copying per listener.
class SseSink {
 public:
  virtual ~SseSink() = default;
  /// Queues bytes; a listener too far behind (slow reader) is closed instead of buffering forever.
  virtual void send(std::shared_ptr<const std::string> bytes) = 0;
  /// Ends the stream (closes the connection once queued bytes are written).
  virtual void close() = 0;
  /// True once the client went away or close() was called.
  virtual bool closed() const noexcept = 0;
  /// Called once when the client disconnects or the stream is closed.
  virtual void on_close(std::function<void()> f) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  HeaderList headers;
  std::string body;
  /// When set, the response is an event stream: the head is sent, then this gets the sink.
  std::function<void(std::shared_ptr<SseSink>)> sse;
};

using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest&, Responder)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t body_limit = 1 << 20;  ///< Larger bodies get 413.
  std::chrono::seconds idle_timeout{60};
  std::size_t sse_max_buffered = 8u << 20;  ///< Per listener, then the listener is dropped.
  /// PEM files; both set = serve HTTPS only (start() throws naming the file it cannot use).
  std::string tls_cert_file, tls_key_file;
  std::chrono::seconds tls_handshake_timeout{10};
};

/// Called for every finished request (for logs and metrics).
struct AccessRecord {
  std::string_view method, path, request_id, remote_ip;
  int status = 0;
  std::chrono::microseconds duration{0};
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, HttpServerOptions options, Handler handler,
             std::function<void(const AccessRecord&)> on_access = {});
  ~HttpServer();
  /// Binds and starts accepting; returns the bound port. Throws on bind failure.
  std::uint16_t start();
  void stop();

  struct State;  // shared with the connections (defined in http_server.cpp)

 private:
  std::shared_ptr<State> state_;
};

/// Reason phrase-free helper for JSON error bodies: {"error":{"code","message","details"}}.
std::string status_reason(int status);

/// Loads a PEM certificate chain and its private key as the server would (HttpServerOptions::
/// tls_cert_file/tls_key_file); throws std::invalid_argument naming the file that is unusable.
void check_tls_files(const std::string& cert_file, const std::string& key_file);

/// Parses one complete HTTP/1.1 request from `raw` with the server's parser and limits (1 MiB
/// body, 16 KiB headers) into what the routes see (remote_ip "127.0.0.1"). False with `error`
/// set when the bytes are not one whole valid request. Used by tests/fuzz/server_http_fuzz.cpp.
bool parse_http_request(std::string_view raw, HttpRequest& out, std::string& error);

}  // namespace chorus::server
