// The machinery shared by the whole addon: the io thread (Runtime), the hand-off of finished work
// from that thread to the JS thread through one Napi::ThreadSafeFunction, references to JS values
// that may be dropped on any thread, and typed handles given to JS as Napi::External.
// See docs/decisions/node-bindings.md.
#pragma once

#include <napi.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace chorus::node {

namespace asio = boost::asio;

/// Something to run on the JS thread.
class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual void deliver(Napi::Env env) = 0;
};

/// The io thread of the addon (one io_context run by one thread) and the way back to JS. Created
/// by the first call that needs it, from the JS thread (so `require('chorus')` starts no thread);
/// stopped when the Node environment is torn down. Only the main thread's environment may use it.
class Runtime {
 public:
  /// The runtime, started if needed. JS thread only. Throws a JS Error after teardown.
  static Runtime& get(Napi::Env env);
  /// The running runtime, or nullptr (never started, or stopped). Any thread.
  static Runtime* instance() noexcept;

  asio::io_context& io() noexcept { return io_; }
  asio::any_io_executor executor() noexcept { return io_.get_executor(); }
  bool on_js_thread() const noexcept { return std::this_thread::get_id() == js_thread_; }
  bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }

  /// Queues `d` to run on the JS thread. Any thread. Deliveries queued while a drain is already
  /// scheduled join it: a burst of completions or tokens costs one ThreadSafeFunction call.
  /// Dropped once the runtime stopped.
  void post(std::shared_ptr<Delivery> d);

  /// JS thread: an operation started / finished. While any is in flight the event loop is kept
  /// alive; when none is, the addon does not keep the process running.
  void hold(Napi::Env env);
  void release(Napi::Env env);

  /// Counters for tests and benchmarks: ThreadSafeFunction calls and deliveries run.
  std::uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }
  std::uint64_t deliveries() const noexcept { return delivered_.load(std::memory_order_relaxed); }

 private:
  explicit Runtime(Napi::Env env);
  void drain(Napi::Env env);
  void stop_and_join();

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread::id js_thread_;
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Delivery>> pending_;
  std::vector<std::shared_ptr<Delivery>> draining_;
  bool scheduled_ = false;
  std::atomic<bool> stopped_{false};
  std::size_t holds_ = 0;  // JS thread only
  std::atomic<std::uint64_t> wakeups_{0};
  std::atomic<std::uint64_t> delivered_{0};
};

/// A strong reference to a JS value that may be dropped on any thread: off the JS thread the
/// deletion is posted to it; after teardown the reference is left to the dying environment.
class JsRef {
 public:
  JsRef() = default;
  JsRef(Napi::Env env, Napi::Value v);
  JsRef(JsRef&& o) noexcept : env_(o.env_), ref_(o.ref_) { o.ref_ = nullptr; }
  JsRef& operator=(JsRef&& o) noexcept;
  JsRef(const JsRef&) = delete;
  JsRef& operator=(const JsRef&) = delete;
  ~JsRef() { reset(); }

  /// The value; JS thread only. Empty (undefined) when unset.
  Napi::Value value() const;
  explicit operator bool() const noexcept { return ref_ != nullptr; }
  void reset() noexcept;

 private:
  napi_env env_ = nullptr;
  napi_ref ref_ = nullptr;
};

/// A shared_ptr given to JS as an External, tagged so a handle of the wrong kind is refused.
template <class T>
struct Handle {
  std::uint32_t tag = T::handle_tag;
  std::shared_ptr<T> ptr;
};

template <class T>
Napi::Value make_handle(Napi::Env env, std::shared_ptr<T> p) {
  return Napi::External<Handle<T>>::New(env, new Handle<T>{T::handle_tag, std::move(p)},
                                        [](Napi::Env, Handle<T>* h) { delete h; });
}

template <class T>
const std::shared_ptr<T>& handle_of(const Napi::Value& v, const char* what) {
  if (v.IsExternal()) {
    auto* h = v.As<Napi::External<Handle<T>>>().Data();
    if (h && h->tag == T::handle_tag && h->ptr) return h->ptr;
  }
  throw Napi::TypeError::New(v.Env(), std::string("chorus: expected a ") + what + " handle");
}

/// A JS Error carrying `kind` (a chorus::errc name) for lib/ to turn into a ChorusError subclass.
Napi::Error kind_error(Napi::Env env, const std::string& kind, const std::string& message);

}  // namespace chorus::node
