// chorus::http::Client: one `operation` object per request drives resolve -> connect -> [proxy
// CONNECT] -> [TLS handshake] -> write -> read head -> read body, with retries, on the client's
// executor. Connections live in per-host pools owned by `client_impl`.
#include "http/url.hpp"

#include <chorus/http.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <list>
#include <random>
#include <unordered_map>

namespace chorus::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace detail {

class operation;

// Streamed body bytes are copied into the connection's chunk buffer and handed to on_data from
// there: no allocation per chunk. The chunk and the read buffer are allocated on demand, sized to
// what the reads bring (first_read, doubled while reads fill them, at most chunk_size / max_read),
// and freed when their connection goes idle (see docs/decisions/http-memory.md).
constexpr std::size_t chunk_size = 16 * 1024;  // matches a TLS record
constexpr std::size_t first_read = 4 * 1024;   // a whole small response per read
constexpr std::size_t max_read = 64 * 1024;
// Whole (non-streamed) responses larger than this fail with errc::protocol.
constexpr std::uint64_t whole_body_limit = 256ull * 1024 * 1024;

using response_parser = bhttp::response_parser<bhttp::buffer_body>;

struct connection {
  explicit connection(const asio::any_io_executor& ex) : socket(ex) {}
  tcp::socket socket;                             // unused once moved into `tls`
  std::unique_ptr<ssl::stream<tcp::socket>> tls;  // https only (plain HTTP does not pay its size)
  beast::flat_buffer buffer;
  std::unique_ptr<char[]> chunk;  // streamed body bytes on their way to on_data
  std::size_t chunk_capacity = 0;
  std::size_t read_size = first_read;  // the next read's size: grows while reads fill it
  // The response being read: it lives here, not in the operation, so that a request waiting in
  // the queue does not carry one.
  std::optional<response_parser> parser;
  steady::time_point idle_since;
  bool reused = false;
  bool established = false;  // TCP connected: closing it on failure counts as a discard

  // Room for at least `n` chunk bytes (at most chunk_size), keeping the first `keep`.
  void reserve_chunk(std::size_t n, std::size_t keep) {
    n = std::min(n, chunk_size);
    if (n <= chunk_capacity) return;
    std::size_t cap = std::min(std::max({n, chunk_capacity * 2, std::size_t{1024}}), chunk_size);
    auto bigger = std::make_unique_for_overwrite<char[]>(cap);
    if (keep != 0) std::memcpy(bigger.get(), chunk.get(), keep);
    chunk = std::move(bigger);
    chunk_capacity = cap;
  }
  // Going idle: buffers beyond a small read are freed (read_size keeps the size they reached, so
  // the next response is read with one allocation of the right size).
  void trim() noexcept {
    parser.reset();
    if (buffer.capacity() > first_read) buffer.shrink_to_fit();
    if (chunk_capacity > first_read) {
      chunk.reset();
      chunk_capacity = 0;
    }
  }

  tcp::socket& tcp_socket() noexcept { return tls ? tls->next_layer() : socket; }
  void close() noexcept {
    error_code ignored;
    tcp_socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_socket().close(ignored);
  }
  template <class F>
  void visit(F&& f) {
    if (tls)
      f(*tls);
    else
      f(socket);
  }
  // A pooled connection the server closed (or wrote to unasked) must not be reused.
  bool looks_alive() noexcept {
    if (!tcp_socket().is_open() || buffer.size() != 0) return false;
    char byte;
    ssize_t n = ::recv(tcp_socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

struct queue_keeper;

struct host_pool {
  Url origin;  // scheme, host and port (no target) of every request of this pool
  std::vector<std::unique_ptr<connection>> idle;  // back() = most recently used
  std::size_t active = 0;                         // checked out or being opened
  // Requests over the cap, FIFO. The queue owns them while they wait: a queued request has no
  // pending operation of its own (docs/decisions/run-memory.md). One timer per pool wakes at the
  // earliest total deadline among them; its pending wait holds `keeper` (see queue_keeper).
  std::list<std::shared_ptr<operation>> waiters;
  std::unique_ptr<asio::steady_timer> queue_timer;
  steady::time_point queue_timer_at = steady::time_point::max();
  bool queue_armed = false;  // a wait of queue_timer is pending (maybe at time_point::max())
  std::weak_ptr<queue_keeper> keeper;
};  // lives in client_impl::pools, never erased: operations keep a pointer to theirs

// Held by the pending waits of a pool's queue timer, so it outlives them only when no wait is
// pending any more while requests are still queued: the io_context was destroyed with them (its
// handlers dropped). The queued requests are then dropped too, which breaks the ownership cycle
// pool -> request -> client -> pool. In every other case the queue is empty when it goes.
struct queue_keeper {
  std::weak_ptr<client_impl> client;
  host_pool* pool = nullptr;
  ~queue_keeper();
};

class client_impl : public std::enable_shared_from_this<client_impl> {
 public:
  client_impl(asio::any_io_executor executor, ClientOptions opts)
      : ex(std::move(executor)), options(std::move(opts)), rng(std::random_device{}()) {
    if (options.max_connections_per_host == 0) options.max_connections_per_host = 1;
  }

  // The TLS context, made on the first https request: loading the system CA store costs
  // ~200 million instructions, which a client that only speaks plain HTTP (a local model server,
  // the fake server) should not pay, nor every short-lived client. Empty string: ready.
  const std::string& prepare_tls() {
    if (tls_ctx) return tls_setup_error;
    auto& ctx = tls_ctx.emplace(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    error_code ec;
    ctx.set_default_verify_paths(ec);  // a missing system store is not fatal with ca_file
    if (!options.ca_file.empty()) {
      ctx.load_verify_file(options.ca_file, ec);
      if (ec)
        tls_setup_error =
            "ca_file: cannot load CA bundle '" + options.ca_file + "': " + ec.message();
    }
    return tls_setup_error;
  }

  asio::any_io_executor ex;
  ClientOptions options;
  std::optional<ssl::context> tls_ctx;  // see prepare_tls()
  std::string tls_setup_error;
  PoolStats counters;
  std::unordered_map<std::string, host_pool> pools;
  std::mt19937_64 rng;

  // A kept-alive connection for `pool`, or null. Expired and dead ones are closed on the way.
  std::unique_ptr<connection> take_idle(host_pool& pool) {
    auto now = steady::now();
    while (!pool.idle.empty()) {
      auto c = std::move(pool.idle.back());
      pool.idle.pop_back();
      auto idle_for = now - c->idle_since;
      // The liveness probe is a syscall; a connection idle for under a second skips it (a server
      // that closed it that quickly is still handled: the request is resent on a fresh one).
      bool probe = idle_for >= std::chrono::seconds(1);
      if (idle_for <= options.idle_keepalive && c->buffer.size() == 0 &&
          (!probe || c->looks_alive()))
        return c;
      c->close();
    }
    return nullptr;
  }

  // Gives back a checked-out connection (or, when `c` is null, a connection slot).
  void release(host_pool& pool, std::unique_ptr<connection> c, bool reusable);

  // A request joined `pool`'s queue with this total deadline: the queue timer is armed by then.
  void watch_queue(host_pool& pool, steady::time_point deadline);
  // A request left `pool`'s queue: an empty queue holds no timer wait (run() may return).
  void queue_left(host_pool& pool);
  // The queue timer fired: requests past their total deadline leave the queue and fail.
  void on_queue_timer(host_pool& pool);
};

// One request, from initiation to completion, retries included.
class operation : public std::enable_shared_from_this<operation> {
 public:
  using handler_type = asio::any_completion_handler<void(error_code, Response)>;

  operation(std::shared_ptr<client_impl> client, std::shared_ptr<StreamHandler> stream,
            handler_type handler)
      : client_(std::move(client)),
        stream_(std::move(stream)),
        handler_(std::move(handler)),
        work_(asio::prefer(asio::get_associated_executor(handler_, client_->ex),
                           asio::execution::outstanding_work.tracked)),
        slot_(asio::get_associated_cancellation_slot(handler_)) {}

  ~operation() {
    if (slot_.is_connected()) slot_.clear();
  }

  // Keeps of `req` only what outlives the serialised request (wire_).
  void start(Request req);

  // True while start() runs inside the initiating function: a completion then must be posted.
  bool initiating_ = false;

  // Called by client_impl::release when this queued request (already out of the queue) gets a
  // connection or a slot.
  void grant(std::unique_ptr<connection> c) {
    in_queue_ = false;
    granted_ = true;
    conn_ = std::move(c);
    wake();
  }
  // Called by the pool's queue timer once this request, already out of the queue, passed its
  // total deadline.
  void expire_in_queue() {
    in_queue_ = false;
    if (!cancelled_ && !timeout_kind_) {
      timeout_kind_ = "total";
      timeout_limit_ = timeouts_.total;
    }
    wake();
  }
  steady::time_point total_deadline() const { return total_deadline_; }
  // The queue is dropped with the io_context (queue_keeper): nothing to erase any more.
  void orphan() { in_queue_ = false; }

 private:
  // --- steps ---
  void acquire();
  // Runs on_granted from the executor: the request left the queue (grant, deadline, cancel).
  void wake() {
    asio::post(client_->ex, [self = shared_from_this()] { self->on_granted(); });
  }
  // Takes this request out of its pool's queue; the returned owner keeps it alive meanwhile.
  std::shared_ptr<operation> leave_queue();
  void on_granted();
  template <class Handler>
  void wait_until(steady::time_point t, Handler&& handler);
  void connect();
  void on_resolved(error_code ec, const tcp::resolver::results_type& results);
  void on_connected(error_code ec);
  void proxy_connect();
  void on_proxy_response(error_code ec);
  void handshake();
  void on_handshake(error_code ec);
  void send();
  void on_written(error_code ec);
  void parse();
  void read_more();
  void on_readable(error_code ec);
  void on_read(error_code ec, std::size_t n);
  bool on_head();
  void deliver();
  void fail_read(error_code ec);
  void on_done();
  void backoff(milliseconds delay);

  // --- deadlines, cancellation, completion ---
  void arm_phase(const char* kind, milliseconds limit);
  void schedule_deadline(steady::time_point wake_by = steady::time_point::max());
  void on_deadline(error_code ec, std::uint64_t id);
  void on_cancel();
  void interrupt();
  bool interrupted();
  bool retry_transport(error_code code);
  void fail(error_code code, std::string message);
  void complete(error_code ec, std::string message = {});
  std::string where() const;

  // The response being built: created when its head arrives (a queued or waiting request has
  // none), handed to the caller at completion.
  Response& response() {
    if (!response_) response_ = std::make_unique<Response>();
    return *response_;
  }
  const Url& origin() const { return pool_->origin; }

  // Sized for many waiting requests (docs/decisions/run-memory.md): the URL lives in the host
  // pool, the method and target in wire_, the response and the retry rules only when needed.
  std::shared_ptr<client_impl> client_;
  // What the operation keeps of its Request once wire_ is built.
  struct retry_rules {
    RetryPolicy policy;
    std::function<bool(int, const Headers&, std::string_view)> should_retry;
  };
  std::unique_ptr<retry_rules> retry_;  // only when the request has a retry policy
  std::vector<std::string> secrets_;
  std::shared_ptr<StreamHandler> stream_;
  handler_type handler_;
  asio::any_completion_executor work_;
  asio::cancellation_slot slot_;

  host_pool* pool_ = nullptr;           // this request's (scheme, host, port)
  std::unique_ptr<ProxyTarget> proxy_;  // only when a proxy is used
  Timeouts timeouts_;
  steady::time_point total_deadline_ = steady::time_point::max();

  std::unique_ptr<tcp::resolver> resolver_;  // only when a connection is opened
  // One timer serves the phase deadline (connect, first_byte, idle) and the total deadline. It
  // is re-armed only when a deadline moves earlier; when it fires early (the deadline moved
  // later, e.g. after each body read) it re-waits. Fewer timer updates, fewer syscalls.
  // The same timer is the wait of a request backing off before a retry: see wait_until(). A
  // request queued for a connection waits without it (host_pool::waiters).
  // Made on first use: a request waiting in the queue has none.
  std::unique_ptr<asio::steady_timer> deadline_timer_;
  asio::steady_timer& deadline_timer() {
    if (!deadline_timer_) deadline_timer_ = std::make_unique<asio::steady_timer>(client_->ex);
    return *deadline_timer_;
  }
  steady::time_point phase_deadline_ = steady::time_point::max();
  const char* phase_kind_ = nullptr;
  milliseconds phase_limit_{0};
  steady::time_point timer_expiry_ = steady::time_point::max();  // max: no wait pending
  std::uint64_t wait_id_ = 0;

  std::unique_ptr<connection> conn_;
  // The serialised request (head and body), written with one write; kept for retries.
  std::string wire_;
  bool head_request_ = false;
  std::size_t filled_ = 0;     // body bytes waiting in conn_->chunk
  std::size_t read_room_ = 0;  // size of the pending read
  // The CONNECT exchange with a proxy, only while it runs.
  struct proxy_exchange {
    std::string request;
    bhttp::response_parser<bhttp::empty_body> parser;
  };
  std::unique_ptr<proxy_exchange> proxy_exchange_;
  std::unique_ptr<Response> response_;

  std::list<std::shared_ptr<operation>>::iterator queue_pos_;
  const char* timeout_kind_ = nullptr;
  milliseconds timeout_limit_{0};
  int attempt_ = 1;
  bool in_queue_ = false;
  bool granted_ = false;
  bool waiting_ = false;  // deadline_timer_ is the wait of wait_until()
  bool cancelled_ = false;
  bool done_ = false;
  bool delivered_ = false;  // a body byte reached the caller: no more retries
  bool streaming_ = false;  // this response's body goes to on_data
};

namespace {

bool running_in(const asio::any_io_executor& ex) {
  if (auto* e = ex.target<asio::io_context::executor_type>()) return e->running_in_this_thread();
  if (auto* s = ex.target<asio::strand<asio::io_context::executor_type>>())
    return s->running_in_this_thread();
  return false;
}

}  // namespace

void client_impl::release(host_pool& pool, std::unique_ptr<connection> c, bool reusable) {
  if (pool.active > 0) --pool.active;
  if (c && !reusable) {
    c->close();
    c.reset();
  }
  if (c) c->idle_since = steady::now();
  if (!pool.waiters.empty()) {
    std::shared_ptr<operation> next = std::move(pool.waiters.front());
    pool.waiters.pop_front();
    queue_left(pool);
    ++pool.active;
    next->grant(std::move(c));  // a kept-alive connection, or the right to open one
    return;
  }
  if (!c) return;
  c->trim();
  if (pool.idle.size() >= options.max_idle_per_host) {
    if (options.max_idle_per_host == 0) {
      c->close();
      return;
    }
    pool.idle.front()->close();
    pool.idle.erase(pool.idle.begin());
  }
  pool.idle.push_back(std::move(c));
}

namespace {

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

bool valid_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= ' ' || c >= 0x7f ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) !=
            std::string_view::npos)
      return false;
  return true;
}

bool valid_header_value(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool is_closed_error(error_code ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated ||
         ec == asio::error::connection_aborted;
}

std::string ms_text(milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

}  // namespace

std::string operation::where() const {
  // The request line of wire_ holds the method and the target.
  std::string_view line = std::string_view(wire_).substr(0, wire_.find('\r'));
  const std::size_t sp = line.find(' ');
  std::string_view method = line.substr(0, sp);
  std::string_view target;
  if (sp != std::string_view::npos) {
    target = line.substr(sp + 1);
    target = target.substr(0, target.rfind(' '));
    target = target.substr(0, target.find('?'));  // a query may carry a key: never shown
  }
  const Url& u = origin();
  std::string w = std::string(method) + " " + u.scheme + "://";
  bool v6 = u.host.find(':') != std::string::npos;
  w += v6 ? "[" + u.host + "]" : u.host;
  w += ":" + u.port;
  w += target;
  return w;
}

void operation::start(Request req) {
  if (req.retry)
    retry_ = std::make_unique<retry_rules>(
        retry_rules{std::move(*req.retry), std::move(req.should_retry)});
  secrets_ = std::move(req.secrets);
  if (slot_.is_connected()) {
    slot_.assign([this](asio::cancellation_type type) {
      if (type != asio::cancellation_type::none) on_cancel();
    });
  }
  timeouts_ = req.timeouts.value_or(client_->options.timeouts);
  if (cancelled_) return complete(errc::cancelled, "cancelled before it started");

  auto url = parse_url(req.url);
  if (!url) {
    std::string shown = req.url.substr(0, req.url.find('?'));
    return complete(errc::invalid_argument,
                    "url: not an absolute http(s) URL: '" + redact_secrets(shown) + "'");
  }
  const Url& u = *url;
  const std::string& method = req.method;
  if (!valid_token(method))
    return complete(errc::invalid_argument, "method: not a valid HTTP method: '" + method + "'");
  bool https = u.scheme == "https";
  if (https && !client_->prepare_tls().empty())
    return complete(errc::invalid_argument, client_->tls_setup_error);

  const std::string& proxy = https ? client_->options.proxy : client_->options.http_proxy;
  if (!proxy.empty() && !bypass_proxy(client_->options.no_proxy, u.host, u.port)) {
    std::string error;
    auto target = parse_proxy(proxy, error);
    if (!target) return complete(errc::invalid_argument, "proxy: " + error);
    proxy_ = std::make_unique<ProxyTarget>(std::move(*target));
  }
  {
    std::string key;
    key.reserve(u.scheme.size() + u.host.size() + u.port.size() + 4);
    key.append(u.scheme).append("://").append(u.host).append(":").append(u.port);
    pool_ = &client_->pools[key];
    if (pool_->origin.host.empty()) pool_->origin = Url{u.scheme, u.host, u.port, {}};
  }

  // The head is written directly (no Beast message and serializer): one buffer, one write.
  const bool has_body = !req.body.empty();
  // Sized to what is written below (wire_ lives as long as the request: no slack).
  std::size_t size = method.size() + 1 + u.target.size() + 11 + req.body.size() + 2;
  for (const auto& [name, value] : req.headers)
    size += name.size() + value.size() + 4;
  size += 11 + u.host.size() + u.port.size();       // Host: [host]:port
  size += 14 + client_->options.user_agent.size();  // User-Agent
  size += 40;                                       // Content-Length
  wire_.clear();
  wire_.reserve(size);
  wire_.append(method).append(" ").append(u.target).append(" HTTP/1.1\r\n");
  bool has_host = false, has_agent = false;
  for (const auto& [name, value] : req.headers) {
    if (!valid_token(name))
      return complete(errc::invalid_argument, "headers: invalid header name '" + name + "'");
    if (!valid_header_value(value))
      return complete(errc::invalid_argument,
                      "headers: value of '" + name + "' contains CR, LF or NUL");
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding")) continue;
    has_host |= iequals(name, "host");
    has_agent |= iequals(name, "user-agent");
    wire_.append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_host) {
    bool v6 = u.host.find(':') != std::string::npos;
    bool default_port = u.port == (https ? "443" : "80");
    wire_.append("Host: ");
    if (v6) wire_.append("[");
    wire_.append(u.host);
    if (v6) wire_.append("]");
    if (!default_port) wire_.append(":").append(u.port);
    wire_.append("\r\n");
  }
  if (!has_agent && !client_->options.user_agent.empty())
    wire_.append("User-Agent: ").append(client_->options.user_agent).append("\r\n");
  // As Beast's prepare_payload: a length when there is a body or the method expects one.
  if (has_body || method == "POST" || method == "PUT" || method == "OPTIONS") {
    char digits[24];
    auto [end, ignored] = std::to_chars(digits, digits + sizeof digits, req.body.size());
    wire_.append("Content-Length: ").append(digits, end).append("\r\n");
  }
  wire_.append("\r\n").append(req.body);
  head_request_ = method == "HEAD";
  // wire_ is now the only copy of the request's bytes (it is kept for retries); `req` dies here.

  if (timeouts_.total.count() > 0) total_deadline_ = steady::now() + timeouts_.total;
  acquire();
}

void operation::acquire() {
  auto& pool = *pool_;
  if (auto c = client_->take_idle(pool)) {
    ++pool.active;
    conn_ = std::move(c);
    conn_->reused = true;
    ++client_->counters.reused;
    return send();
  }
  if (pool.active < client_->options.max_connections_per_host) {
    ++pool.active;
    return connect();
  }
  in_queue_ = true;
  granted_ = false;
  queue_pos_ = pool.waiters.insert(pool.waiters.end(), shared_from_this());
  client_->watch_queue(pool, total_deadline_);
}

std::shared_ptr<operation> operation::leave_queue() {
  std::shared_ptr<operation> self = std::move(*queue_pos_);
  pool_->waiters.erase(queue_pos_);
  in_queue_ = false;
  client_->queue_left(*pool_);
  return self;
}

void client_impl::watch_queue(host_pool& pool, steady::time_point deadline) {
  if (pool.queue_armed && deadline >= pool.queue_timer_at) return;  // the armed wait is first
  auto keeper = pool.keeper.lock();
  if (!keeper) {
    keeper = std::make_shared<queue_keeper>();
    keeper->client = weak_from_this();
    keeper->pool = &pool;
    pool.keeper = keeper;
  }
  if (!pool.queue_timer) pool.queue_timer = std::make_unique<asio::steady_timer>(ex);
  pool.queue_armed = true;
  pool.queue_timer_at = deadline;
  pool.queue_timer->expires_at(deadline);  // a superseded wait completes with operation_aborted
  pool.queue_timer->async_wait([keeper, weak = weak_from_this(), p = &pool](error_code ec) {
    if (ec) return;  // superseded or cancelled: a newer wait (if any) covers the queue
    if (auto self = weak.lock()) self->on_queue_timer(*p);
  });
}

void client_impl::queue_left(host_pool& pool) {
  if (!pool.waiters.empty() || !pool.queue_armed) return;
  pool.queue_armed = false;
  pool.queue_timer_at = steady::time_point::max();
  pool.queue_timer->cancel();
}

void client_impl::on_queue_timer(host_pool& pool) {
  pool.queue_armed = false;
  pool.queue_timer_at = steady::time_point::max();
  const auto now = steady::now();
  auto next = steady::time_point::max();
  for (auto it = pool.waiters.begin(); it != pool.waiters.end();) {
    const auto deadline = (*it)->total_deadline();
    if (deadline <= now) {
      std::shared_ptr<operation> late = std::move(*it);
      it = pool.waiters.erase(it);
      late->expire_in_queue();
    } else {
      next = std::min(next, deadline);
      ++it;
    }
  }
  if (!pool.waiters.empty()) watch_queue(pool, next);
}

queue_keeper::~queue_keeper() {
  auto c = client.lock();
  if (!c || pool->waiters.empty()) return;
  std::list<std::shared_ptr<operation>> orphans;
  orphans.swap(pool->waiters);
  for (auto& op : orphans)
    op->orphan();
  pool->queue_armed = false;
}

// Makes deadline_timer_ wait until `t` for `handler` (a pending deadline wait is superseded); it
// wakes early when interrupt() or grant() cancels it.
template <class Handler>
void operation::wait_until(steady::time_point t, Handler&& handler) {
  ++wait_id_;
  timer_expiry_ = steady::time_point::max();  // the next schedule_deadline() re-arms the timer
  waiting_ = true;
  deadline_timer().expires_at(t);
  deadline_timer().async_wait(std::forward<Handler>(handler));
}

void operation::on_granted() {
  if (done_) return;
  if (!granted_) {  // out of the queue by cancellation or at its total deadline
    interrupted();
    return;
  }
  granted_ = false;
  if (cancelled_ || timeout_kind_) {
    client_->release(*pool_, std::move(conn_), true);  // untouched: give it to the next in line
    interrupted();
    return;
  }
  if (conn_) {
    conn_->reused = true;
    ++client_->counters.reused;
    return send();
  }
  connect();
}

void operation::connect() {
  arm_phase("connect", timeouts_.connect);
  conn_ = std::make_unique<connection>(client_->ex);
  const std::string& host = proxy_ ? proxy_->host : origin().host;
  const std::string& port = proxy_ ? proxy_->port : origin().port;
  if (!resolver_) resolver_ = std::make_unique<tcp::resolver>(client_->ex);
  resolver_->async_resolve(
      host, port, [self = shared_from_this()](error_code ec, tcp::resolver::results_type r) {
        self->on_resolved(ec, r);
      });
}

void operation::on_resolved(error_code ec, const tcp::resolver::results_type& results) {
  if (interrupted()) return;
  const std::string& host = proxy_ ? proxy_->host : origin().host;
  if (ec)
    return fail(errc::connect_failed,
                std::string(proxy_ ? "cannot resolve proxy host '" : "cannot resolve host '") +
                    host + "': " + ec.message());
  asio::async_connect(conn_->socket, results,
                      [self = shared_from_this()](error_code ec2, const tcp::endpoint&) {
                        self->on_connected(ec2);
                      });
}

void operation::on_connected(error_code ec) {
  if (interrupted()) return;
  if (ec) {
    if (proxy_)
      return fail(errc::connect_failed, "cannot connect to proxy " + proxy_->host + ":" +
                                            proxy_->port + ": " + ec.message());
    return fail(errc::connect_failed,
                "cannot connect to " + origin().host + ":" + origin().port + ": " + ec.message());
  }
  ++client_->counters.opened;
  conn_->established = true;
  error_code ignored;
  conn_->socket.set_option(tcp::no_delay(true), ignored);
  if (proxy_) return proxy_connect();
  if (origin().scheme == "https") return handshake();
  send();
}

void operation::proxy_connect() {
  bool v6 = origin().host.find(':') != std::string::npos;
  std::string authority = (v6 ? "[" + origin().host + "]" : origin().host) + ":" + origin().port;
  proxy_exchange_ = std::make_unique<proxy_exchange>();
  auto& request = proxy_exchange_->request;
  request = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (!proxy_->credentials.empty()) {
    std::string encoded(beast::detail::base64::encoded_size(proxy_->credentials.size()), '\0');
    encoded.resize(beast::detail::base64::encode(encoded.data(), proxy_->credentials.data(),
                                                 proxy_->credentials.size()));
    request += "Proxy-Authorization: Basic " + encoded + "\r\n";
  }
  request += "\r\n";
  asio::async_write(conn_->socket, asio::buffer(request),
                    [self = shared_from_this()](error_code ec, std::size_t) {
                      if (self->interrupted()) return;
                      if (ec)
                        return self->fail(errc::connect_failed,
                                          "proxy closed the connection: " + ec.message());
                      auto& p = self->proxy_exchange_->parser;
                      p.skip(true);  // a 2xx to CONNECT has no body, whatever its headers say
                      bhttp::async_read_header(
                          self->conn_->socket, self->conn_->buffer, p,
                          [self](error_code ec2, std::size_t) { self->on_proxy_response(ec2); });
                    });
}

void operation::on_proxy_response(error_code ec) {
  if (interrupted()) return;
  std::string via = " via proxy " + proxy_->host + ":" + proxy_->port;
  if (ec) return fail(errc::connect_failed, "no answer to CONNECT" + via + ": " + ec.message());
  auto& head = proxy_exchange_->parser.get();
  int status = static_cast<int>(head.result_int());
  if (status < 200 || status > 299)
    return fail(errc::connect_failed, "proxy refused CONNECT to " + origin().host + ":" +
                                          origin().port + via + ": " + std::to_string(status) +
                                          " " + std::string(head.reason()));
  if (conn_->buffer.size() != 0)
    return fail(errc::protocol, "proxy sent bytes after its CONNECT answer" + via);
  proxy_exchange_.reset();
  if (origin().scheme == "https") return handshake();
  send();
}

void operation::handshake() {
  conn_->tls =
      std::make_unique<ssl::stream<tcp::socket>>(std::move(conn_->socket), *client_->tls_ctx);
  auto& tls = *conn_->tls;
  SSL* native = tls.native_handle();
  bool ip = is_ip_literal(origin().host);
  if (!ip) SSL_set_tlsext_host_name(native, origin().host.c_str());
  if (client_->options.verify_peer) {
    // OpenSSL's own check records why a name did not match (X509_V_ERR_HOSTNAME_MISMATCH);
    // asio's host_name_verification callback is the belt to those braces.
    if (ip)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), origin().host.c_str());
    else
      SSL_set1_host(native, origin().host.c_str());
    tls.set_verify_mode(ssl::verify_peer);
    tls.set_verify_callback(ssl::host_name_verification(origin().host));
  } else {
    tls.set_verify_mode(ssl::verify_none);
  }
  tls.async_handshake(ssl::stream_base::client,
                      [self = shared_from_this()](error_code ec) { self->on_handshake(ec); });
}

void operation::on_handshake(error_code ec) {
  if (interrupted()) return;
  if (!ec) return send();
  long verify = SSL_get_verify_result(conn_->tls->native_handle());
  if (verify != X509_V_OK)
    return fail(errc::tls_failed, "certificate verification failed for '" + origin().host +
                                      "': " + X509_verify_cert_error_string(verify));
  if (is_closed_error(ec))
    return fail(errc::tls_failed, "TLS handshake with '" + origin().host +
                                      "' failed: the peer closed the connection");
  fail(errc::tls_failed, "TLS handshake with '" + origin().host + "' failed: " + ec.message());
}

void operation::send() {
  // Wake no later than the idle limit after sending: the idle deadline armed when the head
  // arrives is then never earlier than the pending wait, and the timer is set once per request.
  steady::time_point wake_by = steady::time_point::max();
  if (timeouts_.idle.count() > 0) wake_by = steady::now() + timeouts_.idle;
  phase_kind_ = "first_byte";
  phase_limit_ = timeouts_.first_byte;
  phase_deadline_ = timeouts_.first_byte.count() > 0 ? steady::now() + timeouts_.first_byte
                                                     : steady::time_point::max();
  schedule_deadline(wake_by);
  auto& p = conn_->parser.emplace();
  p.header_limit(64 * 1024);
  streaming_ = false;
  filled_ = 0;
  if (head_request_) p.skip(true);
  std::size_t written = 0;
  if (!conn_->tls) {
    // A request fits the socket's send buffer: write it now rather than through the reactor and
    // a completion handler (one hop and one scheduler round per request fewer).
    error_code ec;
    if (!conn_->socket.non_blocking()) conn_->socket.non_blocking(true, ec);
    if (!ec) written = conn_->socket.write_some(asio::buffer(wire_), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return on_written(ec);
    if (written == wire_.size()) return on_written({});
  }
  conn_->visit([&](auto& s) {
    asio::async_write(
        s, asio::buffer(wire_) + written,
        [self = shared_from_this()](error_code ec, std::size_t) { self->on_written(ec); });
  });
}

void operation::on_written(error_code ec) {
  if (interrupted()) return;
  if (ec) {
    if (retry_transport(ec)) return;
    return fail(errc::connection_closed, "sending the request failed: " + ec.message());
  }
  parse();
}

// Parses everything conn_->buffer holds (head, then as many body pieces as are there), hands the
// body over once per socket read, and reads again only when the parser needs more bytes.
// A whole (non-streamed) body is parsed straight into Response::body: no chunk, no copy. Body
// bytes never outnumber the input bytes, so room for buffer.size() more always suffices.
void operation::parse() {
  auto& p = *conn_->parser;
  auto& body = p.get().body();
  while (!p.is_done() && conn_->buffer.size() != 0) {
    const bool had_head = p.is_header_done();
    std::size_t room = 0, whole_size = 0;
    if (had_head) {
      room = conn_->buffer.size();
      if (streaming_) {
        conn_->reserve_chunk(filled_ + room, filled_);
        room = conn_->chunk_capacity - filled_;
        body.data = conn_->chunk.get() + filled_;
      } else {
        whole_size = response_->body.size();
        response_->body.resize(whole_size + room);
        body.data = response_->body.data() + whole_size;
      }
      body.size = room;
      body.more = true;
    }
    error_code ec;
    std::size_t used = p.put(conn_->buffer.data(), ec);
    conn_->buffer.consume(used);
    if (had_head) {
      if (streaming_)
        filled_ += room - body.size;
      else
        response_->body.resize(whole_size + (room - body.size));
    }
    if (ec == bhttp::error::need_buffer) {  // the chunk buffer is full
      if (filled_ == 0 && used == 0)
        return fail(errc::protocol, "malformed response body: " + ec.message());
      deliver();
      if (interrupted()) return;
      continue;
    }
    if (ec == bhttp::error::need_more) break;
    if (ec) return fail_read(ec);
    if (!had_head && p.is_header_done() && !on_head()) return;
    if (used == 0) break;
  }
  deliver();
  if (interrupted()) return;
  if (p.is_done()) return on_done();
  read_more();
}

void operation::read_more() {
  if (conn_->parser->is_header_done()) arm_phase("idle", timeouts_.idle);
  // Read read_size bytes (4 KiB at first: a whole small response, or several SSE events, per
  // system call), or what the buffer already has room for; a read that fills it doubles the
  // next one, up to 64 KiB.
  auto& b = conn_->buffer;
  if (!conn_->tls && b.size() == 0 && !conn_->parser->got_some()) {
    // Waiting for the response head, which may take seconds (the model is thinking): the read
    // buffer is freed meanwhile and allocated, right-sized, when the first bytes are readable.
    // (Also one system call fewer than async_read_some's speculative read.)
    if (b.capacity() != 0) b.shrink_to_fit();
    conn_->socket.async_wait(tcp::socket::wait_read,
                             [self = shared_from_this()](error_code ec) { self->on_readable(ec); });
    return;
  }
  std::size_t room = std::min(
      {std::max(conn_->read_size, b.capacity() - b.size()), max_read, b.max_size() - b.size()});
  if (room == 0) return fail(errc::protocol, "response head larger than the read buffer");
  read_room_ = room;
  auto buffers = conn_->buffer.prepare(room);
  conn_->visit([&](auto& s) {
    s.async_read_some(buffers, [self = shared_from_this()](error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  });
}

void operation::on_readable(error_code ec) {
  if (interrupted()) return;
  if (ec) return fail_read(ec);
  read_room_ = std::min(conn_->read_size, max_read);
  std::size_t n = conn_->socket.read_some(conn_->buffer.prepare(read_room_), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    conn_->socket.async_wait(tcp::socket::wait_read,
                             [self = shared_from_this()](error_code e) { self->on_readable(e); });
    return;
  }
  on_read(ec, n);
}

void operation::on_read(error_code ec, std::size_t n) {
  if (interrupted()) return;
  if (!ec) {
    conn_->buffer.commit(n);
    if (n == read_room_ && conn_->read_size < max_read)
      conn_->read_size = std::min(conn_->read_size * 2, max_read);
    return parse();
  }
  if (ec == asio::error::eof) {
    // As Beast's read: the end of the stream may complete a body delimited by closing.
    if (!conn_->parser->got_some()) return fail_read(bhttp::error::end_of_stream);
    ec = {};
    conn_->parser->put_eof(ec);
    if (ec) return fail_read(ec);
    return on_done();
  }
  fail_read(ec);
}

void operation::deliver() {
  if (filled_ == 0) return;
  std::string_view chunk(conn_->chunk.get(), filled_);
  filled_ = 0;
  delivered_ = true;
  if (stream_->on_data) stream_->on_data(chunk);
}

void operation::fail_read(error_code ec) {
  if (!conn_->parser->is_header_done()) {
    if (retry_transport(ec)) return;
    if (is_closed_error(ec))
      return fail(errc::connection_closed, "the connection closed before the response head");
    if (ec == bhttp::error::header_limit)
      return fail(errc::protocol, "response head larger than 64 KiB");
    return fail(errc::protocol, "malformed response head: " + ec.message());
  }
  if (ec == bhttp::error::body_limit)
    return fail(errc::protocol,
                "response body larger than " + std::to_string(whole_body_limit >> 20) + " MiB");
  if (is_closed_error(ec)) {
    if (retry_transport(ec)) return;
    return fail(errc::connection_closed, "the connection closed in the middle of the body");
  }
  fail(errc::protocol, "malformed response body: " + ec.message());
}

// The head arrived: records it and decides where the body goes. False when interrupted.
bool operation::on_head() {
  auto& parser = *conn_->parser;
  auto& head = parser.get();
  Response& r = response();
  r.status = static_cast<int>(head.result_int());
  r.headers.clear();
  r.headers.reserve(16);
  for (const auto& field : head)
    r.headers.emplace_back(to_lower(field.name_string()), std::string(field.value()));
  bool ok = r.status >= 200 && r.status <= 299;
  streaming_ = stream_ && ok;
  if (streaming_) {
    parser.body_limit(boost::none);
    if (stream_->on_headers) {
      stream_->on_headers(r);
      if (interrupted()) return false;
    }
  } else {
    parser.body_limit(whole_body_limit);
    // A stated length is reserved at once (within reason: the header may lie).
    if (auto n = parser.content_length(); n && *n <= chunk_size * 64)
      r.body.reserve(static_cast<std::size_t>(*n));
  }
  return true;
}

void operation::on_done() {
  phase_deadline_ = steady::time_point::max();
  bool keep = conn_->parser->keep_alive() && conn_->buffer.size() == 0;
  conn_->parser.reset();
  client_->release(*pool_, std::move(conn_), keep);
  Response& r = response();
  int status = r.status;
  if (!delivered_ && retry_ && RetryPolicy::retryable_status(status) &&
      (!retry_->should_retry || retry_->should_retry(status, r.headers, r.body))) {
    Error e;
    e.code = status == 429 ? errc::rate_limited : errc::server;
    e.status = status;
    e.retry_after = parse_retry_after(r.header("retry-after-ms"), r.header("retry-after"));
    if (auto delay = retry_->policy.next_delay(attempt_, e, client_->rng())) {
      if (steady::now() + *delay < total_deadline_) return backoff(*delay);
    }
  }
  r.attempts = attempt_;
  complete({});
}

void operation::backoff(milliseconds delay) {
  ++attempt_;
  response_.reset();
  timeout_kind_ = nullptr;
  phase_deadline_ = steady::time_point::max();
  // The callers checked that the delay ends before the total deadline.
  wait_until(steady::now() + delay, [self = shared_from_this()](error_code) {
    self->waiting_ = false;
    if (self->done_ || self->interrupted()) return;
    self->acquire();
  });
}

// A failure before any body byte reached the caller. Returns true when it was handled by
// retrying: silently on a fresh connection when a kept-alive one turned out stale, or per the
// retry policy.
bool operation::retry_transport(error_code ec) {
  if (delivered_ || cancelled_ || done_) return false;
  bool nothing_received = !conn_ || !conn_->parser || !conn_->parser->got_some();
  if (conn_ && conn_->reused && nothing_received && is_closed_error(ec)) {
    // The server closed an idle connection as we reused it: not the request's fault.
    client_->release(*pool_, std::move(conn_), false);
    ++client_->counters.discarded;
    acquire();
    return true;
  }
  return false;
}

void operation::arm_phase(const char* kind, milliseconds limit) {
  phase_kind_ = kind;
  phase_limit_ = limit;
  phase_deadline_ = limit.count() > 0 ? steady::now() + limit : steady::time_point::max();
  schedule_deadline();
}

// `wake_by` may wake the timer before the deadline (it then re-waits): see send().
void operation::schedule_deadline(steady::time_point wake_by) {
  auto due = std::min(phase_deadline_, total_deadline_);
  if (due == steady::time_point::max() || due >= timer_expiry_) return;  // pending wait is earlier
  due = std::min(due, wake_by);
  timer_expiry_ = due;
  deadline_timer().expires_at(due);
  deadline_timer().async_wait(
      [self = shared_from_this(), id = ++wait_id_](error_code ec) { self->on_deadline(ec, id); });
}

void operation::on_deadline(error_code ec, std::uint64_t id) {
  if (id != wait_id_) return;  // superseded by a later wait
  timer_expiry_ = steady::time_point::max();
  if (ec || done_) return;
  auto now = steady::now();
  if (now >= total_deadline_) {
    timeout_kind_ = "total";
    timeout_limit_ = timeouts_.total;
  } else if (now >= phase_deadline_) {
    timeout_kind_ = phase_kind_;
    timeout_limit_ = phase_limit_;
  } else {
    return schedule_deadline();  // the deadline moved later since this wait began
  }
  interrupt();
}

void operation::on_cancel() {
  if (done_ || cancelled_) return;
  cancelled_ = true;
  interrupt();
}

// Stops whatever is pending; its handler then sees interrupted() and completes.
void operation::interrupt() {
  if (resolver_) resolver_->cancel();
  if (conn_) conn_->close();
  phase_deadline_ = steady::time_point::max();
  if (in_queue_) {
    auto self = leave_queue();
    wake();  // on_granted sees why and completes
  }
  if (waiting_) deadline_timer_->cancel();
}

bool operation::interrupted() {
  if (done_) return true;
  if (cancelled_) {
    fail(errc::cancelled, "cancelled by the caller");
    return true;
  }
  if (timeout_kind_) {
    std::string what = timeout_kind_;
    std::string message;
    if (what == "connect")
      message = "connect timeout: no connection within " + ms_text(timeout_limit_);
    else if (what == "first_byte")
      message = "first_byte timeout: no response head within " + ms_text(timeout_limit_);
    else if (what == "idle")
      message = "idle timeout: no body bytes for " + ms_text(timeout_limit_);
    else
      message = "total timeout: the exchange took longer than " + ms_text(timeout_limit_);
    fail(errc::timeout, std::move(message));
    return true;
  }
  return false;
}

void operation::fail(error_code code, std::string message) {
  if (done_) return;
  if (conn_) {
    if (conn_->established) ++client_->counters.discarded;
    client_->release(*pool_, std::move(conn_), false);
  }
  // Retry per policy: connect failures and first-byte timeouts, closed connections before any
  // body byte; never TLS verification, protocol errors, cancellation or the total deadline.
  bool retryable = code == errc::connect_failed || code == errc::connection_closed ||
                   (code == errc::timeout && timeout_kind_ != nullptr &&
                    std::string_view(timeout_kind_) != "total");
  if (retry_ && retryable && !delivered_ && !cancelled_) {
    Error e = make_error(code, message);
    if (auto delay = retry_->policy.next_delay(attempt_, e, client_->rng())) {
      if (steady::now() + *delay < total_deadline_) return backoff(*delay);
    }
  }
  response().attempts = attempt_;
  complete(code, std::move(message));
}

void operation::complete(error_code ec, std::string message) {
  done_ = true;
  std::shared_ptr<operation> self;  // the queue's ownership, kept until the end of this call
  if (in_queue_) self = leave_queue();
  if (resolver_) resolver_->cancel();
  if (timer_expiry_ != steady::time_point::max()) {
    ++wait_id_;
    timer_expiry_ = steady::time_point::max();
    deadline_timer_->cancel();
  }
  if (waiting_) deadline_timer_->cancel();
  // Detach from the slot now: the handler (and the cancellation signal it carries) may be freed
  // as soon as it runs, after which ~operation must not touch that slot again.
  if (slot_.is_connected()) slot_.clear();
  slot_ = {};
  if (ec) {
    if (pool_) message += " (" + where() + ")";
    Response& r = response();
    r.error = make_error(ec, redact_secrets(message, secrets_));
    r.error.status = r.status;
  }
  auto call = [handler = std::move(handler_), ec, response = std::move(response())]() mutable {
    std::move(handler)(ec, std::move(response));
  };
  if (initiating_)
    asio::post(client_->ex, asio::bind_executor(work_, std::move(call)));
  else
    asio::dispatch(work_, std::move(call));
}

}  // namespace detail

Client::Client(executor_type ex, ClientOptions options)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(options))) {}

Client::~Client() = default;

Client::executor_type Client::get_executor() const noexcept {
  return impl_->ex;
}

const ClientOptions& Client::options() const noexcept {
  return impl_->options;
}

PoolStats Client::stats() const noexcept {
  PoolStats s = impl_->counters;
  s.idle = 0;
  for (const auto& [key, pool] : impl_->pools)
    s.idle += pool.idle.size();
  return s;
}

void Client::do_request(Request req, std::shared_ptr<StreamHandler> stream,
                        asio::any_completion_handler<void(error_code, Response)> handler) {
  auto op = std::make_shared<detail::operation>(impl_, std::move(stream), std::move(handler));
  // On the client's own thread the request starts now (its completion is then posted: never
  // inside the initiating call); from elsewhere it starts on the executor.
  if (detail::running_in(impl_->ex)) {
    op->initiating_ = true;
    op->start(std::move(req));
    op->initiating_ = false;
    return;
  }
  asio::post(impl_->ex, [op, req = std::move(req)]() mutable { op->start(std::move(req)); });
}

Response request(Request req, ClientOptions options, Error& error) {
  asio::io_context io;
  Response out;
  error_code ec;
  {
    Client client(io.get_executor(), std::move(options));
    client.async_request(std::move(req), [&](error_code e, Response r) {
      ec = e;
      out = std::move(r);
    });
    io.run();
  }
  error = out.error;
  if (ec && !error.code) error = make_error(ec, ec.message());
  return out;
}

Response request(Request req, ClientOptions options) {
  Error error;
  Response out = request(std::move(req), std::move(options), error);
  if (error) throw Exception(std::move(error));
  return out;
}

}  // namespace chorus::http
