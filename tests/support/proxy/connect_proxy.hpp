// A tiny HTTP CONNECT proxy for tests: it listens on 127.0.0.1, answers CONNECT host:port with
// 200 and then relays bytes both ways. Anything else gets 405. Optionally demands
// Proxy-Authorization. Blocking I/O on its own threads; stop() (or the destructor) ends them all.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace chorus::test {

class ConnectProxy {
 public:
  /// Starts listening on a free port. `required_auth`, when set, is the exact expected value of
  /// Proxy-Authorization (e.g. "Basic dXNlcjpwYXNz"); a mismatch is answered with 407.
  explicit ConnectProxy(std::string required_auth = {});
  ~ConnectProxy();
  ConnectProxy(const ConnectProxy&) = delete;
  ConnectProxy& operator=(const ConnectProxy&) = delete;

  unsigned short port() const { return port_; }
  /// "http://127.0.0.1:PORT".
  std::string url() const;
  /// CONNECT requests accepted (tunnels opened).
  std::size_t tunnels() const { return tunnels_.load(); }
  /// The authority of every CONNECT request seen, in order ("127.0.0.1:8080").
  std::vector<std::string> targets() const;
  /// Closes the listener and every tunnel, joins the threads. Idempotent.
  void stop();

 private:
  void accept_loop();
  void serve(int client_fd);

  std::string required_auth_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::vector<int> open_fds_;
  std::vector<std::string> targets_;
  std::atomic<std::size_t> tunnels_{0};
};

}  // namespace chorus::test
