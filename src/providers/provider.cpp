// The vendor-independent parts of provider.hpp: names, Usage, the blocking wrappers, the registry.
#include <chorus/provider.hpp>

#include <boost/asio/io_context.hpp>

#include <future>

namespace chorus {

std::string_view to_string(Role r) noexcept {
  switch (r) {
    case Role::system:
      return "system";
    case Role::user:
      return "user";
    case Role::assistant:
      return "assistant";
  }
  return "user";
}

std::string_view to_string(FinishReason r) noexcept {
  switch (r) {
    case FinishReason::unknown:
      return "unknown";
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::content_filter:
      return "content_filter";
    case FinishReason::tool_calls:
      return "tool_calls";
    case FinishReason::error:
      return "error";
  }
  return "unknown";
}

Usage& Usage::operator+=(const Usage& other) noexcept {
  prompt_tokens += other.prompt_tokens;
  completion_tokens += other.completion_tokens;
  total_tokens += other.total_tokens;
  cached_prompt_tokens += other.cached_prompt_tokens;
  reasoning_tokens += other.reasoning_tokens;
  reported = reported || other.reported;
  estimated = estimated || other.estimated;
  return *this;
}

namespace {

struct Outcome {
  error_code ec;
  ChatResponse response;
};

// Runs one operation and waits for it. Waiting on the thread that runs the executor would wait
// forever: that misuse is refused with invalid_argument instead.
ChatResponse wait_for(Provider& provider, ChatRequest req, DeltaHandler on_delta, error_code& ec) {
  auto ex = provider.get_executor();
  const auto* io = ex.target<asio::io_context::executor_type>();
  if (io && io->running_in_this_thread()) {
    ChatResponse r;
    r.provider = std::string(provider.id());
    r.error = make_error(errc::invalid_argument,
                         "blocking call made from a thread that runs the provider's executor; "
                         "use async_complete/async_stream there");
    r.error.provider = r.provider;
    ec = r.error.code;
    return r;
  }
  std::promise<Outcome> promise;
  auto future = promise.get_future();
  auto done = [&promise](error_code e, ChatResponse r) {
    promise.set_value(Outcome{e, std::move(r)});
  };
  if (on_delta)
    provider.async_stream(std::move(req), std::move(on_delta), std::move(done));
  else
    provider.async_complete(std::move(req), std::move(done));
  Outcome outcome = future.get();
  ec = outcome.ec;
  return std::move(outcome.response);
}

}  // namespace

ChatResponse Provider::complete(ChatRequest req) {
  error_code ec;
  ChatResponse r = wait_for(*this, std::move(req), {}, ec);
  if (ec) {
    Error e = r.error ? r.error : make_error(ec, ec.message());
    throw Exception(std::move(e));
  }
  return r;
}

ChatResponse Provider::stream(ChatRequest req, DeltaHandler on_delta) {
  if (!on_delta) on_delta = [](const StreamDelta&) {};
  error_code ec;
  ChatResponse r = wait_for(*this, std::move(req), std::move(on_delta), ec);
  if (ec) {
    Error e = r.error ? r.error : make_error(ec, ec.message());
    throw Exception(std::move(e));
  }
  return r;
}

ChatResponse Provider::complete(ChatRequest req, error_code& ec) {
  return wait_for(*this, std::move(req), {}, ec);
}

void ProviderRegistry::add(std::shared_ptr<Provider> provider) {
  if (!provider) return;
  std::string id(provider->id());
  std::lock_guard lock(mutex_);
  providers_[std::move(id)] = std::move(provider);
}

std::shared_ptr<Provider> ProviderRegistry::find(std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto it = providers_.find(id);
  return it == providers_.end() ? nullptr : it->second;
}

std::vector<std::string> ProviderRegistry::ids() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(providers_.size());
  for (const auto& [id, p] : providers_)
    out.push_back(id);
  return out;
}

}  // namespace chorus
