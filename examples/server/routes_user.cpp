// /api/user/api-keys (encrypted provider keys: never returned, only provider + last 4) and
// /api/user/usage (daily rollups by day, provider/model and workflow).
#include "app.hpp"

#include <chorus/provider.hpp>

#include <boost/json/serialize.hpp>

namespace chorus::server {

namespace {

json::object key_json(const ApiKeyRecord& k) {
  return {{"provider", k.provider},
          {"last4", k.last4},
          {"createdAt", iso_time(k.created_at)},
          {"updatedAt", iso_time(k.updated_at)}};
}

void list_keys(App& app, Ctx& c, int status = 200) {
  json::array items;
  for (const auto& k : app.db->list_api_keys(c.user->id))
    items.push_back(key_json(k));
  c.json(status, json::object{{"items", std::move(items)}});
}

void store_key(App& app, Ctx& c, const std::string& provider, const std::string& key) {
  ApiKeyRecord r;
  r.user_id = c.user->id;
  r.provider = provider;
  auto sealed = app.keys.seal(key, c.user->id + "\n" + provider);
  r.ciphertext = sealed.ciphertext;
  r.nonce = sealed.nonce;
  r.key_id = sealed.key_id;
  r.last4 = key.substr(key.size() - 4);
  r.created_at = r.updated_at = now_ms();
  app.db->upsert_api_key(r);
  app.log.log(Logger::info, "provider key stored",
              {{"userId", c.user->id}, {"provider", provider}});
}

}  // namespace

void register_user_routes(App& app) {
  app.route("GET", "/api/user/api-keys", true, [&app](CtxPtr c) { list_keys(app, *c); });

  app.route("PUT", "/api/user/api-keys", true, [&app](CtxPtr c) {
    auto body = c->body_object();
    if (!body) return;
    Fields f(*body);
    auto provider = f.string("provider", true, 1, 64);
    auto key = f.string("key", false, 0, 4096);
    auto skip = f.boolean("skip_validation");
    if (!skip) skip = f.boolean("skipValidation");
    if (key && !key->empty() && key->size() < 8)
      f.problem("key", "key must be at least 8 characters");
    if (key)
      for (char ch : *key)
        if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e) {
          f.problem("key", "key must be printable ASCII without spaces");
          break;
        }
    if (!f.ok()) return f.reject(*c);
    auto p = app.providers->find(*provider);
    if (!p) {
      json::array known;
      for (const auto& id : app.providers->ids())
        known.push_back(json::value(id));
      return c->error(400, "validation_failed", "unknown provider '" + *provider + "'",
                      {{"fields", json::array{json::object{{"field", "provider"},
                                                           {"message", "unknown provider"}}}},
                       {"knownProviders", std::move(known)}});
    }
    if (!key || key->empty()) {  // delete
      app.db->delete_api_key(c->user->id, *provider);
      return list_keys(app, *c);
    }
    if (skip.value_or(false)) {
      store_key(app, *c, *provider, *key);
      return list_keys(app, *c);
    }
    std::string prov = *provider, k = *key;
    p->async_validate_key(k, [&app, c, prov, k, p](error_code ec, Error err) {
      if (ec) {
        if (ec == errc::auth || ec == errc::bad_request) {
          c->error(400, "invalid_api_key", "the provider rejected the key",
                   {{"provider", prov}, {"reason", redact_secrets(err.message, {k})}});
        } else {
          c->error(
              502, "key_validation_failed",
              "could not check the key with the provider; retry or send skip_validation: true",
              {{"provider", prov},
               {"reason", redact_secrets(err.message.empty() ? ec.message() : err.message, {k})}});
        }
        return;
      }
      try {
        store_key(app, *c, prov, k);
        list_keys(app, *c);
      } catch (const std::exception& e) {
        app.log.log(Logger::error, "storing a key failed", {{"error", e.what()}});
        c->error(503, "storage_unavailable", "the database failed; try again");
      }
    });
  });

  app.route("DELETE", "/api/user/api-keys/:provider", true, [&app](CtxPtr c) {
    if (!app.db->delete_api_key(c->user->id, c->params[0]))
      return c->error(404, "not_found", "no key stored for that provider");
    list_keys(app, *c);
  });

  app.route("GET", "/api/user/usage", true, [&app](CtxPtr c) {
    std::int64_t now = now_ms();
    std::string to = c->req.query_param("to").value_or(iso_day(now));
    std::string from = c->req.query_param("from").value_or(iso_day(now - 29LL * 86'400'000));
    if (!valid_day(from) || !valid_day(to))
      return c->error(400, "invalid_parameter", "from and to must be dates as YYYY-MM-DD",
                      {{"field", valid_day(from) ? "to" : "from"}});
    if (from > to)
      return c->error(400, "invalid_parameter", "from must not be after to", {{"field", "from"}});
    auto rows = app.db->query_usage(c->user->id, from, to);
    struct Sum {
      std::int64_t calls = 0, p = 0, cpl = 0, t = 0;
      double cost = 0;
      void add(const UsageRow& r) {
        calls += r.calls;
        p += r.prompt_tokens;
        cpl += r.completion_tokens;
        t += r.total_tokens;
        cost += r.cost;
      }
      json::object json() const {
        return {{"calls", calls},
                {"promptTokens", p},
                {"completionTokens", cpl},
                {"totalTokens", t},
                {"cost", cost}};
      }
    };
    Sum total;
    std::map<std::string, Sum> by_day, by_workflow;
    std::map<std::pair<std::string, std::string>, Sum> by_model;
    for (const auto& r : rows) {
      total.add(r);
      by_day[r.day].add(r);
      by_workflow[r.workflow_id].add(r);
      by_model[{r.provider, r.model}].add(r);
    }
    json::array days, models, workflows;
    for (auto& [d, s] : by_day) {
      auto o = s.json();
      o["day"] = d;
      days.push_back(std::move(o));
    }
    for (auto& [k, s] : by_model) {
      auto o = s.json();
      o["provider"] = k.first;
      o["model"] = k.second;
      models.push_back(std::move(o));
    }
    for (auto& [w, s] : by_workflow) {
      auto o = s.json();
      o["workflowId"] = w;
      auto wf = app.db->get_workflow(c->user->id, w);
      o["workflowName"] = wf ? json::value(wf->name) : json::value(nullptr);
      workflows.push_back(std::move(o));
    }
    c->json(200, json::object{{"from", from},
                              {"to", to},
                              {"totals", total.json()},
                              {"byDay", std::move(days)},
                              {"byModel", std::move(models)},
                              {"byWorkflow", std::move(workflows)}});
  });
}

}  // namespace chorus::server
