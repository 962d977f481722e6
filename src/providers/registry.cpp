// Built-in providers configured from options and the environment.
#include "http_provider.hpp"
#include "simulated.hpp"

#include <chorus/http.hpp>

#include <cstdlib>

namespace chorus {
namespace {

using providers::HttpProvider;
using providers::HttpProviderConfig;
using providers::Vendor;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

struct Builtin {
  std::string_view id;
  Vendor vendor;
  std::string_view name;
  const char* key_env;
  const char* key_env_alt;
  const char* base_env;
};

constexpr Builtin builtins[] = {
    {"openai", Vendor::openai, "OpenAI", "OPENAI_API_KEY", nullptr, "OPENAI_BASE_URL"},
    {"anthropic", Vendor::anthropic, "Anthropic", "ANTHROPIC_API_KEY", nullptr,
     "ANTHROPIC_BASE_URL"},
    {"gemini", Vendor::gemini, "Google Gemini", "GEMINI_API_KEY", "GOOGLE_API_KEY",
     "GEMINI_BASE_URL"},
    {"deepseek", Vendor::deepseek, "DeepSeek", "DEEPSEEK_API_KEY", nullptr, "DEEPSEEK_BASE_URL"},
    {"openai-compatible", Vendor::openai_compatible, "OpenAI-compatible server",
     "OPENAI_COMPATIBLE_API_KEY", nullptr, "OPENAI_COMPATIBLE_BASE_URL"},
};

std::shared_ptr<Provider> make_http(const Builtin& b, http::Client client,
                                    const ProviderOptions& o) {
  HttpProviderConfig c;
  c.vendor = b.vendor;
  c.id = o.id.empty() ? std::string(b.id) : o.id;
  c.display_name = o.display_name.empty() ? std::string(b.name) : o.display_name;
  c.api_key = o.api_key;
  if (c.api_key.empty()) c.api_key = env(b.key_env);
  if (c.api_key.empty() && b.key_env_alt) c.api_key = env(b.key_env_alt);
  c.key_env = b.key_env;
  if (b.key_env_alt) c.key_env += std::string(" or ") + b.key_env_alt;
  c.base_url = o.base_url;
  if (c.base_url.empty()) c.base_url = env(b.base_env);
  if (c.base_url.empty()) c.base_url = std::string(providers::default_base_url(b.vendor));
  c.retry = o.retry;
  c.timeout = o.timeout;
  c.headers.assign(o.headers.begin(), o.headers.end());
  return std::make_shared<HttpProvider>(std::move(client), std::move(c));
}

std::shared_ptr<Provider> make_one(std::string_view kind, asio::any_io_executor ex,
                                   const ProviderOptions& options,
                                   std::optional<http::Client>& client) {
  if (kind == "simulated") return std::make_shared<providers::SimulatedProvider>(ex, options);
  for (const Builtin& b : builtins) {
    if (b.id != kind) continue;
    if (!client) client.emplace(ex);
    return make_http(b, *client, options);
  }
  throw Exception(make_error(errc::unknown_provider,
                             "unknown provider kind '" + std::string(kind) +
                                 "' (openai, anthropic, gemini, deepseek, openai-compatible, "
                                 "simulated)"));
}

}  // namespace

std::shared_ptr<Provider> make_provider(std::string_view kind, asio::any_io_executor ex,
                                        ProviderOptions options) {
  std::optional<http::Client> client;
  return make_one(kind, std::move(ex), options, client);
}

std::shared_ptr<ProviderRegistry> ProviderRegistry::with_builtins(
    asio::any_io_executor ex, const std::map<std::string, ProviderOptions>& overrides) {
  auto registry = std::make_shared<ProviderRegistry>();
  std::optional<http::Client> client;  // one pool shared by every HTTP provider
  auto options_for = [&](std::string_view id) {
    auto it = overrides.find(std::string(id));
    return it == overrides.end() ? ProviderOptions{} : it->second;
  };
  for (const Builtin& b : builtins)
    registry->add(make_one(b.id, ex, options_for(b.id), client));
  registry->add(make_one("simulated", ex, options_for("simulated"), client));
  return registry;
}

}  // namespace chorus
