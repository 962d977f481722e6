// A small HTTP/1.1 server for the client tests and benchmarks that can be made to misbehave
// precisely: each connection runs on its own thread with blocking I/O, and a handler writes the
// raw bytes of the answer (or stalls, or cuts the connection) exactly where the test wants.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace chorus::test {

/// One request as the server read it. Header names lower-cased.
struct Exchange {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;
  std::string body;
  std::size_t connection = 0;  ///< Which accepted connection (0-based) carried it.
  std::size_t index = 0;       ///< Its position on that connection (0 = first request).
  std::size_t sequence = 0;    ///< Its position among all requests the server read.
};

class TestServer;

/// What a handler gets: raw writes, stalls that end early when the server stops, and close.
class Conn {
 public:
  /// Writes bytes as they are; false when the peer is gone.
  bool write(std::string_view bytes);
  /// Waits `d`, or less when the server is stopping; false when stopping.
  bool pause(std::chrono::milliseconds d);
  /// Waits until the server stops or the client closed the connection.
  void wait_for_close();

 private:
  friend class TestServer;
  Conn(TestServer& s, int fd) : server_(s), fd_(fd) {}
  TestServer& server_;
  int fd_;
  std::function<bool(std::string_view)> writer_;
};

/// "HTTP/1.1 <status> X\r\nContent-Length: N\r\n<extra>\r\n<body>".
inline std::string http_response(int status, std::string_view body, std::string_view extra = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) +
                    " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra;
  out += "\r\n";
  out += body;
  return out;
}

/// A chunked response head; send chunks with http_chunk() and end with http_chunk("").
inline std::string http_chunked_head(int status, std::string_view extra = {}) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nTransfer-Encoding: chunked\r\n" +
         std::string(extra) + "\r\n";
}
inline std::string http_chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

class TestServer {
 public:
  /// Returns true to keep the connection open for the next request.
  using Handler = std::function<bool(Conn&, const Exchange&)>;

  struct Tls {
    std::string cert_pem;
    std::string key_pem;
  };

  explicit TestServer(Handler handler, std::optional<Tls> tls = std::nullopt)
      : handler_(std::move(handler)), acceptor_(io_) {
    namespace asio = boost::asio;
    if (tls) {
      tls_ctx_.emplace(asio::ssl::context::tls_server);
      tls_ctx_->use_certificate_chain(asio::buffer(tls->cert_pem));
      tls_ctx_->use_private_key(asio::buffer(tls->key_pem), asio::ssl::context::pem);
    }
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      for (int fd : open_fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.join();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  unsigned short port() const { return port_; }
  std::string url(std::string_view path = "/") const {
    return std::string(tls_ctx_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
           std::string(path);
  }
  std::size_t connections() const { return accepted_.load(); }
  std::size_t requests() const {
    std::lock_guard lock(mutex_);
    return exchanges_.size();
  }
  std::vector<Exchange> exchanges() const {
    std::lock_guard lock(mutex_);
    return exchanges_;
  }
  /// Connections whose handler thread has finished (closed on either side).
  std::size_t closed_connections() const { return closed_.load(); }

 private:
  friend class Conn;

  void accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket sock(io_);
      acceptor_.accept(sock, ec);
      std::lock_guard lock(mutex_);
      if (ec || stopping_) return;
      std::size_t id = accepted_++;
      open_fds_.push_back(sock.native_handle());
      threads_.emplace_back([this, id, s = std::move(sock)]() mutable { serve(std::move(s), id); });
    }
  }

  template <class Stream>
  void serve_stream(Stream& stream, int fd, std::size_t id) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    Conn conn(*this, fd);
    conn.writer_ = [&](std::string_view bytes) {
      boost::system::error_code ec;
      boost::asio::write(stream, boost::asio::buffer(bytes.data(), bytes.size()), ec);
      return !ec;
    };
    for (std::size_t index = 0;; ++index) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      boost::system::error_code ec;
      http::read(stream, buffer, parser, ec);
      if (ec) return;
      Exchange ex;
      auto& msg = parser.get();
      ex.method = std::string(msg.method_string());
      ex.target = std::string(msg.target());
      for (const auto& f : msg) {
        std::string name(f.name_string());
        for (char& c : name)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        ex.headers[name] = std::string(f.value());
      }
      ex.body = msg.body();
      ex.connection = id;
      ex.index = index;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        ex.sequence = exchanges_.size();
        exchanges_.push_back(ex);
      }
      if (!handler_(conn, ex)) return;
    }
  }

  void serve(boost::asio::ip::tcp::socket sock, std::size_t id) {
    int fd = sock.native_handle();
    boost::system::error_code ignored;
    sock.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    if (tls_ctx_) {
      boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> tls(sock, *tls_ctx_);
      boost::system::error_code ec;
      tls.handshake(boost::asio::ssl::stream_base::server, ec);
      if (!ec) serve_stream(tls, fd, id);
    } else {
      serve_stream(sock, fd, id);
    }
    {
      std::lock_guard lock(mutex_);
      std::erase(open_fds_, fd);
      sock.shutdown(boost::asio::socket_base::shutdown_both, ignored);
      sock.close(ignored);
    }
    ++closed_;
  }

  Handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::optional<boost::asio::ssl::context> tls_ctx_;
  unsigned short port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::vector<int> open_fds_;
  std::vector<Exchange> exchanges_;
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> closed_{0};
};

inline bool Conn::write(std::string_view bytes) {
  return writer_(bytes);
}

inline bool Conn::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(server_.mutex_);
  return !server_.cv_.wait_for(lock, d, [&] { return server_.stopping_; });
}

inline void Conn::wait_for_close() {
  // Poll the socket for EOF without consuming anything, re-checking for stop.
  for (;;) {
    {
      std::unique_lock lock(server_.mutex_);
      if (server_.cv_.wait_for(lock, std::chrono::milliseconds(5),
                               [&] { return server_.stopping_; }))
        return;
    }
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return;
  }
}

}  // namespace chorus::test
