#include "operation.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/serializer.hpp>

#include <optional>
#include <unordered_map>

namespace chorus::node {

namespace {

// JS thread only: the environment that installed the handlers (the first to load the addon; the
// io thread delivers to it alone). Leaked on purpose: nothing may run its destructors after the
// environment is gone.
struct Registry {
  napi_env env = nullptr;
  std::unordered_map<double, std::shared_ptr<Operation>> ops;
  double next_id = 1;
  JsRef on_batch, on_done;
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace

std::shared_ptr<Operation> Operation::start(Napi::Env env) {
  auto& reg = registry();
  if (!reg.on_done) throw Napi::Error::New(env, "chorus: setHandlers() was not called");
  if (reg.env != static_cast<napi_env>(env)) {
    throw Napi::Error::New(env,
                           "chorus: calls and runs are only available on the thread that first "
                           "loaded chorus (not in worker threads)");
  }
  double id = reg.next_id++;
  auto op = std::make_shared<Operation>(env, id);
  reg.ops.emplace(id, op);
  return op;
}

std::shared_ptr<Operation> Operation::find(double id) {
  auto& ops = registry().ops;
  auto it = ops.find(id);
  return it == ops.end() ? nullptr : it->second;
}

void Operation::set_handlers(Napi::Env env, Napi::Function on_batch, Napi::Function on_done) {
  auto& reg = registry();
  if (reg.env && reg.env != static_cast<napi_env>(env)) return;  // another thread's: see start()
  reg.env = env;
  reg.on_batch = JsRef(env, on_batch);
  reg.on_done = JsRef(env, on_done);
}

std::size_t Operation::in_flight() noexcept {
  return registry().ops.size();
}

Operation::Operation(Napi::Env env, double id) : id_(id) {
  Runtime::get(env).hold(env);
}

void Operation::schedule(std::unique_lock<std::mutex>& lock) {
  if (queued_) return;
  queued_ = true;
  lock.unlock();
  if (auto* rt = Runtime::instance()) rt->post(shared_from_this());
}

void Operation::push_delta(const StreamDelta& d) {
  std::unique_lock lock(mutex_);
  if (finished_) return;
  text_.append(d.text);
  reasoning_.append(d.reasoning);
  schedule(lock);
}

namespace {

void append_value(std::string& out, boost::json::serializer& sr, const boost::json::value& v) {
  char buf[512];
  sr.reset(&v);
  while (!sr.done())
    out.append(sr.read(buf));
}

void append_string(std::string& out, boost::json::serializer& sr, std::string_view s) {
  char buf[512];
  sr.reset(boost::json::string_view(s.data(), s.size()));
  while (!sr.done())
    out.append(sr.read(buf));
}

// A token event written field by field in RunEvent::to_json()'s order and format (scalars only:
// nothing is allocated once `out` has grown). Other events go through to_json().
void append_token_event(std::string& out, boost::json::serializer& sr, const RunEvent& ev) {
  out.append(R"({"type":"token","runId":)");
  append_string(out, sr, ev.run_id);
  out.append(R"(,"seq":)");
  append_value(out, sr, boost::json::value(ev.seq));
  out.append(R"(,"timeMs":)");
  append_value(out, sr, boost::json::value(static_cast<double>(ev.time.count()) / 1000.0));
  auto field = [&](const char* key, std::string_view v) {
    if (v.empty()) return;
    out.append(key);
    append_string(out, sr, v);
  };
  field(R"(,"nodeId":)", ev.node_id);
  field(R"(,"nodeType":)", ev.node_type);
  out.append(R"(,"text":)");
  append_string(out, sr, ev.text);
  if (ev.iteration > 0) {
    out.append(R"(,"iteration":)");
    append_value(out, sr, boost::json::value(static_cast<std::int64_t>(ev.iteration)));
  }
  if (ev.item) {
    out.append(R"(,"item":)");
    append_value(out, sr, boost::json::value(static_cast<std::int64_t>(*ev.item)));
  }
  field(R"(,"provider":)", ev.provider);
  field(R"(,"model":)", ev.model);
  field(R"(,"status":)", ev.status);
  out.push_back('}');
}

}  // namespace

void Operation::push_event(const RunEvent& ev) {
  if (!writer_) writer_ = std::make_unique<EventWriter>();
  std::string& scratch = writer_->scratch;
  scratch.clear();
  if (ev.type == RunEventType::token && !(ev.error && ev.error->code) && !ev.result &&
      !ev.run_result) {
    append_token_event(scratch, writer_->serializer, ev);
  } else {
    boost::json::value o = ev.to_json();
    append_value(scratch, writer_->serializer, o);
  }
  std::unique_lock lock(mutex_);
  if (finished_) return;
  if (!events_.empty()) events_.push_back(',');
  events_.append(scratch);
  schedule(lock);
}

void Operation::finish(std::string error_json, std::string result_json) {
  std::unique_lock lock(mutex_);
  if (finished_) return;
  finished_ = true;
  error_ = std::move(error_json);
  result_ = std::move(result_json);
  schedule(lock);
}

void Operation::cancel() {
  if (stop_) {
    // Runs: the StopSignal only. Emitting on a cancellation slot could reach the executor
    // before the run has started (both are posted to the io thread), which it does not survive;
    // a stop requested that early is honoured as soon as the run starts.
    stop_->request_stop();
    return;
  }
  if (auto* rt = Runtime::instance()) {
    asio::post(rt->io(), [self = shared_from_this()] {
      self->cancel_.emit(asio::cancellation_type::terminal);
    });
  }
}

void Operation::deliver(Napi::Env env) {
  std::string text, reasoning, events, error, result;
  bool finished;
  {
    std::lock_guard lock(mutex_);
    queued_ = false;
    text.swap(text_);
    reasoning.swap(reasoning_);
    events.swap(events_);
    finished = finished_;
    if (finished) {
      error.swap(error_);
      result.swap(result_);
    }
  }
  if (done_delivered_) return;
  auto& reg = registry();
  auto id = Napi::Number::New(env, id_);
  std::optional<Napi::Error> thrown;  // by onBatch: re-thrown once the completion is delivered
  try {
    auto on_batch = reg.on_batch.value();
    bool callable = on_batch.IsFunction();
    if (callable && (!text.empty() || !reasoning.empty())) {
      on_batch.As<Napi::Function>().Call(
          {id, Napi::String::New(env, text), Napi::String::New(env, reasoning)});
    } else if (callable && !events.empty()) {
      on_batch.As<Napi::Function>().Call({id, Napi::String::New(env, events)});
    }
  } catch (const Napi::Error& e) {
    if (!finished) throw;
    thrown = e;
  }
  if (!finished) return;
  done_delivered_ = true;
  // Forget the operation before calling back: a cancel() from the callback finds nothing.
  auto self = shared_from_this();
  reg.ops.erase(id_);
  if (auto* rt = Runtime::instance()) rt->release(env);
  auto on_done = reg.on_done.value();
  if (on_done.IsFunction()) {
    on_done.As<Napi::Function>().Call({id,
                                       error.empty() ? env.Null() : Napi::String::New(env, error),
                                       Napi::String::New(env, result)});
  }
  if (thrown) throw *thrown;
}

}  // namespace chorus::node
