#include "queue_notify.hpp"

#include "queue_store.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>

namespace chorus::server {

struct PgNotifier::Impl : std::enable_shared_from_this<Impl> {
  boost::asio::io_context& ioc;
  std::string url;
  std::vector<std::string> channels;
  std::int32_t lock_key;
  Handler on_notify;
  std::function<void()> on_resync;
  Logger log;
  PGconn* conn = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> sd;
  boost::asio::steady_timer retry{ioc};
  std::chrono::milliseconds backoff{100};
  bool stopped = false;

  Impl(boost::asio::io_context& i, std::string u, std::vector<std::string> ch, std::int32_t key,
       Handler h, std::function<void()> resync, Logger l)
      : ioc(i),
        url(std::move(u)),
        channels(std::move(ch)),
        lock_key(key),
        on_notify(std::move(h)),
        on_resync(std::move(resync)),
        log(std::move(l)) {}

  ~Impl() { close(); }

  void close() {
    if (sd) {
      boost::system::error_code ec;
      sd->cancel(ec);
      sd->close(ec);  // our dup() of libpq's socket
      sd.reset();
    }
    if (conn) PQfinish(conn);
    conn = nullptr;
  }

  // One command on the listening connection; the error text, or empty on success.
  std::string command(const std::string& sql, bool* true_result = nullptr) {
    PGresult* r = PQexec(conn, sql.c_str());
    std::string err;
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      err = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    } else if (true_result) {
      *true_result = PQntuples(r) == 1 && std::string_view(PQgetvalue(r, 0, 0)) == "t";
    }
    PQclear(r);
    return err;
  }

  // Connects, locks, listens; throws on failure.
  void connect() {
    close();
    conn = PQconnectdb(url.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(conn);
      close();
      throw std::runtime_error("cannot connect to PostgreSQL for notifications: " + msg);
    }
    bool locked = false;
    if (auto e = command("SELECT pg_try_advisory_lock(" + std::to_string(kInstanceLockClass) +
                             ", " + std::to_string(lock_key) + ")",
                         &locked);
        !e.empty()) {
      close();
      throw std::runtime_error("PostgreSQL: " + e);
    }
    if (!locked) {
      close();
      throw std::runtime_error(
          "another live server instance uses this instance id (its liveness lock is held)");
    }
    for (const auto& ch : channels)
      if (auto e = command("LISTEN " + ch); !e.empty()) {
        close();
        throw std::runtime_error("PostgreSQL: " + e);
      }
    int fd = ::dup(PQsocket(conn));
    if (fd < 0) {
      close();
      throw std::runtime_error("dup() of the PostgreSQL socket failed");
    }
    sd.emplace(ioc, fd);
    backoff = std::chrono::milliseconds(100);
    arm();
  }

  void arm() {
    std::weak_ptr<Impl> weak = shared_from_this();
    sd->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [weak](boost::system::error_code ec) {
                     auto self = weak.lock();
                     if (!self || self->stopped || ec == boost::asio::error::operation_aborted)
                       return;
                     self->on_readable(ec);
                   });
  }

  void on_readable(boost::system::error_code ec) {
    if (ec || !PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
      log("the PostgreSQL notification connection was lost; reconnecting",
          ec ? ec.message() : std::string(PQerrorMessage(conn)));
      close();
      schedule_reconnect();
      return;
    }
    while (PGnotify* n = PQnotifies(conn)) {
      std::string channel = n->relname, payload = n->extra;
      PQfreemem(n);
      on_notify(channel, payload);
      if (stopped || !conn) return;
    }
    arm();
  }

  void schedule_reconnect() {
    retry.expires_after(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
    std::weak_ptr<Impl> weak = shared_from_this();
    retry.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || self->stopped || ec) return;
      try {
        self->connect();
        self->on_resync();
      } catch (const std::exception& e) {
        self->log("reconnecting the PostgreSQL notification connection failed", e.what());
        self->schedule_reconnect();
      }
    });
  }
};

PgNotifier::PgNotifier(boost::asio::io_context& ioc, std::string url,
                       std::vector<std::string> channels, std::int32_t lock_key, Handler on_notify,
                       std::function<void()> on_resync, Logger log)
    : impl_(std::make_shared<Impl>(ioc, std::move(url), std::move(channels), lock_key,
                                   std::move(on_notify), std::move(on_resync), std::move(log))) {}

PgNotifier::~PgNotifier() {
  stop();
}

void PgNotifier::start() {
  impl_->connect();
}

void PgNotifier::stop() {
  if (!impl_) return;
  impl_->stopped = true;
  impl_->retry.cancel();
  impl_->close();
}

}  // namespace chorus::server
