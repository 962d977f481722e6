// Prompt processing (seed 2.2): clean the text, check the fields and the context window.
#include <chorus/provider.hpp>
#include <chorus/simulation.hpp>

namespace chorus {

std::string clean_prompt_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      continue;
    }
    if (c == '\n' || c == '\t') {
      out += static_cast<char>(c);
      continue;
    }
    if (c < 0x20 || c == 0x7f) continue;
    // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
    if (c == 0xc2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9f) {
        ++i;
        continue;
      }
    }
    out += static_cast<char>(c);
  }
  const auto first = out.find_first_not_of(" \t\n");
  if (first == std::string::npos) return {};
  const auto last = out.find_last_not_of(" \t\n");
  return out.substr(first, last - first + 1);
}

namespace {

// Whether clean_prompt_text would change `text` (most prompts are already clean: no copy then).
bool needs_cleaning(std::string_view text) noexcept {
  if (text.empty()) return false;
  auto edge = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
  if (edge(text.front()) || edge(text.back())) return true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != 0x7f && c != 0xc2) continue;
    if (c == '\n' || c == '\t') continue;
    if (c == 0xc2) {
      if (i + 1 < text.size()) {
        const auto next = static_cast<unsigned char>(text[i + 1]);
        if (next >= 0x80 && next <= 0x9f) return true;
      }
      continue;
    }
    return true;  // \r, other control characters, DEL
  }
  return false;
}

}  // namespace

std::int64_t estimate_prompt_tokens(const ChatRequest& req) {
  std::int64_t n = sim::estimate_tokens(req.config.system_prompt);
  for (const Message& m : req.messages)
    n += sim::estimate_tokens(m.content);
  return n;
}

Error prepare_request(ChatRequest& req, std::optional<std::int64_t> context_window) {
  ModelConfig& c = req.config;
  if (c.model.empty()) return make_error(errc::invalid_argument, "model: must not be empty");
  if (req.messages.empty())
    return make_error(errc::invalid_argument, "messages: at least one message is required");
  if (c.temperature && !(*c.temperature >= 0.0 && *c.temperature <= 2.0))
    return make_error(errc::invalid_argument, "temperature: must be between 0 and 2");
  if (c.max_tokens && *c.max_tokens <= 0)
    return make_error(errc::invalid_argument, "max_tokens: must be a positive integer");
  if (needs_cleaning(c.system_prompt)) c.system_prompt = clean_prompt_text(c.system_prompt);
  bool any_text = false;
  for (Message& m : req.messages) {
    if (needs_cleaning(m.content)) m.content = clean_prompt_text(m.content);
    any_text = any_text || !m.content.empty();
  }
  if (!any_text)
    return make_error(errc::invalid_argument, "messages: every message is empty after cleaning");
  if (context_window) {
    const std::int64_t prompt = estimate_prompt_tokens(req);
    const std::int64_t output = c.max_tokens.value_or(0);
    if (prompt + output > *context_window) {
      std::string msg = "prompt is about " + std::to_string(prompt) + " tokens (estimated)";
      if (output > 0) msg += " + max_tokens " + std::to_string(output);
      msg += ", more than the " + std::to_string(*context_window) + "-token context window of " +
             c.model;
      return make_error(errc::context_length, std::move(msg));
    }
  }
  return {};
}

}  // namespace chorus
