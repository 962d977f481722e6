// Sockets, TLS and threads of the fake LLM server. Each connection is one coroutine that reads a
// request, asks the Responder for a Plan and writes the Plan's bytes, pausing and cutting where
// the Plan says. Buffers live as long as the connection, so a kept-alive connection allocates
// almost nothing per request.
#include "fake_llm.hpp"

#include "responder.hpp"
#include "tls_cert.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <thread>

namespace chorus::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_request_body = 64 * 1024 * 1024;
constexpr auto idle_timeout = std::chrono::seconds(300);
constexpr auto write_timeout = std::chrono::seconds(120);

template <class Stream>
tcp::socket& socket_of(Stream& s) {
  return beast::get_lowest_layer(s).socket();
}

// Ends the connection with a FIN but no TLS close_notify and no HTTP end: the peer sees the
// response cut in the middle, as when a vendor's load balancer drops it.
template <class Stream>
void cut(Stream& s) {
  boost::system::error_code ignored;
  socket_of(s).shutdown(tcp::socket::shutdown_both, ignored);
  socket_of(s).close(ignored);
}

}  // namespace

struct FakeLlmServer::State {
  FakeLlmOptions options;
  fake::Responder responder;
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>();
  std::optional<asio::ssl::context> ssl;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::string ca_file;
  bool remove_ca_file = false;
  std::string url_host;
  unsigned short port = 0;
  bool stopped = false;

  explicit State(FakeLlmOptions o) : options(std::move(o)), responder(options) {}

  asio::awaitable<void> accept_loop();
  template <class Stream>
  asio::awaitable<void> serve(Stream stream);
  template <class Stream>
  asio::awaitable<bool> send(Stream& stream, asio::steady_timer& timer, fake::Plan& plan);
};

template <class Stream>
asio::awaitable<bool> FakeLlmServer::State::send(Stream& stream, asio::steady_timer& timer,
                                                 fake::Plan& plan) {
  auto wait = [&](milliseconds d) -> asio::awaitable<void> {
    timer.expires_after(d);
    co_await timer.async_wait(use_tuple);
  };
  auto write = [&](std::size_t from, std::size_t to) -> asio::awaitable<bool> {
    beast::get_lowest_layer(stream).expires_after(write_timeout);
    if (plan.slow.count() <= 0) {
      auto [ec, n] = co_await asio::async_write(
          stream, asio::buffer(plan.data.data() + from, to - from), use_tuple);
      co_return !ec;
    }
    for (std::size_t i = from; i < to; ++i) {
      if (i > 0) co_await wait(plan.slow);
      auto [ec, n] =
          co_await asio::async_write(stream, asio::buffer(plan.data.data() + i, 1), use_tuple);
      if (ec) co_return false;
    }
    co_return true;
  };

  if (plan.latency.count() > 0) co_await wait(plan.latency);
  const std::size_t limit = std::min(plan.cut_at, plan.data.size());
  std::size_t start = 0;
  std::size_t i = 0;
  while (start < limit && i < plan.pieces.size()) {
    if (plan.pieces[i].delay.count() > 0) co_await wait(plan.pieces[i].delay);
    std::size_t end = plan.pieces[i++].end;
    while (i < plan.pieces.size() && plan.pieces[i].delay.count() <= 0)
      end = plan.pieces[i++].end;
    end = std::min(end, limit);
    if (end > start && !co_await write(start, end)) co_return false;
    start = end;
  }
  if (plan.cut_at != fake::Plan::no_cut) {
    cut(stream);
    co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> FakeLlmServer::State::serve(Stream stream) {
  responder.open_connections.fetch_add(1, std::memory_order_relaxed);
  struct Closed {
    std::atomic<std::size_t>& n;
    ~Closed() { n.fetch_sub(1, std::memory_order_relaxed); }
  } closed{responder.open_connections};

  constexpr bool tls = !std::is_same_v<Stream, beast::tcp_stream>;
  if constexpr (tls) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (ec) co_return;
  }

  beast::flat_buffer buffer;
  fake::Plan plan;
  std::string body_storage;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(max_request_body);
    parser.get().body() = std::move(body_storage);
    beast::get_lowest_layer(stream).expires_after(idle_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) co_return;  // peer closed, timed out or sent something that is not HTTP
    auto& req = parser.get();
    const auto method = req.method_string();
    const auto target = req.target();
    fake::RequestView view{std::string_view(method.data(), method.size()),
                           std::string_view(target.data(), target.size()), req, req.body(),
                           req.keep_alive()};
    responder.respond(view, plan);
    body_storage = std::move(req.body());
    body_storage.clear();
    if (!co_await send(stream, timer, plan)) co_return;
    if (plan.close) break;
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  if constexpr (tls) {
    co_await stream.async_shutdown(use_tuple);
  } else {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

asio::awaitable<void> FakeLlmServer::State::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto on_done = [](std::exception_ptr) {};  // a failed connection never stops the server
    if (ssl) {
      co_spawn(*ioc, serve(beast::ssl_stream<beast::tcp_stream>(std::move(socket), *ssl)), on_done);
    } else {
      co_spawn(*ioc, serve(beast::tcp_stream(std::move(socket))), on_done);
    }
  }
}

FakeLlmServer::FakeLlmServer(FakeLlmOptions options)
    : state_(std::make_unique<State>(std::move(options))) {
  State& st = *state_;
  const auto& o = st.options;
  if (o.tls) {
    TlsMaterial material = make_tls_material();
    st.ssl.emplace(asio::ssl::context::tls_server);
    st.ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3);
    st.ssl->use_certificate_chain(asio::buffer(material.server_cert_pem));
    st.ssl->use_private_key(asio::buffer(material.server_key_pem), asio::ssl::context::pem);
    st.ca_file = o.ca_out;
    if (st.ca_file.empty()) {
      char tmpl[] = "/tmp/chorus-fake-llm-ca-XXXXXX.pem";
      int fd = ::mkstemps(tmpl, 4);
      if (fd < 0) throw std::runtime_error("fake LLM: cannot create a temporary CA file");
      ::close(fd);
      st.ca_file = tmpl;
      st.remove_ca_file = true;
    }
    std::ofstream out(st.ca_file, std::ios::binary | std::ios::trunc);
    out << material.ca_pem;
    if (!out.flush()) throw std::runtime_error("fake LLM: cannot write the CA file " + st.ca_file);
  }

  std::string host = o.host == "localhost" ? std::string("127.0.0.1") : o.host;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("fake LLM: --host: not an IP address: " + o.host);
  st.acceptor.emplace(*st.ioc);
  tcp::endpoint endpoint(address, o.port);
  st.acceptor->open(endpoint.protocol());
  st.acceptor->set_option(tcp::acceptor::reuse_address(true));
  st.acceptor->bind(endpoint, ec);
  if (ec)
    throw std::runtime_error("fake LLM: cannot listen on " + host + ":" + std::to_string(o.port) +
                             ": " + ec.message());
  st.acceptor->listen(asio::socket_base::max_listen_connections);
  st.port = st.acceptor->local_endpoint().port();
  if (address.is_unspecified())
    st.url_host = address.is_v6() ? "[::1]" : "127.0.0.1";
  else
    st.url_host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();

  co_spawn(*st.ioc, st.accept_loop(), [](std::exception_ptr) {});
  const int threads = std::max(1, o.threads);
  for (int i = 0; i < threads; ++i)
    st.threads.emplace_back([&st] { st.ioc->run(); });
}

FakeLlmServer::~FakeLlmServer() {
  stop();
  if (state_->remove_ca_file) std::remove(state_->ca_file.c_str());
}

void FakeLlmServer::stop() {
  State& st = *state_;
  if (st.stopped) return;
  st.stopped = true;
  st.ioc->stop();
  for (auto& t : st.threads)
    t.join();
  st.threads.clear();
  // Destroying the io_context destroys every suspended connection, closing its socket.
  st.acceptor.reset();
  st.ioc.reset();
}

unsigned short FakeLlmServer::port() const {
  return state_->port;
}

std::string FakeLlmServer::base_url() const {
  return (state_->ssl ? "https://" : "http://") + state_->url_host + ":" +
         std::to_string(state_->port);
}

std::string FakeLlmServer::ca_file() const {
  return state_->ca_file;
}

std::size_t FakeLlmServer::requests() const {
  return state_->responder.requests.load();
}

std::size_t FakeLlmServer::open_connections() const {
  return state_->responder.open_connections.load();
}

}  // namespace chorus::test
