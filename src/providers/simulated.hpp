// The in-process `simulated` provider (no network).
#pragma once

#include <chorus/provider.hpp>
#include <chorus/simulation.hpp>

#include <atomic>
#include <memory>

namespace chorus::providers {

/// $CHORUS_SIMULATED_TOKEN_DELAY_MS when valid (0..60000), else 2 ms.
std::chrono::milliseconds default_simulated_token_delay();

class SimulatedProvider final : public Provider,
                                public std::enable_shared_from_this<SimulatedProvider> {
 public:
  SimulatedProvider(asio::any_io_executor ex, ProviderOptions options = {});

  std::string_view id() const noexcept override { return id_; }
  std::string_view name() const noexcept override { return name_; }
  std::vector<ModelInfo> models() const override;
  executor_type get_executor() const noexcept override { return ex_; }

  std::chrono::milliseconds token_delay() const noexcept { return token_delay_; }
  const RetryPolicy& retry() const noexcept { return retry_; }
  sim::FailureCounter& failures() noexcept { return failures_; }
  std::uint64_t random() noexcept;

 protected:
  void do_complete(ChatRequest req, DeltaHandler on_delta,
                   asio::any_completion_handler<complete_signature> handler) override;
  void do_validate_key(std::string key,
                       asio::any_completion_handler<validate_signature> handler) override;

 private:
  asio::any_io_executor ex_;
  std::string id_;
  std::string name_;
  RetryPolicy retry_;
  std::chrono::milliseconds token_delay_;
  sim::FailureCounter failures_;
  std::atomic<std::uint64_t> rng_;
};

}  // namespace chorus::providers
