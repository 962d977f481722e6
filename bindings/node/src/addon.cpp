// The native half of the `chorus` package (build/chorus.node). Its functions are private to
// lib/, which shapes the public API (Promises, async iterators, AbortSignal, error classes).
#include "convert.hpp"
#include "js_provider.hpp"
#include "operation.hpp"
#include "runtime.hpp"

#include <chorus/executor.hpp>
#include <chorus/provider.hpp>
#include <chorus/run_event.hpp>
#include <chorus/workflow.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>

namespace chorus::node {
namespace {

namespace json = boost::json;

struct ClientState {
  static constexpr std::uint32_t handle_tag = 0x434c4931;  // "CLI1"
  std::shared_ptr<ProviderRegistry> registry;
  std::shared_ptr<Executor> executor;
};

struct WorkflowHandle {
  static constexpr std::uint32_t handle_tag = 0x57464c31;  // "WFL1"
  std::shared_ptr<const Workflow> wf;
};

std::string string_arg(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (!info[i].IsString()) {
    throw kind_error(info.Env(), "invalid_argument", std::string(name) + ": must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Function function_arg(const Napi::CallbackInfo& info, std::size_t i, const char* name,
                            bool optional) {
  if (info[i].IsFunction()) return info[i].As<Napi::Function>();
  if (optional && (info[i].IsUndefined() || info[i].IsNull())) return Napi::Function();
  throw Napi::TypeError::New(info.Env(), std::string("chorus: ") + name + " must be a function");
}

// Runs `f`, turning ArgumentError and chorus::Exception into errors lib/ maps to its classes.
template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& f) {
  try {
    return f();
  } catch (const ArgumentError& e) {
    throw kind_error(info.Env(), "invalid_argument", e.what());
  } catch (const Exception& e) {
    throw kind_error(info.Env(), std::string(error_kind(e.error().code)), e.error().message);
  }
}

std::string problems_json(const std::vector<Problem>& problems) {
  json::array arr;
  for (const auto& p : problems)
    arr.push_back(p.to_json());
  return to_text(arr);
}

// ---------------------------------------------------------------------------------------------
// Client

Napi::Value create_client(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    auto env = info.Env();
    auto options = parse_object(string_arg(info, 0, "options"), "options");
    auto overrides = provider_overrides_from_json(options);
    auto& rt = Runtime::get(env);
    auto state = std::make_shared<ClientState>();
    state->registry = ProviderRegistry::with_builtins(rt.executor(), overrides);
    state->executor = std::make_shared<Executor>(rt.executor(), state->registry);
    return make_handle(env, std::move(state));
  });
}

Napi::Value client_providers(const Napi::CallbackInfo& info) {
  auto& c = handle_of<ClientState>(info[0], "client");
  auto ids = c->registry->ids();
  auto arr = Napi::Array::New(info.Env(), ids.size());
  for (std::uint32_t i = 0; i < ids.size(); ++i)
    arr.Set(i, Napi::String::New(info.Env(), ids[i]));
  return arr;
}

Napi::Value client_models(const Napi::CallbackInfo& info) {
  auto& c = handle_of<ClientState>(info[0], "client");
  auto id = string_arg(info, 1, "provider");
  auto p = c->registry->find(id);
  if (!p) throw kind_error(info.Env(), "unknown_provider", "no provider '" + id + "'");
  json::array out;
  for (const auto& m : p->models()) {
    json::object o;
    o["id"] = m.id;
    o["inputPerMtok"] = m.input_per_mtok ? json::value(*m.input_per_mtok) : json::value(nullptr);
    o["outputPerMtok"] = m.output_per_mtok ? json::value(*m.output_per_mtok) : json::value(nullptr);
    o["cachedInputPerMtok"] =
        m.cached_input_per_mtok ? json::value(*m.cached_input_per_mtok) : json::value(nullptr);
    o["contextWindow"] = m.context_window ? json::value(*m.context_window) : json::value(nullptr);
    out.push_back(std::move(o));
  }
  return Napi::String::New(info.Env(), to_text(out));
}

// register(client, id, name, models[], impl, runner)
Napi::Value client_register(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto& c = handle_of<ClientState>(info[0], "client");
  auto id = string_arg(info, 1, "id");
  auto name = string_arg(info, 2, "name");
  if (id.empty()) throw kind_error(env, "invalid_argument", "id: must be a non-empty string");
  std::vector<ModelInfo> models;
  if (info[3].IsArray()) {
    auto arr = info[3].As<Napi::Array>();
    for (std::uint32_t i = 0; i < arr.Length(); ++i) {
      ModelInfo m;
      m.id = arr.Get(i).ToString().Utf8Value();
      models.push_back(std::move(m));
    }
  }
  if (!info[4].IsObject()) throw kind_error(env, "invalid_argument", "provider: must be an object");
  auto runner = function_arg(info, 5, "runner", false);
  auto& rt = Runtime::get(env);
  c->registry->add(std::make_shared<JsProvider>(env, id, name.empty() ? id : name,
                                                std::move(models), info[4].As<Napi::Object>(),
                                                runner, rt.executor()));
  return env.Undefined();
}

// complete(client, providerId, requestJson, stream) -> operation id. Streams report their text
// through onBatch(id, text, reasoning); every call ends with onDone(id, errorJson | null,
// responseJson) (see setHandlers).
Napi::Value complete(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto env = info.Env();
    auto& c = handle_of<ClientState>(info[0], "client");
    auto provider_id = string_arg(info, 1, "provider");
    auto req = request_from_json(parse_object(string_arg(info, 2, "request"), "request"));
    bool stream = info[3].ToBoolean();
    auto provider = c->registry->find(provider_id);
    if (!provider) {
      std::string ids;
      for (const auto& id : c->registry->ids())
        ids += (ids.empty() ? "" : ", ") + id;
      throw kind_error(env, "unknown_provider",
                       "no provider '" + provider_id + "' (registered: " + ids + ")");
    }
    auto& rt = Runtime::get(env);
    auto op = Operation::start(env);
    asio::post(rt.io(), [op, provider, req = std::move(req), stream]() mutable {
      auto handler = asio::bind_cancellation_slot(op->slot(), [op](error_code ec, ChatResponse r) {
        std::string err =
            ec ? to_text(error_to_json(r.error.code ? r.error : make_error(ec, ec.message())))
               : std::string();
        op->finish(std::move(err), to_text(response_to_json(r)));
      });
      if (stream) {
        provider->async_stream(
            std::move(req), [op](const StreamDelta& d) { op->push_delta(d); }, std::move(handler));
      } else {
        provider->async_complete(std::move(req), std::move(handler));
      }
    });
    return Napi::Number::New(env, op->id());
  });
}

// cancel(id): a no-op once the operation's completion was delivered.
Napi::Value cancel(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber())
    throw Napi::TypeError::New(info.Env(), "chorus: expected an operation id");
  if (auto op = Operation::find(info[0].As<Napi::Number>().DoubleValue())) op->cancel();
  return info.Env().Undefined();
}

// setHandlers(onBatch, onDone): the two functions every operation reports to, by id.
Napi::Value set_handlers(const Napi::CallbackInfo& info) {
  Operation::set_handlers(info.Env(), function_arg(info, 0, "onBatch", false),
                          function_arg(info, 1, "onDone", false));
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// Workflows

// parseWorkflow(jsonText) -> [handle | null, problemsJson]
Napi::Value parse_workflow(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto text = string_arg(info, 0, "workflow");
  auto pr = Workflow::parse(text);
  auto out = Napi::Array::New(env, 2);
  if (pr.workflow) {
    auto h = std::make_shared<WorkflowHandle>();
    h->wf = std::make_shared<const Workflow>(std::move(*pr.workflow));
    out.Set(0u, make_handle(env, std::move(h)));
  } else {
    out.Set(0u, env.Null());
  }
  out.Set(1u, Napi::String::New(env, problems_json(pr.problems)));
  return out;
}

Napi::Value workflow_json(const Napi::CallbackInfo& info) {
  auto& w = handle_of<WorkflowHandle>(info[0], "workflow");
  return Napi::String::New(info.Env(), w->wf->to_string(info[1].ToBoolean()));
}

// validateWorkflow(workflow, client | null) -> problemsJson. With a client, provider ids are
// checked against its registry (any model accepted: the price table may lag behind vendors).
Napi::Value validate_workflow(const Napi::CallbackInfo& info) {
  auto& w = handle_of<WorkflowHandle>(info[0], "workflow");
  ValidationContext ctx;
  if (info[1].IsExternal()) {
    auto& c = handle_of<ClientState>(info[1], "client");
    for (const auto& id : c->registry->ids())
      ctx.providers.emplace(id, std::vector<std::string>{});
  }
  return Napi::String::New(info.Env(), problems_json(validate(*w->wf, ctx)));
}

// run(client, workflow, input, optionsJson, events) -> operation id. With `events` the run's
// events go to onBatch(id, eventsJson); it ends with onDone(id, errorJson | null, resultJson).
Napi::Value run(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto env = info.Env();
    auto& c = handle_of<ClientState>(info[0], "client");
    auto wf = handle_of<WorkflowHandle>(info[1], "workflow")->wf;
    auto input = string_arg(info, 2, "input");
    auto opts = run_options_from_json(parse_object(string_arg(info, 3, "options"), "options"));
    bool events = info[4].ToBoolean();
    auto& rt = Runtime::get(env);
    auto op = Operation::start(env);
    opts.stop = StopSignal::create();
    op->set_stop(opts.stop);
    if (events) {
      opts.on_event = [op](const RunEvent& ev) { op->push_event(ev); };
    } else {
      opts.stream_tokens = false;
    }
    auto executor = c->executor;
    asio::post(rt.io(), [op, executor, wf = std::move(wf), input = std::move(input),
                         opts = std::move(opts)]() mutable {
      // No cancellation slot: a run is cancelled through its StopSignal only (Operation::cancel).
      executor->async_run(
          std::move(wf), std::move(input), std::move(opts), [op](error_code ec, RunResult r) {
            std::string err;
            if (ec) {
              err = to_text(error_to_json(r.error.code ? r.error : make_error(ec, ec.message())));
            }
            op->finish(std::move(err), to_text(r.to_json()));
          });
    });
    return Napi::Number::New(env, op->id());
  });
}

// ---------------------------------------------------------------------------------------------
// JS providers: the call handle

Napi::Value call_delta(const Napi::CallbackInfo& info) {
  auto& call = handle_of<ProviderCall>(info[0], "provider call");
  std::string text = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
  std::string reasoning =
      info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : std::string();
  call->delta(std::move(text), std::move(reasoning));
  return info.Env().Undefined();
}

Napi::Value call_finish(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    auto& call = handle_of<ProviderCall>(info[0], "provider call");
    call->finish(response_from_json(parse_object(string_arg(info, 1, "response"), "response")));
    return info.Env().Undefined();
  });
}

Napi::Value call_fail(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    auto& call = handle_of<ProviderCall>(info[0], "provider call");
    auto o = parse_object(string_arg(info, 1, "error"), "error");
    Error err;
    try {
      err = error_from_json(o);
    } catch (const Exception& e) {
      err = make_error(errc::server, "custom provider error: " + e.error().message);
    }
    call->fail(std::move(err));
    return info.Env().Undefined();
  });
}

Napi::Value stats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  auto* rt = Runtime::instance();
  o.Set("wakeups", Napi::Number::New(env, rt ? static_cast<double>(rt->wakeups()) : 0));
  o.Set("deliveries", Napi::Number::New(env, rt ? static_cast<double>(rt->deliveries()) : 0));
  o.Set("started", Napi::Boolean::New(env, rt != nullptr));
  o.Set("inFlight", Napi::Number::New(env, static_cast<double>(Operation::in_flight())));
  return o;
}

Napi::Value error_kinds(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto arr = Napi::Array::New(env);
  std::uint32_t n = 0;
  for (int i = 1;; ++i) {
    auto name = to_string(static_cast<errc>(i));
    if (name == "unknown") break;
    arr.Set(n++, Napi::String::New(env, std::string(name)));
  }
  return arr;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto def = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  def("createClient", create_client);
  def("clientProviders", client_providers);
  def("clientModels", client_models);
  def("registerProvider", client_register);
  def("complete", complete);
  def("cancel", cancel);
  def("setHandlers", set_handlers);
  def("parseWorkflow", parse_workflow);
  def("workflowJson", workflow_json);
  def("validateWorkflow", validate_workflow);
  def("run", run);
  def("callDelta", call_delta);
  def("callFinish", call_finish);
  def("callFail", call_fail);
  def("stats", stats);
  def("errorKinds", error_kinds);
  exports.Set("version", Napi::String::New(env, chorus::version));
  return exports;
}

}  // namespace
}  // namespace chorus::node

static Napi::Object InitChorus(Napi::Env env, Napi::Object exports) {
  return chorus::node::init(env, exports);
}

NODE_API_MODULE(chorus, InitChorus)
