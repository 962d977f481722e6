// The async Provider of the HTTP vendors: one class parametrised by the wire dialect (wire.hpp).
#pragma once

#include "wire.hpp"

#include <chorus/http.hpp>
#include <chorus/provider.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace chorus::providers {

/// Resolved settings of an HTTP provider (environment already applied).
struct HttpProviderConfig {
  Vendor vendor = Vendor::openai;
  std::string id;            ///< Registry id.
  std::string display_name;  ///< name().
  std::string base_url;      ///< Empty only for an unconfigured openai-compatible provider.
  std::string api_key;  ///< May be empty (calls then fail with auth, except openai-compatible).
  std::string key_env;  ///< The environment variable named in "no key" errors.
  RetryPolicy retry;
  std::chrono::milliseconds timeout{600'000};
  http::Headers headers;  ///< Extra headers on every request.
};

class HttpProvider final : public Provider, public std::enable_shared_from_this<HttpProvider> {
 public:
  HttpProvider(http::Client client, HttpProviderConfig config);

  std::string_view id() const noexcept override { return config_.id; }
  std::string_view name() const noexcept override { return config_.display_name; }
  std::vector<ModelInfo> models() const override;
  executor_type get_executor() const noexcept override { return client_.get_executor(); }

  const HttpProviderConfig& config() const noexcept { return config_; }
  /// The configured vendor, base URL and key, as the wire layer takes them.
  const Endpoint& endpoint() const noexcept { return endpoint_; }
  http::Client& client() noexcept { return client_; }
  /// A fresh 64-bit random value for backoff jitter.
  std::uint64_t random() noexcept;

 protected:
  void do_complete(ChatRequest req, DeltaHandler on_delta,
                   asio::any_completion_handler<complete_signature> handler) override;
  void do_validate_key(std::string key,
                       asio::any_completion_handler<validate_signature> handler) override;

 private:
  http::Client client_;
  HttpProviderConfig config_;
  Endpoint endpoint_;
  std::atomic<std::uint64_t> rng_;
};

/// The models a vendor id has in the process-wide price table.
std::vector<ModelInfo> models_from_pricing(std::string_view vendor);

}  // namespace chorus::providers
