// validate(): every problem of a workflow at once, each naming the node or edge and the field.
#include <chorus/workflow.hpp>

#include <algorithm>
#include <set>

namespace chorus {
namespace {

constexpr std::size_t npos = Graph::npos;

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += "\"" + s + "\"";
  }
  return out.empty() ? "none" : out;
}

class Validator {
 public:
  Validator(const Workflow& wf, const ValidationContext& ctx)
      : wf_(wf), ctx_(ctx), g_(wf.graph()) {}

  std::vector<Problem> run() {
    out_ = wf_.parse_problems();
    check_ids();
    check_edges();
    check_kinds();
    check_input_output();
    check_cycles();
    check_reachability();
    check_maps();
    for (std::size_t i = 0; i < wf_.nodes().size(); ++i)
      check_node(i);
    std::stable_partition(out_.begin(), out_.end(),
                          [](const Problem& p) { return p.severity == Severity::error; });
    return std::move(out_);
  }

 private:
  void node_problem(std::size_t i, std::string field, std::string code, std::string message,
                    Severity s = Severity::error) {
    out_.push_back(
        {s, std::move(code), std::move(message), wf_.nodes()[i].id, {}, std::move(field)});
  }
  void edge_problem(std::size_t e, std::string field, std::string code, std::string message,
                    Severity s = Severity::error) {
    out_.push_back(
        {s, std::move(code), std::move(message), {}, wf_.edges()[e].id, std::move(field)});
  }
  void doc_problem(std::string code, std::string message, std::string field = {}) {
    out_.push_back(
        {Severity::error, std::move(code), std::move(message), {}, {}, std::move(field)});
  }

  const Node& node(std::size_t i) const { return wf_.nodes()[i]; }
  bool is_unique_node(std::size_t i) const { return wf_.node_index(node(i).id) == i; }

  void check_ids() {
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < wf_.nodes().size(); ++i) {
      if (!seen.insert(node(i).id).second) {
        node_problem(i, "id", "duplicate_id",
                     "node id \"" + node(i).id + "\" is used by more than one node");
      }
    }
    seen.clear();
    for (std::size_t e = 0; e < wf_.edges().size(); ++e) {
      if (!seen.insert(wf_.edges()[e].id).second) {
        edge_problem(e, "id", "duplicate_id",
                     "edge id \"" + wf_.edges()[e].id + "\" is used by more than one edge");
      }
    }
  }

  void check_edges() {
    for (std::size_t e = 0; e < wf_.edges().size(); ++e) {
      const Edge& edge = wf_.edges()[e];
      const std::size_t s = wf_.node_index(edge.source);
      const std::size_t t = wf_.node_index(edge.target);
      if (s == npos) {
        edge_problem(e, "source", "dangling_edge",
                     "source \"" + edge.source + "\" is not the id of any node");
      }
      if (t == npos) {
        edge_problem(e, "target", "dangling_edge",
                     "target \"" + edge.target + "\" is not the id of any node");
      }
      if (t != npos && node(t).kind == NodeKind::input) {
        edge_problem(e, "target", "edge_into_input",
                     "input node \"" + edge.target + "\" cannot have incoming edges");
      }
      if (s == npos) continue;
      const Node& src = node(s);
      const std::string& h = edge.source_handle;
      switch (src.kind) {
        case NodeKind::router: {
          const auto* r = src.data_as<RouterData>();
          const auto labels = router_labels(*r);
          if (h.empty()) {
            edge_problem(e, "sourceHandle", "missing_handle",
                         "edges leaving router \"" + src.id +
                             "\" need a sourceHandle naming a branch (" + quoted_list(labels) +
                             ")");
          } else if (std::find(labels.begin(), labels.end(), h) == labels.end()) {
            edge_problem(e, "sourceHandle", "unknown_handle",
                         "sourceHandle \"" + h + "\" is not a branch of router \"" + src.id +
                             "\" (branches: " + quoted_list(labels) + ")");
          }
          break;
        }
        case NodeKind::loop:
          if (h != "continue" && h != "exit") {
            edge_problem(e, "sourceHandle", h.empty() ? "missing_handle" : "unknown_handle",
                         "edges leaving loop \"" + src.id +
                             "\" need sourceHandle \"continue\" or \"exit\"" +
                             (h.empty() ? std::string() : " (got \"" + h + "\")"));
          }
          break;
        case NodeKind::llm:
          if (h == "error" && src.data_as<LlmData>()->on_error != OnError::branch) {
            edge_problem(e, "sourceHandle", "unknown_handle",
                         "sourceHandle \"error\" is only taken when node \"" + src.id +
                             "\" has onError \"branch\"");
          }
          break;
        default:
          break;
      }
    }
  }

  void check_kinds() {
    for (std::size_t i = 0; i < wf_.nodes().size(); ++i) {
      if (node(i).kind == NodeKind::unknown && !node(i).type.empty()) {
        node_problem(i, "type", "unknown_node_type",
                     "unknown node type \"" + node(i).type +
                         "\" (known: input, output, llm, transform, router, merge, loop, map)");
      }
    }
  }

  void check_input_output() {
    bool input = false, output = false;
    for (const auto& n : wf_.nodes()) {
      input |= n.kind == NodeKind::input;
      output |= n.kind == NodeKind::output;
    }
    if (!input) doc_problem("missing_input", "the workflow has no input node", "nodes");
    if (!output) doc_problem("missing_output", "the workflow has no output node", "nodes");
  }

  // A cycle is legal only when it passes through a loop node: with loop nodes removed, the graph
  // must be acyclic. Each strongly connected component left is reported once.
  void check_cycles() {
    const std::size_t n = wf_.nodes().size();
    auto removed = [&](std::size_t v) { return node(v).kind == NodeKind::loop; };
    std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
    for (std::size_t a = 0; a < n; ++a) {
      if (removed(a)) continue;
      std::vector<std::size_t> queue{a};
      for (std::size_t q = 0; q < queue.size(); ++q) {
        for (std::size_t e : g_.out_edges[queue[q]]) {
          const std::size_t t = wf_.node_index(wf_.edges()[e].target);
          if (removed(t) || reach[a][t]) continue;
          reach[a][t] = true;
          queue.push_back(t);
        }
      }
    }
    std::vector<bool> reported(n, false);
    for (std::size_t v = 0; v < n; ++v) {
      if (removed(v) || reported[v] || !reach[v][v]) continue;
      std::vector<std::size_t> scc;
      for (std::size_t u = 0; u < n; ++u) {
        if (u == v || (reach[v][u] && reach[u][v])) {
          scc.push_back(u);
          reported[u] = true;
        }
      }
      std::string names;
      for (std::size_t u : scc)
        names += (names.empty() ? "\"" : ", \"") + node(u).id + "\"";
      node_problem(v, "", "cycle_without_loop",
                   "nodes " + names +
                       " form a cycle with no loop node on it; put a loop node (maxIterations) on "
                       "the cycle");
    }
  }

  void check_reachability() {
    const std::size_t n = wf_.nodes().size();
    std::vector<bool> reachable(n, false);
    for (std::size_t i = 0; i < n; ++i) {
      if (node(i).kind != NodeKind::input) continue;
      reachable[i] = true;
      for (std::size_t v = 0; v < n; ++v)
        if (wf_.reaches(i, v)) reachable[v] = true;
    }
    // A map body runs when its map runs; what the body reaches runs too.
    for (std::size_t v = 0; v < n; ++v) {
      if (g_.map_of[v] == npos || !reachable[g_.map_of[v]]) continue;
      reachable[v] = true;
      for (std::size_t u = 0; u < n; ++u)
        if (wf_.reaches(v, u)) reachable[u] = true;
    }
    bool any_input = false;
    for (const auto& nd : wf_.nodes())
      any_input |= nd.kind == NodeKind::input;
    if (!any_input) return;  // already reported as missing_input
    for (std::size_t v = 0; v < n; ++v) {
      if (!reachable[v] && is_unique_node(v)) {
        node_problem(v, "", "unreachable",
                     "node \"" + node(v).id + "\" cannot be reached from an input node");
      }
    }
    // Dead ends: nodes outside map bodies whose output reaches no output node.
    for (std::size_t v = 0; v < n; ++v) {
      if (!reachable[v] || g_.map_of[v] != npos || node(v).kind == NodeKind::output) continue;
      bool feeds_output = false;
      for (std::size_t u = 0; u < n && !feeds_output; ++u)
        feeds_output = node(u).kind == NodeKind::output && wf_.reaches(v, u);
      if (!feeds_output) {
        node_problem(v, "", "dead_end",
                     "the output of node \"" + node(v).id + "\" never reaches an output node",
                     Severity::warning);
      }
    }
  }

  void check_maps() {
    const std::size_t n = wf_.nodes().size();
    for (std::size_t v = 0; v < n; ++v) {
      const Node& nd = node(v);
      if (!nd.parent_id.empty()) {
        const std::size_t p = wf_.node_index(nd.parent_id);
        if (p == npos) {
          node_problem(v, "parentId", "dangling_parent",
                       "parentId \"" + nd.parent_id + "\" is not the id of any node");
        } else if (p == v) {
          node_problem(v, "parentId", "invalid_value", "a node cannot be its own parent");
        } else if (node(p).kind != NodeKind::map) {
          node_problem(v, "parentId", "parent_not_map",
                       "parent \"" + nd.parent_id + "\" is not a map node; parentId is ignored",
                       Severity::warning);
        }
      }
      const std::size_t m = g_.map_of[v];
      if (m == npos) continue;
      if (nd.kind == NodeKind::input || nd.kind == NodeKind::output || nd.kind == NodeKind::map) {
        node_problem(v, "type", "invalid_map_body",
                     "a " + nd.type + " node cannot be inside map \"" + node(m).id + "\"" +
                         (nd.kind == NodeKind::map ? " (nested maps are not supported)" : ""));
      }
      for (std::size_t e : g_.in_edges[v]) {
        const std::size_t s = wf_.node_index(wf_.edges()[e].source);
        if (g_.map_of[s] != m) {
          edge_problem(e, "target", "edge_into_map_body",
                       "edge enters the body of map \"" + node(m).id + "\" from \"" + node(s).id +
                           "\"; body entry nodes receive the item, reference outer nodes with "
                           "{{nodes.<id>.output}} instead");
        }
      }
      for (std::size_t e : g_.out_edges[v]) {
        const std::size_t t = wf_.node_index(wf_.edges()[e].target);
        if (g_.map_of[t] != m) {
          edge_problem(e, "source", "edge_out_of_map_body",
                       "edge leaves the body of map \"" + node(m).id + "\" to \"" + node(t).id +
                           "\"; connect the map node itself instead");
        }
      }
    }
    for (std::size_t m = 0; m < n; ++m) {
      if (node(m).kind != NodeKind::map) continue;
      const auto& body = g_.map_body[m];
      if (body.empty()) {
        node_problem(m, "", "map_without_body",
                     "map \"" + node(m).id +
                         "\" has no body: give the nodes to run per item parentId \"" + node(m).id +
                         "\"");
        continue;
      }
      std::vector<std::string> sinks;
      for (std::size_t b : body) {
        const bool has_body_successor = std::any_of(
            g_.out_edges[b].begin(), g_.out_edges[b].end(),
            [&](std::size_t e) { return g_.map_of[wf_.node_index(wf_.edges()[e].target)] == m; });
        if (!has_body_successor) sinks.push_back(node(b).id);
      }
      if (sinks.size() != 1) {
        node_problem(m, "", "map_body_sink",
                     "the body of map \"" + node(m).id +
                         "\" must end in exactly one node whose output is collected (found " +
                         std::to_string(sinks.size()) + ": " + quoted_list(sinks) + ")");
      }
    }
  }

  void check_provider(std::size_t i, const std::string& field, const std::string& provider,
                      const std::string& model) {
    if (ctx_.providers.empty() || provider.empty()) return;
    auto it = ctx_.providers.find(provider);
    if (it == ctx_.providers.end()) {
      std::vector<std::string> known;
      for (const auto& [id, models] : ctx_.providers)
        known.push_back(id);
      node_problem(i, field + "provider", "unknown_provider",
                   "unknown provider \"" + provider + "\" (known: " + quoted_list(known) + ")");
      return;
    }
    const auto& models = it->second;
    if (model.empty() || models.empty()) return;
    if (std::find(models.begin(), models.end(), model) == models.end()) {
      node_problem(i, field + "model", "unknown_model",
                   "provider \"" + provider + "\" has no model \"" + model +
                       "\" (known: " + quoted_list(models) + ")",
                   ctx_.unknown_model_severity);
    }
  }

  void check_template(std::size_t i, const std::string& field, const Template& t) {
    const Node& self = node(i);
    const std::size_t self_map = g_.map_of[i];
    for (const TemplateRef* ref : t.refs()) {
      auto bad = [&](std::string message) {
        node_problem(i, field, "bad_reference", ref->source + ": " + message);
      };
      switch (ref->kind) {
        case TemplateRefKind::input:
        case TemplateRefKind::workflow_input:
          break;
        case TemplateRefKind::item:
          if (self_map == npos) bad("{{item}} is only defined inside a map body");
          break;
        case TemplateRefKind::loop_iteration:
          if (g_.loops_of[i].empty() && self.kind != NodeKind::loop) {
            bad("{{loop.iteration}} is only defined on a cycle through a loop node");
          }
          break;
        case TemplateRefKind::node_output: {
          const std::size_t x = wf_.node_index(ref->node_id);
          if (x == npos) {
            bad("there is no node \"" + ref->node_id + "\"");
            break;
          }
          if (x == i) {
            if (!wf_.reaches(i, i)) bad("a node cannot read its own output unless it is on a loop");
            break;
          }
          if (g_.map_of[x] != npos && g_.map_of[x] != self_map) {
            bad("node \"" + ref->node_id + "\" is inside map \"" + node(g_.map_of[x]).id +
                "\": its output exists only per item, inside that map");
            break;
          }
          if (self_map != npos && x == self_map) {
            bad("a map body cannot read its own map's output");
            break;
          }
          const bool upstream = wf_.reaches(x, i) || (self_map != npos && wf_.reaches(x, self_map));
          if (!upstream) {
            bad("node \"" + ref->node_id + "\" is not upstream of \"" + self.id +
                "\" (no path of edges leads from it here), so its output is not available");
          }
          break;
        }
      }
    }
  }

  void check_node(std::size_t i) {
    const Node& nd = node(i);
    const auto& out_edges = g_.out_edges[i];
    auto count_handle = [&](std::string_view h) {
      return std::count_if(out_edges.begin(), out_edges.end(),
                           [&](std::size_t e) { return wf_.edges()[e].source_handle == h; });
    };
    if (const auto* d = nd.data_as<OutputData>()) {
      if (d->output_template) check_template(i, "data.template", *d->output_template);
    } else if (const auto* d = nd.data_as<LlmData>()) {
      check_provider(i, "data.", d->provider, d->model);
      for (std::size_t f = 0; f < d->fallbacks.size(); ++f) {
        check_provider(i, "data.fallbacks[" + std::to_string(f) + "].", d->fallbacks[f].provider,
                       d->fallbacks[f].model);
      }
      check_template(i, "data.systemPrompt", d->system_prompt);
      check_template(i, "data.prompt", d->prompt);
      if (d->on_error == OnError::branch && count_handle("error") == 0) {
        node_problem(i, "data.onError", "missing_error_branch",
                     "onError is \"branch\" but no edge leaves with sourceHandle \"error\"; a "
                     "failure will end every path through this node",
                     Severity::warning);
      }
    } else if (const auto* d = nd.data_as<TransformData>()) {
      if (d->op == TransformOp::template_)
        check_template(i, "data.template", d->transform_template);
    } else if (const auto* d = nd.data_as<RouterData>()) {
      if (d->mode == RouterMode::classify) check_provider(i, "data.", d->provider, d->model);
      if (d->mode == RouterMode::condition && d->routes.empty() && nd.json.contains("data") &&
          nd.json.at("data").is_object() && nd.json.at("data").as_object().contains("routes")) {
        node_problem(i, "data.routes", "invalid_value",
                     "a condition router needs at least one route");
      }
      for (std::size_t r = 0; r < d->routes.size(); ++r) {
        if (count_handle(d->routes[r].label) == 0) {
          node_problem(i, "data.routes[" + std::to_string(r) + "].label", "route_without_edge",
                       "route \"" + d->routes[r].label +
                           "\" has no outgoing edge (give an edge sourceHandle \"" +
                           d->routes[r].label + "\")");
        }
      }
      for (std::size_t l = 0; l < d->labels.size() && d->mode == RouterMode::classify; ++l) {
        if (count_handle(d->labels[l].label) == 0) {
          node_problem(i, "data.labels[" + std::to_string(l) + "]", "route_without_edge",
                       "label \"" + d->labels[l].label +
                           "\" has no outgoing edge (give an edge sourceHandle \"" +
                           d->labels[l].label + "\")");
        }
      }
      if (d->default_route) {
        if (count_handle(*d->default_route) == 0) {
          node_problem(i, "data.defaultRoute", "route_without_edge",
                       "defaultRoute \"" + *d->default_route +
                           "\" has no outgoing edge (give an edge sourceHandle \"" +
                           *d->default_route + "\")");
        }
      } else if (d->mode == RouterMode::condition && !d->routes.empty()) {
        node_problem(i, "data.defaultRoute", "no_default_route",
                     "no defaultRoute: the run fails when no route matches", Severity::warning);
      }
    } else if (const auto* d = nd.data_as<MergeData>()) {
      if (d->merge_template) check_template(i, "data.template", *d->merge_template);
      if (g_.in_edges[i].size() < 2) {
        node_problem(i, "", "merge_single_input",
                     "merge \"" + nd.id + "\" has fewer than two incoming edges",
                     Severity::warning);
      }
    } else if (const auto* d = nd.data_as<LoopData>()) {
      if (d->loop_template) check_template(i, "data.template", *d->loop_template);
      if (count_handle("continue") == 0) {
        node_problem(i, "", "loop_without_continue",
                     "loop \"" + nd.id + "\" has no edge with sourceHandle \"continue\"");
      }
      if (count_handle("exit") == 0) {
        node_problem(i, "", "loop_without_exit",
                     "loop \"" + nd.id + "\" has no edge with sourceHandle \"exit\"");
      }
      for (std::size_t e : out_edges) {
        if (wf_.edges()[e].source_handle != "continue") continue;
        const std::size_t t = wf_.node_index(wf_.edges()[e].target);
        if (t != npos && t != i && !wf_.reaches(t, i)) {
          edge_problem(e, "target", "loop_not_closed",
                       "the \"continue\" branch of loop \"" + nd.id + "\" never comes back to it");
        }
      }
    }
  }

  const Workflow& wf_;
  const ValidationContext& ctx_;
  const Graph& g_;
  std::vector<Problem> out_;
};

}  // namespace

std::vector<Problem> validate(const Workflow& wf, const ValidationContext& ctx) {
  return Validator(wf, ctx).run();
}

std::vector<Problem> validate_document(std::string_view json, const ValidationContext& ctx) {
  ParseResult r = Workflow::parse(json);
  if (!r.workflow) return std::move(r.problems);
  return validate(*r.workflow, ctx);
}

}  // namespace chorus
