// The OpenAI-compatible API: POST /v1/chat/completions runs a workflow named by
// `model: "workflow:<id>[@version]"` with the last user message as input and answers in OpenAI's
// chat.completion shape (or chat.completion.chunk SSE frames with `stream: true`); GET /v1/models
// lists the caller's workflows. Every error under /v1/ has OpenAI's shape (openai_error_body, used
// by Ctx::error). See docs/decisions/openai-endpoint.md.
#include "app.hpp"
#include "runs.hpp"

#include <chorus/workflow.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <cstdlib>
#include <set>
#include <variant>

namespace chorus::server {

namespace {

std::string_view openai_error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "insufficient_quota";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

json::value openai_error_body(int status, std::string_view code, std::string_view message,
                              const json::object& details) {
  // `param` names the offending request field when the error is about one.
  json::value param = nullptr;
  if (auto it = details.find("field"); it != details.end() && it->value().is_string())
    param = it->value();
  else if (auto f = details.find("fields");
           f != details.end() && f->value().is_array() && !f->value().as_array().empty()) {
    const auto& first = f->value().as_array()[0];
    if (first.is_object())
      if (auto n = first.as_object().find("field"); n != first.as_object().end())
        param = n->value();
  }
  return json::object{{"error", json::object{{"message", message},
                                             {"type", openai_error_type(status)},
                                             {"param", param},
                                             {"code", code}}}};
}

namespace {

constexpr std::string_view kModelPrefix = "workflow:";
constexpr std::size_t kMaxInput = 1 << 20;  // the same cap as POST /api/workflows/:id/execute

struct ModelRef {
  std::string workflow_id;
  std::optional<std::int64_t> version;
};

// "workflow:<id>" or "workflow:<id>@<version>"; nullopt when it is not that shape.
std::optional<ModelRef> parse_model(std::string_view m) {
  if (!m.starts_with(kModelPrefix)) return std::nullopt;
  m.remove_prefix(kModelPrefix.size());
  ModelRef r;
  auto at = m.rfind('@');
  std::string_view id = m.substr(0, at);
  if (id.empty() || id.size() > 200) return std::nullopt;
  r.workflow_id = std::string(id);
  if (at != std::string_view::npos) {
    std::string v(m.substr(at + 1));
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1) return std::nullopt;
    r.version = n;
  }
  return r;
}

// The input of the run: the text of the last message whose role is "user". Every message is
// checked; a problem answers 400 naming the field (messages[2].content[0].type) and returns
// nullopt.
std::optional<std::string> last_user_text(Ctx& c, const json::value* messages) {
  auto bad = [&](int status, std::string field, std::string message,
                 std::string_view code = "invalid_value") {
    c.error(status, code, message, {{"field", field}});
    return std::nullopt;
  };
  if (!messages) return bad(400, "messages", "messages is required", "missing_required_parameter");
  if (!messages->is_array()) return bad(400, "messages", "messages must be an array");
  const auto& arr = messages->as_array();
  if (arr.empty()) return bad(400, "messages", "messages must not be empty");
  static const std::set<std::string_view> roles = {"system",    "developer", "user",
                                                   "assistant", "tool",      "function"};
  std::optional<std::size_t> last_user;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string at = "messages[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) return bad(400, at, at + " must be an object");
    const auto& m = arr[i].as_object();
    auto role = m.find("role");
    if (role == m.end() || !role->value().is_string())
      return bad(400, at + ".role", at + ".role must be a string (user, system, assistant, ...)");
    if (!roles.count(std::string_view(role->value().as_string())))
      return bad(400, at + ".role",
                 at + ".role must be one of system, developer, user, assistant, tool, function");
    auto content = m.find("content");
    bool is_user = role->value().as_string() == "user";
    if (content == m.end() || content->value().is_null()) {
      if (is_user) return bad(400, at + ".content", at + ".content is required for a user message");
      continue;
    }
    if (!content->value().is_string() && !content->value().is_array())
      return bad(400, at + ".content", at + ".content must be a string or an array of parts");
    if (is_user) last_user = i;
  }
  if (!last_user) return bad(400, "messages", "messages must contain a message with role \"user\"");
  std::string at = "messages[" + std::to_string(*last_user) + "]";
  const json::value& content = arr[*last_user].as_object().at("content");
  std::string text;
  if (content.is_string()) {
    text = std::string(content.as_string());
  } else {
    const auto& parts = content.as_array();
    for (std::size_t j = 0; j < parts.size(); ++j) {
      std::string pat = at + ".content[" + std::to_string(j) + "]";
      if (!parts[j].is_object()) return bad(400, pat, pat + " must be an object");
      const auto& p = parts[j].as_object();
      auto type = p.find("type");
      if (type == p.end() || !type->value().is_string())
        return bad(400, pat + ".type", pat + ".type must be a string");
      if (type->value().as_string() != "text")
        return bad(400, pat + ".type",
                   pat + ".type \"" + std::string(type->value().as_string()) +
                       "\" is not supported: a workflow takes text parts only");
      auto t = p.find("text");
      if (t == p.end() || !t->value().is_string())
        return bad(400, pat + ".text", pat + ".text must be a string");
      if (!text.empty()) text.push_back('\n');
      text.append(t->value().as_string());
    }
  }
  if (text.find('\0') != std::string::npos)
    return bad(400, at + ".content", at + ".content must not contain NUL characters");
  if (text.size() > kMaxInput)
    return bad(400, at + ".content",
               at + ".content must be at most " + std::to_string(kMaxInput) + " bytes");
  return text;
}

// The llm nodes whose token stream is the run's output: the single predecessor of an output node
// that passes its input through (`{{input}}`, the default), or the node an output's
// `{{nodes.<id>.output}}` names. Nodes that can run more than once (on a loop's cycle, inside a
// map body) are left out: their tokens are not the output as they arrive.
std::set<std::string, std::less<>> streaming_nodes(const std::string& document) {
  std::set<std::string, std::less<>> out;
  auto parsed = Workflow::parse(document);
  if (!parsed.workflow) return out;
  const Workflow& wf = *parsed.workflow;
  const Graph& g = wf.graph();
  auto once = [&](std::size_t i) {
    return i < g.map_of.size() && g.map_of[i] == Graph::npos && g.loops_of[i].empty();
  };
  auto consider = [&](std::size_t i) {
    if (i != Graph::npos && wf.nodes()[i].kind == NodeKind::llm && once(i))
      out.insert(wf.nodes()[i].id);
  };
  for (std::size_t i = 0; i < wf.nodes().size(); ++i) {
    const Node& n = wf.nodes()[i];
    if (n.kind != NodeKind::output || !once(i)) continue;
    const auto* d = n.data_as<OutputData>();
    if (!d) continue;
    const TemplateRef* ref = nullptr;
    if (d->output_template && !d->output_template->empty()) {
      const auto& segs = d->output_template->segments();
      if (segs.size() != 1 || !std::holds_alternative<TemplateRef>(segs[0])) continue;
      ref = &std::get<TemplateRef>(segs[0]);
      if (ref->json) continue;
    }
    if (!ref || ref->kind == TemplateRefKind::input) {
      if (g.in_edges[i].size() == 1) consider(wf.node_index(wf.edges()[g.in_edges[i][0]].source));
    } else if (ref->kind == TemplateRefKind::node_output) {
      consider(wf.node_index(ref->node_id));
    }
  }
  return out;
}

// JSON text of a string value ("..." with escapes).
std::string json_string(std::string_view s) {
  return json::serialize(json::value(s));
}

json::object usage_object(std::int64_t p, std::int64_t c, std::int64_t t) {
  return {{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", t}};
}

// Turns the run's event stream (RunManager frames "id: N\ndata: <event>\n\n") into OpenAI
// chat.completion.chunk frames on the client's connection. Token events of the streaming node are
// spliced without parsing: their "text" member is already a JSON string.
class ChunkStream : public SseSink, public std::enable_shared_from_this<ChunkStream> {
 public:
  ChunkStream(App& app, std::shared_ptr<SseSink> out, std::string execution_id,
              std::string completion_id, std::string model, std::int64_t created,
              std::set<std::string, std::less<>> streaming, bool include_usage)
      : app_(app),
        out_(std::move(out)),
        execution_id_(std::move(execution_id)),
        streaming_(std::move(streaming)),
        include_usage_(include_usage) {
    head_ = "data: {\"id\":" + json_string(completion_id) +
            ",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(created) +
            ",\"model\":" + json_string(model) + ",\"system_fingerprint\":null,";
    content_head_ = head_ + "\"choices\":[{\"index\":0,\"delta\":{\"content\":";
  }

  /// Sends the first chunk (the assistant role) and, when the client goes away before the end,
  /// cancels the run: nobody will read its answer.
  void begin() {
    out_->send(std::make_shared<const std::string>(
        head_ + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}," +
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"));
    std::weak_ptr<ChunkStream> weak = weak_from_this();
    out_->on_close([weak] {
      auto self = weak.lock();
      if (self && !self->finished_) self->app_.runs->cancel(self->execution_id_);
    });
  }

  // Bytes from RunManager: whole SSE frames ("id: N\ndata: <event>\n\n", or a ": comment"),
  // one or several.
  void send(std::shared_ptr<const std::string> bytes) override {
    std::string_view rest = *bytes;
    while (!rest.empty() && !finished_ && !out_->closed()) {
      auto end = rest.find("\n\n");
      std::string_view frame = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
      if (frame.starts_with(":")) {  // keep-alive comment: pass it on
        static const auto ping = std::make_shared<const std::string>(": keep-alive\n\n");
        out_->send(ping);
        continue;
      }
      auto data = frame.starts_with("data: ") ? 0 : frame.find("\ndata: ");
      if (data == std::string_view::npos) continue;
      std::string_view event = frame.substr(data + (data == 0 ? 6 : 7));
      event = event.substr(0, event.find('\n'));
      auto type = raw_member(event, "type");
      if (!type) continue;
      if (*type == "\"token\"")
        on_token(event);
      else if (*type == "\"run_finished\"")
        on_finished(event);
    }
  }

  void close() override {
    if (!finished_) {
      // The run's stream ended without a run_finished event (it cannot be read back).
      send_error(500, "run_incomplete",
                 "the run's event stream ended without a result; see GET /api/executions/" +
                     execution_id_);
    }
    finished_ = true;
    out_->close();
  }
  bool closed() const noexcept override { return finished_ || out_->closed(); }
  void on_close(std::function<void()> f) override { out_->on_close(std::move(f)); }

 private:
  void on_token(std::string_view event) {
    auto node = raw_member(event, "nodeId");
    if (!node || node->size() < 2) return;
    std::string_view id = node->substr(1, node->size() - 2);  // ids are plain text, unescaped
    if (locked_.empty()) {
      if (!streaming_.count(id)) return;
      locked_ = std::string(id);
    } else if (id != locked_) {
      return;
    }
    auto text = raw_member(event, "text");
    if (!text || text->size() < 2) return;
    streamed_.append(text->substr(1, text->size() - 2));
    std::string chunk;
    chunk.reserve(content_head_.size() + text->size() + 48);
    chunk += content_head_;
    chunk += *text;
    chunk += "},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    out_->send(std::make_shared<const std::string>(std::move(chunk)));
  }

  void on_finished(std::string_view event) {
    boost::system::error_code ec;
    json::value v = json::parse(event, ec);
    if (ec || !v.is_object()) return;
    finished_ = true;
    const auto& o = v.as_object();
    std::string status = o.contains("status") && o.at("status").is_string()
                             ? std::string(o.at("status").as_string())
                             : "failed";
    const json::object* result =
        o.contains("result") && o.at("result").is_object() ? &o.at("result").as_object() : nullptr;
    if (status != "succeeded" || !result) {
      std::string kind = "workflow_failed", message = "the workflow run " + status;
      if (auto e = o.find("error"); e != o.end() && e->value().is_object()) {
        const auto& err = e->value().as_object();
        if (auto k = err.find("kind"); k != err.end() && k->value().is_string())
          kind = std::string(k->value().as_string());
        if (auto m = err.find("message"); m != err.end() && m->value().is_string())
          message += ": " + std::string(m->value().as_string());
      }
      send_error(502, kind, message);
      out_->close();
      return;
    }
    std::string output;
    if (auto it = result->find("output"); it != result->end() && it->value().is_string())
      output = std::string(it->value().as_string());
    // What was not streamed yet goes as one delta: everything for a node that does not stream,
    // the rest when the output extends the streamed text.
    std::string escaped = json_string(output);
    std::string_view body = std::string_view(escaped).substr(1, escaped.size() - 2);
    if (body.starts_with(streamed_)) {
      if (body.size() > streamed_.size())
        out_->send(std::make_shared<const std::string>(
            content_head_ + "\"" + std::string(body.substr(streamed_.size())) +
            "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"));
    } else {
      app_.log.log(Logger::warn,
                   "streamed tokens differ from the workflow output (a retried node or several "
                   "outputs); the stream carries the tokens as sent",
                   {{"executionId", execution_id_}});
    }
    std::int64_t p = 0, c = 0, t = 0;
    if (auto u = result->find("usage"); u != result->end() && u->value().is_object()) {
      const auto& uo = u->value().as_object();
      auto num = [&](const char* k) -> std::int64_t {
        auto it = uo.find(k);
        return it != uo.end() && it->value().is_number() ? it->value().to_number<std::int64_t>()
                                                         : 0;
      };
      p = num("promptTokens");
      c = num("completionTokens");
      t = num("totalTokens");
    }
    json::value cost = nullptr;
    if (auto it = result->find("cost"); it != result->end()) cost = it->value();
    json::object ext{{"executionId", execution_id_}, {"cost", cost}, {"status", status}};
    out_->send(std::make_shared<const std::string>(
        head_ + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":" +
        "\"stop\"}],\"chorus\":" + json::serialize(ext) + "}\n\n"));
    if (include_usage_)
      out_->send(std::make_shared<const std::string>(
          head_ + "\"choices\":[],\"usage\":" + json::serialize(usage_object(p, c, t)) + "}\n\n"));
    out_->send(std::make_shared<const std::string>("data: [DONE]\n\n"));
    out_->close();
  }

  // OpenAI's in-stream error: a data frame holding {"error": {...}}; the SDKs raise it.
  void send_error(int status, std::string_view code, std::string_view message) {
    json::value body = openai_error_body(status, code, message, {});
    body.as_object()["chorus"] = json::object{{"executionId", execution_id_}};
    out_->send(std::make_shared<const std::string>("data: " + json::serialize(body) + "\n\n"));
  }

  App& app_;
  std::shared_ptr<SseSink> out_;
  std::string execution_id_;
  std::set<std::string, std::less<>> streaming_;
  bool include_usage_;
  std::string head_, content_head_;
  std::string locked_;    // the node whose tokens are streamed
  std::string streamed_;  // their JSON-escaped text so far
  bool finished_ = false;
};

// The status and code of a run that did not succeed, for the non-streamed answer.
std::pair<int, std::string> failure_status(const ExecutionRecord& e) {
  if (e.status == "budget_exceeded") return {402, "budget_exceeded"};
  if (e.status == "cancelled") return {409, "cancelled"};
  if (e.status == "interrupted") return {503, "interrupted"};
  std::string code = "workflow_failed";
  if (e.error) {
    json::value err = parse_stored(*e.error);
    if (err.is_object())
      if (auto k = err.as_object().find("kind");
          k != err.as_object().end() && k->value().is_string())
        code = std::string(k->value().as_string());
  }
  return {502, code};
}

json::object model_object(const WorkflowRecord& w) {
  return {{"id", std::string(kModelPrefix) + w.id},
          {"object", "model"},
          {"created", w.created_at / 1000},
          {"owned_by", "user"},
          {"chorus", json::object{{"name", w.name}, {"version", w.version}}}};
}

}  // namespace

void register_openai_routes(App& app) {
  app.route("POST", "/v1/chat/completions", true, [&app](CtxPtr c) {
    auto body = c->body_object();
    if (!body) return;
    const json::object& o = *body;
    auto field = [&](std::string_view k) -> const json::value* {
      auto it = o.find(k);
      return it == o.end() || it->value().is_null() ? nullptr : &it->value();
    };
    const json::value* model_v = field("model");
    if (!model_v)
      return c->error(400, "missing_required_parameter", "model is required", {{"field", "model"}});
    if (!model_v->is_string())
      return c->error(400, "invalid_type", "model must be a string", {{"field", "model"}});
    std::string model(model_v->as_string());
    auto ref = parse_model(model);
    if (!ref)
      return c->error(404, "model_not_found",
                      "the model '" + model.substr(0, 200) +
                          "' does not exist: use \"workflow:<workflow id>\" or "
                          "\"workflow:<workflow id>@<version>\" (GET /v1/models lists them)",
                      {{"field", "model"}});
    bool stream = false, include_usage = false;
    if (const auto* s = field("stream")) {
      if (!s->is_bool())
        return c->error(400, "invalid_type", "stream must be a boolean", {{"field", "stream"}});
      stream = s->as_bool();
    }
    if (const auto* so = field("stream_options")) {
      if (!so->is_object())
        return c->error(400, "invalid_type", "stream_options must be an object",
                        {{"field", "stream_options"}});
      if (auto iu = so->as_object().find("include_usage"); iu != so->as_object().end()) {
        if (!iu->value().is_bool())
          return c->error(400, "invalid_type", "stream_options.include_usage must be a boolean",
                          {{"field", "stream_options.include_usage"}});
        include_usage = iu->value().as_bool();
      }
    }
    if (const auto* n = field("n"); n && !(n->is_int64() && n->as_int64() == 1))
      return c->error(400, "invalid_value", "n must be 1: a workflow run gives one answer",
                      {{"field", "n"}});
    auto input = last_user_text(*c, field("messages"));
    if (!input) return;

    auto wf = app.db->get_workflow(c->user->id, ref->workflow_id);
    if (!wf)
      return c->error(404, "model_not_found",
                      "the model '" + model + "' does not exist: no workflow " + ref->workflow_id,
                      {{"field", "model"}});
    if (ref->version && *ref->version != wf->version) {
      bool found = false;
      for (auto& v : app.db->list_versions(c->user->id, wf->id)) {
        if (v.version != *ref->version) continue;
        wf->configuration = std::move(v.configuration);
        wf->name = std::move(v.name);
        wf->version = v.version;
        found = true;
        break;
      }
      if (!found)
        return c->error(404, "model_not_found",
                        "the model '" + model + "' does not exist: workflow " + wf->id +
                            " has no version " + std::to_string(*ref->version) +
                            " (latest: " + std::to_string(wf->version) + ")",
                        {{"field", "model"}});
    }

    auto started = start_execution(app, *c->user, *wf, std::move(*input), c->req.request_id);
    if (auto* fail = std::get_if<StartFailure>(&started)) {
      // A limit that lifts only in minutes or hours: tell the SDKs not to retry in a loop.
      bool far = false;
      for (const auto& [k, v] : fail->headers)
        far = far || (k == "Retry-After" && std::atoll(v.c_str()) > 60);
      if (far) fail->headers.push_back({"x-should-retry", "false"});
      return c->error(fail->status, fail->code, fail->message, std::move(fail->details),
                      std::move(fail->headers));
    }
    const ExecutionRecord& e = std::get<ExecutionRecord>(started);
    std::int64_t created = e.started_at / 1000;
    std::string completion_id = "chatcmpl-" + e.id;

    if (stream) {
      HttpResponse r;
      r.headers.push_back({"X-Execution-Id", e.id});
      auto streaming = streaming_nodes(wf->configuration);
      r.sse = [&app, id = e.id, completion_id, model, created, streaming = std::move(streaming),
               include_usage](std::shared_ptr<SseSink> sink) mutable {
        auto adapter = std::make_shared<ChunkStream>(app, std::move(sink), id,
                                                     std::move(completion_id), std::move(model),
                                                     created, std::move(streaming), include_usage);
        adapter->begin();
        app.runs->attach(id, -1, adapter);
      };
      c->send(std::move(r));
      return;
    }
    std::string id = e.id, uid = c->user->id;
    app.runs->when_finished(id, [&app, c, id, uid, model, completion_id, created] {
      try {
        auto rec = app.db->get_execution(uid, id);
        if (!rec) return c->error(404, "not_found", "the execution " + id + " disappeared");
        HeaderList h{{"X-Execution-Id", id}};
        if (rec->status != "succeeded") {
          auto [status, code] = failure_status(*rec);
          std::string message = "the workflow run " + rec->status;
          if (rec->error) {
            json::value err = parse_stored(*rec->error);
            if (err.is_object())
              if (auto m = err.as_object().find("message");
                  m != err.as_object().end() && m->value().is_string())
                message += ": " + std::string(m->value().as_string());
          }
          json::value b = openai_error_body(status, code, message, {});
          b.as_object()["chorus"] = json::object{{"executionId", id}, {"status", rec->status}};
          h.push_back({"x-should-retry", "false"});  // a new run would cost again
          return c->json(status, b, std::move(h));
        }
        json::object message{
            {"role", "assistant"}, {"content", rec->output.value_or("")}, {"refusal", nullptr}};
        json::object choice{{"index", 0},
                            {"message", std::move(message)},
                            {"logprobs", nullptr},
                            {"finish_reason", "stop"}};
        c->json(200,
                json::object{{"id", completion_id},
                             {"object", "chat.completion"},
                             {"created", created},
                             {"model", model},
                             {"system_fingerprint", nullptr},
                             {"choices", json::array{std::move(choice)}},
                             {"usage", usage_object(rec->prompt_tokens, rec->completion_tokens,
                                                    rec->total_tokens)},
                             {"chorus", json::object{{"executionId", id},
                                                     {"status", rec->status},
                                                     {"cost", rec->cost ? json::value(*rec->cost)
                                                                        : json::value(nullptr)},
                                                     {"workflowId", rec->workflow_id},
                                                     {"workflowVersion", rec->workflow_version}}}},
                std::move(h));
      } catch (const std::exception& ex) {
        app.log.log(Logger::error, "reading the finished execution failed", {{"error", ex.what()}});
        c->error(503, "storage_unavailable", "the database failed; try again");
      }
    });
  });

  app.route("GET", "/v1/models", true, [&app](CtxPtr c) {
    json::array data;
    constexpr std::int64_t page = 200;
    for (std::int64_t offset = 0;; offset += page) {
      auto p = app.db->list_workflows(c->user->id, page, offset);
      for (const auto& w : p.items)
        data.push_back(model_object(w));
      if (static_cast<std::int64_t>(p.items.size()) < page || offset + page >= p.total) break;
    }
    c->json(200, json::object{{"object", "list"}, {"data", std::move(data)}});
  });

  app.route("GET", "/v1/models/:model", true, [&app](CtxPtr c) {
    auto ref = parse_model(c->params[0]);
    std::optional<WorkflowRecord> wf;
    if (ref) wf = app.db->get_workflow(c->user->id, ref->workflow_id);
    if (!wf || (ref->version && *ref->version > wf->version))
      return c->error(404, "model_not_found",
                      "the model '" + c->params[0].substr(0, 200) + "' does not exist",
                      {{"field", "model"}});
    json::object m = model_object(*wf);
    m["id"] = c->params[0];
    c->json(200, m);
  });
}

}  // namespace chorus::server
