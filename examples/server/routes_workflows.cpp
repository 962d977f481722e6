// /api/workflows: create, list, get, update (keeping the previous version), delete, versions.
// The document is validated with the library before every save and stored exactly as sent.
#include "app.hpp"

#include <boost/json/serialize.hpp>

namespace chorus::server {

namespace {

json::object meta_json(const WorkflowRecord& w) {
  return {{"id", w.id},
          {"name", w.name},
          {"description", w.description},
          {"version", w.version},
          {"createdAt", iso_time(w.created_at)},
          {"updatedAt", iso_time(w.updated_at)}};
}

struct Submitted {
  std::string name, description, document;
};

// Reads {name?, description?, configuration: {...}} or a bare document; answers 4xx and returns
// nullopt when the body or the document is not acceptable.
std::optional<Submitted> read_submission(App& app, Ctx& c, const User& user) {
  auto body = c.body_object();
  if (!body) return std::nullopt;
  Fields f(*body);
  Submitted s;
  const json::object* doc = nullptr;
  if (const json::value* cfg = f.any("configuration")) {
    auto name = f.string("name", false, 1, 200);
    auto description = f.string("description", false, 0, 5000);
    if (!cfg->is_object()) {
      f.problem("configuration", "configuration must be a workflow document (a JSON object)");
    } else {
      doc = &cfg->as_object();
      s.document = std::string(*raw_member(c.req.body, "configuration"));
    }
    if (name) s.name = *name;
    if (description) s.description = *description;
  } else if (body->contains("nodes")) {
    doc = &*body;
    s.document = c.req.body;
  } else {
    f.problem("configuration", "configuration (the workflow document) is required");
  }
  if (doc) {
    Fields d(*doc);
    if (s.name.empty())
      if (auto n = d.string("name", false, 0, 200)) s.name = *n;
    if (s.description.empty())
      if (auto n = d.string("description", false, 0, 5000)) s.description = *n;
  }
  if (!f.ok()) {
    f.reject(c);
    return std::nullopt;
  }
  if (s.name.empty()) s.name = "Untitled workflow";
  std::size_t nodes = 0;
  json::array problems = app.validate_workflow(s.document, &nodes);
  if (!problems.empty()) {
    std::string msg = "the workflow has " + std::to_string(problems.size()) + " problem" +
                      (problems.size() == 1 ? "" : "s") + ": " +
                      std::string(problems[0].as_object().at("message").as_string());
    c.error(400, "invalid_workflow", msg, {{"problems", std::move(problems)}});
    return std::nullopt;
  }
  const TierLimits& t = app.tier(user.tier);
  if (t.max_nodes > 0 && static_cast<std::int64_t>(nodes) > t.max_nodes) {
    c.error(403, "plan_limit_exceeded",
            "the " + user.tier + " plan allows " + std::to_string(t.max_nodes) +
                " nodes per workflow; this one has " + std::to_string(nodes) +
                (t.upgrade_to.empty() ? "" : "; upgrade to " + t.upgrade_to + " for more"),
            {{"limit", "maxNodes"},
             {"tier", user.tier},
             {"allowed", t.max_nodes},
             {"actual", nodes},
             {"upgradeTo", t.upgrade_to}});
    return std::nullopt;
  }
  return s;
}

}  // namespace

void register_workflow_routes(App& app) {
  app.route("POST", "/api/workflows", true, [&app](CtxPtr c) {
    const TierLimits& t = app.tier(c->user->tier);
    if (t.max_workflows > 0 && app.db->count_workflows(c->user->id) >= t.max_workflows) {
      c->error(403, "plan_limit_exceeded",
               "the " + c->user->tier + " plan allows " + std::to_string(t.max_workflows) +
                   " workflows" +
                   (t.upgrade_to.empty() ? "" : "; upgrade to " + t.upgrade_to + " for more"),
               {{"limit", "maxWorkflows"},
                {"tier", c->user->tier},
                {"allowed", t.max_workflows},
                {"upgradeTo", t.upgrade_to}});
      return;
    }
    auto s = read_submission(app, *c, *c->user);
    if (!s) return;
    WorkflowRecord w;
    w.id = random_id();
    w.user_id = c->user->id;
    w.name = s->name;
    w.description = s->description;
    w.configuration = s->document;
    w.created_at = w.updated_at = now_ms();
    app.db->create_workflow(w);
    c->raw_json(201, with_raw(meta_json(w), "configuration", w.configuration),
                {{"Location", "/api/workflows/" + w.id}});
  });

  app.route("GET", "/api/workflows", true, [&app](CtxPtr c) {
    std::int64_t limit, offset;
    if (!read_paging(*c, limit, offset)) return;
    auto page = app.db->list_workflows(c->user->id, limit, offset);
    json::array items;
    items.reserve(page.items.size());
    for (const auto& w : page.items)
      items.push_back(meta_json(w));
    c->json(200, json::object{{"items", std::move(items)},
                              {"total", page.total},
                              {"limit", limit},
                              {"offset", offset}});
  });

  app.route("GET", "/api/workflows/:id", true, [&app](CtxPtr c) {
    auto w = app.db->get_workflow(c->user->id, c->params[0]);
    if (!w) return c->error(404, "not_found", "no such workflow");
    c->raw_json(200, with_raw(meta_json(*w), "configuration", w->configuration));
  });

  app.route("PUT", "/api/workflows/:id", true, [&app](CtxPtr c) {
    if (!app.db->get_workflow(c->user->id, c->params[0]))
      return c->error(404, "not_found", "no such workflow");
    auto s = read_submission(app, *c, *c->user);
    if (!s) return;
    WorkflowRecord w;
    w.id = c->params[0];
    w.name = s->name;
    w.description = s->description;
    w.configuration = s->document;
    w.updated_at = now_ms();
    auto updated = app.db->update_workflow(c->user->id, w);
    if (!updated) return c->error(404, "not_found", "no such workflow");
    c->raw_json(200, with_raw(meta_json(*updated), "configuration", updated->configuration));
  });

  app.route("DELETE", "/api/workflows/:id", true, [&app](CtxPtr c) {
    if (!app.db->delete_workflow(c->user->id, c->params[0]))
      return c->error(404, "not_found", "no such workflow");
    c->json(200, json::object{{"ok", true}});
  });

  app.route("GET", "/api/workflows/:id/versions", true, [&app](CtxPtr c) {
    if (!app.db->get_workflow(c->user->id, c->params[0]))
      return c->error(404, "not_found", "no such workflow");
    std::string out = "{\"items\":[";
    bool first = true;
    for (const auto& v : app.db->list_versions(c->user->id, c->params[0])) {
      if (!first) out.push_back(',');
      first = false;
      out += with_raw(
          json::object{
              {"version", v.version}, {"name", v.name}, {"createdAt", iso_time(v.created_at)}},
          "configuration", v.configuration);
    }
    out += "]}";
    c->raw_json(200, std::move(out));
  });
}

}  // namespace chorus::server
