// chorus._core: the compiled half of the Python package. It exposes the C++ types as they are
// (ChatRequest, ChatResponse, Usage, Workflow, Problem) and a Client that starts operations on
// the module's io thread; the pure-Python package `chorus` shapes them into the public API.
#include "operation.hpp"
#include "py_provider.hpp"
#include "runtime.hpp"

#include <chorus/executor.hpp>
#include <chorus/provider.hpp>
#include <chorus/run_event.hpp>
#include <chorus/workflow.hpp>

#include <pybind11/stl.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

namespace chorus::python {
namespace {

Role role_from_string(std::string_view s, const std::string& field) {
  if (s == "system") return Role::system;
  if (s == "user") return Role::user;
  if (s == "assistant") return Role::assistant;
  throw py::value_error(field + ": role must be 'system', 'user' or 'assistant', got '" +
                        std::string(s) + "'");
}

FinishReason finish_reason_from_string(std::string_view s) {
  for (auto r : {FinishReason::unknown, FinishReason::stop, FinishReason::length,
                 FinishReason::content_filter, FinishReason::tool_calls, FinishReason::error}) {
    if (to_string(r) == s) return r;
  }
  throw py::value_error("finish_reason: unknown value '" + std::string(s) +
                        "' (stop, length, content_filter, tool_calls, error, unknown)");
}

double to_ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

py::object optional_double(const std::optional<double>& v) {
  return v ? py::object(py::float_(*v)) : py::object(py::none());
}

py::dict response_to_dict(const ChatResponse& r) {
  py::dict d;
  d["content"] = r.content;
  d["reasoning"] = r.reasoning;
  py::list calls;
  for (const auto& c : r.tool_calls) {
    py::dict t;
    t["id"] = c.id;
    t["name"] = c.name;
    t["arguments"] = c.arguments;
    calls.append(t);
  }
  d["toolCalls"] = calls;
  d["usage"] = to_py(usage_to_json(r.usage));
  d["cost"] = optional_double(r.cost);
  d["latencyMs"] = to_ms(r.latency);
  d["timeToFirstTokenMs"] =
      r.time_to_first_token ? py::object(py::float_(to_ms(*r.time_to_first_token))) : py::none();
  d["finishReason"] = std::string(to_string(r.finish_reason));
  d["finishReasonRaw"] = r.finish_reason_raw;
  d["model"] = r.model;
  d["provider"] = r.provider;
  d["requestId"] = r.request_id;
  d["attempts"] = r.attempts;
  d["error"] = to_py(error_to_json(r.error));
  return d;
}

// ---------------------------------------------------------------------------------------------
// Workflow handle

struct WorkflowHandle {
  std::shared_ptr<const Workflow> wf;
};

py::tuple parse_result(ParseResult pr) {
  py::list problems;
  for (auto& p : pr.problems)
    problems.append(py::cast(std::move(p)));
  py::object wf = py::none();
  if (pr.workflow) {
    wf = py::cast(WorkflowHandle{std::make_shared<const Workflow>(std::move(*pr.workflow))});
  }
  return py::make_tuple(wf, problems);
}

ValidationContext context_of(const ProviderRegistry& registry) {
  ValidationContext ctx;
  for (const auto& id : registry.ids())
    ctx.providers.emplace(id, std::vector<std::string>{});
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Client

class Client {
 public:
  Client(const std::map<std::string, std::string>& api_keys,
         const std::map<std::string, std::string>& base_urls, std::optional<double> timeout_s,
         std::optional<int> max_retries)
      : loop_(std::make_shared<LoopSlot>()) {
    if (timeout_s && *timeout_s <= 0) throw py::value_error("timeout: must be > 0 seconds");
    if (max_retries && *max_retries < 0) throw py::value_error("max_retries: must be >= 0");
    std::map<std::string, ProviderOptions> overrides;
    auto touch = [&](const std::string& id) -> ProviderOptions& { return overrides[id]; };
    for (const auto& [id, key] : api_keys)
      touch(id).api_key = key;
    for (const auto& [id, url] : base_urls)
      touch(id).base_url = url;
    if (timeout_s || max_retries) {
      for (const char* id :
           {"openai", "anthropic", "gemini", "deepseek", "openai-compatible", "simulated"}) {
        touch(id);
      }
      for (auto& [id, o] : overrides) {
        if (timeout_s) {
          o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*timeout_s * 1000));
        }
        if (max_retries) o.retry.max_attempts = *max_retries + 1;
      }
    }
    registry_ = ProviderRegistry::with_builtins(Runtime::get().executor(), overrides);
  }

  std::vector<std::string> provider_ids() const { return registry_->ids(); }

  py::list models(const std::string& provider_id) const {
    auto p = registry_->find(provider_id);
    if (!p) throw py::key_error("unknown provider '" + provider_id + "'");
    py::list out;
    for (const auto& m : p->models()) {
      py::dict d;
      d["id"] = m.id;
      d["input_per_mtok"] = optional_double(m.input_per_mtok);
      d["output_per_mtok"] = optional_double(m.output_per_mtok);
      d["cached_input_per_mtok"] = optional_double(m.cached_input_per_mtok);
      d["context_window"] = m.context_window ? py::object(py::int_(*m.context_window)) : py::none();
      out.append(d);
    }
    return out;
  }

  void bind_provider_loop(std::shared_ptr<Dispatcher> d) { loop_->set(std::move(d)); }

  void add_provider(py::object impl, const std::string& id, const std::string& name,
                    const std::vector<std::string>& model_ids, py::object runner) {
    if (id.empty()) throw py::value_error("Provider.id: must be a non-empty string");
    std::vector<ModelInfo> models;
    for (const auto& m : model_ids) {
      ModelInfo info;
      info.id = m;
      models.push_back(std::move(info));
    }
    registry_->add(std::make_shared<PyProvider>(id, name.empty() ? id : name, std::move(models),
                                                std::move(impl), std::move(runner), loop_));
  }

  std::shared_ptr<Operation> complete(const std::string& provider_id, ChatRequest req, bool stream,
                                      std::shared_ptr<Dispatcher> sink, py::object callback,
                                      py::object waiter) {
    auto op =
        std::make_shared<Operation>(stream ? Operation::Kind::stream : Operation::Kind::complete,
                                    std::move(sink), std::move(callback), std::move(waiter));
    auto provider = registry_->find(provider_id);
    if (!provider) {
      std::string ids;
      for (const auto& id : registry_->ids())
        ids += (ids.empty() ? "" : ", ") + id;
      ChatResponse resp;
      resp.provider = provider_id;
      resp.error = make_error(errc::unknown_provider,
                              "no provider '" + provider_id + "' (registered: " + ids + ")");
      resp.error.provider = provider_id;
      op->finish_chat(errc::unknown_provider, std::move(resp));
      return op;
    }
    asio::post(Runtime::get().io(), [op, provider, req = std::move(req), stream]() mutable {
      auto handler = asio::bind_cancellation_slot(
          op->slot(), [op](error_code ec, ChatResponse r) { op->finish_chat(ec, std::move(r)); });
      if (stream) {
        provider->async_stream(
            std::move(req), [op](const StreamDelta& d) { op->push_delta(d); }, std::move(handler));
      } else {
        provider->async_complete(std::move(req), std::move(handler));
      }
    });
    return op;
  }

  std::shared_ptr<Operation> run(const WorkflowHandle& wf, std::string input,
                                 const py::dict& options, std::shared_ptr<Dispatcher> sink,
                                 py::object callback, py::object waiter) {
    RunOptions opts;
    bool events = false;
    for (auto kv : options) {
      std::string key = kv.first.cast<std::string>();
      py::handle v = kv.second;
      if (v.is_none()) continue;
      if (key == "events") {
        events = v.cast<bool>();
      } else if (key == "stream_tokens") {
        opts.stream_tokens = v.cast<bool>();
      } else if (key == "max_cost_usd") {
        double d = v.cast<double>();
        if (!(d >= 0)) throw py::value_error("max_cost_usd: must be >= 0");
        opts.max_cost_usd = d;
      } else if (key == "max_tokens") {
        auto n = v.cast<std::int64_t>();
        if (n < 1) throw py::value_error("max_tokens: must be >= 1");
        opts.max_tokens = n;
      } else if (key == "max_concurrency") {
        auto n = v.cast<std::int64_t>();
        if (n < 0) throw py::value_error("max_concurrency: must be >= 0");
        opts.max_concurrency = static_cast<std::size_t>(n);
      } else if (key == "provider_concurrency") {
        opts.provider_concurrency = v.cast<std::map<std::string, std::size_t>>();
      } else if (key == "api_keys") {
        opts.api_keys = v.cast<std::map<std::string, std::string>>();
      } else if (key == "run_id") {
        opts.run_id = v.cast<std::string>();
      } else {
        throw py::value_error("run options: unknown option '" + key + "'");
      }
    }
    auto op = std::make_shared<Operation>(Operation::Kind::run, std::move(sink),
                                          std::move(callback), std::move(waiter));
    op->stop = StopSignal::create();
    opts.stop = op->stop;
    if (events)
      opts.on_event = [op](const RunEvent& e) { op->push_event(e); };
    else
      opts.stream_tokens = false;
    auto workflow = wf.wf;
    asio::post(Runtime::get().io(), [this_exec = executor(), op, workflow, input = std::move(input),
                                     opts = std::move(opts)]() mutable {
      // No cancellation slot: a run is cancelled through its StopSignal only (Operation::cancel).
      this_exec.async_run(workflow, std::move(input), std::move(opts),
                          [op](error_code ec, RunResult r) { op->finish_run(ec, std::move(r)); });
    });
    return op;
  }

  py::list validate(const WorkflowHandle& wf) const {
    py::list out;
    for (auto& p : chorus::validate(*wf.wf, context_of(*registry_)))
      out.append(py::cast(p));
    return out;
  }

 private:
  Executor executor() {
    std::lock_guard lock(mutex_);
    if (!executor_) executor_.emplace(Runtime::get().executor(), registry_);
    return *executor_;
  }

  std::shared_ptr<ProviderRegistry> registry_;
  std::shared_ptr<LoopSlot> loop_;
  std::mutex mutex_;
  std::optional<Executor> executor_;
};

}  // namespace
}  // namespace chorus::python

PYBIND11_MODULE(_core, m) {
  using namespace chorus;
  using namespace chorus::python;
  m.doc() = "Chorus C++ core (private: use the `chorus` package)";
  m.attr("__version__") = chorus::version;

  // OpenSSL must not tear itself down in the C atexit handlers that run after Python finalised:
  // clients that the interpreter never destroyed (module globals, reference cycles) still hold
  // TLS contexts, and freeing OpenSSL's tables under them crashes the exiting process.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);

  m.def("_shutdown", &Runtime::shutdown, "Stops and joins the io thread (atexit).");
  py::module_::import("atexit").attr("register")(py::cpp_function(&Runtime::shutdown));

  m.def("error_kinds", [] {
    std::vector<std::string> out;
    for (int i = 1;; ++i) {
      auto name = to_string(static_cast<errc>(i));
      if (name == "unknown") break;
      out.emplace_back(name);
    }
    return out;
  });
  m.def(
      "dumps",
      [](py::handle obj, bool pretty) {
        auto v = from_py(obj);
        return pretty ? pretty_json(v) : boost::json::serialize(v);
      },
      py::arg("obj"), py::arg("pretty") = false,
      "Serialises JSON-like Python data exactly as the C++ library does.");

  py::class_<Usage>(m, "Usage")
      .def(py::init([](std::int64_t prompt_tokens, std::int64_t completion_tokens,
                       std::optional<std::int64_t> total_tokens, std::int64_t cached_prompt_tokens,
                       std::int64_t reasoning_tokens, bool estimated) {
             if (prompt_tokens < 0 || completion_tokens < 0) {
               throw py::value_error("Usage: token counts must be >= 0");
             }
             Usage u;
             u.prompt_tokens = prompt_tokens;
             u.completion_tokens = completion_tokens;
             u.total_tokens = total_tokens.value_or(prompt_tokens + completion_tokens);
             u.cached_prompt_tokens = cached_prompt_tokens;
             u.reasoning_tokens = reasoning_tokens;
             u.reported = !estimated;
             u.estimated = estimated;
             return u;
           }),
           py::kw_only(), py::arg("prompt_tokens") = 0, py::arg("completion_tokens") = 0,
           py::arg("total_tokens") = py::none(), py::arg("cached_prompt_tokens") = 0,
           py::arg("reasoning_tokens") = 0, py::arg("estimated") = false)
      .def_readonly("prompt_tokens", &Usage::prompt_tokens)
      .def_readonly("completion_tokens", &Usage::completion_tokens)
      .def_readonly("total_tokens", &Usage::total_tokens)
      .def_readonly("cached_prompt_tokens", &Usage::cached_prompt_tokens)
      .def_readonly("reasoning_tokens", &Usage::reasoning_tokens)
      .def_readonly("reported", &Usage::reported)
      .def_readonly("estimated", &Usage::estimated)
      .def("to_dict", [](const Usage& u) { return to_py(usage_to_json(u)); })
      .def("__repr__", [](const Usage& u) {
        std::ostringstream s;
        s << "Usage(prompt_tokens=" << u.prompt_tokens
          << ", completion_tokens=" << u.completion_tokens << ", total_tokens=" << u.total_tokens
          << (u.estimated ? ", estimated=True" : "") << ")";
        return s.str();
      });

  py::class_<Message>(m, "Message")
      .def(py::init([](const std::string& role, std::string content) {
             return Message{role_from_string(role, "Message.role"), std::move(content)};
           }),
           py::arg("role"), py::arg("content"))
      .def_property_readonly("role",
                             [](const Message& x) { return std::string(to_string(x.role)); })
      .def_readonly("content", &Message::content)
      .def("__repr__", [](const Message& x) {
        return "Message(role='" + std::string(to_string(x.role)) +
               "', content=" + std::string(py::repr(py::str(x.content))) + ")";
      });

  py::class_<ChatRequest>(m, "ChatRequest")
      .def(
          py::init([](std::string model, py::iterable messages, std::string system_prompt,
                      std::optional<double> temperature, std::optional<std::int64_t> max_tokens,
                      std::vector<std::string> stop, bool json_mode, std::optional<double> timeout,
                      std::string api_key, py::object extra, py::object response_schema) {
            ChatRequest r;
            r.config.model = std::move(model);
            std::size_t i = 0;
            for (auto item : messages) {
              std::string field = "messages[" + std::to_string(i++) + "]";
              if (py::isinstance<Message>(item)) {
                r.messages.push_back(item.cast<Message>());
              } else if (py::isinstance<py::tuple>(item) && py::len(item) == 2) {
                auto t = item.cast<py::tuple>();
                r.messages.push_back(Message{role_from_string(t[0].cast<std::string>(), field),
                                             t[1].cast<std::string>()});
              } else if (py::isinstance<py::dict>(item)) {
                auto d = item.cast<py::dict>();
                if (!d.contains("role") || !d.contains("content")) {
                  throw py::value_error(field + ": needs 'role' and 'content'");
                }
                r.messages.push_back(Message{role_from_string(d["role"].cast<std::string>(), field),
                                             d["content"].cast<std::string>()});
              } else {
                throw py::type_error(field +
                                     ": expected chorus.Message, (role, content) or a dict");
              }
            }
            r.config.system_prompt = std::move(system_prompt);
            r.config.temperature = temperature;
            r.config.max_tokens = max_tokens;
            r.config.stop = std::move(stop);
            r.config.json_mode = json_mode;
            if (timeout) {
              if (*timeout <= 0) throw py::value_error("timeout: must be > 0 seconds");
              r.config.timeout =
                  std::chrono::milliseconds(static_cast<std::int64_t>(*timeout * 1000));
            }
            r.api_key = std::move(api_key);
            if (!extra.is_none()) {
              auto v = from_py(extra, "extra");
              if (!v.is_object()) throw py::type_error("extra: must be a dict");
              r.config.extra = std::move(v.get_object());
            }
            if (!response_schema.is_none()) {
              r.config.response_schema = from_py(response_schema, "response_schema");
            }
            return r;
          }),
          py::arg("model"), py::arg("messages"), py::kw_only(), py::arg("system_prompt") = "",
          py::arg("temperature") = py::none(), py::arg("max_tokens") = py::none(),
          py::arg("stop") = std::vector<std::string>{}, py::arg("json_mode") = false,
          py::arg("timeout") = py::none(), py::arg("api_key") = "", py::arg("extra") = py::none(),
          py::arg("response_schema") = py::none())
      .def_property_readonly("model", [](const ChatRequest& r) { return r.config.model; })
      .def_readonly("messages", &ChatRequest::messages)
      .def_property_readonly("system_prompt",
                             [](const ChatRequest& r) { return r.config.system_prompt; })
      .def_property_readonly("temperature",
                             [](const ChatRequest& r) { return r.config.temperature; })
      .def_property_readonly("max_tokens", [](const ChatRequest& r) { return r.config.max_tokens; })
      .def_property_readonly("stop", [](const ChatRequest& r) { return r.config.stop; })
      .def_property_readonly("json_mode", [](const ChatRequest& r) { return r.config.json_mode; })
      .def_property_readonly("timeout",
                             [](const ChatRequest& r) -> std::optional<double> {
                               if (!r.config.timeout) return std::nullopt;
                               return static_cast<double>(r.config.timeout->count()) / 1000.0;
                             })
      .def_readonly("api_key", &ChatRequest::api_key)
      .def_property_readonly(
          "extra", [](const ChatRequest& r) { return to_py(boost::json::value(r.config.extra)); })
      .def_property_readonly("prompt",
                             [](const ChatRequest& r) {
                               for (auto it = r.messages.rbegin(); it != r.messages.rend(); ++it) {
                                 if (it->role == Role::user) return it->content;
                               }
                               return std::string();
                             })
      .def("__repr__", [](const ChatRequest& r) {  // never shows the API key
        return "ChatRequest(model='" + r.config.model +
               "', messages=" + std::to_string(r.messages.size()) + ")";
      });

  py::class_<ChatResponse>(m, "ChatResponse")
      .def(py::init([](std::string content, std::string reasoning, std::optional<Usage> usage,
                       std::optional<double> cost, std::string model,
                       const std::string& finish_reason, std::string request_id) {
             ChatResponse r;
             r.content = std::move(content);
             r.reasoning = std::move(reasoning);
             if (usage) r.usage = *usage;
             if (cost && *cost < 0) throw py::value_error("cost: must be >= 0");
             r.cost = cost;
             r.model = std::move(model);
             r.finish_reason = finish_reason_from_string(finish_reason);
             r.finish_reason_raw = finish_reason;
             r.request_id = std::move(request_id);
             return r;
           }),
           py::arg("content") = "", py::kw_only(), py::arg("reasoning") = "",
           py::arg("usage") = py::none(), py::arg("cost") = py::none(), py::arg("model") = "",
           py::arg("finish_reason") = "stop", py::arg("request_id") = "")
      .def_readonly("content", &ChatResponse::content)
      .def_readonly("reasoning", &ChatResponse::reasoning)
      .def_readonly("usage", &ChatResponse::usage)
      .def_readonly("cost", &ChatResponse::cost)
      .def_property_readonly("latency_ms", [](const ChatResponse& r) { return to_ms(r.latency); })
      .def_property_readonly("time_to_first_token_ms",
                             [](const ChatResponse& r) -> std::optional<double> {
                               if (!r.time_to_first_token) return std::nullopt;
                               return to_ms(*r.time_to_first_token);
                             })
      .def_property_readonly(
          "finish_reason",
          [](const ChatResponse& r) { return std::string(to_string(r.finish_reason)); })
      .def_readonly("finish_reason_raw", &ChatResponse::finish_reason_raw)
      .def_readonly("model", &ChatResponse::model)
      .def_readonly("provider", &ChatResponse::provider)
      .def_readonly("request_id", &ChatResponse::request_id)
      .def_readonly("attempts", &ChatResponse::attempts)
      .def_property_readonly("tool_calls",
                             [](const ChatResponse& r) {
                               py::list calls;
                               for (const auto& c : r.tool_calls) {
                                 py::dict t;
                                 t["id"] = c.id;
                                 t["name"] = c.name;
                                 t["arguments"] = c.arguments;
                                 calls.append(t);
                               }
                               return calls;
                             })
      .def("to_dict", &response_to_dict)
      .def("__repr__", [](const ChatResponse& r) {
        std::ostringstream s;
        s << "ChatResponse(provider='" << r.provider << "', model='" << r.model
          << "', content=" << std::string(py::repr(py::str(r.content)))
          << ", total_tokens=" << r.usage.total_tokens << ")";
        return s.str();
      });

  py::class_<Problem>(m, "Problem")
      .def_property_readonly("severity",
                             [](const Problem& p) { return std::string(to_string(p.severity)); })
      .def_readonly("code", &Problem::code)
      .def_readonly("message", &Problem::message)
      .def_readonly("node_id", &Problem::node_id)
      .def_readonly("edge_id", &Problem::edge_id)
      .def_readonly("field", &Problem::field)
      .def("describe", &Problem::describe)
      .def("to_dict", [](const Problem& p) { return to_py(p.to_json()); })
      .def("__str__", &Problem::describe)
      .def("__repr__", [](const Problem& p) { return "<Problem " + p.describe() + ">"; });

  py::class_<WorkflowHandle>(m, "Workflow")
      .def_static("parse",
                  [](const std::string& text) { return parse_result(Workflow::parse(text)); })
      .def_static("from_data",
                  [](py::handle obj) { return parse_result(Workflow::from_json(from_py(obj))); })
      .def_static("load",
                  [](const std::string& path) {
                    std::ifstream in(path, std::ios::binary);
                    if (!in) throw py::value_error("cannot open workflow file '" + path + "'");
                    std::ostringstream s;
                    s << in.rdbuf();
                    return parse_result(Workflow::parse(s.str()));
                  })
      .def_property_readonly("id", [](const WorkflowHandle& w) { return w.wf->id(); })
      .def_property_readonly("name", [](const WorkflowHandle& w) { return w.wf->name(); })
      .def_property_readonly("description",
                             [](const WorkflowHandle& w) { return w.wf->description(); })
      .def_property_readonly("node_ids",
                             [](const WorkflowHandle& w) {
                               std::vector<std::string> ids;
                               for (const auto& n : w.wf->nodes())
                                 ids.push_back(n.id);
                               return ids;
                             })
      .def("to_data", [](const WorkflowHandle& w) { return to_py(w.wf->to_json()); })
      .def(
          "to_json", [](const WorkflowHandle& w, bool pretty) { return w.wf->to_string(pretty); },
          py::arg("pretty") = false)
      .def("validate", [](const WorkflowHandle& w) {
        py::list out;
        for (auto& p : chorus::validate(*w.wf))
          out.append(py::cast(p));
        return out;
      });

  py::class_<Dispatcher, std::shared_ptr<Dispatcher>>(m, "Dispatcher")
      .def(py::init<>())
      .def_property_readonly("fd", &Dispatcher::fd)
      .def("drain", &Dispatcher::drain)
      .def("close", &Dispatcher::close)
      .def_property_readonly("wakeups", &Dispatcher::wakeups);

  py::class_<Operation, std::shared_ptr<Operation>>(m, "Operation")
      .def("cancel", &Operation::cancel)
      .def("take", &Operation::take)
      .def("wait", &Operation::wait, py::arg("timeout") = -1.0)
      .def("set_waiter", &Operation::set_waiter, py::arg("waiter"))
      .def_property_readonly("done", &Operation::done)
      .def("response", &Operation::response)
      .def("run_result", &Operation::run_result)
      .def("run_field", &Operation::run_field, py::arg("name"))
      .def("error", &Operation::error)
      .def_property_readonly("deltas_received", &Operation::deltas_received);

  py::class_<ProviderCall, std::shared_ptr<ProviderCall>>(m, "ProviderCall")
      .def_property_readonly("request", &ProviderCall::request, py::return_value_policy::copy)
      .def_property_readonly("streaming", &ProviderCall::streaming)
      .def("delta", &ProviderCall::delta, py::arg("text"), py::arg("reasoning") = "")
      .def("finish", &ProviderCall::finish, py::arg("response"))
      .def("fail", &ProviderCall::fail, py::arg("kind"), py::arg("message"), py::arg("status") = 0,
           py::arg("retry_after") = py::none(), py::arg("request_id") = "",
           py::arg("vendor_code") = "")
      .def("set_cancel_callback", &ProviderCall::set_cancel_callback);

  py::class_<Client>(m, "Client")
      .def(py::init<const std::map<std::string, std::string>&,
                    const std::map<std::string, std::string>&, std::optional<double>,
                    std::optional<int>>(),
           py::arg("api_keys") = std::map<std::string, std::string>{},
           py::arg("base_urls") = std::map<std::string, std::string>{},
           py::arg("timeout") = py::none(), py::arg("max_retries") = py::none())
      .def("provider_ids", &Client::provider_ids)
      .def("models", &Client::models, py::arg("provider"))
      .def("bind_provider_loop", &Client::bind_provider_loop, py::arg("dispatcher"))
      .def("add_provider", &Client::add_provider, py::arg("impl"), py::arg("id"), py::arg("name"),
           py::arg("models"), py::arg("runner"))
      .def("complete", &Client::complete, py::arg("provider"), py::arg("request"),
           py::arg("stream"), py::arg("sink"), py::arg("callback"), py::arg("waiter") = py::none())
      .def("run", &Client::run, py::arg("workflow"), py::arg("input"), py::arg("options"),
           py::arg("sink"), py::arg("callback"), py::arg("waiter") = py::none())
      .def("validate", &Client::validate, py::arg("workflow"));
}
