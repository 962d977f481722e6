// The machinery shared by every part of chorus._core: the module's io thread (Runtime), the
// per-event-loop Dispatcher that hands finished work back to asyncio, and the conversions
// between Boost.JSON and Python objects. See docs/decisions/python-bindings.md.
#pragma once

#include <pybind11/pybind11.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace chorus::python {

namespace py = pybind11;
namespace asio = boost::asio;

/// Whether calling into Python is still allowed (false once the interpreter is finalising).
bool python_alive() noexcept;

/// A Python reference that may be dropped on any thread: the last release takes the GIL (or leaks
/// the reference when the interpreter is already gone).
class GilObject {
 public:
  GilObject() = default;
  explicit GilObject(py::object o) : obj_(std::move(o)) {}
  GilObject(GilObject&&) noexcept = default;
  GilObject& operator=(GilObject&& other) noexcept {
    if (this != &other) {
      reset();
      obj_ = std::move(other.obj_);
    }
    return *this;
  }
  GilObject(const GilObject&) = delete;
  GilObject& operator=(const GilObject&) = delete;
  ~GilObject() { reset(); }

  /// The object; only with the GIL held.
  const py::object& get() const noexcept { return obj_; }
  explicit operator bool() const noexcept { return static_cast<bool>(obj_); }
  /// Drops the reference (taking the GIL if this thread does not hold it).
  void reset() noexcept;

 private:
  py::object obj_;
};

/// The io thread of the module: one io_context run by one thread, outside the GIL. Created on first
/// use (so `import chorus` starts no thread) and stopped at interpreter exit.
class Runtime {
 public:
  /// The runtime, started if needed. Throws RuntimeError after shutdown().
  static Runtime& get();
  /// The running runtime, or nullptr when none was started or it was shut down. Never throws.
  static Runtime* instance() noexcept;
  /// Stops the io thread and joins it (called by atexit; the GIL is released while joining).
  static void shutdown();

  asio::io_context& io() noexcept { return io_; }
  asio::any_io_executor executor() noexcept { return io_.get_executor(); }
  /// Whether the calling thread is the io thread.
  bool on_io_thread() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  Runtime();
  void stop_and_join();

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

/// Something to run on an asyncio event loop's thread, with the GIL held.
class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual void deliver() = 0;
};

/// Hands Deliveries from any thread to one asyncio event loop. The loop watches the dispatcher's
/// eventfd (loop.add_reader(fd, drain), done by chorus._loop); the io thread only writes to it,
/// never takes the GIL, and deliveries posted while a drain is already scheduled join it, so a
/// burst of completions or tokens costs one write and one wake-up of the loop.
class Dispatcher {
 public:
  /// Throws OSError when no eventfd can be made.
  Dispatcher();
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// The file descriptor the loop must watch for readability.
  int fd() const noexcept { return fd_; }
  /// Queues `d` to be delivered on the loop. Any thread, no GIL needed. After close() the
  /// delivery is dropped.
  void post(std::shared_ptr<Delivery> d);
  /// Runs every queued delivery (on the loop thread, GIL held).
  void drain();
  /// The loop is gone: drops what is queued and every later delivery (GIL held).
  void close();
  /// Number of wake-ups of the loop so far (for tests of the batching).
  std::uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }

 private:
  int fd_ = -1;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Delivery>> pending_;
  std::vector<std::shared_ptr<Delivery>> draining_;
  bool scheduled_ = false;
  bool closed_ = false;
  std::atomic<std::uint64_t> wakeups_{0};
};

/// Boost.JSON -> Python (dict, list, str, int, float, bool, None), key order kept.
py::object to_py(const boost::json::value& v);
/// Python -> Boost.JSON; raises TypeError naming the path of a value that is not JSON.
boost::json::value from_py(py::handle o, const std::string& path = "$");

}  // namespace chorus::python
