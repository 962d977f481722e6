#include "operation.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/serializer.hpp>

namespace chorus::node {

Operation::Operation(Napi::Env env, Napi::Function on_batch, Napi::Function on_done)
    : on_batch_(env, on_batch), on_done_(env, on_done) {
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
  scratch_.clear();
  if (ev.type == RunEventType::token && !(ev.error && ev.error->code) && !ev.result &&
      !ev.run_result) {
    append_token_event(scratch_, serializer_, ev);
  } else {
    boost::json::value o = ev.to_json();
    append_value(scratch_, serializer_, o);
  }
  std::unique_lock lock(mutex_);
  if (finished_) return;
  if (!events_.empty()) events_.push_back(',');
  events_.append(scratch_);
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
  if (stop_) stop_->request_stop();
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
  auto on_batch = on_batch_.value();
  if (on_batch.IsFunction()) {
    if (!text.empty() || !reasoning.empty()) {
      on_batch.As<Napi::Function>().Call(
          {Napi::String::New(env, text), Napi::String::New(env, reasoning)});
    } else if (!events.empty()) {
      on_batch.As<Napi::Function>().Call({Napi::String::New(env, events)});
    }
  }
  if (!finished) return;
  done_delivered_ = true;
  auto on_done = on_done_.value();
  on_batch_.reset();
  on_done_.reset();
  if (auto* rt = Runtime::instance()) rt->release(env);
  if (on_done.IsFunction()) {
    on_done.As<Napi::Function>().Call({error.empty() ? env.Null() : Napi::String::New(env, error),
                                       Napi::String::New(env, result)});
  }
}

}  // namespace chorus::node
