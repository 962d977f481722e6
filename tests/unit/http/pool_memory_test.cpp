// The paths of chorus::http::Client that keep a waiting call small (docs/decisions/http-memory.md,
// run-memory.md): a request queued behind the connection cap (grant, cancel, total deadline by
// the pool's one queue timer, freed with its io_context),
// the retry back-off on the same timer, read buffers that grow past their first size and are
// trimmed when the connection goes idle, whole bodies parsed straight into Response::body.
#include "unit/http/client_helpers.hpp"
#include "unit/http/test_server.hpp"

#include <chorus/http.hpp>

#include <gtest/gtest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <memory>
#include <string>

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

auto record(Result& into) {
  return [&into](error_code ec, Response r) {
    ++into.calls;
    into.ec = ec;
    into.response = std::move(r);
  };
}

// Keeps the connection busy until `release` (or 30 s); false when the client went away.
bool hold_until(Conn& c, const std::atomic<bool>& release) {
  for (int i = 0; i < 6000 && !release.load(); ++i)
    if (!c.pause(5ms)) return false;
  return true;
}

// Only a total deadline counts: the per-phase ones are far off.
Timeouts total_only(std::chrono::milliseconds total) {
  return Timeouts{.connect = 20s, .first_byte = 20s, .idle = 20s, .total = total};
}

// A body whose every byte depends on its position: a shifted or lost piece changes it.
std::string patterned(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

TEST(HttpPoolMemory, TotalDeadlineEndsAQueuedRequest) {
  std::atomic<bool> release{false};
  TestServer server([&](Conn& c, const Exchange&) {
    // Holds the only connection until the queued request has given up (or 30 s passed).
    if (!hold_until(c, release)) return false;
    return c.write(http_response(200, "first"));
  });
  asio::io_context io;
  auto opts = plain_options();
  opts.max_connections_per_host = 1;
  Client client(io.get_executor(), opts);
  Result first, second;
  client.async_request(get(server.url("/first")), record(first));
  Request queued = get(server.url("/second"));
  queued.timeouts = total_only(200ms);
  client.async_request(std::move(queued), [&](error_code ec, Response r) {
    record(second)(ec, std::move(r));
    release = true;
  });
  io.run();
  EXPECT_EQ(first.calls, 1);
  EXPECT_FALSE(first.ec) << first.response.error.describe();
  EXPECT_EQ(first.response.body, "first");
  EXPECT_EQ(second.calls, 1);
  EXPECT_EQ(second.ec, errc::timeout);
  EXPECT_NE(second.response.error.message.find("total timeout"), std::string::npos)
      << second.response.error.message;
  EXPECT_EQ(server.requests(), 1u);  // the queued one never reached the server
  EXPECT_EQ(client.stats().idle, 1u);
}

// The queue's one timer serves deadlines in any order: a request queued later with an earlier
// total deadline fails first, the one queued before it keeps waiting and is served.
TEST(HttpPoolMemory, QueueTimerServesAnEarlierDeadlineQueuedLater) {
  std::atomic<bool> release{false};
  TestServer server([&](Conn& c, const Exchange& ex) {
    if (ex.target == "/first" && !hold_until(c, release)) return false;
    return c.write(http_response(200, ex.target));
  });
  asio::io_context io;
  auto opts = plain_options();
  opts.max_connections_per_host = 1;
  Client client(io.get_executor(), opts);
  Result first, patient, hasty;
  client.async_request(get(server.url("/first")), record(first));
  Request p = get(server.url("/patient"));
  p.timeouts = total_only(30s);
  client.async_request(std::move(p), record(patient));
  Request h = get(server.url("/hasty"));
  h.timeouts = total_only(150ms);
  client.async_request(std::move(h), [&](error_code ec, Response r) {
    record(hasty)(ec, std::move(r));
    EXPECT_EQ(patient.calls, 0);  // still queued
    release = true;
  });
  io.run();
  EXPECT_EQ(hasty.calls, 1);
  EXPECT_EQ(hasty.ec, errc::timeout);
  EXPECT_NE(hasty.response.error.message.find("total timeout"), std::string::npos);
  EXPECT_EQ(first.calls, 1);
  EXPECT_FALSE(first.ec) << first.response.error.describe();
  EXPECT_EQ(patient.calls, 1);
  EXPECT_FALSE(patient.ec) << patient.response.error.describe();
  EXPECT_EQ(patient.response.body, "/patient");
  EXPECT_EQ(server.requests(), 2u);  // /first and /patient
}

// Queued requests belong to the queue, not to a pending operation of their own. When the
// io_context goes away with requests still queued, they (and their handlers) go with it: nothing
// keeps the client alive in a cycle (LeakSanitizer checks the rest under ASan).
TEST(HttpPoolMemory, QueuedRequestsAreFreedWithTheIoContext) {
  std::atomic<bool> release{false};
  TestServer server([&](Conn& c, const Exchange&) {
    if (!hold_until(c, release)) return false;
    return c.write(http_response(200, "late"));
  });
  auto token = std::make_shared<int>(0);
  int completions = 0;
  {
    asio::io_context io;
    auto opts = plain_options();
    opts.max_connections_per_host = 1;
    auto client = std::make_unique<Client>(io.get_executor(), opts);
    for (int i = 0; i < 4; ++i)
      client->async_request(get(server.url("/" + std::to_string(i))),
                            [token, &completions](error_code, Response) { ++completions; });
    io.run_for(100ms);  // the first is out, three wait in the queue
    EXPECT_EQ(token.use_count(), 5);
    client.reset();  // the handle goes first, as I/O objects must before their io_context...
  }                  // ...which is destroyed here without running the requests
  release = true;
  EXPECT_EQ(completions, 0);
  EXPECT_EQ(token.use_count(), 1);  // every handler (and so every request) was freed
}

TEST(HttpPoolMemory, QueuedRequestsRunInOrderOnTheGrantedConnection) {
  TestServer server([](Conn& c, const Exchange& ex) {
    return c.write(http_response(200, ex.target + "#" + std::to_string(ex.sequence)));
  });
  asio::io_context io;
  auto opts = plain_options();
  opts.max_connections_per_host = 1;
  Client client(io.get_executor(), opts);
  constexpr int n = 8;
  std::vector<Result> results(n);
  for (int i = 0; i < n; ++i)
    client.async_request(get(server.url("/" + std::to_string(i))), record(results[i]));
  io.run();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(results[i].calls, 1);
    EXPECT_FALSE(results[i].ec) << results[i].response.error.describe();
    // FIFO: the i-th request was the i-th the server read.
    EXPECT_EQ(results[i].response.body, "/" + std::to_string(i) + "#" + std::to_string(i));
  }
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(client.stats().opened, 1u);
  EXPECT_EQ(client.stats().reused, static_cast<std::size_t>(n - 1));
}

TEST(HttpPoolMemory, CancelDuringRetryBackoff) {
  TestServer server([](Conn& c, const Exchange&) {
    return c.write(http_response(503, "busy", "Retry-After: 20\r\n"));
  });
  asio::io_context io;
  asio::cancellation_signal signal;
  Client client(io.get_executor(), plain_options());
  Request req = get(server.url());
  req.retry = RetryPolicy{.max_attempts = 3, .max_delay = 60'000ms};
  int asked = 0;
  req.should_retry = [&](int status, const Headers&, std::string_view body) {
    ++asked;
    EXPECT_EQ(status, 503);
    EXPECT_EQ(body, "busy");
    // Runs just before the back-off starts: the cancellation lands while it waits (20 s).
    asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); });
    return true;
  };
  Result r;
  client.async_request(std::move(req), asio::bind_cancellation_slot(signal.slot(), record(r)));
  io.run();
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(r.ec, errc::cancelled);
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_EQ(client.stats().idle, 1u);  // the 503 was read whole: its connection stayed clean
}

TEST(HttpPoolMemory, LargeWholeBodiesThenSmallOnTheSameConnection) {
  const std::string big = patterned(300 * 1024 + 17);
  TestServer server([&](Conn& c, const Exchange& ex) {
    if (ex.target == "/length") return c.write(http_response(200, big));
    if (ex.target == "/chunked") {
      if (!c.write(http_chunked_head(200))) return false;
      for (std::size_t at = 0; at < big.size(); at += 10'000)
        if (!c.write(http_chunk(big.substr(at, 10'000)))) return false;
      return c.write(http_chunk(""));
    }
    return c.write(http_response(200, "small"));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  for (const char* path : {"/length", "/small", "/chunked", "/small", "/length"}) {
    Result r;
    client.async_request(get(server.url(path)), record(r));
    io.restart();
    io.run();
    ASSERT_EQ(r.calls, 1) << path;
    ASSERT_FALSE(r.ec) << path << ": " << r.response.error.describe();
    EXPECT_EQ(r.response.status, 200) << path;
    if (std::string_view(path) == "/small")
      EXPECT_EQ(r.response.body, "small");
    else
      EXPECT_TRUE(r.response.body == big) << path << ": " << r.response.body.size() << " bytes";
  }
  EXPECT_EQ(server.connections(), 1u);  // every response left the connection reusable
  EXPECT_EQ(client.stats().reused, 4u);
}

TEST(HttpPoolMemory, StreamedBodyInGrowingPiecesArrivesWhole) {
  const std::string big = patterned(200 * 1024 + 5);
  TestServer server([&](Conn& c, const Exchange&) {
    if (!c.write(http_chunked_head(200, "Content-Type: text/event-stream\r\n"))) return false;
    std::size_t at = 0;
    for (std::size_t piece = 1; at < big.size(); piece *= 2) {
      std::size_t n = std::min(piece, big.size() - at);
      if (!c.write(http_chunk(big.substr(at, n)))) return false;
      at += n;
    }
    return c.write(http_chunk(""));
  });
  asio::io_context io;
  Client client(io.get_executor(), plain_options());
  for (int round = 0; round < 2; ++round) {  // the second on the trimmed, kept-alive connection
    std::string got;
    int heads = 0;
    StreamHandler h;
    h.on_headers = [&](const Response&) { ++heads; };
    h.on_data = [&](std::string_view chunk) {
      EXPECT_FALSE(chunk.empty());
      EXPECT_LE(chunk.size(), 16u * 1024u);  // never more than one chunk buffer at a time
      got.append(chunk);
    };
    Result r;
    client.async_stream(get(server.url()), std::move(h), record(r));
    io.restart();
    io.run();
    ASSERT_EQ(r.calls, 1);
    ASSERT_FALSE(r.ec) << r.response.error.describe();
    EXPECT_EQ(heads, 1);
    EXPECT_TRUE(got == big) << got.size() << " bytes";
  }
  EXPECT_EQ(server.connections(), 1u);
}

}  // namespace
}  // namespace chorus::http
