// chorus::http::Client over real sockets against TestServer (tests/unit/http/test_server.hpp),
// the CONNECT proxy of tests/support/proxy and certificates made by tests/support/tls.
#include "http/url.hpp"
#include "support/proxy/connect_proxy.hpp"
#include "support/tls/test_pki.hpp"
#include "unit/http/client_helpers.hpp"
#include "unit/http/test_server.hpp"

#include <chorus/http.hpp>

#include <gtest/gtest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <cstdlib>

namespace chorus::http {
namespace {

using namespace std::chrono_literals;
using test::Conn;
using test::Exchange;
using test::http_chunk;
using test::http_chunked_head;
using test::http_response;
using test::TestServer;

using test::get;
using test::plain_options;
using test::Result;

// Runs one request to completion on `io`, checking the handler runs exactly once.
Result run(asio::io_context& io, Client& client, Request req) {
  Result result;
  client.async_request(std::move(req), [&](error_code ec, Response r) {
    ++result.calls;
    result.ec = ec;
    result.response = std::move(r);
  });
  io.restart();
  io.run();
  EXPECT_EQ(result.calls, 1);
  return result;
}

struct StreamResult : Result {
  std::vector<std::string> chunks;
  int heads = 0;
  std::string joined() const {
    std::string s;
    for (const auto& c : chunks)
      s += c;
    return s;
  }
};

StreamResult run_stream(asio::io_context& io, Client& client, Request req,
                        std::function<void(StreamResult&)> on_chunk = {},
                        asio::cancellation_slot slot = {}) {
  StreamResult result;
  StreamHandler h;
  h.on_headers = [&](const Response& head) {
    ++result.heads;
    EXPECT_TRUE(head.body.empty());
  };
  h.on_data = [&](std::string_view chunk) {
    EXPECT_GE(result.heads, 1);
    result.chunks.emplace_back(chunk);
    if (on_chunk) on_chunk(result);
  };
  client.async_stream(std::move(req), std::move(h),
                      asio::bind_cancellation_slot(slot, [&](error_code ec, Response r) {
                        ++result.calls;
                        result.ec = ec;
                        result.response = std::move(r);
                      }));
  io.restart();
  io.run();
  EXPECT_EQ(result.calls, 1);
  return result;
}

// ---------------------------------------------------------------------------------------------
// URL, proxy and environment helpers.

TEST(HttpUrl, Parse) {
  auto u = parse_url("https://API.example.com/v1/chat?x=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/v1/chat?x=1");
  u = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/");
  u = parse_url("http://[::1]:9000/a");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9000");
  u = parse_url("http://h?q=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?q=1");
  for (const char* bad : {"", "ftp://x/", "http://", "http:///x", "http://h:0/", "http://h:99999/",
                          "http://user:pw@h/", "http://h:12a/", "example.com/x", "http://h/a b"})
    EXPECT_FALSE(parse_url(bad)) << bad;
}

TEST(HttpUrl, NoProxyMatching) {
  EXPECT_TRUE(bypass_proxy("*", "api.openai.com", "443"));
  EXPECT_TRUE(bypass_proxy("localhost, .example.com", "api.example.com", "443"));
  EXPECT_TRUE(bypass_proxy("example.com", "api.example.com", "443"));
  EXPECT_TRUE(bypass_proxy("example.com", "EXAMPLE.com", "443"));
  EXPECT_FALSE(bypass_proxy("example.com", "badexample.com", "443"));
  EXPECT_TRUE(bypass_proxy("127.0.0.1:8080", "127.0.0.1", "8080"));
  EXPECT_FALSE(bypass_proxy("127.0.0.1:8080", "127.0.0.1", "9090"));
  EXPECT_TRUE(bypass_proxy("[::1]", "::1", "80"));
  EXPECT_FALSE(bypass_proxy("", "x", "80"));
}

TEST(HttpUrl, ProxyAddress) {
  std::string err;
  auto p = parse_proxy("http://user:pa%ss@proxy.local:3128", err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "proxy.local");
  EXPECT_EQ(p->port, "3128");
  EXPECT_EQ(p->credentials, "user:pa%ss");
  p = parse_proxy("proxy.local:8080", err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->port, "8080");
  EXPECT_FALSE(parse_proxy("socks5://x:1", err));
  EXPECT_NE(err.find("only http://"), std::string::npos);
}

TEST(HttpUrl, FromEnvironment) {
  ::setenv("HTTPS_PROXY", "http://upper:1", 1);
  ::setenv("https_proxy", "http://lower:2", 1);
  ::setenv("HTTP_PROXY", "http://plain:3", 1);
  ::unsetenv("http_proxy");
  ::setenv("NO_PROXY", "localhost", 1);
  ::unsetenv("no_proxy");
  ::setenv("CHORUS_CA_BUNDLE", "/tmp/ca.pem", 1);
  auto o = ClientOptions::from_environment();
  EXPECT_EQ(o.proxy, "http://lower:2");
  EXPECT_EQ(o.http_proxy, "http://plain:3");
  EXPECT_EQ(o.no_proxy, "localhost");
  EXPECT_EQ(o.ca_file, "/tmp/ca.pem");
  EXPECT_TRUE(o.verify_peer);
  for (const char* v : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "NO_PROXY", "CHORUS_CA_BUNDLE"})
    ::unsetenv(v);
}

// ---------------------------------------------------------------------------------------------
// Requests and bodies.

TEST(HttpClient, WholeResponseWithContentLength) {
  TestServer server([](Conn& c, const Exchange& ex) {
    return c.write(http_response(201, "echo:" + ex.body, "X-Request-Id: abc\r\n"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req;
  req.url = server.url("/v1/chat?x=1");
  req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-test"}};
  req.body = R"({"a":1})";
  auto r = run(io, client, req);
  ASSERT_FALSE(r.ec) << r.response.error.describe();
  EXPECT_EQ(r.response.status, 201);
  EXPECT_EQ(r.response.body, R"(echo:{"a":1})");
  EXPECT_EQ(r.response.header("X-REQUEST-ID"), "abc");
  EXPECT_EQ(r.response.headers.front().first, "content-length");  // names lower-cased
  EXPECT_EQ(r.response.attempts, 1);
  EXPECT_FALSE(r.response.error);
  auto ex = server.exchanges().at(0);
  EXPECT_EQ(ex.method, "POST");
  EXPECT_EQ(ex.target, "/v1/chat?x=1");
  EXPECT_EQ(ex.headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(ex.headers["content-length"], "7");
  EXPECT_EQ(ex.headers["content-type"], "application/json");
  EXPECT_EQ(ex.headers["user-agent"], "chorus/0.1");
}

TEST(HttpClient, ChunkedBodyWholeAndStreamed) {
  TestServer server([](Conn& c, const Exchange&) {
    return c.write(http_chunked_head(200, "Content-Type: text/event-stream\r\n")) &&
           c.write(http_chunk("data: 1\n\n")) && c.pause(5ms) &&
           c.write(http_chunk("data: 2\n\n") + http_chunk("data: 3\n\n")) &&
           c.write(http_chunk(""));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  auto whole = run(io, client, get(server.url()));
  ASSERT_FALSE(whole.ec) << whole.response.error.describe();
  EXPECT_EQ(whole.response.body, "data: 1\n\ndata: 2\n\ndata: 3\n\n");

  auto streamed = run_stream(io, client, get(server.url()));
  ASSERT_FALSE(streamed.ec) << streamed.response.error.describe();
  EXPECT_EQ(streamed.heads, 1);
  EXPECT_EQ(streamed.joined(), "data: 1\n\ndata: 2\n\ndata: 3\n\n");
  EXPECT_GE(streamed.chunks.size(), 2u);  // the pause splits the body into separate deliveries
  EXPECT_EQ(streamed.response.status, 200);
  EXPECT_TRUE(streamed.response.body.empty());
  EXPECT_EQ(streamed.response.header("content-type"), "text/event-stream");
  EXPECT_EQ(client.stats().reused, 1u);
}

TEST(HttpClient, LargeStreamedContentLengthBody) {
  std::string body(1 << 20, 'x');
  for (std::size_t i = 0; i < body.size(); i += 7)
    body[i] = static_cast<char>('a' + i % 26);
  TestServer server([&](Conn& c, const Exchange&) { return c.write(http_response(200, body)); });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  auto r = run_stream(io, client, get(server.url()));
  ASSERT_FALSE(r.ec) << r.response.error.describe();
  EXPECT_EQ(r.joined(), body);
  for (const auto& c : r.chunks)
    EXPECT_LE(c.size(), 16u * 1024);
}

TEST(HttpClient, NonSuccessStreamIsReadWhole) {
  TestServer server([](Conn& c, const Exchange&) {
    return c.write(http_response(400, R"({"error":{"message":"bad"}})"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  auto r = run_stream(io, client, get(server.url()));
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(r.response.status, 400);
  EXPECT_EQ(r.response.body, R"({"error":{"message":"bad"}})");
  EXPECT_EQ(r.heads, 0);
  EXPECT_TRUE(r.chunks.empty());
}

TEST(HttpClient, InvalidInputsNameTheField) {
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  auto r = run(io, client, get("ftp://x/?key=sk-secretsecret"));
  EXPECT_EQ(r.ec, errc::invalid_argument);
  EXPECT_NE(r.response.error.message.find("url"), std::string::npos);
  EXPECT_EQ(r.response.error.message.find("secret"), std::string::npos);
  Request bad_header = get("http://127.0.0.1:1/");
  bad_header.headers = {{"X-Evil", "a\r\nInjected: 1"}};
  r = run(io, client, bad_header);
  EXPECT_EQ(r.ec, errc::invalid_argument);
  EXPECT_NE(r.response.error.message.find("X-Evil"), std::string::npos);
  Request bad_method = get("http://127.0.0.1:1/");
  bad_method.method = "GE T";
  r = run(io, client, bad_method);
  EXPECT_EQ(r.ec, errc::invalid_argument);
  EXPECT_NE(r.response.error.message.find("method"), std::string::npos);
}

TEST(HttpClient, NeverCompletesInsideTheInitiatingCallAndUsesHandlerExecutor) {
  TestServer server([](Conn& c, const Exchange&) { return c.write(http_response(200, "ok")); });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  auto strand = asio::make_strand(io);
  bool returned = false, on_strand = false, early = false;
  client.async_request(get("bad url"), [&](error_code ec, Response) {
    early = !returned;
    EXPECT_EQ(ec, errc::invalid_argument);
  });
  client.async_request(get(server.url()), asio::bind_executor(strand, [&](error_code ec, Response) {
                         EXPECT_FALSE(ec);
                         on_strand = strand.running_in_this_thread();
                       }));
  returned = true;
  io.run();
  EXPECT_FALSE(early);
  EXPECT_TRUE(on_strand);
}

TEST(HttpClient, BlockingRequest) {
  TestServer server([](Conn& c, const Exchange&) { return c.write(http_response(200, "hi")); });
  Request req = get(server.url("/x"));
  auto resp = request(req, plain_options());
  EXPECT_EQ(resp.body, "hi");
  // Nothing listens on the port once the server is gone: connect_failed, as an exception.
  unsigned short port = server.port();
  server.stop();
  try {
    request(get("http://127.0.0.1:" + std::to_string(port) + "/"), plain_options());
    ADD_FAILURE() << "expected an exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code, errc::connect_failed);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos);
  }
  Error err;
  request(get("http://127.0.0.1:" + std::to_string(port) + "/"), plain_options(), err);
  EXPECT_EQ(err.code, errc::connect_failed);
}

// ---------------------------------------------------------------------------------------------
// The pool.

TEST(HttpPool, KeptAliveConnectionIsReused) {
  TestServer server([](Conn& c, const Exchange&) { return c.write(http_response(200, "ok")); });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(run(io, client, get(server.url())).ec);
  EXPECT_EQ(server.connections(), 1u);
  auto s = client.stats();
  EXPECT_EQ(s.opened, 1u);
  EXPECT_EQ(s.reused, 2u);
  EXPECT_EQ(s.idle, 1u);
  EXPECT_EQ(s.discarded, 0u);
}

TEST(HttpPool, ConnectionCloseIsHonoured) {
  TestServer server([](Conn& c, const Exchange&) {
    c.write(http_response(200, "ok", "Connection: close\r\n"));
    return false;
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  ASSERT_FALSE(run(io, client, get(server.url())).ec);
  ASSERT_FALSE(run(io, client, get(server.url())).ec);
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_EQ(client.stats().reused, 0u);
  EXPECT_EQ(client.stats().idle, 0u);
}

TEST(HttpPool, ServerClosedIdleConnectionIsNotReused) {
  // The server closes after each answer without saying so: the pooled connection is stale.
  TestServer server([](Conn& c, const Exchange&) {
    c.write(http_response(200, "ok"));
    return false;
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  for (int i = 0; i < 3; ++i) {
    auto r = run(io, client, get(server.url()));
    ASSERT_FALSE(r.ec) << r.response.error.describe();
    EXPECT_EQ(r.response.attempts, 1);
  }
  EXPECT_EQ(server.connections(), 3u);
  EXPECT_EQ(server.requests(), 3u);
}

TEST(HttpPool, RequestsAboveTheCapQueue) {
  std::atomic<int> in_flight{0}, max_in_flight{0};
  TestServer server([&](Conn& c, const Exchange& ex) {
    int now = ++in_flight;
    int prev = max_in_flight.load();
    while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
    }
    c.pause(10ms);
    --in_flight;
    return c.write(http_response(200, ex.target));
  });
  asio::io_context io;
  auto opts = plain_options();
  opts.max_connections_per_host = 2;
  Client client(io.get_executor(), opts);
  constexpr int n = 12;
  std::vector<Result> results(n);
  for (int i = 0; i < n; ++i)
    client.async_request(get(server.url("/" + std::to_string(i))),
                         [&, i](error_code ec, Response r) {
                           ++results[i].calls;
                           results[i].ec = ec;
                           results[i].response = std::move(r);
                         });
  io.run();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(results[i].calls, 1);
    EXPECT_FALSE(results[i].ec) << results[i].response.error.describe();
    EXPECT_EQ(results[i].response.body, "/" + std::to_string(i));
  }
  EXPECT_LE(server.connections(), 2u);
  EXPECT_LE(max_in_flight.load(), 2);
  EXPECT_EQ(client.stats().opened + client.stats().reused, static_cast<std::size_t>(n));
}

TEST(HttpPool, IdleCapClosesOldest) {
  TestServer server([](Conn& c, const Exchange&) {
    c.pause(5ms);
    return c.write(http_response(200, "ok"));
  });
  asio::io_context io;
  auto opts = plain_options();
  opts.max_idle_per_host = 1;
  Client client(io.get_executor(), opts);
  int done = 0;
  for (int i = 0; i < 3; ++i)
    client.async_request(get(server.url()), [&](error_code ec, Response) {
      EXPECT_FALSE(ec);
      ++done;
    });
  io.run();
  EXPECT_EQ(done, 3);
  EXPECT_EQ(client.stats().idle, 1u);
}

// ---------------------------------------------------------------------------------------------
// Cancellation.

TEST(HttpCancel, MidStreamClosesTheConnection) {
  TestServer server([](Conn& c, const Exchange& ex) {
    if (ex.sequence > 0) return c.write(http_response(200, "again"));
    if (!c.write(http_chunked_head(200)) || !c.write(http_chunk("first"))) return false;
    c.wait_for_close();
    return false;
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  asio::cancellation_signal signal;
  auto r = run_stream(
      io, client, get(server.url()),
      [&](StreamResult&) { signal.emit(asio::cancellation_type::terminal); }, signal.slot());
  EXPECT_EQ(r.ec, errc::cancelled);
  EXPECT_EQ(r.response.error.code, errc::cancelled);
  EXPECT_EQ(r.joined(), "first");
  auto s = client.stats();
  EXPECT_EQ(s.discarded, 1u);
  EXPECT_EQ(s.idle, 0u);
  // The next request gets a fresh connection.
  auto next = run(io, client, get(server.url()));
  EXPECT_FALSE(next.ec);
  EXPECT_EQ(next.response.body, "again");
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_EQ(client.stats().reused, 0u);
}

TEST(HttpCancel, WhileWaitingForTheHead) {
  asio::io_context io;
  asio::cancellation_signal signal;
  TestServer server([&](Conn& c, const Exchange&) {
    // The request arrived: cancel it from the client's thread, then wait for the close.
    asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); });
    c.wait_for_close();
    return false;
  });
  Client client(io.get_executor(), plain_options());
  Result r;
  client.async_request(get(server.url()), asio::bind_cancellation_slot(
                                              signal.slot(), [&](error_code ec, Response resp) {
                                                ++r.calls;
                                                r.ec = ec;
                                                r.response = std::move(resp);
                                              }));
  io.run();
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(r.ec, errc::cancelled);
  EXPECT_EQ(client.stats().discarded, 1u);
}

TEST(HttpCancel, WhileQueuedBehindTheCap) {
  asio::io_context io;
  asio::cancellation_signal signal;
  TestServer server([&](Conn& c, const Exchange&) {
    // The first request holds the only connection; cancel the queued second one, then answer.
    asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); });
    c.pause(20ms);
    return c.write(http_response(200, "first"));
  });
  auto opts = plain_options();
  opts.max_connections_per_host = 1;
  Client client(io.get_executor(), opts);
  Result first, second;
  client.async_request(get(server.url()), [&](error_code ec, Response resp) {
    ++first.calls;
    first.ec = ec;
    first.response = std::move(resp);
  });
  client.async_request(get(server.url()), asio::bind_cancellation_slot(
                                              signal.slot(), [&](error_code ec, Response resp) {
                                                ++second.calls;
                                                second.ec = ec;
                                                second.response = std::move(resp);
                                              }));
  io.run();
  EXPECT_EQ(first.calls, 1);
  EXPECT_FALSE(first.ec);
  EXPECT_EQ(second.calls, 1);
  EXPECT_EQ(second.ec, errc::cancelled);
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_EQ(client.stats().idle, 1u);  // the first connection went back clean
}

// ---------------------------------------------------------------------------------------------
// Timeouts.

TEST(HttpTimeout, FirstByte) {
  TestServer server([](Conn& c, const Exchange&) {
    c.wait_for_close();
    return false;
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url("/slow?key=hidden-value"));
  req.timeouts = Timeouts{.connect = 20s, .first_byte = 150ms, .idle = 20s, .total = 60s};
  auto r = run(io, client, req);
  EXPECT_EQ(r.ec, errc::timeout);
  EXPECT_NE(r.response.error.message.find("first_byte"), std::string::npos)
      << r.response.error.message;
  EXPECT_NE(r.response.error.message.find("/slow"), std::string::npos);
  EXPECT_EQ(r.response.error.message.find("hidden-value"), std::string::npos);
  EXPECT_EQ(client.stats().discarded, 1u);
}

TEST(HttpTimeout, IdleBetweenBodyBytes) {
  TestServer server([](Conn& c, const Exchange&) {
    if (!c.write(http_chunked_head(200)) || !c.write(http_chunk("a"))) return false;
    c.wait_for_close();
    return false;
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.timeouts = Timeouts{.connect = 20s, .first_byte = 20s, .idle = 150ms, .total = 60s};
  auto r = run_stream(io, client, req);
  EXPECT_EQ(r.ec, errc::timeout);
  EXPECT_NE(r.response.error.message.find("idle"), std::string::npos) << r.response.error.message;
  EXPECT_EQ(r.joined(), "a");
  // Also for a whole response cut short (Content-Length says more): the partial read is dirty.
  TestServer partial([](Conn& c, const Exchange&) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    c.wait_for_close();
    return false;
  });
  r.response = run(io, client,
                   [&] {
                     Request q = get(partial.url());
                     q.timeouts = req.timeouts;
                     return q;
                   }())
                   .response;
  EXPECT_EQ(r.response.error.code, errc::timeout);
  EXPECT_EQ(client.stats().discarded, 2u);
  EXPECT_EQ(client.stats().idle, 0u);
}

TEST(HttpTimeout, Total) {
  TestServer server([](Conn& c, const Exchange&) {
    if (!c.write(http_chunked_head(200))) return false;
    while (c.write(http_chunk("x")) && c.pause(20ms)) {
    }
    return false;
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.timeouts = Timeouts{.connect = 20s, .first_byte = 20s, .idle = 20s, .total = 300ms};
  auto r = run_stream(io, client, req);
  EXPECT_EQ(r.ec, errc::timeout);
  EXPECT_NE(r.response.error.message.find("total"), std::string::npos) << r.response.error.message;
  EXPECT_FALSE(r.chunks.empty());
}

TEST(HttpTimeout, ConnectCoversTheTlsHandshake) {
  // A listener that never accepts: the kernel completes the TCP handshake, nobody answers the
  // TLS ClientHello, so the handshake stalls inside the connect deadline.
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  Client client(io.get_executor(), plain_options());
  Request req = get("https://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/");
  req.timeouts = Timeouts{.connect = 150ms, .first_byte = 20s, .idle = 20s, .total = 60s};
  auto r = run(io, client, req);
  EXPECT_EQ(r.ec, errc::timeout);
  EXPECT_NE(r.response.error.message.find("connect"), std::string::npos)
      << r.response.error.message;
}

// ---------------------------------------------------------------------------------------------
// TLS.

struct TlsFixture : testing::Test {
  test::TestPki pki;
  std::string ca_file = pki.write_ca_file();
  ~TlsFixture() override { std::remove(ca_file.c_str()); }
  static bool ok(Conn& c, const Exchange&) { return c.write(http_response(200, "secure")); }
};

TEST_F(TlsFixture, VerifiedWithCaFile) {
  auto cert = pki.issue({"127.0.0.1", "localhost"});
  TestServer server(ok, TestServer::Tls{cert.cert_pem, cert.key_pem});
  asio::io_context io;
  auto opts = plain_options();
  opts.ca_file = ca_file;
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get(server.url()));
  ASSERT_FALSE(r.ec) << r.response.error.describe();
  EXPECT_EQ(r.response.body, "secure");
  ASSERT_FALSE(run(io, client, get(server.url())).ec);
  EXPECT_EQ(client.stats().reused, 1u);  // TLS connections are pooled too
  // And by host name (SNI + DNS name check).
  auto by_name = run(io, client, get("https://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_FALSE(by_name.ec) << by_name.response.error.describe();
}

TEST_F(TlsFixture, SelfSignedCertificateIsRejected) {
  auto cert = test::TestPki::self_signed({"127.0.0.1"});
  TestServer server(ok, TestServer::Tls{cert.cert_pem, cert.key_pem});
  asio::io_context io;
  auto opts = plain_options();
  opts.ca_file = ca_file;  // trusts our CA, not the self-signed certificate
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get(server.url()));
  EXPECT_EQ(r.ec, errc::tls_failed);
  EXPECT_NE(r.response.error.message.find("certificate verification failed"), std::string::npos)
      << r.response.error.message;
  EXPECT_NE(r.response.error.message.find("self-signed"), std::string::npos)
      << r.response.error.message;
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(TlsFixture, UntrustedCaWithoutCaFileIsRejected) {
  auto cert = pki.issue({"127.0.0.1"});
  TestServer server(ok, TestServer::Tls{cert.cert_pem, cert.key_pem});
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  auto r = run(io, client, get(server.url()));
  EXPECT_EQ(r.ec, errc::tls_failed);
  EXPECT_NE(r.response.error.message.find("unable to get local issuer"), std::string::npos)
      << r.response.error.message;
}

TEST_F(TlsFixture, HostNameMismatchIsRejected) {
  auto cert = pki.issue({"other.example"});
  TestServer server(ok, TestServer::Tls{cert.cert_pem, cert.key_pem});
  asio::io_context io;
  auto opts = plain_options();
  opts.ca_file = ca_file;
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get(server.url()));
  EXPECT_EQ(r.ec, errc::tls_failed);
  EXPECT_NE(r.response.error.message.find("mismatch"), std::string::npos)
      << r.response.error.message;
  r = run(io, client, get("https://localhost:" + std::to_string(server.port()) + "/"));
  EXPECT_EQ(r.ec, errc::tls_failed);
  EXPECT_NE(r.response.error.message.find("mismatch"), std::string::npos)
      << r.response.error.message;
}

TEST_F(TlsFixture, VerificationCanBeTurnedOffExplicitly) {
  auto cert = test::TestPki::self_signed({"127.0.0.1"});
  TestServer server(ok, TestServer::Tls{cert.cert_pem, cert.key_pem});
  asio::io_context io;
  auto opts = plain_options();
  opts.verify_peer = false;
  Client client(io.get_executor(), opts);
  EXPECT_FALSE(run(io, client, get(server.url())).ec);
}

TEST_F(TlsFixture, UnreadableCaFileIsAnInvalidArgument) {
  asio::io_context io;
  auto opts = plain_options();
  opts.ca_file = "/nonexistent/ca.pem";
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get("https://127.0.0.1:1/"));
  EXPECT_EQ(r.ec, errc::invalid_argument);
  EXPECT_NE(r.response.error.message.find("ca_file"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Retries.

RetryPolicy fast_retries(int attempts = 3) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.base_delay = 1ms;
  p.max_delay = 5ms;
  return p;
}

TEST(HttpRetry, RetryAfterThenSuccess) {
  TestServer server([](Conn& c, const Exchange& ex) {
    if (ex.sequence == 0)
      return c.write(http_response(429, R"({"error":"slow down"})", "Retry-After: 0.3\r\n"));
    return c.write(http_response(200, "done"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = fast_retries();  // backoff of at most 5 ms: only the server's hint waits longer
  auto start = std::chrono::steady_clock::now();
  auto r = run(io, client, req);
  // A lower bound only (never flaky): the 300 ms hint was waited for.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, "done");
  EXPECT_EQ(r.response.attempts, 2);
  EXPECT_EQ(server.requests(), 2u);
  EXPECT_EQ(server.connections(), 1u);  // the 429 left the connection clean and kept alive
}

TEST(HttpRetry, RetryAfterMsWins) {
  TestServer server([](Conn& c, const Exchange& ex) {
    if (ex.sequence == 0)
      return c.write(http_response(503, "busy", "Retry-After: 3600\r\nRetry-After-Ms: 10\r\n"));
    return c.write(http_response(200, "done"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = fast_retries();
  auto r = run(io, client, req);  // would give up (3600 s > max_retry_after) without the ms header
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(r.response.body, "done");
  EXPECT_EQ(r.response.attempts, 2);
}

TEST(HttpRetry, RetryAfterLongerThanTheCapGivesUp) {
  TestServer server([](Conn& c, const Exchange&) {
    return c.write(http_response(429, "later", "Retry-After: 120\r\n"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = fast_retries();
  req.retry->max_retry_after = 10'000ms;
  auto r = run(io, client, req);
  ASSERT_FALSE(r.ec);  // a status is not a transport error: the caller classifies it
  EXPECT_EQ(r.response.status, 429);
  EXPECT_EQ(r.response.body, "later");
  EXPECT_EQ(r.response.attempts, 1);
  EXPECT_EQ(server.requests(), 1u);
}

class HttpRetryStatus : public testing::TestWithParam<std::pair<int, bool>> {};

TEST_P(HttpRetryStatus, RetriedOnlyWhenRetryable) {
  auto [status, retryable] = GetParam();
  TestServer server(
      [status](Conn& c, const Exchange&) { return c.write(http_response(status, "nope")); });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = fast_retries(3);
  auto r = run(io, client, req);
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(r.response.status, status);
  EXPECT_EQ(r.response.attempts, retryable ? 3 : 1);
  EXPECT_EQ(server.requests(), retryable ? 3u : 1u);
}

INSTANTIATE_TEST_SUITE_P(Statuses, HttpRetryStatus,
                         testing::Values(std::pair{408, true}, std::pair{409, true},
                                         std::pair{429, true}, std::pair{500, true},
                                         std::pair{503, true}, std::pair{529, true},
                                         std::pair{400, false}, std::pair{401, false},
                                         std::pair{404, false}));

TEST(HttpRetry, ShouldRetryVeto) {
  TestServer server([](Conn& c, const Exchange&) {
    return c.write(http_response(429, R"({"error":{"code":"insufficient_quota"}})"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = fast_retries();
  int asked = 0;
  req.should_retry = [&](int status, const Headers&, std::string_view body) {
    ++asked;
    EXPECT_EQ(status, 429);
    return body.find("insufficient_quota") == std::string_view::npos;
  };
  auto r = run(io, client, req);
  EXPECT_EQ(r.response.attempts, 1);
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(server.requests(), 1u);
}

TEST(HttpRetry, FirstByteTimeoutRetried) {
  TestServer server([](Conn& c, const Exchange& ex) {
    if (ex.sequence == 0) {
      c.wait_for_close();
      return false;
    }
    return c.write(http_response(200, "second"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.timeouts = Timeouts{.connect = 20s, .first_byte = 150ms, .idle = 20s, .total = 60s};
  req.retry = fast_retries();
  auto r = run(io, client, req);
  ASSERT_FALSE(r.ec) << r.response.error.describe();
  EXPECT_EQ(r.response.body, "second");
  EXPECT_EQ(r.response.attempts, 2);
}

TEST(HttpRetry, ConnectFailuresRetriedUpToMaxAttempts) {
  unsigned short port;
  {
    TestServer gone([](Conn&, const Exchange&) { return false; });
    port = gone.port();
  }
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get("http://127.0.0.1:" + std::to_string(port) + "/");
  req.retry = fast_retries(3);
  auto r = run(io, client, req);
  EXPECT_EQ(r.ec, errc::connect_failed);
  EXPECT_EQ(r.response.attempts, 3);
  EXPECT_NE(r.response.error.message.find("cannot connect"), std::string::npos);
}

TEST(HttpRetry, NoRetryAfterBodyBytesReachedTheCaller) {
  TestServer server([](Conn& c, const Exchange&) {
    c.write(http_chunked_head(200) + http_chunk("data: partial\n\n"));
    return false;  // cut mid-stream
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = fast_retries();
  auto r = run_stream(io, client, req);
  EXPECT_EQ(r.ec, errc::connection_closed);
  EXPECT_EQ(r.joined(), "data: partial\n\n");
  EXPECT_EQ(r.response.attempts, 1);
  EXPECT_EQ(server.requests(), 1u);
}

TEST(HttpRetry, CutBeforeAnyBodyByteIsRetried) {
  TestServer server([](Conn& c, const Exchange& ex) {
    if (ex.sequence == 0) {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n");
      return false;
    }
    return c.write(http_response(200, "whole"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = fast_retries();
  auto r = run_stream(io, client, req);
  ASSERT_FALSE(r.ec) << r.response.error.describe();
  EXPECT_EQ(r.joined(), "whole");
  EXPECT_EQ(r.response.attempts, 2);
  EXPECT_EQ(r.heads, 2);  // on_headers runs once per attempt that got a 2xx head
}

// ---------------------------------------------------------------------------------------------
// Proxy.

TEST_F(TlsFixture, HttpsThroughConnectProxy) {
  auto cert = pki.issue({"127.0.0.1"});
  TestServer server(ok, TestServer::Tls{cert.cert_pem, cert.key_pem});
  test::ConnectProxy proxy;
  asio::io_context io;
  auto opts = plain_options();
  opts.ca_file = ca_file;
  opts.proxy = proxy.url();
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get(server.url()));
  ASSERT_FALSE(r.ec) << r.response.error.describe();
  EXPECT_EQ(r.response.body, "secure");
  ASSERT_FALSE(run(io, client, get(server.url())).ec);
  EXPECT_EQ(proxy.tunnels(), 1u);  // the tunnelled connection is pooled
  ASSERT_EQ(proxy.targets().size(), 1u);
  EXPECT_EQ(proxy.targets()[0], "127.0.0.1:" + std::to_string(server.port()));
}

TEST(HttpProxy, PlainHttpThroughProxyWithAuth) {
  TestServer server([](Conn& c, const Exchange&) { return c.write(http_response(200, "via")); });
  test::ConnectProxy proxy("Basic dXNlcjpwYXNz");  // user:pass
  asio::io_context io;
  auto opts = plain_options();
  opts.http_proxy = "http://user:pass@127.0.0.1:" + std::to_string(proxy.port());
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get(server.url()));
  ASSERT_FALSE(r.ec) << r.response.error.describe();
  EXPECT_EQ(r.response.body, "via");
  EXPECT_EQ(proxy.tunnels(), 1u);

  opts.http_proxy = "http://user:wrong@127.0.0.1:" + std::to_string(proxy.port());
  Client refused(io.get_executor(), opts);
  r = run(io, refused, get(server.url()));
  EXPECT_EQ(r.ec, errc::connect_failed);
  EXPECT_NE(r.response.error.message.find("407"), std::string::npos) << r.response.error.message;
  EXPECT_EQ(r.response.error.message.find("wrong"), std::string::npos);
}

TEST(HttpProxy, NoProxyBypasses) {
  TestServer server([](Conn& c, const Exchange&) { return c.write(http_response(200, "direct")); });
  test::ConnectProxy proxy;
  asio::io_context io;
  auto opts = plain_options();
  opts.http_proxy = proxy.url();
  opts.no_proxy = "localhost,127.0.0.1";
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get(server.url()));
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(proxy.tunnels(), 0u);
}

TEST(HttpProxy, UnreachableProxyIsConnectFailed) {
  unsigned short port;
  {
    test::ConnectProxy gone;
    port = gone.port();
  }
  asio::io_context io;
  auto opts = plain_options();
  opts.proxy = "http://127.0.0.1:" + std::to_string(port);
  Client client(io.get_executor(), opts);
  auto r = run(io, client, get("https://api.example.invalid/"));
  EXPECT_EQ(r.ec, errc::connect_failed);
  EXPECT_NE(r.response.error.message.find("proxy"), std::string::npos) << r.response.error.message;
}

// ---------------------------------------------------------------------------------------------
// Failure injection: the server cuts the connection after byte k of the response, for every k.

void walk_cut_points(const std::string& wire, const std::string& body, bool stream) {
  std::atomic<std::size_t> cut{0};
  TestServer server([&](Conn& c, const Exchange&) {
    std::size_t k = cut.load();
    c.write(std::string_view(wire).substr(0, k));
    return k >= wire.size();  // keep alive only when the whole response went out
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  std::size_t failures = 0;
  for (std::size_t k = 0; k <= wire.size(); ++k) {
    cut = k;
    SCOPED_TRACE("cut after byte " + std::to_string(k));
    Result r;
    std::string got;
    if (stream) {
      auto s = run_stream(io, client, get(server.url()));
      r = s;
      got = s.joined();
    } else {
      r = run(io, client, get(server.url()));
      got = r.response.body;
    }
    ASSERT_EQ(r.calls, 1);
    if (k == wire.size()) {
      ASSERT_FALSE(r.ec) << r.response.error.describe();
      EXPECT_EQ(got, body);
    } else {
      ++failures;
      ASSERT_EQ(r.ec, errc::connection_closed) << r.response.error.describe();
      EXPECT_EQ(r.response.error.code, errc::connection_closed);
      EXPECT_TRUE(body.starts_with(got));  // whatever arrived is a prefix, nothing invented
    }
    EXPECT_EQ(client.stats().idle, k == wire.size() ? 1u : 0u);
  }
  EXPECT_EQ(failures, wire.size());
  EXPECT_EQ(server.requests(), wire.size() + 1);
}

TEST(HttpFaults, CutAtEveryByteContentLength) {
  std::string body = "{\"ok\":true}";
  walk_cut_points(http_response(200, body), body, false);
  walk_cut_points(http_response(200, body), body, true);
}

TEST(HttpFaults, CutAtEveryByteChunked) {
  std::string wire = http_chunked_head(200) + http_chunk("data: a\n\n") +
                     http_chunk("data: b\n\n") + http_chunk("");
  walk_cut_points(wire, "data: a\n\ndata: b\n\n", false);
  walk_cut_points(wire, "data: a\n\ndata: b\n\n", true);
}

TEST(HttpFaults, MalformedResponseIsProtocolError) {
  TestServer server([](Conn& c, const Exchange&) {
    c.write("HTTP/1.1 abc nonsense\r\n\r\n");
    return false;
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  auto r = run(io, client, get(server.url()));
  EXPECT_EQ(r.ec, errc::protocol);
}

}  // namespace
}  // namespace chorus::http
