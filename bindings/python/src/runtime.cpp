#include "runtime.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <cmath>

namespace chorus::python {

bool python_alive() noexcept {
  if (!Py_IsInitialized()) return false;
#if PY_VERSION_HEX >= 0x030D0000
  return !Py_IsFinalizing();
#else
  return !_Py_IsFinalizing();
#endif
}

void GilObject::reset() noexcept {
  if (!obj_) return;
  if (!python_alive()) {
    obj_.release();  // the interpreter is gone: leak rather than touch it
    return;
  }
  if (PyGILState_Check()) {
    obj_ = py::object();
  } else {
    py::gil_scoped_acquire gil;
    obj_ = py::object();
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime

namespace {
std::mutex runtime_mutex;
Runtime* runtime_instance = nullptr;  // leaked on purpose: handlers may outlive finalisation
bool runtime_shut_down = false;
}  // namespace

Runtime::Runtime() : guard_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (...) {
        // A handler threw: the io thread must survive it (a crashing thread would take the
        // interpreter with it). Handlers report their own errors; keep serving.
      }
    }
  });
}

Runtime& Runtime::get() {
  std::lock_guard lock(runtime_mutex);
  if (runtime_shut_down)
    throw std::runtime_error("chorus: the runtime was shut down (interpreter exit)");
  if (!runtime_instance) runtime_instance = new Runtime();
  return *runtime_instance;
}

Runtime* Runtime::instance() noexcept {
  std::lock_guard lock(runtime_mutex);
  return runtime_shut_down ? nullptr : runtime_instance;
}

void Runtime::shutdown() {
  Runtime* rt = nullptr;
  {
    std::lock_guard lock(runtime_mutex);
    runtime_shut_down = true;
    rt = runtime_instance;
  }
  if (!rt) return;
  py::gil_scoped_release release;  // the io thread may be waiting for the GIL
  rt->stop_and_join();
}

void Runtime::stop_and_join() {
  guard_.reset();
  io_.stop();
  if (thread_.joinable() && !on_io_thread()) thread_.join();
}

// ---------------------------------------------------------------------------------------------
// Dispatcher

std::shared_ptr<Dispatcher> Dispatcher::create(const py::object& loop) {
  std::shared_ptr<Dispatcher> d(new Dispatcher());
  d->loop_ref_ = GilObject(py::module_::import("weakref").attr("ref")(loop));
  std::weak_ptr<Dispatcher> weak = d;
  d->drain_fn_ = GilObject(py::cpp_function([weak] {
    if (auto self = weak.lock()) self->drain();
  }));
  return d;
}

void Dispatcher::post(std::shared_ptr<Delivery> d) {
  bool schedule = false;
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(d));
    if (!scheduled_) schedule = scheduled_ = true;
  }
  if (!schedule || !python_alive()) return;
  py::gil_scoped_acquire gil;
  bool ok = false;
  try {
    py::object loop = loop_ref_.get()();
    if (!loop.is_none()) {
      loop.attr("call_soon_threadsafe")(drain_fn_.get());
      wakeups_.fetch_add(1, std::memory_order_relaxed);
      ok = true;
    }
  } catch (py::error_already_set&) {
    // The loop is closed: nobody can await these any more.
  }
  if (!ok) {
    std::vector<std::shared_ptr<Delivery>> dropped;
    {
      std::lock_guard lock(mutex_);
      dropped.swap(pending_);
      scheduled_ = false;
    }
    dropped.clear();  // destroyed with the GIL held
  }
}

void Dispatcher::drain() {
  {
    std::lock_guard lock(mutex_);
    draining_.swap(pending_);
    scheduled_ = false;
  }
  for (auto& d : draining_) {
    try {
      d->deliver();
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("chorus: delivering a result to asyncio");
    }
  }
  draining_.clear();
}

// ---------------------------------------------------------------------------------------------
// JSON

py::object to_py(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return py::none();
    case boost::json::kind::bool_:
      return py::bool_(v.get_bool());
    case boost::json::kind::int64:
      return py::int_(v.get_int64());
    case boost::json::kind::uint64:
      return py::int_(v.get_uint64());
    case boost::json::kind::double_:
      return py::float_(v.get_double());
    case boost::json::kind::string: {
      const auto& s = v.get_string();
      return py::str(s.data(), s.size());
    }
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      py::list out(a.size());
      for (std::size_t i = 0; i < a.size(); ++i)
        out[i] = to_py(a[i]);
      return out;
    }
    case boost::json::kind::object: {
      py::dict out;
      for (const auto& kv : v.get_object()) {
        out[py::str(kv.key().data(), kv.key().size())] = to_py(kv.value());
      }
      return out;
    }
  }
  return py::none();
}

boost::json::value from_py(py::handle o, const std::string& path) {
  if (o.is_none()) return nullptr;
  if (PyBool_Check(o.ptr())) return o.ptr() == Py_True;
  if (PyLong_Check(o.ptr())) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o.ptr(), &overflow);
    if (overflow == 0) return static_cast<std::int64_t>(v);
    if (overflow > 0) {
      unsigned long long u = PyLong_AsUnsignedLongLong(o.ptr());
      if (!PyErr_Occurred()) return static_cast<std::uint64_t>(u);
      PyErr_Clear();
    }
    throw py::value_error(path + ": integer out of the JSON range");
  }
  if (PyFloat_Check(o.ptr())) {
    double d = PyFloat_AS_DOUBLE(o.ptr());
    if (!std::isfinite(d)) throw py::value_error(path + ": NaN and infinity are not JSON");
    return d;
  }
  if (PyUnicode_Check(o.ptr())) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(o.ptr(), &size);
    if (!data) throw py::error_already_set();
    return boost::json::string(data, static_cast<std::size_t>(size));
  }
  if (PyDict_Check(o.ptr())) {
    boost::json::object out;
    auto d = py::reinterpret_borrow<py::dict>(o);
    out.reserve(d.size());
    for (auto kv : d) {
      if (!PyUnicode_Check(kv.first.ptr())) {
        throw py::type_error(path + ": JSON object keys must be str, got " +
                             std::string(py::str(py::type::of(kv.first).attr("__name__"))));
      }
      std::string key = kv.first.cast<std::string>();
      out[key] = from_py(kv.second, path + "." + key);
    }
    return out;
  }
  if (PyList_Check(o.ptr()) || PyTuple_Check(o.ptr())) {
    auto seq = py::reinterpret_borrow<py::sequence>(o);
    boost::json::array out;
    out.reserve(seq.size());
    std::size_t i = 0;
    for (auto item : seq) {
      out.push_back(from_py(item, path + "[" + std::to_string(i) + "]"));
      ++i;
    }
    return out;
  }
  throw py::type_error(path + ": " + std::string(py::str(py::type::of(o).attr("__name__"))) +
                       " is not JSON-serialisable");
}

}  // namespace chorus::python
