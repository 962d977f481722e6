// PostgreSQL LISTEN on a dedicated connection watched by the io_context (no thread, no polling):
// the scale-out channels (chorus_events, chorus_queue, chorus_cancel, chorus_watch) reach the
// RunManager as (channel, payload) calls on the io thread. The same connection holds the
// instance's liveness lock (pg_advisory_lock(kInstanceLockClass, owner_key)): when the process
// dies, PostgreSQL drops the connection and the lock, and the other instances take its runs over
// at once. A lost connection is re-opened with backoff; `on_resync` then tells the RunManager
// that notifications may have been missed.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::server {

class PgNotifier {
 public:
  using Handler = std::function<void(std::string_view channel, std::string_view payload)>;
  using Logger = std::function<void(std::string_view message, std::string_view detail)>;

  PgNotifier(boost::asio::io_context& ioc, std::string url, std::vector<std::string> channels,
             std::int32_t lock_key, Handler on_notify, std::function<void()> on_resync, Logger log);
  ~PgNotifier();

  /// Connects, takes the liveness lock, LISTENs. Throws std::runtime_error when PostgreSQL is
  /// unreachable or another live instance holds the same lock key (same --instance-id).
  void start();
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus::server
