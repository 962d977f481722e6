// GET /api/models: every model of every registered provider with its prices (USD per 1M tokens,
// null when unknown) and context window, sorted by provider then id. Public, like /api/health:
// the list is the library's built-in table, no user data (see docs/server.md).
#include "app.hpp"

#include <chorus/provider.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <tuple>

namespace chorus::server {

namespace {

json::value opt(const std::optional<double>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

std::string models_body(const ProviderRegistry& registry) {
  struct Row {
    std::string provider;
    ModelInfo model;
  };
  std::vector<Row> rows;
  for (const auto& id : registry.ids()) {
    auto p = registry.find(id);
    if (!p) continue;
    for (auto& m : p->models())
      rows.push_back({id, std::move(m)});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.provider, a.model.id) < std::tie(b.provider, b.model.id);
  });
  json::array items;
  items.reserve(rows.size());
  for (const auto& r : rows)
    items.push_back(
        json::object{{"provider", r.provider},
                     {"id", r.model.id},
                     {"inputPrice", opt(r.model.input_per_mtok)},
                     {"outputPrice", opt(r.model.output_per_mtok)},
                     {"cachedInputPrice", opt(r.model.cached_input_per_mtok)},
                     {"contextWindow", r.model.context_window ? json::value(*r.model.context_window)
                                                              : json::value(nullptr)},
                     {"simulated", r.provider == "simulated"}});
  return json::serialize(json::object{{"items", std::move(items)}});
}

}  // namespace

void register_model_routes(App& app) {
  app.route("GET", "/api/models", false,
            [&app](CtxPtr c) { c->raw_json(200, models_body(*app.providers)); });
}

}  // namespace chorus::server
