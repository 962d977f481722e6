// The field-selective readers of fast_json.hpp and the fast path of the stream assembler. Every
// rule here mirrors the DOM code of the vendor files (openai.cpp, anthropic.cpp, gemini.cpp),
// which handles whatever the fast path declines.
#include "fast_json.hpp"

namespace chorus::providers {
namespace fast {

// ---------------------------------------------------------------------------------------------
// OpenAI chat completion / chunk

namespace {
namespace oa {
enum : int {
  skip,
  root,
  model,
  id,
  choices,
  choice,
  message,  // "message" (whole body) or "delta" (stream chunk)
  content,
  reasoning,
  tool_calls,
  finish,
  usage,
  prompt,
  completion,
  total,
  cache_hit,
  prompt_details,
  cached,
  completion_details,
  reasoning_tokens,
  error,
};
}  // namespace oa
}  // namespace

void OpenAiHandler::clear() {
  decline = false;
  f.root_object = f.choices_array = f.choice_object = f.message_object = f.usage_object = false;
  for (Text* t : {&f.model, &f.id, &f.content, &f.reasoning, &f.finish_reason})
    t->clear();
  f.usage = {};
}

Kind OpenAiHandler::kind(int node) const noexcept {
  switch (node) {
    case oa::root:
    case oa::choice:
    case oa::message:
    case oa::usage:
    case oa::prompt_details:
    case oa::completion_details:
    case oa::error:
      return Kind::object;
    case oa::choices:
    case oa::tool_calls:
      return Kind::array;
    default:
      return Kind::leaf;
  }
}

int OpenAiHandler::child(int node, std::string_view key) noexcept {
  switch (node) {
    case oa::root:
      if (is(key, "choices")) return oa::choices;
      if (is(key, "model")) return oa::model;
      if (is(key, "id")) return oa::id;
      if (is(key, "usage")) return oa::usage;
      if (stream_ && is(key, "error")) return oa::error;  // an error object inside a 200 stream
      return oa::skip;
    case oa::choice:
      if (stream_ ? is(key, "delta") : is(key, "message")) return oa::message;
      if (is(key, "finish_reason")) return oa::finish;
      return oa::skip;
    case oa::message:
      if (is(key, "content")) return oa::content;
      if (is(key, "reasoning_content")) return oa::reasoning;
      if (is(key, "tool_calls")) return oa::tool_calls;
      return oa::skip;
    case oa::usage:
      if (is(key, "prompt_tokens")) return oa::prompt;
      if (is(key, "completion_tokens")) return oa::completion;
      if (is(key, "total_tokens")) return oa::total;
      if (is(key, "prompt_cache_hit_tokens")) return oa::cache_hit;
      if (is(key, "prompt_tokens_details")) return oa::prompt_details;
      if (is(key, "completion_tokens_details")) return oa::completion_details;
      return oa::skip;
    case oa::prompt_details:
      return is(key, "cached_tokens") ? oa::cached : oa::skip;
    case oa::completion_details:
      return is(key, "reasoning_tokens") ? oa::reasoning_tokens : oa::skip;
    default:
      return oa::skip;
  }
}

int OpenAiHandler::element(int node, std::size_t index) noexcept {
  if (node == oa::choices) return index == 0 ? oa::choice : oa::skip;
  // Tool calls (rare) are assembled by the DOM code; an empty or null list is nothing.
  if (node == oa::tool_calls) decline = true;
  return oa::skip;
}

void OpenAiHandler::open(int node) noexcept {
  switch (node) {
    case oa::root:
      f.root_object = true;
      break;
    case oa::choices:
      f.choices_array = true;
      break;
    case oa::choice:
      f.choice_object = true;
      break;
    case oa::message:
      f.message_object = true;
      break;
    case oa::usage:
      f.usage_object = true;
      break;
    case oa::prompt_details:
      f.usage.prompt_details = true;
      break;
    case oa::completion_details:
      f.usage.completion_details = true;
      break;
    case oa::error:
      decline = true;
      break;
    default:
      break;
  }
}

void OpenAiHandler::string(int node, std::string_view s, bool escaped) {
  switch (node) {
    case oa::model:
      f.model.set(s, escaped);
      break;
    case oa::id:
      f.id.set(s, escaped);
      break;
    case oa::content:
      f.content.set(s, escaped);
      break;
    case oa::reasoning:
      f.reasoning.set(s, escaped);
      break;
    case oa::finish:
      f.finish_reason.set(s, escaped);
      break;
    default:
      break;
  }
}

void OpenAiHandler::integer(int node, std::int64_t v) noexcept {
  switch (node) {
    case oa::prompt:
      f.usage.prompt = v;
      break;
    case oa::completion:
      f.usage.completion = v;
      break;
    case oa::total:
      f.usage.total = v;
      break;
    case oa::cache_hit:
      f.usage.cache_hit = v;
      break;
    case oa::cached:
      f.usage.cached = v;
      break;
    case oa::reasoning_tokens:
      f.usage.reasoning = v;
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Anthropic stream event

namespace {
namespace ae {
enum : int {
  skip,
  root,
  type,
  index,
  message,
  m_model,
  m_id,
  m_usage,
  mu_input,
  mu_cache_creation,
  mu_cache_read,
  mu_output,
  block,
  b_type,
  b_text,
  b_thinking,
  delta,
  d_type,
  d_text,
  d_thinking,
  d_partial_json,
  d_stop_reason,
  usage,
  u_input,
  u_cache_creation,
  u_cache_read,
  u_output,
};

int usage_child(std::string_view key, int base) {
  // base is mu_input or u_input; the four numbers follow it in the same order.
  if (is(key, "input_tokens")) return base;
  if (is(key, "cache_creation_input_tokens")) return base + 1;
  if (is(key, "cache_read_input_tokens")) return base + 2;
  if (is(key, "output_tokens")) return base + 3;
  return skip;
}

void set_usage(AnthropicUsageFields& u, int which, std::int64_t v) {
  switch (which) {
    case 0:
      u.input = v;
      break;
    case 1:
      u.cache_creation = v;
      break;
    case 2:
      u.cache_read = v;
      break;
    default:
      u.output = v;
      break;
  }
}
}  // namespace ae
}  // namespace

void AnthropicEventHandler::clear() {
  decline = false;
  f.root_object = f.message_object = f.message_usage_object = f.block_object = f.delta_object =
      f.stop_reason_set = f.usage_object = false;
  for (Text* s : {&f.type, &f.model, &f.id, &f.block_type, &f.block_text, &f.block_thinking,
                  &f.delta_type, &f.delta_text, &f.delta_thinking, &f.partial_json, &f.stop_reason})
    s->clear();
  f.index.reset();
  f.message_usage = {};
  f.usage = {};
}

Kind AnthropicEventHandler::kind(int node) const noexcept {
  switch (node) {
    case ae::root:
    case ae::message:
    case ae::m_usage:
    case ae::block:
    case ae::delta:
    case ae::usage:
      return Kind::object;
    default:
      return Kind::leaf;
  }
}

int AnthropicEventHandler::child(int node, std::string_view key) const noexcept {
  switch (node) {
    case ae::root:
      if (is(key, "type")) return ae::type;
      if (is(key, "delta")) return ae::delta;
      if (is(key, "index")) return ae::index;
      if (is(key, "content_block")) return ae::block;
      if (is(key, "message")) return ae::message;
      if (is(key, "usage")) return ae::usage;
      return ae::skip;
    case ae::message:
      if (is(key, "model")) return ae::m_model;
      if (is(key, "id")) return ae::m_id;
      if (is(key, "usage")) return ae::m_usage;
      return ae::skip;
    case ae::m_usage:
      return ae::usage_child(key, ae::mu_input);
    case ae::usage:
      return ae::usage_child(key, ae::u_input);
    case ae::block:
      if (is(key, "type")) return ae::b_type;
      if (is(key, "text")) return ae::b_text;
      if (is(key, "thinking")) return ae::b_thinking;
      return ae::skip;
    case ae::delta:
      if (is(key, "type")) return ae::d_type;
      if (is(key, "text")) return ae::d_text;
      if (is(key, "thinking")) return ae::d_thinking;
      if (is(key, "partial_json")) return ae::d_partial_json;
      if (is(key, "stop_reason")) return ae::d_stop_reason;
      return ae::skip;
    default:
      return ae::skip;
  }
}

void AnthropicEventHandler::open(int node) noexcept {
  switch (node) {
    case ae::root:
      f.root_object = true;
      break;
    case ae::message:
      f.message_object = true;
      break;
    case ae::m_usage:
      f.message_usage_object = true;
      break;
    case ae::block:
      f.block_object = true;
      break;
    case ae::delta:
      f.delta_object = true;
      break;
    case ae::usage:
      f.usage_object = true;
      break;
    default:
      break;
  }
}

void AnthropicEventHandler::string(int node, std::string_view s, bool escaped) {
  Text* to = nullptr;
  switch (node) {
    case ae::type:
      to = &f.type;
      break;
    case ae::m_model:
      to = &f.model;
      break;
    case ae::m_id:
      to = &f.id;
      break;
    case ae::b_type:
      to = &f.block_type;
      break;
    case ae::b_text:
      to = &f.block_text;
      break;
    case ae::b_thinking:
      to = &f.block_thinking;
      break;
    case ae::d_type:
      to = &f.delta_type;
      break;
    case ae::d_text:
      to = &f.delta_text;
      break;
    case ae::d_thinking:
      to = &f.delta_thinking;
      break;
    case ae::d_partial_json:
      to = &f.partial_json;
      break;
    case ae::d_stop_reason:
      to = &f.stop_reason;
      f.stop_reason_set = true;
      break;
    default:
      return;
  }
  to->set(s, escaped);
}

void AnthropicEventHandler::integer(int node, std::int64_t v) noexcept {
  if (node == ae::index)
    f.index = v;
  else if (node >= ae::mu_input && node <= ae::mu_output)
    ae::set_usage(f.message_usage, node - ae::mu_input, v);
  else if (node >= ae::u_input && node <= ae::u_output)
    ae::set_usage(f.usage, node - ae::u_input, v);
}

// ---------------------------------------------------------------------------------------------
// Anthropic whole message

namespace {
namespace am {
enum : int {
  skip,
  root,
  model,
  id,
  content,
  block,
  b_type,
  b_text,
  b_thinking,
  stop_reason,
  usage,
  u_input,
  u_cache_creation,
  u_cache_read,
  u_output,
};
}  // namespace am
}  // namespace

void AnthropicMessageHandler::clear() {
  decline = false;
  f.root_object = f.content_array = f.usage_object = false;
  f.model.clear();
  f.id.clear();
  f.stop_reason.clear();
  f.text.clear();
  f.thinking.clear();
  f.usage = {};
}

Kind AnthropicMessageHandler::kind(int node) const noexcept {
  switch (node) {
    case am::root:
    case am::block:
    case am::usage:
      return Kind::object;
    case am::content:
      return Kind::array;
    default:
      return Kind::leaf;
  }
}

int AnthropicMessageHandler::child(int node, std::string_view key) const noexcept {
  switch (node) {
    case am::root:
      if (is(key, "content")) return am::content;
      if (is(key, "model")) return am::model;
      if (is(key, "id")) return am::id;
      if (is(key, "stop_reason")) return am::stop_reason;
      if (is(key, "usage")) return am::usage;
      return am::skip;
    case am::block:
      if (is(key, "type")) return am::b_type;
      if (is(key, "text")) return am::b_text;
      if (is(key, "thinking")) return am::b_thinking;
      return am::skip;
    case am::usage:
      return ae::usage_child(key, am::u_input);
    default:
      return am::skip;
  }
}

int AnthropicMessageHandler::element(int node, std::size_t) const noexcept {
  return node == am::content ? am::block : am::skip;
}

void AnthropicMessageHandler::open(int node) noexcept {
  switch (node) {
    case am::root:
      f.root_object = true;
      break;
    case am::content:
      f.content_array = true;
      break;
    case am::block:
      block_type_.clear();
      block_text_.clear();
      block_thinking_.clear();
      break;
    case am::usage:
      f.usage_object = true;
      break;
    default:
      break;
  }
}

void AnthropicMessageHandler::close(int node) {
  if (node != am::block) return;
  const std::string_view type = block_type_.view();
  if (is(type, "text"))
    f.text.add(block_text_.view(), block_text_.in_document());
  else if (is(type, "thinking"))
    f.thinking.add(block_thinking_.view(), block_thinking_.in_document());
  else if (is(type, "tool_use"))
    decline = true;  // tool calls (rare) are read by the DOM code
}

void AnthropicMessageHandler::string(int node, std::string_view s, bool escaped) {
  switch (node) {
    case am::model:
      f.model.set(s, escaped);
      break;
    case am::id:
      f.id.set(s, escaped);
      break;
    case am::b_type:
      block_type_.set(s, escaped);
      break;
    case am::b_text:
      block_text_.set(s, escaped);
      break;
    case am::b_thinking:
      block_thinking_.set(s, escaped);
      break;
    case am::stop_reason:
      f.stop_reason.set(s, escaped);
      break;
    default:
      break;
  }
}

void AnthropicMessageHandler::integer(int node, std::int64_t v) noexcept {
  if (node >= am::u_input && node <= am::u_output) ae::set_usage(f.usage, node - am::u_input, v);
}

// ---------------------------------------------------------------------------------------------
// Gemini GenerateContentResponse

namespace {
namespace gm {
enum : int {
  skip,
  root,
  candidates,
  candidate,
  content,
  parts,
  part,
  p_text,
  p_thought,
  function_call,
  finish,
  feedback,
  block_reason,
  usage,
  u_prompt,
  u_candidates,
  u_total,
  u_thoughts,
  u_cached,
  model_version,
  response_id,
  error,
};
}  // namespace gm
}  // namespace

void GeminiHandler::clear() {
  decline = false;
  f.root_object = f.feedback_object = f.usage_object = false;
  f.text.clear();
  f.thought.clear();
  for (Text* t : {&f.finish_reason, &f.block_reason, &f.model_version, &f.response_id})
    t->clear();
  f.prompt.reset();
  f.candidates.reset();
  f.total.reset();
  f.thoughts.reset();
  f.cached.reset();
}

Kind GeminiHandler::kind(int node) const noexcept {
  switch (node) {
    case gm::root:
    case gm::candidate:
    case gm::content:
    case gm::part:
    case gm::function_call:
    case gm::feedback:
    case gm::usage:
    case gm::error:
      return Kind::object;
    case gm::candidates:
    case gm::parts:
      return Kind::array;
    default:
      return Kind::leaf;
  }
}

int GeminiHandler::child(int node, std::string_view key) noexcept {
  switch (node) {
    case gm::root:
      if (is(key, "candidates")) return gm::candidates;
      if (is(key, "usageMetadata")) return gm::usage;
      if (is(key, "modelVersion")) return gm::model_version;
      if (is(key, "responseId")) return gm::response_id;
      if (is(key, "promptFeedback")) return gm::feedback;
      if (is(key, "error")) return gm::error;
      return gm::skip;
    case gm::candidate:
      if (is(key, "content")) return gm::content;
      if (is(key, "finishReason")) return gm::finish;
      return gm::skip;
    case gm::content:
      return is(key, "parts") ? gm::parts : gm::skip;
    case gm::part:
      if (is(key, "text")) return gm::p_text;
      if (is(key, "thought")) return gm::p_thought;
      if (is(key, "functionCall")) return gm::function_call;
      return gm::skip;
    case gm::feedback:
      return is(key, "blockReason") ? gm::block_reason : gm::skip;
    case gm::usage:
      if (is(key, "promptTokenCount")) return gm::u_prompt;
      if (is(key, "candidatesTokenCount")) return gm::u_candidates;
      if (is(key, "totalTokenCount")) return gm::u_total;
      if (is(key, "thoughtsTokenCount")) return gm::u_thoughts;
      if (is(key, "cachedContentTokenCount")) return gm::u_cached;
      return gm::skip;
    default:
      return gm::skip;
  }
}

int GeminiHandler::element(int node, std::size_t index) const noexcept {
  if (node == gm::candidates) return index == 0 ? gm::candidate : gm::skip;
  if (node == gm::parts) return gm::part;
  return gm::skip;
}

void GeminiHandler::open(int node) noexcept {
  switch (node) {
    case gm::root:
      f.root_object = true;
      break;
    case gm::part:
      part_text_.clear();
      part_has_text_ = false;
      part_thought_ = false;
      break;
    case gm::feedback:
      f.feedback_object = true;
      break;
    case gm::usage:
      f.usage_object = true;
      break;
    case gm::function_call:  // tool calls (rare) are read by the DOM code
    case gm::error:          // as are errors inside a 200 stream
      decline = true;
      break;
    default:
      break;
  }
}

void GeminiHandler::close(int node) {
  if (node != gm::part || !part_has_text_) return;
  (part_thought_ ? f.thought : f.text).add(part_text_.view(), part_text_.in_document());
}

void GeminiHandler::string(int node, std::string_view s, bool escaped) {
  switch (node) {
    case gm::p_text:
      part_text_.set(s, escaped);
      part_has_text_ = true;
      break;
    case gm::finish:
      f.finish_reason.set(s, escaped);
      break;
    case gm::block_reason:
      f.block_reason.set(s, escaped);
      break;
    case gm::model_version:
      f.model_version.set(s, escaped);
      break;
    case gm::response_id:
      f.response_id.set(s, escaped);
      break;
    default:
      break;
  }
}

void GeminiHandler::integer(int node, std::int64_t v) noexcept {
  switch (node) {
    case gm::u_prompt:
      f.prompt = v;
      break;
    case gm::u_candidates:
      f.candidates = v;
      break;
    case gm::u_total:
      f.total = v;
      break;
    case gm::u_thoughts:
      f.thoughts = v;
      break;
    case gm::u_cached:
      f.cached = v;
      break;
    default:
      break;
  }
}

void GeminiHandler::boolean(int node, bool b) noexcept {
  if (node == gm::p_thought) part_thought_ = b;
}

GeminiChunk apply_gemini_fields(const GeminiFields& f, ChatResponse& out) {
  const std::size_t text_start = out.content.size();
  const std::size_t reasoning_start = out.reasoning.size();
  out.content.append(f.text.view());
  out.reasoning.append(f.thought.view());
  if (!f.finish_reason.empty()) {
    out.finish_reason_raw.assign(f.finish_reason.view());
    out.finish_reason = map_finish_reason(Vendor::gemini, f.finish_reason.view());
  }
  if (f.feedback_object && !f.block_reason.empty()) {
    out.finish_reason_raw.assign(f.block_reason.view());
    out.finish_reason = FinishReason::content_filter;
  }
  if (f.usage_object) {
    // Running totals on every chunk: take the last, never add.
    const std::int64_t thoughts = f.thoughts.value_or(0);
    out.usage.prompt_tokens = f.prompt.value_or(0);
    out.usage.completion_tokens = f.candidates.value_or(0) + thoughts;
    out.usage.total_tokens =
        f.total.value_or(out.usage.prompt_tokens + out.usage.completion_tokens);
    out.usage.reasoning_tokens = thoughts;
    out.usage.cached_prompt_tokens = f.cached.value_or(0);
    out.usage.reported = true;
  }
  const std::string_view version = f.model_version.view();
  if (!version.empty() && out.model != version) out.model.assign(version);
  if (out.request_id.empty()) out.request_id.assign(f.response_id.view());
  GeminiChunk result;
  result.text = std::string_view(out.content).substr(text_start);
  result.reasoning = std::string_view(out.reasoning).substr(reasoning_start);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Whole responses

bool parse_openai_response(Vendor vendor, std::string_view body, ChatResponse& out) {
  Reader<OpenAiHandler> reader;
  if (!reader.read(body)) return false;
  const OpenAiFields& f = reader.handler().f;
  if (!f.root_object || !f.choices_array) return false;  // the DOM code reports it
  out.model.assign(f.model.view());
  if (out.request_id.empty()) out.request_id.assign(f.id.view());
  if (f.choice_object) {
    if (f.message_object) {
      out.content.append(f.content.view());
      out.reasoning.append(f.reasoning.view());
    }
    out.finish_reason_raw.assign(f.finish_reason.view());
    out.finish_reason = map_finish_reason(vendor, out.finish_reason_raw);
  }
  if (f.usage_object) apply_openai_usage(f.usage, out.usage);
  return true;
}

bool parse_anthropic_response(std::string_view body, ChatResponse& out) {
  Reader<AnthropicMessageHandler> reader;
  if (!reader.read(body)) return false;
  const AnthropicMessageFields& f = reader.handler().f;
  if (!f.root_object || !f.content_array) return false;
  out.model.assign(f.model.view());
  if (out.request_id.empty()) out.request_id.assign(f.id.view());
  out.content.append(f.text.view());
  out.reasoning.append(f.thinking.view());
  out.finish_reason_raw.assign(f.stop_reason.view());
  out.finish_reason = map_finish_reason(Vendor::anthropic, out.finish_reason_raw);
  if (f.usage_object) apply_anthropic_usage(f.usage, out.usage, true);
  return true;
}

bool parse_gemini_response(std::string_view body, ChatResponse& out) {
  Reader<GeminiHandler> reader;
  if (!reader.read(body)) return false;
  if (!reader.handler().f.root_object) return false;
  apply_gemini_fields(reader.handler().f, out);
  finish_gemini(out);
  return true;
}

}  // namespace fast

// ---------------------------------------------------------------------------------------------
// The stream assembler's fast path

bool StreamAssembler::fast_event(std::string_view event, std::string_view data) {
  switch (vendor_) {
    case Vendor::anthropic:
      return fast_anthropic(event, data);
    case Vendor::gemini:
      return fast_gemini(data);
    default:
      return fast_openai(data);
  }
}

bool StreamAssembler::fast_openai(std::string_view data) {
  auto& reader = *fast_->openai;
  if (!reader.read(data)) return false;
  const fast::OpenAiFields& f = reader.handler().f;
  if (!f.root_object) return false;
  const std::string_view model = f.model.view();
  if (!model.empty() && out_.model != model) out_.model.assign(model);
  if (out_.request_id.empty()) out_.request_id.assign(f.id.view());
  if (f.choice_object) {
    if (f.message_object) emit(f.content.view(), f.reasoning.view());
    if (const std::string_view fr = f.finish_reason.view(); !fr.empty()) {
      out_.finish_reason_raw.assign(fr);
      out_.finish_reason = map_finish_reason(vendor_, fr);
    }
  }
  if (f.usage_object) apply_openai_usage(f.usage, out_.usage);
  return true;
}

bool StreamAssembler::fast_anthropic(std::string_view event, std::string_view data) {
  using fast::is;
  auto& reader = *fast_->anthropic;
  if (!reader.read(data)) return false;
  const fast::AnthropicEventFields& f = reader.handler().f;
  if (!f.root_object) return false;
  std::string_view type = f.type.view();
  if (type.empty()) type = event;
  if (is(type, "ping") || is(type, "content_block_stop")) return true;
  if (is(type, "content_block_delta")) {
    if (f.delta_object) {
      const std::string_view dt = f.delta_type.view();
      if (is(dt, "text_delta")) {
        emit(f.delta_text.view(), {});
      } else if (is(dt, "thinking_delta")) {
        emit({}, f.delta_thinking.view());
      } else if (is(dt, "input_json_delta")) {
        if (auto it = tool_index_.find(f.index.value_or(0)); it != tool_index_.end())
          out_.tool_calls[it->second].arguments.append(f.partial_json.view());
      }
    }
  } else if (is(type, "message_start")) {
    if (f.message_object) {
      out_.model.assign(f.model.view());
      if (out_.request_id.empty()) out_.request_id.assign(f.id.view());
      if (f.message_usage_object) apply_anthropic_usage(f.message_usage, out_.usage, false);
    }
  } else if (is(type, "content_block_start")) {
    if (f.block_object) {
      const std::string_view bt = f.block_type.view();
      if (is(bt, "tool_use")) return false;  // the DOM code opens the tool call
      block_type_[f.index.value_or(0)] = std::string(bt);
      if (is(bt, "text"))
        emit(f.block_text.view(), {});
      else if (is(bt, "thinking"))
        emit({}, f.block_thinking.view());
    }
  } else if (is(type, "message_delta")) {
    if (f.delta_object && f.stop_reason_set) {
      out_.finish_reason_raw.assign(f.stop_reason.view());
      out_.finish_reason = map_finish_reason(Vendor::anthropic, out_.finish_reason_raw);
    }
    if (f.usage_object) apply_anthropic_usage(f.usage, out_.usage, true);
  } else if (is(type, "message_stop")) {
    saw_message_stop_ = true;
    complete_ = true;
  } else if (is(type, "error")) {
    return false;  // the DOM code reads the error object
  }
  return true;
}

bool StreamAssembler::fast_gemini(std::string_view data) {
  auto& reader = *fast_->gemini;
  if (!reader.read(data)) return false;
  const fast::GeminiFields& f = reader.handler().f;
  if (!f.root_object) return false;
  GeminiChunk piece = fast::apply_gemini_fields(f, out_);
  if (!piece.text.empty() || !piece.reasoning.empty()) {
    delivered_ = true;
    if (on_delta_ && *on_delta_) (*on_delta_)(StreamDelta{piece.text, piece.reasoning});
  }
  if (!out_.finish_reason_raw.empty()) complete_ = true;
  return true;
}

}  // namespace chorus::providers
