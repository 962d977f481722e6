#include "runtime.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <cmath>

#include <sys/eventfd.h>
#include <unistd.h>

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

Dispatcher::Dispatcher() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) {
    PyErr_SetFromErrno(PyExc_OSError);
    throw py::error_already_set();
  }
}

Dispatcher::~Dispatcher() {
  if (fd_ >= 0) ::close(fd_);
}

void Dispatcher::post(std::shared_ptr<Delivery> d) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!closed_) {
      pending_.push_back(std::move(d));
      if (!scheduled_) wake = scheduled_ = true;
    }
  }
  if (d) {  // closed: nobody can await it any more; it holds Python objects
    if (!python_alive()) return;
    py::gil_scoped_acquire gil;
    d.reset();
    return;
  }
  if (!wake) return;
  const std::uint64_t one = 1;
  // Cannot fail but for a counter at its maximum, which an unread wake-up already is.
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  wakeups_.fetch_add(1, std::memory_order_relaxed);
}

void Dispatcher::drain() {
  // Consume the wake-up before taking the queue: a post after the swap writes a new one.
  std::uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
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

void Dispatcher::close() {
  std::vector<std::shared_ptr<Delivery>> dropped;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    dropped.swap(pending_);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON

namespace {

// Raw C API: this runs once per finished run over its whole result (pybind11's accessors cost
// a temporary object per item). Returns a new reference, or nullptr with a Python error set.
PyObject* to_py_raw(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      Py_RETURN_NONE;
    case boost::json::kind::bool_:
      return PyBool_FromLong(v.get_bool() ? 1 : 0);
    case boost::json::kind::int64:
      return PyLong_FromLongLong(v.get_int64());
    case boost::json::kind::uint64:
      return PyLong_FromUnsignedLongLong(v.get_uint64());
    case boost::json::kind::double_:
      return PyFloat_FromDouble(v.get_double());
    case boost::json::kind::string: {
      const auto& s = v.get_string();
      return PyUnicode_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
    }
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      PyObject* out = PyList_New(static_cast<Py_ssize_t>(a.size()));
      if (!out) return nullptr;
      for (std::size_t i = 0; i < a.size(); ++i) {
        PyObject* item = to_py_raw(a[i]);
        if (!item) {
          Py_DECREF(out);
          return nullptr;
        }
        PyList_SET_ITEM(out, static_cast<Py_ssize_t>(i), item);  // steals
      }
      return out;
    }
    case boost::json::kind::object: {
      PyObject* out = PyDict_New();
      if (!out) return nullptr;
      for (const auto& kv : v.get_object()) {
        PyObject* key =
            PyUnicode_FromStringAndSize(kv.key().data(), static_cast<Py_ssize_t>(kv.key().size()));
        PyObject* value = key ? to_py_raw(kv.value()) : nullptr;
        int rc = value ? PyDict_SetItem(out, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc != 0) {
          Py_DECREF(out);
          return nullptr;
        }
      }
      return out;
    }
  }
  Py_RETURN_NONE;
}

}  // namespace

py::object to_py(const boost::json::value& v) {
  PyObject* o = to_py_raw(v);
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
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
