#include "http_provider.hpp"

#include <chorus/pricing.hpp>
#include <chorus/simulation.hpp>
#include <chorus/sse.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <optional>
#include <random>

namespace chorus::providers {

using clock = std::chrono::steady_clock;

std::vector<ModelInfo> models_from_pricing(std::string_view vendor) {
  std::vector<ModelInfo> out;
  auto table = pricing();
  for (const auto& [key, price] : table->entries()) {
    if (price.vendor != vendor) continue;
    out.push_back(ModelInfo{key, price.input, price.output,
                            price.cached_input ? price.cached_input : price.input,
                            price.context_window});
  }
  return out;
}

namespace {

// Transport failures keep their chorus kind; Asio's own codes are translated.
Error transport_error(error_code ec, std::string_view provider) {
  Error e;
  if (ec == asio::error::operation_aborted)
    e.code = errc::cancelled;
  else if (ec == asio::error::timed_out)
    e.code = errc::timeout;
  else if (ec.category() == error_category())
    e.code = ec;
  else
    e.code = errc::connection_closed;
  e.message = ec.message();
  e.provider = std::string(provider);
  return e;
}

// Fills usage when the vendor reported none (some openai-compatible servers): estimated.
// `prompt_tokens` is estimate_prompt_tokens() of the request.
void complete_usage(std::int64_t prompt_tokens, ChatResponse& r) {
  if (r.usage.reported) {
    if (r.usage.total_tokens == 0)
      r.usage.total_tokens = r.usage.prompt_tokens + r.usage.completion_tokens;
    return;
  }
  r.usage.prompt_tokens = prompt_tokens;
  r.usage.completion_tokens = sim::estimate_tokens(r.content) + sim::estimate_tokens(r.reasoning);
  r.usage.total_tokens = r.usage.prompt_tokens + r.usage.completion_tokens;
  r.usage.estimated = true;
}

// A call that failed after the vendor started answering (cut stream, mid-stream error,
// cancellation) is billed for what it consumed: keep the counts the vendor sent so far (e.g.
// Anthropic's message_start), estimate the rest, and mark the usage estimated so it is priced.
// A call that failed before any token or count arrived consumed nothing and stays unpriced.
void complete_partial_usage(std::int64_t prompt_tokens, ChatResponse& r) {
  auto& u = r.usage;
  if (u.prompt_tokens == 0 && u.completion_tokens == 0 && r.content.empty() && r.reasoning.empty())
    return;
  if (u.prompt_tokens == 0) u.prompt_tokens = prompt_tokens;
  u.completion_tokens = std::max<std::int64_t>(
      u.completion_tokens, sim::estimate_tokens(r.content) + sim::estimate_tokens(r.reasoning));
  u.total_tokens = u.prompt_tokens + u.completion_tokens;
  u.estimated = true;
}

void add_extra_headers(http::Request& r, const http::Headers& extra) {
  for (const auto& [name, value] : extra) {
    r.headers.emplace_back(name, value);
    if (value.size() >= 8) r.secrets.push_back(value);
  }
}

class CallOp : public std::enable_shared_from_this<CallOp> {
 public:
  CallOp(std::shared_ptr<HttpProvider> provider, ChatRequest req, DeltaHandler on_delta,
         asio::any_completion_handler<Provider::complete_signature> handler)
      : provider_(std::move(provider)),
        req_(std::make_unique<ChatRequest>(std::move(req))),
        on_delta_(std::move(on_delta)),
        handler_(std::move(handler)),
        start_(clock::now()) {}

  void start() {
    const HttpProviderConfig& cfg = provider_->config();
    // The provider's endpoint, unless the request brings its own key (no copy per call).
    if (req_->api_key.empty()) {
      endpoint_ = &provider_->endpoint();
    } else {
      own_endpoint_ = std::make_unique<Endpoint>(Endpoint{cfg.vendor, cfg.base_url, req_->api_key});
      endpoint_ = own_endpoint_.get();
    }
    const Endpoint& ep = *endpoint_;
    if (ep.base_url.empty()) {
      return fail_now(errc::invalid_argument,
                      cfg.id +
                          ": no base URL configured (set OPENAI_COMPATIBLE_BASE_URL or "
                          "ProviderOptions::base_url)");
    }
    if (ep.api_key.empty() && cfg.vendor != Vendor::openai_compatible) {
      return fail_now(errc::auth, cfg.id + ": no API key (set " + cfg.key_env +
                                      " or ProviderOptions::api_key)");
    }
    if (Error e = prepare_request(*req_, context_window(req_->config.model))) {
      e.provider = cfg.id;
      response().error = std::move(e);
      return finish_posted();
    }

    auto slot = asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      std::weak_ptr<CallOp> weak = shared_from_this();
      slot.assign([weak](asio::cancellation_type) {
        if (auto self = weak.lock()) self->cancel();
      });
    }
    attempt();
  }

 private:
  void cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    if (in_flight_) inner_.emit(asio::cancellation_type::terminal);
    if (timer_) timer_->cancel();
  }

  // The answer being built. A call waiting for its HTTP response holds none (a ChatResponse is
  // ~0.6 KB): a non-streamed call creates it when the response arrives, a stream per attempt.
  ChatResponse& response() {
    if (!response_) {
      response_ = std::make_unique<ChatResponse>();
      response_->provider = provider_->config().id;
    }
    return *response_;
  }

  // Built per attempt and moved into the client: a retry (rare) rebuilds it rather than every
  // call copying it. Once no attempt can follow, the request is let go (the HTTP request holds
  // its wire form): a waiting call does not keep its prompt twice.
  http::Request make_request() {
    const HttpProviderConfig& cfg = provider_->config();
    http::Request r = build_chat_request(*endpoint_, *req_, static_cast<bool>(on_delta_));
    add_extra_headers(r, cfg.headers);
    http::Timeouts timeouts = provider_->client().options().timeouts;
    timeouts.total = req_->config.timeout.value_or(cfg.timeout);
    r.timeouts = timeouts;
    if (attempts_ >= cfg.retry.max_attempts) {
      prompt_tokens_ = estimate_prompt_tokens(*req_);
      model_ = std::move(req_->config.model);
      req_.reset();
    }
    return r;
  }

  // estimate_prompt_tokens() of the request, also once it was let go.
  std::int64_t prompt_tokens() const {
    return req_ ? estimate_prompt_tokens(*req_) : prompt_tokens_;
  }
  const std::string& model() const { return req_ ? req_->config.model : model_; }

  void attempt() {
    ++attempts_;
    // Each attempt starts from an empty answer: no text of a failed attempt reached the caller.
    if (stream_) stream_->assembler.reset();  // it refers to the old answer
    response_.reset();
    auto self = shared_from_this();
    // One signal serves every attempt: the HTTP client detaches from the slot before it
    // completes, and the completion handler keeps this object (and so the signal) alive.
    in_flight_ = true;
    auto done =
        asio::bind_cancellation_slot(inner_.slot(), [self](error_code ec, http::Response r) {
          self->in_flight_ = false;
          self->on_response(ec, std::move(r));
        });
    if (!on_delta_) {
      provider_->client().async_request(make_request(), std::move(done));
      return;
    }
    if (!stream_) stream_ = std::make_unique<StreamPart>(this);
    stream_->assembler.emplace(provider_->config().vendor, response(), &stream_->forward);
    stream_->parser.reset();
    http::StreamHandler sh;
    sh.on_headers = [self](const http::Response& head) { self->on_head(head); };
    sh.on_data = [self](std::string_view chunk) {
      StreamPart& st = *self->stream_;
      st.parser.feed(chunk,
                     [&](const sse::Event& ev) { st.assembler->on_event(ev.type, ev.data); });
    };
    provider_->client().async_stream(make_request(), std::move(sh), std::move(done));
  }

  void on_head(const http::Response& head) {
    for (std::string_view name : {"x-request-id", "request-id"}) {
      if (auto id = head.header(name); !id.empty()) {
        stream_->request_id = std::string(id);
        break;
      }
    }
  }

  void on_delta(const StreamDelta& d) {
    if (cancelled_) return;
    if (!ttft_)
      ttft_ = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start_);
    text_delivered_ = true;
    on_delta_(d);
  }

  void on_response(error_code ec, http::Response r) {
    const HttpProviderConfig& cfg = provider_->config();
    ChatResponse& out = response();
    if (cancelled_) {
      if (stream_) stream_->parser.finish();
      out.error = make_error(errc::cancelled, "cancelled by the caller");
      out.error.provider = cfg.id;
      return finish();
    }
    std::string_view request_id = stream_ ? std::string_view(stream_->request_id) : "";
    if (ec) {
      out.error = transport_error(ec, cfg.id);
    } else if (r.status < 200 || r.status > 299) {
      out.error = classify_error(cfg.vendor, r.status, r.headers, r.body);
      out.error.provider = cfg.id;
    } else if (stream_) {
      stream_->parser.finish();
      stream_->assembler->finish();
    } else {
      parse_chat_response(cfg.vendor, r.body, out);
    }
    if (!stream_) {
      for (std::string_view name : {"x-request-id", "request-id"})
        if (auto id = r.header(name); !id.empty()) {
          request_id = id;
          break;
        }
    }
    if (!request_id.empty()) out.request_id = std::string(request_id);
    if (out.error) {
      out.error.provider = cfg.id;
      if (out.error.request_id.empty()) out.error.request_id = out.request_id;
      // Retry only while nothing reached the caller; quota and the like are not retryable.
      if (!text_delivered_ && out.error.retryable()) {
        if (auto delay = cfg.retry.next_delay(attempts_, out.error, provider_->random())) {
          auto self = shared_from_this();
          if (!timer_) timer_ = std::make_unique<asio::steady_timer>(provider_->get_executor());
          timer_->expires_after(*delay);
          // Not bound to inner_: cancel() cancels the timer itself.
          timer_->async_wait([self](error_code wait_ec) {
            if (self->cancelled_ || wait_ec) {
              ChatResponse& out = self->response();
              out.error = make_error(errc::cancelled, "cancelled by the caller");
              out.error.provider = self->provider_->config().id;
              return self->finish();
            }
            self->attempt();
          });
          return;
        }
      }
    }
    finish();
  }

  void fail_now(errc code, std::string message) {
    ChatResponse& out = response();
    out.error = make_error(code, std::move(message));
    out.error.provider = provider_->config().id;
    finish_posted();
  }

  void finalise() {
    ChatResponse& out = response();
    out.attempts = attempts_ == 0 ? 1 : attempts_;
    out.latency = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start_);
    out.time_to_first_token = ttft_;
    if (!out.error) {
      complete_usage(prompt_tokens(), out);
    } else if (!out.usage.reported) {
      complete_partial_usage(prompt_tokens(), out);
    }
    if (out.usage.reported || out.usage.estimated)
      out.cost = price_call(out.model, out.usage, model());
    if (out.error) {
      if (out.finish_reason == FinishReason::unknown) out.finish_reason = FinishReason::error;
    } else if (out.model.empty()) {
      out.model = model();
    }
    auto slot = asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.clear();
  }

  // Hands the response to the caller. The function object holds this operation rather than the
  // response: the response (~0.6 KB) is moved once, into the handler's argument.
  void complete_now() {
    auto h = std::move(handler_);
    ChatResponse& out = response();
    const error_code ec = out.error.code;
    std::move(h)(ec, std::move(out));
  }

  // Completes from within an asynchronous callback (never inline from the initiating call).
  void finish() {
    finalise();
    auto ex = asio::get_associated_executor(handler_, provider_->get_executor());
    asio::dispatch(ex, [self = shared_from_this()] { self->complete_now(); });
  }

  // Completes a call that failed before any I/O: posted, so never inline from the initiator.
  void finish_posted() {
    finalise();
    auto ex = asio::get_associated_executor(handler_, provider_->get_executor());
    asio::post(provider_->get_executor(),
               asio::bind_executor(ex, [self = shared_from_this()] { self->complete_now(); }));
  }

  // What only a stream needs: created by its first attempt (a non-streamed call has none).
  struct StreamPart {
    explicit StreamPart(CallOp* op) : forward([op](const StreamDelta& d) { op->on_delta(d); }) {}
    DeltaHandler forward;  // the assembler's deltas, through on_delta
    std::optional<StreamAssembler> assembler;
    sse::Parser parser;
    std::string request_id;  // from the response head
  };

  // Sized for many waiting calls (docs/decisions/run-memory.md): what is not needed while the
  // request is out is allocated when it is (response, stream parts, retry timer, own endpoint).
  std::shared_ptr<HttpProvider> provider_;
  std::unique_ptr<ChatRequest> req_;  // null once no attempt can follow (see make_request)
  std::string model_;                 // the requested model, once req_ is let go
  std::int64_t prompt_tokens_ = 0;    // its prompt's estimate, once req_ is let go
  DeltaHandler on_delta_;
  asio::any_completion_handler<Provider::complete_signature> handler_;
  std::unique_ptr<ChatResponse> response_;
  std::unique_ptr<StreamPart> stream_;
  std::unique_ptr<Endpoint> own_endpoint_;  // with the request's own key
  const Endpoint* endpoint_ = nullptr;
  std::unique_ptr<asio::steady_timer> timer_;  // retry back-off only
  asio::cancellation_signal inner_;            // feeds the HTTP request's slot
  clock::time_point start_;
  std::optional<std::chrono::microseconds> ttft_;
  int attempts_ = 0;
  bool cancelled_ = false;
  bool text_delivered_ = false;
  bool in_flight_ = false;  // an HTTP request is bound to inner_'s slot
};

}  // namespace

HttpProvider::HttpProvider(http::Client client, HttpProviderConfig config)
    : client_(std::move(client)),
      config_(std::move(config)),
      endpoint_{config_.vendor, config_.base_url, config_.api_key},
      rng_(std::random_device{}()) {}

std::uint64_t HttpProvider::random() noexcept {
  // splitmix64 over an atomic counter: cheap, thread-safe, good enough for jitter.
  std::uint64_t z = rng_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<ModelInfo> HttpProvider::models() const {
  if (config_.vendor == Vendor::openai_compatible) return {};
  return models_from_pricing(vendor_id(config_.vendor));
}

void HttpProvider::do_complete(ChatRequest req, DeltaHandler on_delta,
                               asio::any_completion_handler<complete_signature> handler) {
  auto op = std::make_shared<CallOp>(shared_from_this(), std::move(req), std::move(on_delta),
                                     std::move(handler));
  op->start();
}

void HttpProvider::do_validate_key(std::string key,
                                   asio::any_completion_handler<validate_signature> handler) {
  auto self = shared_from_this();
  Endpoint ep{config_.vendor, config_.base_url, config_.api_key};
  const std::string& used = key.empty() ? config_.api_key : key;
  auto complete = [self](asio::any_completion_handler<validate_signature> h, Error e) {
    auto ex = asio::get_associated_executor(h, self->get_executor());
    error_code ec = e.code;
    asio::post(self->get_executor(),
               asio::bind_executor(ex, [h = std::move(h), ec, e = std::move(e)]() mutable {
                 std::move(h)(ec, std::move(e));
               }));
  };
  if (ep.base_url.empty()) {
    Error e = make_error(errc::invalid_argument, config_.id + ": no base URL configured");
    e.provider = config_.id;
    return complete(std::move(handler), std::move(e));
  }
  if (used.empty() && config_.vendor != Vendor::openai_compatible) {
    Error e = make_error(errc::auth, config_.id + ": no API key (set " + config_.key_env + ")");
    e.provider = config_.id;
    return complete(std::move(handler), std::move(e));
  }
  http::Request request = build_validate_request(ep, used);
  add_extra_headers(request, config_.headers);
  http::Timeouts timeouts = client_.options().timeouts;
  timeouts.total = std::min(config_.timeout, std::chrono::milliseconds(30'000));
  request.timeouts = timeouts;
  // Our own signal, owned by the completion handler (see CallOp::attempt), fed by the caller's.
  auto signal = std::make_shared<asio::cancellation_signal>();
  if (auto slot = asio::get_associated_cancellation_slot(handler); slot.is_connected()) {
    std::weak_ptr<asio::cancellation_signal> weak = signal;
    slot.assign([weak](asio::cancellation_type type) {
      if (auto s = weak.lock()) s->emit(type);
    });
  }
  auto on_done = [self, complete, signal, h = std::move(handler)](error_code ec,
                                                                  http::Response r) mutable {
    if (auto slot = asio::get_associated_cancellation_slot(h); slot.is_connected()) slot.clear();
    Error e;
    if (ec) {
      e = transport_error(ec, self->config_.id);
    } else if (r.status < 200 || r.status > 299) {
      e = classify_error(self->config_.vendor, r.status, r.headers, r.body);
      e.provider = self->config_.id;
    }
    complete(std::move(h), std::move(e));
  };
  auto inner_slot = signal->slot();
  client_.async_request(std::move(request),
                        asio::bind_cancellation_slot(inner_slot, std::move(on_done)));
}

}  // namespace chorus::providers
