#include "operation.hpp"

#include <boost/asio/post.hpp>

#include <chrono>

namespace chorus::python {

Operation::Operation(Kind kind, std::shared_ptr<Dispatcher> sink, py::object callback,
                     py::object waiter)
    : kind_(kind), sink_(std::move(sink)) {
  if (kind_ != Kind::run) signal_ = std::make_unique<asio::cancellation_signal>();
  if (!callback.is_none()) callback_ = GilObject(std::move(callback));
  if (!waiter.is_none()) waiter_ = GilObject(std::move(waiter));
  if (!sink_) cv_ = std::make_unique<std::condition_variable>();
}

Operation::~Operation() {
  if (!signal_) return;
  if (Runtime* rt = Runtime::instance()) {
    asio::post(rt->io(), [signal = std::move(signal_)] {});
  } else {
    (void)signal_.release();  // the io thread is gone (interpreter exit): nothing may touch it
  }
}

void Operation::notify_locked_out() {
  if (sink_) {
    if (!queued_.exchange(true, std::memory_order_acq_rel)) sink_->post(shared_from_this());
  } else {
    cv_->notify_all();
  }
}

void Operation::push_delta(const StreamDelta& d) {
  if (d.text.empty() && d.reasoning.empty()) return;
  {
    std::lock_guard lock(mutex_);
    Piece p{static_cast<std::uint32_t>(buffer_.size()), static_cast<std::uint32_t>(d.text.size()),
            static_cast<std::uint32_t>(d.reasoning.size())};
    buffer_.append(d.text);
    buffer_.append(d.reasoning);
    pieces_.push_back(p);
    ++deltas_received_;
  }
  notify_locked_out();
}

void Operation::push_event(const RunEvent& e) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(e.to_json());
  }
  notify_locked_out();
}

void Operation::finish_chat(error_code ec, ChatResponse resp) {
  {
    std::lock_guard lock(mutex_);
    ec_ = ec;
    if (ec) {
      error_ = std::make_unique<Error>(resp.error ? resp.error : make_error(ec, ec.message()));
      if (!error_->code) error_->code = ec;
    }
    response_ = std::make_unique<ChatResponse>(std::move(resp));
    done_ = true;
  }
  notify_locked_out();
}

void Operation::finish_run(error_code ec, RunResult result) {
  {
    std::lock_guard lock(mutex_);
    ec_ = ec;
    if (ec) {
      error_ = std::make_unique<Error>(result.error ? result.error : make_error(ec, ec.message()));
      if (!error_->code) error_->code = ec;
    }
    run_result_ = std::make_unique<RunResult>(std::move(result));
    done_ = true;
  }
  notify_locked_out();
}

void Operation::cancel() {
  if (cancel_requested_.exchange(true)) return;
  if (stop) {
    // Runs: the StopSignal only. Emitting on a cancellation slot could reach the executor
    // before the run has started (both are posted to the io thread), which it does not survive;
    // a stop requested that early is honoured as soon as the run starts.
    stop->request_stop();
    return;
  }
  Runtime* rt = Runtime::instance();
  if (!rt) return;  // interpreter exit: the io thread is gone
  std::shared_ptr<Operation> self = shared_from_this();
  asio::post(rt->io(), [self] { self->signal_->emit(asio::cancellation_type::all); });
}

py::tuple Operation::take() {
  std::string buffer;
  std::vector<Piece> pieces;
  std::vector<boost::json::object> events;
  bool done = false;
  {
    std::lock_guard lock(mutex_);
    buffer.swap(buffer_);
    pieces.swap(pieces_);
    events.swap(events_);
    if (done_ && !done_taken_) done_taken_ = true;
    done = done_;
  }
  py::list items(kind_ == Kind::run ? events.size() : pieces.size());
  if (kind_ == Kind::run) {
    for (std::size_t i = 0; i < events.size(); ++i)
      items[i] = to_py(events[i]);
  } else {
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const Piece& p = pieces[i];
      items[i] = py::make_tuple(py::str(buffer.data() + p.offset, p.text_len),
                                py::str(buffer.data() + p.offset + p.text_len, p.reasoning_len));
    }
  }
  return py::make_tuple(std::move(items), done);
}

bool Operation::wait(double timeout_s) {
  if (!cv_) throw std::logic_error("Operation.wait: only for blocking operations (no sink)");
  py::gil_scoped_release release;
  std::unique_lock lock(mutex_);
  auto ready = [this] { return done_ || !pieces_.empty() || !events_.empty(); };
  if (timeout_s < 0) {
    cv_->wait(lock, ready);
    return true;
  }
  return cv_->wait_for(lock, std::chrono::duration<double>(timeout_s), ready);
}

bool Operation::done() const {
  std::lock_guard lock(mutex_);
  return done_;
}

void Operation::set_waiter(py::object waiter) {
  waiter_ = waiter.is_none() ? GilObject() : GilObject(std::move(waiter));
  // Done and delivered already (both happen on this thread): nothing would resolve it later.
  if (delivered_final_) resolve_waiter();
}

py::object Operation::response() {
  std::unique_ptr<ChatResponse> resp;
  {
    std::lock_guard lock(mutex_);
    resp.swap(response_);
  }
  if (!resp) return py::none();
  return py::cast(std::move(*resp));
}

py::object Operation::run_result() {
  std::lock_guard lock(mutex_);
  if (!run_result_) return py::none();
  return to_py(run_result_->to_json());
}

py::object Operation::run_field(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (!run_result_) return py::none();
  const RunResult& r = *run_result_;
  if (name == "status") return py::str(to_string(r.status));
  if (name == "output") return py::str(r.output);
  if (name == "runId") return py::str(r.run_id);
  throw py::key_error(name);
}

py::object Operation::error() {
  std::lock_guard lock(mutex_);
  if (!ec_) return py::none();
  return to_py(error_to_json(*error_));
}

void Operation::resolve_waiter() {
  if (!waiter_) return;
  py::object fut = waiter_.get();
  waiter_ = GilObject();
  // A cancelled awaiting task cancelled the Future: it is done and must not be set again.
  if (!fut.attr("done")().cast<bool>()) fut.attr("set_result")(py::none());
}

void Operation::deliver() {
  queued_.store(false, std::memory_order_release);
  bool finished = done();
  if (finished) delivered_final_ = true;
  if (callback_) {
    py::object cb = callback_.get();
    if (finished) callback_ = GilObject();  // last delivery: drop the closure (GIL held here)
    try {
      cb();
    } catch (py::error_already_set&) {
      if (finished) resolve_waiter();  // whoever awaits must still wake up
      throw;
    }
  }
  if (finished) resolve_waiter();
}

}  // namespace chorus::python
