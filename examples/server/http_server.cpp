#include "http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <deque>
#include <random>
#include <type_traits>

namespace chorus::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string_view HttpRequest::header(std::string_view name) const noexcept {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

namespace {
std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
}  // namespace

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    std::string key = url_decode(pair.substr(0, eq), true);
    if (key == name)
      return eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::cookie(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k != "cookie") continue;
    std::string_view c = v;
    while (!c.empty()) {
      auto semi = c.find(';');
      std::string_view part = c.substr(0, semi);
      while (!part.empty() && part.front() == ' ')
        part.remove_prefix(1);
      auto eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name)
        return std::string(part.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      c.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

std::string status_reason(int status) {
  return std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  asio::io_context& ioc;
  HttpServerOptions options;
  Handler handler;
  std::function<void(const AccessRecord&)> on_access;
  tcp::acceptor acceptor;
  std::optional<asio::ssl::context> tls;  // set when serving HTTPS
  std::atomic<std::uint64_t> next_request{1};
  bool stopped = false;

  State(asio::io_context& c, HttpServerOptions o, Handler h,
        std::function<void(const AccessRecord&)> a)
      : ioc(c),
        options(std::move(o)),
        handler(std::move(h)),
        on_access(std::move(a)),
        acceptor(c) {}

  void accept();
};

namespace {

std::string make_request_id(std::uint64_t n) {
  static const std::string prefix = [] {
    std::random_device rd;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", rd());
    return std::string(buf);
  }();
  return prefix + "-" + std::to_string(n);
}

bool sane_request_id(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

// The routes' view of a parsed message (method, decoded path, raw query, lower-cased headers,
// body), shared by the connections and parse_http_request. The caller sets remote_ip/request_id.
void fill_request(http::request<http::string_body>& msg, HttpRequest& req) {
  req.method = std::string(msg.method_string());
  std::string_view target = msg.target();
  auto q = target.find('?');
  req.path = url_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
  req.headers.reserve(16);
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  req.body = std::move(msg.body());
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One client connection over plain TCP or TLS (Stream: PlainStream or TlsStream).
template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>>, public SseSink {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<Connection<Stream>>::shared_from_this;

 public:
  Connection(Stream s, std::shared_ptr<HttpServer::State> server)
      : stream_(std::move(s)), server_(std::move(server)) {}

  void start() {
    if constexpr (kTls) {
      // A client that connects and never completes the handshake (or speaks plain HTTP to the
      // TLS port) is dropped after the handshake timeout or at its first bytes.
      lowest().expires_after(server_->options.tls_handshake_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (ec) return self->shutdown();
                                self->read();
                              });
    } else {
      read();
    }
  }

  // --- SseSink
  void send(std::shared_ptr<const std::string> bytes) override {
    if (closed_) return;
    buffered_ += bytes->size();
    if (buffered_ > server_->options.sse_max_buffered) {  // slow reader: drop, it can resume
      shutdown();
      return;
    }
    queue_.push_back(std::move(bytes));
    if (!writing_) write_next();
  }
  void close() override {
    if (closed_) return;
    closing_ = true;
    if (!writing_) shutdown();
  }
  bool closed() const noexcept override { return closed_ || closing_; }
  void on_close(std::function<void()> f) override {
    if (closed_) {
      f();
      return;
    }
    close_handlers_.push_back(std::move(f));
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_->options.body_limit);
    parser_->header_limit(16 * 1024);
    lowest().expires_after(server_->options.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      shutdown();
      return;
    }
    started_ = std::chrono::steady_clock::now();
    if (ec) {
      // Malformed or oversized input is the client's error: answer it, then close.
      HttpResponse r;
      std::string code = "bad_request", message = "malformed HTTP request: " + ec.message();
      if (ec == http::error::body_limit) {
        r.status = 413;
        code = "payload_too_large";
        message = "request body exceeds the limit of " +
                  std::to_string(server_->options.body_limit) + " bytes";
      } else if (ec == http::error::header_limit) {
        r.status = 431;
        code = "headers_too_large";
        message = "request headers exceed 16 KiB";
      } else {
        r.status = 400;
      }
      r.body =
          R"({"error":{"code":")" + code + R"(","message":")" + message + R"(","details":{}}})";
      keep_alive_ = false;
      method_ = "?";
      path_ = "?";
      request_id_ = make_request_id(server_->next_request++);
      write_response(std::move(r));
      return;
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    HttpRequest req;
    fill_request(msg, req);
    beast::error_code ignored;
    auto ep = lowest().socket().remote_endpoint(ignored);
    req.remote_ip = ignored ? std::string("unknown") : ep.address().to_string();
    std::string_view rid = req.header("x-request-id");
    req.request_id =
        sane_request_id(rid) ? std::string(rid) : make_request_id(server_->next_request++);
    method_ = req.method;
    path_ = req.path;
    request_id_ = req.request_id;
    remote_ip_ = req.remote_ip;
    lowest().expires_never();
    auto self = shared_from_this();
    auto responded = std::make_shared<bool>(false);
    server_->handler(req, [self, responded](HttpResponse r) {
      if (*responded) return;
      *responded = true;
      // Handlers may answer from another completion: hop back onto the io thread.
      asio::dispatch(self->stream_.get_executor(),
                     [self, r = std::move(r)]() mutable { self->write_response(std::move(r)); });
    });
  }

  void write_response(HttpResponse r) {
    status_ = r.status;
    if (r.sse) {
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
          "X-Accel-Buffering: no\r\nX-Request-Id: " +
          request_id_ + "\r\n";
      for (const auto& [k, v] : r.headers)
        head += k + ": " + v + "\r\n";
      head += "\r\n";
      log_access();
      auto self = shared_from_this();
      sse_ = true;
      send(std::make_shared<const std::string>(std::move(head)));
      watch_disconnect();
      r.sse(self);
      return;
    }
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "chorus-server");
    res->set(http::field::content_type, r.content_type);
    res->set("X-Request-Id", request_id_);
    for (auto& [k, v] : r.headers)
      res->insert(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    log_access();
    lowest().expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec || !self->keep_alive_) {
                          self->shutdown();
                          return;
                        }
                        self->read();
                      });
  }

  void log_access() {
    if (!server_->on_access) return;
    AccessRecord a{method_,
                   path_,
                   request_id_,
                   remote_ip_,
                   status_,
                   std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - started_)};
    server_->on_access(a);
  }

  // An SSE client never sends more; a read completing means it went away.
  void watch_disconnect() {
    lowest().expires_never();
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(sink_byte_),
                            [self](beast::error_code, std::size_t) { self->shutdown(); });
  }

  void write_next() {
    if (queue_.empty()) {
      writing_ = false;
      if (closing_) shutdown();
      return;
    }
    writing_ = true;
    auto bytes = queue_.front();
    asio::async_write(stream_, asio::buffer(*bytes),
                      [self = shared_from_this(), bytes](beast::error_code ec, std::size_t n) {
                        self->buffered_ -= n;
                        self->queue_.pop_front();
                        if (ec) {
                          self->queue_.clear();
                          self->writing_ = false;
                          self->shutdown();
                          return;
                        }
                        self->write_next();
                      });
  }

  void shutdown() {
    if (closed_) return;
    closed_ = true;
    // TLS: no close_notify; responses carry Content-Length and an SSE stream's end is its last
    // complete event, so a truncation cannot be mistaken for data.
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
    auto handlers = std::move(close_handlers_);
    for (auto& h : handlers)
      h();
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::State> server_;
  bool keep_alive_ = true;
  std::string method_, path_, request_id_, remote_ip_;
  int status_ = 0;
  std::chrono::steady_clock::time_point started_{};
  // SSE
  bool sse_ = false, writing_ = false, closing_ = false, closed_ = false;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::size_t buffered_ = 0;
  std::vector<std::function<void()>> close_handlers_;
  char sink_byte_[1];
};

}  // namespace

void HttpServer::State::accept() {
  acceptor.async_accept(ioc, [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (self->stopped) return;
    if (!ec) {
      beast::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      if (self->tls)
        std::make_shared<Connection<TlsStream>>(TlsStream(std::move(s), *self->tls), self)->start();
      else
        std::make_shared<Connection<PlainStream>>(PlainStream(std::move(s)), self)->start();
    }
    self->accept();
  });
}

HttpServer::HttpServer(asio::io_context& ioc, HttpServerOptions options, Handler handler,
                       std::function<void(const AccessRecord&)> on_access)
    : state_(std::make_shared<State>(ioc, std::move(options), std::move(handler),
                                     std::move(on_access))) {}

HttpServer::~HttpServer() {
  stop();
}

namespace {

// Server TLS 1.2+ with the PEM certificate chain and key; throws naming the file it cannot use.
void load_tls(asio::ssl::context& ctx, const std::string& cert, const std::string& key) {
  if (cert.empty() || key.empty())
    throw std::invalid_argument("TLS needs both a certificate file and a key file");
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  beast::error_code ec;
  ctx.use_certificate_chain_file(cert, ec);
  if (ec)
    throw std::invalid_argument("cannot use TLS certificate file " + cert + ": " + ec.message() +
                                " (expected a PEM certificate chain)");
  ctx.use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec && ec.message().find("mismatch") != std::string::npos)
    throw std::invalid_argument("TLS key file " + key + " does not match the certificate in " +
                                cert);
  if (ec)
    throw std::invalid_argument("cannot use TLS key file " + key + ": " + ec.message() +
                                " (expected a PEM private key)");
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    throw std::invalid_argument("TLS key file " + key + " does not match the certificate in " +
                                cert);
}

}  // namespace

void check_tls_files(const std::string& cert_file, const std::string& key_file) {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  load_tls(ctx, cert_file, key_file);
}

std::uint16_t HttpServer::start() {
  const auto& o = state_->options;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty())
    load_tls(state_->tls.emplace(asio::ssl::context::tls_server), o.tls_cert_file, o.tls_key_file);
  auto& a = state_->acceptor;
  tcp::endpoint ep(asio::ip::make_address(state_->options.host), state_->options.port);
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  a.bind(ep);
  a.listen(asio::socket_base::max_listen_connections);
  state_->accept();
  return a.local_endpoint().port();
}

void HttpServer::stop() {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
}

bool parse_http_request(std::string_view raw, HttpRequest& out, std::string& error) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(HttpServerOptions{}.body_limit);  // the limits of Connection::read()
  parser.header_limit(16 * 1024);
  beast::error_code ec;
  while (!parser.is_done()) {
    if (raw.empty()) {           // the client closed its side here
      if (!parser.got_some()) {  // as http::async_read says when the client sends nothing
        error = "end of stream: no request";
        return false;
      }
      parser.put_eof(ec);
      if (!ec && !parser.is_done()) ec = http::error::partial_message;
      if (ec) break;
      continue;
    }
    std::size_t n = parser.put(asio::buffer(raw.data(), raw.size()), ec);
    raw.remove_prefix(n);
    if (ec == http::error::need_more) ec = {};
    if (ec) break;
    if (n == 0) raw = {};  // no progress: it needs more bytes than are left
  }
  if (ec) {
    error = ec.message();
    return false;
  }
  auto msg = parser.release();
  out = HttpRequest{};
  fill_request(msg, out);
  out.remote_ip = "127.0.0.1";
  std::string_view rid = out.header("x-request-id");
  static std::uint64_t next = 1;
  out.request_id = sane_request_id(rid) ? std::string(rid) : make_request_id(next++);
  return true;
}

}  // namespace chorus::server
