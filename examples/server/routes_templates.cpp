// /api/templates: the public gallery (seeded from examples/workflows) plus each user's own
// templates (private unless `public: true`), and "use" = copy into my workflows.
#include "app.hpp"

#include <boost/json/serialize.hpp>

namespace chorus::server {

namespace {

json::object template_meta(const TemplateRecord& t, const std::string& viewer) {
  return {{"id", t.id},
          {"name", t.name},
          {"description", t.description},
          {"category", t.category},
          {"tags", parse_stored(t.tags)},
          {"public", t.is_public},
          {"owner", !t.owner_id             ? "system"
                    : *t.owner_id == viewer ? "me"
                                            : "other"},
          {"createdAt", iso_time(t.created_at)},
          {"updatedAt", iso_time(t.updated_at)}};
}

}  // namespace

void register_template_routes(App& app) {
  app.route("GET", "/api/templates", true, [&app](CtxPtr c) {
    TemplateFilter f;
    f.category = c->req.query_param("category");
    f.tag = c->req.query_param("tag");
    f.query = c->req.query_param("q");
    if (auto m = c->req.query_param("mine")) f.mine_only = *m == "true" || *m == "1";
    for (auto* v : {&f.category, &f.tag, &f.query})
      if (*v && (v->value().empty() || v->value().size() > 200)) v->reset();
    json::array items;
    for (const auto& t : app.db->list_templates(c->user->id, f))
      items.push_back(template_meta(t, c->user->id));
    c->json(200, json::object{{"items", std::move(items)}});
  });

  app.route("GET", "/api/templates/:id", true, [&app](CtxPtr c) {
    auto t = app.db->get_template(c->user->id, c->params[0]);
    if (!t) return c->error(404, "not_found", "no such template");
    c->raw_json(200, with_raw(template_meta(*t, c->user->id), "configuration", t->configuration));
  });

  app.route("POST", "/api/templates", true, [&app](CtxPtr c) {
    auto body = c->body_object();
    if (!body) return;
    Fields f(*body);
    auto name = f.string("name", true, 1, 200);
    auto description = f.string("description", false, 0, 5000);
    auto category = f.string("category", false, 0, 100);
    auto is_public = f.boolean("public");
    auto workflow_id = f.string("workflowId", false, 1, 100);
    json::array tags;
    if (const json::value* t = f.any("tags")) {
      if (!t->is_array()) {
        f.problem("tags", "tags must be an array of strings");
      } else {
        for (const auto& x : t->as_array()) {
          if (!x.is_string() || x.as_string().empty() || x.as_string().size() > 50 ||
              std::string_view(x.as_string()).find('\0') != std::string_view::npos) {
            f.problem("tags", "each tag must be a string of 1 to 50 characters");
            break;
          }
          tags.push_back(x);
        }
        if (tags.size() > 20) f.problem("tags", "at most 20 tags");
      }
    }
    std::string document;
    if (const json::value* cfg = f.any("configuration")) {
      if (!cfg->is_object())
        f.problem("configuration", "configuration must be a workflow document (a JSON object)");
      else
        document = std::string(*raw_member(c->req.body, "configuration"));
    } else if (!workflow_id) {
      f.problem("configuration", "configuration or workflowId is required");
    }
    if (!f.ok()) return f.reject(*c);
    if (document.empty()) {
      auto wf = app.db->get_workflow(c->user->id, *workflow_id);
      if (!wf) return c->error(404, "not_found", "no such workflow", {{"field", "workflowId"}});
      document = wf->configuration;
    }
    json::array problems = app.validate_workflow(document);
    if (!problems.empty())
      return c->error(400, "invalid_workflow", "the template's workflow does not validate",
                      {{"problems", std::move(problems)}});
    TemplateRecord t;
    t.id = random_id();
    t.owner_id = c->user->id;
    t.name = *name;
    t.description = description.value_or("");
    t.category = category.value_or("");
    t.tags = json::serialize(tags);
    t.is_public = is_public.value_or(false);
    t.configuration = document;
    t.created_at = t.updated_at = now_ms();
    app.db->create_template(t);
    c->raw_json(201, with_raw(template_meta(t, c->user->id), "configuration", t.configuration),
                {{"Location", "/api/templates/" + t.id}});
  });

  app.route("POST", "/api/templates/:id/use", true, [&app](CtxPtr c) {
    auto t = app.db->get_template(c->user->id, c->params[0]);
    if (!t) return c->error(404, "not_found", "no such template");
    std::optional<std::string> name;
    if (!c->req.body.empty()) {
      auto body = c->body_object();
      if (!body) return;
      Fields f(*body);
      name = f.string("name", false, 1, 200);
      if (!f.ok()) return f.reject(*c);
    }
    const TierLimits& tl = app.tier(c->user->tier);
    if (tl.max_workflows > 0 && app.db->count_workflows(c->user->id) >= tl.max_workflows)
      return c->error(403, "plan_limit_exceeded",
                      "the " + c->user->tier + " plan allows " + std::to_string(tl.max_workflows) +
                          " workflows",
                      {{"limit", "maxWorkflows"},
                       {"tier", c->user->tier},
                       {"allowed", tl.max_workflows},
                       {"upgradeTo", tl.upgrade_to}});
    WorkflowRecord w;
    w.id = random_id();
    w.user_id = c->user->id;
    w.name = name.value_or(t->name);
    w.description = t->description;
    w.configuration = t->configuration;
    w.created_at = w.updated_at = now_ms();
    app.db->create_workflow(w);
    json::object meta{{"id", w.id},
                      {"name", w.name},
                      {"description", w.description},
                      {"version", 1},
                      {"createdAt", iso_time(w.created_at)},
                      {"updatedAt", iso_time(w.updated_at)},
                      {"templateId", t->id}};
    c->raw_json(201, with_raw(meta, "configuration", w.configuration),
                {{"Location", "/api/workflows/" + w.id}});
  });
}

}  // namespace chorus::server
