// chorus chat / models / keys: one chat completion from the command line, the model table, and
// a check of the API keys found in the environment. Exit codes: docs/cli.md.
#include "commands.hpp"

#include <chorus/pricing.hpp>
#include <chorus/provider.hpp>
#include <chorus/run_event.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace chorus::cli {

/// The process exit code of an error, shared by every subcommand (docs/cli.md): 0 success,
/// 1 other failure (node_failed), 2 usage / invalid_argument, 3 invalid_workflow,
/// 4 budget_exceeded, 10..25 one per provider/transport kind, 130 cancelled.
int exit_code(error_code ec) {
  if (!ec) return 0;
  const std::string_view kind = error_kind(ec);
  struct Entry {
    std::string_view kind;
    int code;
  };
  static constexpr Entry table[] = {
      {"node_failed", 1},     {"invalid_argument", 2},   {"invalid_workflow", 3},
      {"budget_exceeded", 4}, {"rate_limited", 10},      {"auth", 11},
      {"quota_exceeded", 12}, {"overloaded", 13},        {"context_length", 14},
      {"content_filter", 15}, {"bad_request", 16},       {"server", 17},
      {"protocol", 18},       {"timeout", 19},           {"connect_failed", 20},
      {"tls_failed", 21},     {"connection_closed", 22}, {"unknown_provider", 23},
      {"unknown_model", 24},  {"not_found", 25},         {"cancelled", 130},
  };
  for (const Entry& e : table)
    if (e.kind == kind) return e.code;
  return 1;
}

namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view chat_usage = R"(usage: chorus chat [options] "prompt"

Streams one chat completion to stdout; usage, cost and latency go to stderr.
The prompt is the remaining arguments joined by spaces, or stdin when it is "-" or absent.

options:
  -p, --provider ID     openai, anthropic, gemini, deepseek, openai-compatible, simulated
                        (default: simulated, which needs no key or network)
  -m, --model ID        model id (default per provider: gpt-4o-mini, claude-sonnet-4-20250514,
                        gemini-2.0-flash, deepseek-chat, sim-fast; required for openai-compatible)
  -s, --system TEXT     system prompt
  -t, --temperature X   sampling temperature (0..2)
      --max-tokens N    output cap
      --stop TEXT       stop sequence (repeatable)
      --json-mode       ask for a JSON object answer (where the vendor supports it)
      --base-url URL    override the provider's base URL (else *_BASE_URL, else official)
      --timeout SEC     total deadline of the call (default 600)
      --retries N       attempts on retryable failures, the first included (default 3)
      --no-stream       one request, print the answer when complete
      --json            print the whole response as JSON on stdout instead of the text
  -h, --help            this help

Keys come from the environment only: OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or
GOOGLE_API_KEY), DEEPSEEK_API_KEY, OPENAI_COMPATIBLE_API_KEY.
)";

struct ChatOptions {
  std::string provider = "simulated";
  std::string model;
  std::string system;
  std::optional<double> temperature;
  std::optional<std::int64_t> max_tokens;
  std::vector<std::string> stop;
  bool json_mode = false;
  std::string base_url;
  std::optional<double> timeout_s;
  std::optional<int> retries;
  bool stream = true;
  bool json = false;
  std::string prompt;
  bool prompt_from_stdin = false;
};

int usage_error(std::string message) {
  std::fputs(chat_usage.data(), stderr);
  print_error_line(make_error(errc::invalid_argument, std::move(message)));
  return 2;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    std::string text(s);
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    return !text.empty() && end == text.c_str() + text.size();
  } else {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  }
}

std::string default_model(std::string_view provider) {
  if (provider == "openai") return "gpt-4o-mini";
  if (provider == "anthropic") return "claude-sonnet-4-20250514";
  if (provider == "gemini") return "gemini-2.0-flash";
  if (provider == "deepseek") return "deepseek-chat";
  if (provider == "simulated") return "sim-fast";
  return {};
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool same_file(int a, int b) {
  struct stat sa = {};
  struct stat sb = {};
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

std::string format_cost(const ChatResponse& r) {
  const std::optional<double>& cost = r.cost;
  if (!cost && r.error && !r.usage.reported && !r.usage.estimated)
    return "none (the call failed before any tokens)";
  if (!cost) return "unknown (no price for this model)";
  char buf[64];
  std::snprintf(buf, sizeof buf, "$%.6f", *cost);
  return buf;
}

void print_summary(const ChatResponse& r, bool simulated) {
  const Usage& u = r.usage;
  std::string line =
      "[" + r.model + " via " + r.provider + (simulated ? ", no network" : "") + "] ";
  if (u.reported || u.estimated) {
    line += "tokens: " + std::to_string(u.prompt_tokens) + " prompt";
    if (u.cached_prompt_tokens) line += " (" + std::to_string(u.cached_prompt_tokens) + " cached)";
    line += " + " + std::to_string(u.completion_tokens) + " completion";
    if (u.reasoning_tokens) line += " (" + std::to_string(u.reasoning_tokens) + " reasoning)";
    line += " = " + std::to_string(u.total_tokens);
    if (u.estimated) line += " (estimated)";
  } else {
    line += "tokens: not reported";
  }
  line += " | cost: " + format_cost(r);
  auto ms = [](std::chrono::microseconds us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us.count()) / 1000.0);
    return std::string(buf);
  };
  line += " | latency: " + ms(r.latency);
  if (r.time_to_first_token) line += " | first token: " + ms(*r.time_to_first_token);
  line += " | finish: " + std::string(to_string(r.finish_reason));
  if (r.attempts > 1) line += " | attempts: " + std::to_string(r.attempts);
  std::fprintf(stderr, "%s\n", line.c_str());
}

json::object response_json(const ChatResponse& r, bool simulated) {
  json::object o;
  o["content"] = r.content;
  if (!r.reasoning.empty()) o["reasoning"] = r.reasoning;
  if (!r.tool_calls.empty()) {
    json::array calls;
    for (const ToolCall& t : r.tool_calls)
      calls.push_back(json::object{{"id", t.id}, {"name", t.name}, {"arguments", t.arguments}});
    o["toolCalls"] = std::move(calls);
  }
  o["provider"] = r.provider;
  o["simulated"] = simulated;
  o["model"] = r.model;
  o["finishReason"] = to_string(r.finish_reason);
  if (!r.finish_reason_raw.empty()) o["finishReasonRaw"] = r.finish_reason_raw;
  o["usage"] = usage_to_json(r.usage);
  o["cost"] = r.cost ? json::value(*r.cost) : json::value(nullptr);
  o["latencyMs"] = static_cast<double>(r.latency.count()) / 1000.0;
  o["timeToFirstTokenMs"] =
      r.time_to_first_token
          ? json::value(static_cast<double>(r.time_to_first_token->count()) / 1000.0)
          : json::value(nullptr);
  o["requestId"] = r.request_id;
  o["attempts"] = r.attempts;
  o["error"] = error_to_json(r.error);
  return o;
}

std::optional<ChatOptions> parse_chat_args(Args args, int& exit_status) {
  ChatOptions o;
  std::vector<std::string_view> words;
  auto need_value = [&](std::size_t& i, std::string_view name) -> std::optional<std::string_view> {
    if (i + 1 >= args.size()) {
      exit_status = usage_error(std::string(name) + ": missing value");
      return std::nullopt;
    }
    return args[++i];
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(chat_usage.data(), stdout);
      exit_status = 0;
      return std::nullopt;
    }
    if (a == "--") {
      words.insert(words.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (a == "-p" || a == "--provider") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      o.provider = std::string(*v);
    } else if (a == "-m" || a == "--model") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      o.model = std::string(*v);
    } else if (a == "-s" || a == "--system") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      o.system = std::string(*v);
    } else if (a == "-t" || a == "--temperature") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      double t = 0;
      if (!parse_number(*v, t)) {
        exit_status = usage_error("--temperature: not a number: " + std::string(*v));
        return std::nullopt;
      }
      o.temperature = t;
    } else if (a == "--max-tokens") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      std::int64_t n = 0;
      if (!parse_number(*v, n) || n <= 0) {
        exit_status = usage_error("--max-tokens: not a positive integer: " + std::string(*v));
        return std::nullopt;
      }
      o.max_tokens = n;
    } else if (a == "--stop") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      o.stop.emplace_back(*v);
    } else if (a == "--base-url") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      o.base_url = std::string(*v);
    } else if (a == "--timeout") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      double t = 0;
      if (!parse_number(*v, t) || !(t > 0)) {
        exit_status =
            usage_error("--timeout: not a positive number of seconds: " + std::string(*v));
        return std::nullopt;
      }
      o.timeout_s = t;
    } else if (a == "--retries") {
      auto v = need_value(i, a);
      if (!v) return std::nullopt;
      int n = 0;
      if (!parse_number(*v, n) || n < 1) {
        exit_status = usage_error("--retries: not an integer >= 1: " + std::string(*v));
        return std::nullopt;
      }
      o.retries = n;
    } else if (a == "--json-mode") {
      o.json_mode = true;
    } else if (a == "--no-stream") {
      o.stream = false;
    } else if (a == "--json") {
      o.json = true;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      exit_status = usage_error("unknown option " + std::string(a));
      return std::nullopt;
    } else {
      words.push_back(a);
    }
  }
  if (words.empty() || (words.size() == 1 && words[0] == "-")) {
    o.prompt_from_stdin = true;
  } else {
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (i) o.prompt += ' ';
      o.prompt += words[i];
    }
  }
  if (o.model.empty()) o.model = default_model(o.provider);
  return o;
}

}  // namespace

void print_error_line(const Error& e) {
  // The last line of stderr on failure: "error: <kind>: <vendor message> (<context>)", the
  // context (provider, status, request id, node) when known.
  std::string line = e.describe();
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "error: %s\n", line.c_str());
}

int chat(Args args) {
  int status = 0;
  auto parsed = parse_chat_args(args, status);
  if (!parsed) return status;
  ChatOptions& o = *parsed;
  if (o.prompt_from_stdin) {
    if (isatty(STDIN_FILENO))
      return usage_error("no prompt given (pass it as an argument or on stdin)");
    o.prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }

  asio::io_context ioc;
  std::map<std::string, ProviderOptions> overrides;
  ProviderOptions po;
  po.base_url = o.base_url;
  if (o.timeout_s)
    po.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*o.timeout_s * 1000));
  if (o.retries) po.retry.max_attempts = *o.retries;
  overrides[o.provider] = po;
  auto registry = ProviderRegistry::with_builtins(ioc.get_executor(), overrides);
  auto provider = registry->find(o.provider);
  if (!provider) {
    Error e = make_error(errc::unknown_provider,
                         "no provider '" + o.provider + "' (try `chorus models`)");
    print_error_line(e);
    return exit_code(e.code);
  }
  const bool simulated = provider->id() == "simulated";
  if (o.model.empty()) return usage_error("--model is required for provider '" + o.provider + "'");

  ChatRequest req;
  req.config.model = o.model;
  req.config.system_prompt = o.system;
  req.config.temperature = o.temperature;
  req.config.max_tokens = o.max_tokens;
  req.config.stop = o.stop;
  req.config.json_mode = o.json_mode;
  req.messages.push_back({Role::user, o.prompt});

  const bool print_text = !o.json;
  bool wrote_text = false;
  bool ends_with_newline = false;
  error_code result_ec;
  ChatResponse response;
  asio::cancellation_signal cancel;
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int) {
    if (!ec) cancel.emit(asio::cancellation_type::terminal);
  });
  auto done = asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec, ChatResponse r) {
    result_ec = ec;
    response = std::move(r);
    signals.cancel();
  });
  if (o.stream) {
    provider->async_stream(
        std::move(req),
        [&](const StreamDelta& d) {
          if (!print_text || d.text.empty()) return;
          std::fwrite(d.text.data(), 1, d.text.size(), stdout);
          std::fflush(stdout);
          wrote_text = true;
          ends_with_newline = d.text.back() == '\n';
        },
        std::move(done));
  } else {
    provider->async_complete(std::move(req), std::move(done));
  }
  ioc.run();

  if (o.json) {
    std::printf("%s\n", json::serialize(response_json(response, simulated)).c_str());
  } else if (!o.stream && !response.content.empty()) {
    std::fwrite(response.content.data(), 1, response.content.size(), stdout);
    wrote_text = true;
    ends_with_newline = response.content.back() == '\n';
  }
  // A final newline keeps the shell prompt (or the summary, when stderr goes to the same place,
  // as with `2>&1`) off the answer's last line; a pipe or file of its own gets the exact text.
  if (wrote_text && !ends_with_newline &&
      (isatty(STDOUT_FILENO) || same_file(STDOUT_FILENO, STDERR_FILENO))) {
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  if (response.model.empty()) response.model = o.model;
  if (response.provider.empty()) response.provider = o.provider;
  print_summary(response, simulated);
  if (result_ec) {
    Error e = response.error ? response.error : make_error(result_ec, result_ec.message());
    print_error_line(e);
    return exit_code(result_ec);
  }
  return 0;
}

int models(Args args) {
  bool as_json = false;
  for (std::string_view a : args) {
    if (a == "--json") {
      as_json = true;
    } else if (a == "-h" || a == "--help") {
      std::puts(
          "usage: chorus models [--json]\n\nLists the providers and their models with "
          "prices (USD per 1M tokens) and context windows.\nPrices: the built-in table "
          "merged with $CHORUS_PRICING_FILE.");
      return 0;
    } else {
      std::fputs("usage: chorus models [--json]\n", stderr);
      print_error_line(make_error(errc::invalid_argument, "unknown argument " + std::string(a)));
      return 2;
    }
  }
  asio::io_context ioc;
  auto registry = ProviderRegistry::with_builtins(ioc.get_executor());
  auto price = [](const std::optional<double>& p) {
    if (!p) return std::string("-");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *p);
    return std::string(buf);
  };
  json::array out;
  if (!as_json)
    std::printf("%-18s %-22s %10s %10s %10s %10s\n", "PROVIDER", "MODEL", "INPUT", "OUTPUT",
                "CACHED", "CONTEXT");
  for (const std::string& id : registry->ids()) {
    auto p = registry->find(id);
    const bool simulated = id == "simulated";
    json::array models;
    auto list = p->models();
    if (!as_json && list.empty())
      std::printf("%-18s %-22s (any model the server at OPENAI_COMPATIBLE_BASE_URL serves)\n",
                  id.c_str(), "*");
    for (const ModelInfo& m : list) {
      if (as_json) {
        auto num = [](const std::optional<double>& v) {
          return v ? json::value(*v) : json::value(nullptr);
        };
        models.push_back(
            json::object{{"id", m.id},
                         {"inputPerMTok", num(m.input_per_mtok)},
                         {"outputPerMTok", num(m.output_per_mtok)},
                         {"cachedInputPerMTok", num(m.cached_input_per_mtok)},
                         {"contextWindow", m.context_window ? json::value(*m.context_window)
                                                            : json::value(nullptr)}});
        continue;
      }
      std::printf("%-18s %-22s %10s %10s %10s %10s\n", (id + (simulated ? "*" : "")).c_str(),
                  m.id.c_str(), price(m.input_per_mtok).c_str(), price(m.output_per_mtok).c_str(),
                  price(m.cached_input_per_mtok).c_str(),
                  m.context_window ? std::to_string(*m.context_window).c_str() : "-");
    }
    if (as_json)
      out.push_back(json::object{{"id", id},
                                 {"name", p->name()},
                                 {"simulated", simulated},
                                 {"models", std::move(models)}});
  }
  if (as_json) {
    std::printf("%s\n", json::serialize(json::object{{"pricingAsOf", pricing()->as_of()},
                                                     {"providers", std::move(out)}})
                            .c_str());
  } else {
    std::printf("\nPrices in USD per 1M tokens (%s). * simulated: no network, made-up prices.\n",
                pricing()->as_of().c_str());
  }
  return 0;
}

int keys(Args args) {
  if (args.empty() || args[0] != "check" || args.size() > 1) {
    const bool help = !args.empty() && (args[0] == "-h" || args[0] == "--help");
    std::fputs(
        "usage: chorus keys check\n\nValidates each API key found in the environment "
        "with its vendor (a cheap authenticated call).\n",
        help ? stdout : stderr);
    if (help) return 0;
    print_error_line(make_error(errc::invalid_argument, "expected `chorus keys check`"));
    return 2;
  }
  struct Row {
    const char* id;
    const char* env;
    const char* env_alt;
  };
  constexpr Row rows[] = {{"openai", "OPENAI_API_KEY", nullptr},
                          {"anthropic", "ANTHROPIC_API_KEY", nullptr},
                          {"gemini", "GEMINI_API_KEY", "GOOGLE_API_KEY"},
                          {"deepseek", "DEEPSEEK_API_KEY", nullptr},
                          {"openai-compatible", "OPENAI_COMPATIBLE_API_KEY", nullptr}};
  asio::io_context ioc;
  auto registry = ProviderRegistry::with_builtins(ioc.get_executor());
  struct Check {
    std::string id;
    std::string env;
    bool found = false;
    std::optional<Error> result;
  };
  std::vector<Check> checks;
  for (const Row& row : rows) {
    Check c;
    c.id = row.id;
    c.env = row.env;
    std::string key = env_or_empty(row.env);
    if (key.empty() && row.env_alt) {
      key = env_or_empty(row.env_alt);
      if (!key.empty()) c.env = row.env_alt;
    }
    if (std::string_view(row.id) == "openai-compatible" &&
        env_or_empty("OPENAI_COMPATIBLE_BASE_URL").empty())
      key.clear();
    c.found = !key.empty();
    checks.push_back(std::move(c));
    if (!checks.back().found) continue;
    auto p = registry->find(row.id);
    const std::size_t index = checks.size() - 1;
    p->async_validate_key(
        key, [&checks, index](error_code, Error e) { checks[index].result = std::move(e); });
  }
  ioc.run();
  int status = 0;
  int found = 0;
  std::optional<Error> first_failure;
  for (const Check& c : checks) {
    if (!c.found) {
      std::printf("%-18s not set (%s)\n", c.id.c_str(), c.env.c_str());
      continue;
    }
    ++found;
    if (c.result && !*c.result) {
      std::printf("%-18s ok (%s)\n", c.id.c_str(), c.env.c_str());
    } else {
      const Error e = c.result ? *c.result : make_error(errc::cancelled, "no answer");
      std::printf("%-18s FAILED (%s): %s\n", c.id.c_str(), c.env.c_str(), e.describe().c_str());
      if (!first_failure) first_failure = e;
    }
  }
  std::printf("%-18s no key needed (no network)\n", "simulated");
  if (first_failure) {
    print_error_line(*first_failure);
    status = exit_code(first_failure->code);
  } else if (found == 0) {
    std::fprintf(stderr,
                 "no API key found in the environment; `chorus chat -p simulated` works "
                 "without one\n");
  }
  return status;
}

}  // namespace chorus::cli
