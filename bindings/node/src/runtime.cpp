#include "runtime.hpp"

#include <boost/asio/post.hpp>

#include <exception>
#include <optional>

namespace chorus::node {

namespace {
// The runtime lives until the process ends (never deleted): other threads and late finalizers
// may still ask instance() after teardown, and must then see it stopped, not freed.
std::atomic<Runtime*> g_runtime{nullptr};
std::atomic<bool> g_torn_down{false};

class RefDeletion : public Delivery {
 public:
  RefDeletion(napi_env env, napi_ref ref) : env_(env), ref_(ref) {}
  void deliver(Napi::Env) override { napi_delete_reference(env_, ref_); }

 private:
  napi_env env_;
  napi_ref ref_;
};
}  // namespace

Runtime& Runtime::get(Napi::Env env) {
  if (auto* rt = g_runtime.load(std::memory_order_acquire)) {
    if (rt->stopped()) throw Napi::Error::New(env, "chorus: the runtime was shut down");
    return *rt;
  }
  if (g_torn_down.load()) throw Napi::Error::New(env, "chorus: the runtime was shut down");
  auto* rt = new Runtime(env);
  g_runtime.store(rt, std::memory_order_release);
  return *rt;
}

Runtime* Runtime::instance() noexcept {
  auto* rt = g_runtime.load(std::memory_order_acquire);
  return rt && !rt->stopped() ? rt : nullptr;
}

Runtime::Runtime(Napi::Env env)
    : guard_(asio::make_work_guard(io_)), js_thread_(std::this_thread::get_id()) {
  // The finalizer runs when the environment is torn down, before the ThreadSafeFunction is
  // freed: the io thread is joined there, so it never calls a freed function.
  tsfn_ = Napi::ThreadSafeFunction::New(
      env, Napi::Function(), Napi::Object::New(env), "chorus", 0, 1, this,
      [](Napi::Env, void*, Runtime* self) { self->stop_and_join(); }, static_cast<void*>(nullptr));
  tsfn_.Unref(env);
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception&) {
        // A handler threw: keep serving the others (a throwing handler is a bug we must not
        // turn into a dead io thread and hung Promises).
      }
    }
  });
}

void Runtime::stop_and_join() {
  {
    std::lock_guard lock(mutex_);
    stopped_.store(true, std::memory_order_release);
    pending_.clear();
  }
  g_torn_down.store(true);
  guard_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void Runtime::post(std::shared_ptr<Delivery> d) {
  bool schedule = false;
  {
    std::lock_guard lock(mutex_);
    if (stopped_.load(std::memory_order_relaxed)) return;
    pending_.push_back(std::move(d));
    if (!scheduled_) scheduled_ = schedule = true;
  }
  if (schedule) {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    // Never blocks (unbounded queue); fails only while the environment is closing.
    tsfn_.NonBlockingCall([this](Napi::Env env, Napi::Function) { drain(env); });
  }
}

void Runtime::drain(Napi::Env env) {
  {
    std::lock_guard lock(mutex_);
    draining_.swap(pending_);
    scheduled_ = false;
  }
  std::optional<Napi::Error> first;
  for (auto& d : draining_) {
    Napi::HandleScope scope(env);
    try {
      d->deliver(env);
    } catch (const Napi::Error& e) {
      if (!first) first = e;
    }
    delivered_.fetch_add(1, std::memory_order_relaxed);
    d.reset();
  }
  draining_.clear();
  // A throwing JS callback surfaces as an uncaught exception, as from any other callback.
  if (first) first->ThrowAsJavaScriptException();
}

void Runtime::hold(Napi::Env env) {
  if (holds_++ == 0) tsfn_.Ref(env);
}

void Runtime::release(Napi::Env env) {
  if (holds_ > 0 && --holds_ == 0) tsfn_.Unref(env);
}

JsRef::JsRef(Napi::Env env, Napi::Value v) : env_(env) {
  if (!v.IsEmpty() && !v.IsUndefined() && !v.IsNull()) {
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, v, 1, &ref_));
  }
}

JsRef& JsRef::operator=(JsRef&& o) noexcept {
  if (this != &o) {
    reset();
    env_ = o.env_;
    ref_ = o.ref_;
    o.ref_ = nullptr;
  }
  return *this;
}

Napi::Value JsRef::value() const {
  if (!ref_) return Napi::Env(env_).Undefined();
  napi_value v = nullptr;
  napi_get_reference_value(env_, ref_, &v);
  return Napi::Value(env_, v);
}

void JsRef::reset() noexcept {
  if (!ref_) return;
  napi_ref ref = ref_;
  ref_ = nullptr;
  Runtime* rt = Runtime::instance();
  if (g_torn_down.load()) return;  // the environment frees its references itself
  if (!rt || rt->on_js_thread()) {
    napi_delete_reference(env_, ref);
    return;
  }
  try {
    rt->post(std::make_shared<RefDeletion>(env_, ref));
  } catch (...) {  // out of memory: leaking one reference beats terminating
  }
}

Napi::Error kind_error(Napi::Env env, const std::string& kind, const std::string& message) {
  auto e = Napi::Error::New(env, message);
  e.Set("chorusKind", Napi::String::New(env, kind));
  return e;
}

}  // namespace chorus::node
