// chorus validate workflow.json...: prints every problem of each document, one per line, naming
// the node or edge and the field. Exit 0 ("ok") when no document has an error, 1 when any has,
// 2 on a usage error or an unreadable file.
#include "commands.hpp"

#include <chorus/provider.hpp>
#include <chorus/workflow.hpp>

#include <boost/asio/io_context.hpp>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace chorus::cli {
namespace {

constexpr std::string_view validate_usage = R"(usage: chorus validate [options] workflow.json...

Checks workflow documents and prints every problem, one per line:
  FILE: error: node 'ID': FIELD: message [code]
Exit status: 0 when no document has an error (prints "ok"), 1 when any has, 2 on usage errors.

options:
  --json              print the problems as a JSON array of {file, severity, code, message,
                      nodeId, edgeId, field}
  --provider ID[=M1,M2...]
                      a known provider id (and its models); when given, only these providers
                      (and models, when listed) are accepted. Repeatable.
  --no-provider-check accept any provider and model id
By default provider ids are checked against the built-in providers (openai, anthropic, gemini,
deepseek, openai-compatible, simulated) and a model missing from a provider's price table is a
warning (new models work; their cost is unknown).
  -q, --quiet         print errors only (no warnings, no "ok")
  -h, --help          this text

Use "-" to read a document from standard input.
)";

}  // namespace

int validate(Args args) {
  std::vector<std::string_view> files;
  ValidationContext ctx;
  bool json = false;
  bool quiet = false;
  bool check_providers = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(validate_usage.data(), stdout);
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "--no-provider-check") {
      check_providers = false;
    } else if (a == "--provider" || a.starts_with("--provider=")) {
      std::string_view spec;
      if (a == "--provider") {
        if (i + 1 >= args.size()) {
          std::fprintf(stderr, "chorus validate: --provider needs a value\n");
          return 2;
        }
        spec = args[++i];
      } else {
        spec = a.substr(11);
      }
      const auto eq = spec.find('=');
      std::vector<std::string> models;
      if (eq != std::string_view::npos) {
        std::string_view list = spec.substr(eq + 1);
        while (!list.empty()) {
          const auto comma = list.find(',');
          if (comma != 0) models.emplace_back(list.substr(0, comma));
          if (comma == std::string_view::npos) break;
          list.remove_prefix(comma + 1);
        }
      }
      ctx.providers[std::string(spec.substr(0, eq))] = std::move(models);
    } else if (a.starts_with("-") && a != "-") {
      std::fprintf(stderr, "chorus validate: unknown option '%.*s'\n\n%s",
                   static_cast<int>(a.size()), a.data(), validate_usage.data());
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    std::fputs(validate_usage.data(), stderr);
    return 2;
  }
  if (!check_providers) {
    ctx.providers.clear();
  } else if (ctx.providers.empty()) {
    asio::io_context io;
    const auto registry = ProviderRegistry::with_builtins(io.get_executor());
    for (const auto& id : registry->ids()) {
      std::vector<std::string> models;
      if (auto p = registry->find(id)) {
        for (const auto& m : p->models())
          models.push_back(m.id);
      }
      ctx.providers.emplace(id, std::move(models));
    }
    ctx.unknown_model_severity = Severity::warning;
  }

  bool any_error = false;
  boost::json::array all;
  for (const std::string_view file : files) {
    std::string text;
    if (!read_all(file, text)) {
      std::fprintf(stderr, "chorus validate: cannot read '%.*s'\n", static_cast<int>(file.size()),
                   file.data());
      return 2;
    }
    const auto problems = validate_document(text, ctx);
    any_error |= has_errors(problems);
    for (const auto& p : problems) {
      if (quiet && p.severity != Severity::error) continue;
      if (json) {
        boost::json::object o;
        o["file"] = std::string(file);
        const boost::json::value problem = p.to_json();
        for (const auto& kv : problem.as_object())
          o[kv.key()] = kv.value();
        all.push_back(std::move(o));
      } else {
        std::printf("%.*s: %s\n", static_cast<int>(file.size()), file.data(), p.describe().c_str());
      }
    }
  }
  if (json) {
    std::printf("%s\n", boost::json::serialize(all).c_str());
  } else if (!any_error && !quiet) {
    std::printf("ok\n");
  }
  return any_error ? 1 : 0;
}

}  // namespace chorus::cli
