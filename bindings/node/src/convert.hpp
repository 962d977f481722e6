// JSON at the edge between JS and C++: lib/ hands requests and options over as JSON text and
// gets responses, results and events back as JSON text (one JSON.parse per batch is cheaper than
// building objects property by property through Node-API).
#pragma once

#include <chorus/executor.hpp>
#include <chorus/provider.hpp>

#include <boost/json/value.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace chorus::node {

/// A bad value from JS; the message names the field. Becomes an InvalidArgumentError.
class ArgumentError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Parses JSON text from lib/ (always an object); ArgumentError naming `what` otherwise.
boost::json::object parse_object(std::string_view text, const char* what);

/// {provider?, model, prompt?, messages?, systemPrompt?, temperature?, maxTokens?, stop?,
/// jsonMode?, responseSchema?, timeoutMs?, apiKey?, extra?} -> ChatRequest. Throws ArgumentError.
ChatRequest request_from_json(const boost::json::object& o);
/// ChatRequest -> the object a JS provider receives (the API key only when one was set).
boost::json::object request_to_json(const ChatRequest& r);

/// ChatResponse -> {content, reasoning, toolCalls, usage, cost, latencyMs, timeToFirstTokenMs,
/// finishReason, finishReasonRaw, model, provider, requestId, attempts}.
boost::json::object response_to_json(const ChatResponse& r);
/// What a JS provider returned ({content, reasoning?, usage?, cost?, model?, finishReason?,
/// requestId?}) -> ChatResponse. Throws ArgumentError naming the field.
ChatResponse response_from_json(const boost::json::object& o);

/// Run options from lib/ -> RunOptions (without on_event / stop). Throws ArgumentError.
RunOptions run_options_from_json(const boost::json::object& o);

/// Provider options from `new Client(options)`: {apiKeys, baseUrls, timeoutMs, maxRetries}.
std::map<std::string, ProviderOptions> provider_overrides_from_json(const boost::json::object& o);

std::string to_text(const boost::json::value& v);

}  // namespace chorus::node
