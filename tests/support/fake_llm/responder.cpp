#include "responder.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>

#ifndef CHORUS_FIXTURES_DIR
#define CHORUS_FIXTURES_DIR ""
#endif

namespace chorus::test::fake {

namespace json = boost::json;
namespace http = boost::beast::http;
using std::chrono::milliseconds;

void Plan::reset() {
  data.clear();
  pieces.clear();
  latency = milliseconds(0);
  slow = milliseconds(0);
  cut_at = no_cut;
  close = false;
}

namespace {

enum class Vendor { openai, deepseek, anthropic, gemini };

std::string_view vendor_name(Vendor v) {
  switch (v) {
    case Vendor::openai:
      return "openai";
    case Vendor::deepseek:
      return "deepseek";
    case Vendor::anthropic:
      return "anthropic";
    case Vendor::gemini:
      return "gemini";
  }
  return "openai";
}

// ---------------------------------------------------------------------------------------------
// Small writers. Responses are written by hand into reused strings: no DOM, no allocation once
// the buffers have grown.

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 529:
      return "Overloaded";
    default:
      break;
  }
  return http::obsolete_reason(static_cast<http::status>(status));
}

void begin_head(Plan& p, int status) {
  p.data += "HTTP/1.1 ";
  append_int(p.data, status);
  p.data += ' ';
  std::string_view reason = reason_phrase(status);
  p.data += reason.empty() ? std::string_view("Unknown") : reason;
  p.data += "\r\nserver: chorus-fake-llm\r\n";
}

void add_header(Plan& p, std::string_view name, std::string_view value) {
  p.data += name;
  p.data += ": ";
  p.data += value;
  p.data += "\r\n";
}

void end_head(Plan& p) {
  p.data += p.close ? "connection: close\r\n\r\n" : "connection: keep-alive\r\n\r\n";
}

struct Faults {
  std::optional<std::int64_t> cut;
  std::optional<std::string> content_type;
  milliseconds token_delay{0};
};

// A complete response whose body is `p.body`; `extra` headers must end with "\r\n" each.
void whole(Plan& p, int status, std::string_view content_type, std::string_view extra,
           const Faults& f) {
  begin_head(p, status);
  add_header(p, "content-type", f.content_type ? std::string_view(*f.content_type) : content_type);
  p.data += extra;
  p.data += "content-length: ";
  append_int(p.data, static_cast<std::int64_t>(p.body.size()));
  p.data += "\r\n";
  if (f.cut) p.close = true;
  end_head(p);
  if (f.cut && static_cast<std::size_t>(*f.cut) < p.body.size())
    p.cut_at = p.data.size() + static_cast<std::size_t>(*f.cut);
  p.data += p.body;
  p.pieces.push_back({p.data.size(), milliseconds(0)});
}

// Streams: chunked transfer encoding, one chunk per event.
struct Stream {
  Plan& p;
  const Faults& f;
  std::int64_t tokens = 0;

  void begin(std::string_view content_type, std::string_view extra) {
    begin_head(p, 200);
    add_header(p, "content-type",
               f.content_type ? std::string_view(*f.content_type) : content_type);
    add_header(p, "cache-control", "no-cache");
    p.data += extra;
    p.data += "transfer-encoding: chunked\r\n";
    if (f.cut) p.close = true;
    end_head(p);
    p.pieces.push_back({p.data.size(), milliseconds(0)});
    if (f.cut && *f.cut == 0) p.cut_at = p.data.size();
  }

  // Sends p.event as one chunk; a token event waits token_delay and counts toward cut.
  void send(bool token) {
    char size[16];
    auto [end, ec] = std::to_chars(size, size + sizeof size, p.event.size(), 16);
    p.data.append(size, end);
    p.data += "\r\n";
    p.data += p.event;
    p.data += "\r\n";
    p.pieces.push_back({p.data.size(), token ? f.token_delay : milliseconds(0)});
    if (token && ++tokens == f.cut.value_or(-1) && p.cut_at == Plan::no_cut)
      p.cut_at = p.data.size();
    p.event.clear();
  }

  void finish() {
    p.data += "0\r\n\r\n";
    p.pieces.push_back({p.data.size(), milliseconds(0)});
  }
};

// ---------------------------------------------------------------------------------------------
// Requests.

struct Message {
  std::string_view role;
  std::string text;
};

struct Call {
  Vendor vendor = Vendor::openai;
  std::string model;
  bool stream = false;
  bool sse = true;  // Gemini streamGenerateContent without alt=sse answers a JSON array
  bool include_usage = false;
  std::optional<std::int64_t> max_tokens;
  std::int64_t prompt_tokens = 0;
  std::string last_user;
};

// A request error: which field, what is wrong.
struct BadRequest {
  std::string field;
  std::string problem;
};

const json::value* find(const json::object& o, std::string_view key) {
  return o.if_contains(key);
}

// Text of a content value: a string, or an array of parts carrying "text".
std::optional<std::string> content_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return std::string();
  if (!v.is_array()) return std::nullopt;
  std::string out;
  for (const auto& part : v.get_array()) {
    if (part.is_string()) {
      out += part.get_string();
      continue;
    }
    if (!part.is_object()) return std::nullopt;
    if (auto* t = part.get_object().if_contains("text")) {
      if (!t->is_string()) return std::nullopt;
      if (!out.empty()) out += '\n';
      out += t->get_string();
    }
  }
  return out;
}

std::optional<std::int64_t> as_count(const json::value& v) {
  if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
  if (v.is_uint64())
    return static_cast<std::int64_t>(std::min<std::uint64_t>(v.get_uint64(), INT64_MAX));
  return std::nullopt;
}

std::optional<BadRequest> parse_openai(const json::object& o, Call& c, std::string& system) {
  auto* model = find(o, "model");
  if (!model || !model->is_string() || model->get_string().empty())
    return BadRequest{"model", "you must provide a model parameter (a non-empty string)"};
  c.model = model->get_string();
  if (c.model.starts_with("deepseek")) c.vendor = Vendor::deepseek;
  auto* messages = find(o, "messages");
  if (!messages || !messages->is_array())
    return BadRequest{"messages", "'messages' is a required property and must be an array"};
  if (messages->get_array().empty())
    return BadRequest{"messages", "'messages' must contain at least one message"};
  std::size_t i = 0;
  for (const auto& m : messages->get_array()) {
    std::string at = "messages[" + std::to_string(i++) + "]";
    if (!m.is_object()) return BadRequest{at, "expected an object"};
    auto* role = m.get_object().if_contains("role");
    if (!role || !role->is_string()) return BadRequest{at + ".role", "expected a string"};
    auto* content = m.get_object().if_contains("content");
    std::optional<std::string> text = content ? content_text(*content) : std::string();
    if (!text) return BadRequest{at + ".content", "expected a string or an array of content parts"};
    c.prompt_tokens += sim::estimate_tokens(*text);
    const auto r = role->get_string();
    if (r == "system" || r == "developer") {
      if (!system.empty()) system += '\n';
      system += *text;
    } else if (r == "user") {
      c.last_user = std::move(*text);
    }
  }
  if (auto* s = find(o, "stream")) {
    if (!s->is_bool() && !s->is_null()) return BadRequest{"stream", "expected a boolean"};
    c.stream = s->is_bool() && s->get_bool();
  }
  if (auto* so = find(o, "stream_options"); so && so->is_object())
    if (auto* iu = so->get_object().if_contains("include_usage"); iu && iu->is_bool())
      c.include_usage = iu->get_bool();
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (auto* mt = find(o, key); mt && !mt->is_null()) {
      c.max_tokens = as_count(*mt);
      if (!c.max_tokens) return BadRequest{key, "expected a non-negative integer"};
    }
  }
  return std::nullopt;
}

std::optional<BadRequest> parse_anthropic(const json::object& o, Call& c, std::string& system) {
  auto* model = find(o, "model");
  if (!model || !model->is_string() || model->get_string().empty())
    return BadRequest{"model", "Field required (a non-empty string)"};
  c.model = model->get_string();
  auto* mt = find(o, "max_tokens");
  if (!mt) return BadRequest{"max_tokens", "Field required"};
  c.max_tokens = as_count(*mt);
  if (!c.max_tokens) return BadRequest{"max_tokens", "Input should be a valid integer >= 0"};
  auto* messages = find(o, "messages");
  if (!messages || !messages->is_array())
    return BadRequest{"messages", "Field required (an array)"};
  if (messages->get_array().empty())
    return BadRequest{"messages", "at least one message is required"};
  if (auto* s = find(o, "system")) {
    auto text = content_text(*s);
    if (!text) return BadRequest{"system", "Input should be a string or a list of text blocks"};
    system = std::move(*text);
    c.prompt_tokens += sim::estimate_tokens(system);
  }
  std::size_t i = 0;
  for (const auto& m : messages->get_array()) {
    std::string at = "messages." + std::to_string(i++);
    if (!m.is_object()) return BadRequest{at, "Input should be an object"};
    auto* role = m.get_object().if_contains("role");
    if (!role || !role->is_string() ||
        (role->get_string() != "user" && role->get_string() != "assistant"))
      return BadRequest{at + ".role", "Input should be 'user' or 'assistant'"};
    auto* content = m.get_object().if_contains("content");
    if (!content) return BadRequest{at + ".content", "Field required"};
    auto text = content_text(*content);
    if (!text || content->is_null())
      return BadRequest{at + ".content", "Input should be a string or a list of content blocks"};
    c.prompt_tokens += sim::estimate_tokens(*text);
    if (role->get_string() == "user") c.last_user = std::move(*text);
  }
  if (auto* s = find(o, "stream")) {
    if (!s->is_bool()) return BadRequest{"stream", "Input should be a valid boolean"};
    c.stream = s->get_bool();
  }
  return std::nullopt;
}

std::optional<std::string> parts_text(const json::value& content, const std::string& at,
                                      std::optional<BadRequest>& bad) {
  if (!content.is_object()) {
    bad = BadRequest{at, "Invalid value (expected a Content object)"};
    return std::nullopt;
  }
  auto* parts = content.get_object().if_contains("parts");
  if (!parts || !parts->is_array()) {
    bad = BadRequest{at + ".parts", "Invalid value (expected an array of parts)"};
    return std::nullopt;
  }
  std::string out;
  std::size_t j = 0;
  for (const auto& part : parts->get_array()) {
    if (!part.is_object()) {
      bad = BadRequest{at + ".parts[" + std::to_string(j) + "]", "Invalid value (expected a Part)"};
      return std::nullopt;
    }
    if (auto* t = part.get_object().if_contains("text")) {
      if (!t->is_string()) {
        bad = BadRequest{at + ".parts[" + std::to_string(j) + "].text",
                         "Invalid value (expected a string)"};
        return std::nullopt;
      }
      if (!out.empty()) out += '\n';
      out += t->get_string();
    }
    ++j;
  }
  return out;
}

std::optional<BadRequest> parse_gemini(const json::object& o, Call& c, std::string& system) {
  std::optional<BadRequest> bad;
  auto* contents = find(o, "contents");
  if (!contents || !contents->is_array() || contents->get_array().empty())
    return BadRequest{"contents", "* GenerateContentRequest.contents: contents is not specified"};
  for (const char* key : {"systemInstruction", "system_instruction"}) {
    if (auto* si = find(o, key)) {
      auto text = parts_text(*si, key, bad);
      if (!text) return bad;
      system = std::move(*text);
      c.prompt_tokens += sim::estimate_tokens(system);
    }
  }
  std::size_t i = 0;
  for (const auto& content : contents->get_array()) {
    std::string at = "contents[" + std::to_string(i++) + "]";
    auto text = parts_text(content, at, bad);
    if (!text) return bad;
    c.prompt_tokens += sim::estimate_tokens(*text);
    auto* role = content.get_object().if_contains("role");
    if (role && !role->is_string())
      return BadRequest{at + ".role", "Invalid value (expected a string)"};
    if (!role || role->get_string() == "user") c.last_user = std::move(*text);
  }
  if (auto* gc = find(o, "generationConfig"); gc && gc->is_object())
    if (auto* mt = gc->get_object().if_contains("maxOutputTokens")) {
      c.max_tokens = as_count(*mt);
      if (!c.max_tokens)
        return BadRequest{"generationConfig.maxOutputTokens",
                          "Invalid value (expected an integer)"};
    }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Script rules.

struct Rule {
  std::string match, model, vendor;
  sim::Directives directives;
};

std::vector<Rule> load_script(const std::string& file) {
  std::vector<Rule> rules;
  if (file.empty()) return rules;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("fake LLM script: cannot read " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value doc = json::parse(ss.str(), ec);
  if (ec) throw std::runtime_error("fake LLM script " + file + ": invalid JSON: " + ec.message());
  const json::array* list = doc.if_array();
  if (!list && doc.is_object())
    if (auto* r = doc.get_object().if_contains("rules")) list = r->if_array();
  if (!list)
    throw std::runtime_error("fake LLM script " + file +
                             ": expected {\"rules\": [...]} or an array of rules");
  std::size_t i = 0;
  for (const auto& item : *list) {
    const std::string at = file + ": rules[" + std::to_string(i++) + "]";
    if (!item.is_object())
      throw std::runtime_error("fake LLM script " + at + ": expected an object");
    Rule rule;
    for (const auto& [key, value] : item.get_object()) {
      if (!value.is_string())
        throw std::runtime_error("fake LLM script " + at + "." + std::string(key) +
                                 ": expected a string");
      std::string v(value.get_string());
      if (key == "match") {
        rule.match = std::move(v);
      } else if (key == "model") {
        rule.model = std::move(v);
      } else if (key == "vendor") {
        if (v != "openai" && v != "deepseek" && v != "anthropic" && v != "gemini")
          throw std::runtime_error("fake LLM script " + at +
                                   ".vendor: expected openai, deepseek, anthropic or gemini");
        rule.vendor = std::move(v);
      } else if (key == "reply") {
        rule.directives.reply = std::move(v);
      } else if (key == "directives") {
        auto d = sim::parse_directives(v);
        if (!d.ignored.empty())
          throw std::runtime_error("fake LLM script " + at +
                                   ".directives: not understood: " + d.ignored.front());
        sim::merge_directives(rule.directives, d);
      } else {
        throw std::runtime_error("fake LLM script " + at + ": unknown field \"" + std::string(key) +
                                 "\" (expected match, model, vendor, reply, directives)");
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

bool model_matches(std::string_view pattern, std::string_view model) {
  if (pattern.empty()) return true;
  if (pattern.back() == '*') return model.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == model;
}

bool valid_fixture_name(std::string_view n) {
  if (n.empty() || n.size() > 200 || n.front() == '.') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

std::string_view query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
  }
  return {};
}

bool starts_with_invalid(std::string_view key) {
  return key.starts_with("invalid");
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Responder::Impl {
  FakeLlmOptions options;
  std::vector<Rule> rules;
  sim::FailureCounter failures;
  std::atomic<std::uint64_t> sequence{0};

  void respond(Responder& self, const RequestView& req, Plan& p);

  // Errors in each vendor's own shape.
  void openai_error(Plan& p, int status, std::string_view message, std::string_view type,
                    std::string_view code, std::string_view param, std::string_view extra,
                    const Faults& f) {
    p.body.clear();
    p.body += "{\"error\":{\"message\":";
    append_json_string(p.body, message);
    p.body += ",\"type\":";
    append_json_string(p.body, type);
    p.body += ",\"param\":";
    if (param.empty())
      p.body += "null";
    else
      append_json_string(p.body, param);
    p.body += ",\"code\":";
    if (code.empty())
      p.body += "null";
    else
      append_json_string(p.body, code);
    p.body += "}}";
    std::string headers(extra);
    headers += "x-request-id: req_fake_";
    append_int(headers, static_cast<std::int64_t>(sequence.load()));
    headers += "\r\n";
    whole(p, status, "application/json; charset=utf-8", headers, f);
  }

  void anthropic_error(Plan& p, int status, std::string_view type, std::string_view message,
                       std::string_view extra, const Faults& f) {
    p.body.clear();
    p.body += "{\"type\":\"error\",\"error\":{\"type\":";
    append_json_string(p.body, type);
    p.body += ",\"message\":";
    append_json_string(p.body, message);
    p.body += "},\"request_id\":\"req_fake_";
    append_int(p.body, static_cast<std::int64_t>(sequence.load()));
    p.body += "\"}";
    std::string headers(extra);
    headers += "request-id: req_fake_";
    append_int(headers, static_cast<std::int64_t>(sequence.load()));
    headers += "\r\n";
    whole(p, status, "application/json", headers, f);
  }

  // `details` is the JSON text of the details array's elements (may be empty).
  void gemini_error(Plan& p, int status, std::string_view message, std::string_view gstatus,
                    std::string_view details, std::string_view extra, const Faults& f) {
    p.body.clear();
    p.body += "{\n  \"error\": {\n    \"code\": ";
    append_int(p.body, status);
    p.body += ",\n    \"message\": ";
    append_json_string(p.body, message);
    p.body += ",\n    \"status\": ";
    append_json_string(p.body, gstatus);
    if (!details.empty()) {
      p.body += ",\n    \"details\": [";
      p.body += details;
      p.body += "]";
    }
    p.body += "\n  }\n}\n";
    whole(p, status, "application/json; charset=UTF-8", extra, f);
  }

  void auth_error(Plan& p, Vendor v, bool missing, const Faults& f) {
    switch (v) {
      case Vendor::openai:
      case Vendor::deepseek:
        openai_error(p, 401,
                     missing ? "You didn't provide an API key. You need to provide your API key "
                               "in an Authorization header using Bearer auth (i.e. "
                               "Authorization: Bearer YOUR_KEY)."
                             : "Incorrect API key provided. You can find your API key at "
                               "https://platform.openai.com/account/api-keys.",
                     "invalid_request_error", "invalid_api_key", "", "", f);
        return;
      case Vendor::anthropic:
        anthropic_error(p, 401, "authentication_error",
                        missing ? "x-api-key header is required" : "invalid x-api-key", "", f);
        return;
      case Vendor::gemini:
        gemini_error(p, 400,
                     missing ? "Method doesn't allow unregistered callers (callers without "
                               "established identity). Please use API Key or other form of API "
                               "consumer identity to call this API."
                             : "API key not valid. Please pass a valid API key.",
                     "INVALID_ARGUMENT",
                     "\n      {\n        \"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\",\n"
                     "        \"reason\": \"API_KEY_INVALID\",\n"
                     "        \"domain\": \"googleapis.com\",\n"
                     "        \"metadata\": {\"service\": \"generativelanguage.googleapis.com\"}\n"
                     "      }\n    ",
                     "", f);
        return;
    }
  }

  void bad_request(Plan& p, Vendor v, const BadRequest& b, const Faults& f) {
    std::string message = b.field.empty() ? b.problem : b.field + ": " + b.problem;
    switch (v) {
      case Vendor::openai:
      case Vendor::deepseek:
        openai_error(p, 400, message, "invalid_request_error", "", b.field, "", f);
        return;
      case Vendor::anthropic:
        anthropic_error(p, 400, "invalid_request_error", message, "", f);
        return;
      case Vendor::gemini:
        gemini_error(p, 400, "Invalid JSON payload received. " + message, "INVALID_ARGUMENT", "",
                     "", f);
        return;
    }
  }

  void status_error(Plan& p, Vendor v, const sim::StatusDirective& s, const Faults& f) {
    std::string extra;
    if (s.retry_after_s) {
      extra += "retry-after: ";
      append_int(extra, *s.retry_after_s);
      extra += "\r\n";
    }
    if (s.retry_after_ms) {
      extra += "retry-after-ms: ";
      append_int(extra, *s.retry_after_ms);
      extra += "\r\n";
    }
    const int c = s.code;
    switch (v) {
      case Vendor::openai:
      case Vendor::deepseek: {
        std::string_view type = "invalid_request_error", code, message = "Simulated error.";
        if (c == 401)
          type = "invalid_request_error", code = "invalid_api_key",
          message = "Incorrect API key provided.";
        else if (c == 402)
          type = "unknown_error", code = "invalid_request_error", message = "Insufficient Balance";
        else if (c == 403)
          type = "invalid_request_error", code = "unsupported_country_region_territory",
          message = "Country, region, or territory not supported.";
        else if (c == 404)
          code = "model_not_found",
          message = "The model does not exist or you do not have access to it.";
        else if (c == 429)
          type = "requests", code = "rate_limit_exceeded",
          message = "Rate limit reached for requests (simulated). Please try again later.";
        else if (c == 503)
          type = "server_error", code = "overloaded",
          message = "The server is overloaded, please try again later.";
        else if (c >= 500)
          type = "server_error",
          message = "The server had an error while processing your request. Sorry about that!";
        openai_error(p, c, message, type, code, "", extra, f);
        return;
      }
      case Vendor::anthropic: {
        std::string_view type = c >= 500 ? "api_error" : "invalid_request_error";
        std::string_view message = c >= 500 ? "Internal server error" : "Simulated error.";
        if (c == 401)
          type = "authentication_error", message = "invalid x-api-key";
        else if (c == 403)
          type = "permission_error",
          message = "Your API key does not have permission to use the specified resource.";
        else if (c == 404)
          type = "not_found_error", message = "Not found";
        else if (c == 413)
          type = "request_too_large",
          message = "Request exceeds the maximum allowed number of bytes.";
        else if (c == 429)
          type = "rate_limit_error",
          message = "Number of request tokens has exceeded your per-minute rate limit (simulated).";
        else if (c == 529 || c == 503)
          type = "overloaded_error", message = "Overloaded";
        anthropic_error(p, c, type, message, extra, f);
        return;
      }
      case Vendor::gemini: {
        std::string_view gstatus = c >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
        std::string_view message =
            c >= 500 ? "An internal error has occurred. Please retry or report in "
                       "https://developers.generativeai.google/guide/troubleshooting"
                     : "Simulated error.";
        if (c == 400)
          gstatus = "INVALID_ARGUMENT", message = "Request contains an invalid argument.";
        else if (c == 401)
          gstatus = "UNAUTHENTICATED", message = "Request had invalid authentication credentials.";
        else if (c == 403)
          gstatus = "PERMISSION_DENIED", message = "The caller does not have permission";
        else if (c == 404)
          gstatus = "NOT_FOUND", message = "Requested entity was not found.";
        else if (c == 429)
          gstatus = "RESOURCE_EXHAUSTED", message =
                                              "You exceeded your current quota, please check your "
                                              "plan and billing details (simulated).";
        else if (c == 503)
          gstatus = "UNAVAILABLE", message = "The model is overloaded. Please try again later.";
        else if (c == 504)
          gstatus = "DEADLINE_EXCEEDED",
          message = "Deadline expired before operation could complete.";
        std::string details;
        if (s.retry_after_s || s.retry_after_ms) {
          std::int64_t ms = s.retry_after_s ? *s.retry_after_s * 1000 : *s.retry_after_ms;
          details +=
              "\n      {\n        \"@type\": \"type.googleapis.com/google.rpc.RetryInfo\",\n"
              "        \"retryDelay\": \"";
          append_int(details, ms / 1000);
          if (ms % 1000) {
            char frac[8];
            std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
            details += frac;
            while (details.back() == '0')
              details.pop_back();
          }
          details += "s\"\n      }\n    ";
        }
        gemini_error(p, c, message, gstatus, details, extra, f);
        return;
      }
    }
  }

  void openai_reply(Plan& p, const Call& c, const sim::Directives& d, const Faults& f);
  void anthropic_reply(Plan& p, const Call& c, const sim::Directives& d, const Faults& f);
  void gemini_reply(Plan& p, const Call& c, const sim::Directives& d, const Faults& f);
  void list_models(Plan& p, Vendor v, const Faults& f);
  void replay_fixture(Plan& p, std::string_view name, const Faults& f);
};

Responder::Responder(const FakeLlmOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (impl_->options.fixtures_dir.empty()) impl_->options.fixtures_dir = CHORUS_FIXTURES_DIR;
  impl_->rules = load_script(options.script_file);
}

Responder::~Responder() = default;

void Responder::respond(const RequestView& req, Plan& plan) {
  plan.reset();
  plan.close = !req.keep_alive;
  requests.fetch_add(1, std::memory_order_relaxed);
  impl_->sequence.fetch_add(1, std::memory_order_relaxed);
  impl_->respond(*this, req, plan);
}

namespace {

// Cuts the reply at max_tokens; true when it did.
bool cap_tokens(std::string& reply, std::optional<std::int64_t> max_tokens) {
  if (!max_tokens) return false;
  std::int64_t n = 0;
  std::size_t end = 0;
  while (end < reply.size() && n < *max_tokens) {
    end = sim::token_end(reply, end);
    ++n;
  }
  if (end >= reply.size()) return false;
  reply.resize(end);
  return true;
}

void add_openai_usage(std::string& out, const Call& c, std::int64_t completion,
                      std::int64_t reasoning) {
  out += "{\"prompt_tokens\":";
  append_int(out, c.prompt_tokens);
  out += ",\"completion_tokens\":";
  append_int(out, completion);
  out += ",\"total_tokens\":";
  append_int(out, c.prompt_tokens + completion);
  out += ",\"prompt_tokens_details\":{\"cached_tokens\":0}";
  if (c.vendor == Vendor::deepseek) {
    out += ",\"prompt_cache_hit_tokens\":0,\"prompt_cache_miss_tokens\":";
    append_int(out, c.prompt_tokens);
  }
  out += ",\"completion_tokens_details\":{\"reasoning_tokens\":";
  append_int(out, reasoning);
  out += "}}";
}

}  // namespace

void Responder::Impl::openai_reply(Plan& p, const Call& c, const sim::Directives& d,
                                   const Faults& f) {
  const bool reasoner = c.model.starts_with("deepseek-reasoner");
  p.reasoning.clear();
  if (reasoner) {
    p.reasoning = "Let me think about what is being asked. ";
    p.reasoning += sim::default_reply("Reason step by step.", d.text, c.model);
  }
  const bool length = cap_tokens(p.reply, c.max_tokens);
  const std::int64_t reasoning_tokens = static_cast<std::int64_t>(sim::count_tokens(p.reasoning));
  const std::int64_t completion =
      static_cast<std::int64_t>(sim::count_tokens(p.reply)) + reasoning_tokens;
  const std::string_view finish = length ? "length" : "stop";
  const std::uint64_t seq = sequence.load();
  const auto created = static_cast<std::int64_t>(std::time(nullptr));
  const std::string_view fingerprint =
      c.vendor == Vendor::deepseek ? "fp_fake_deepseek" : "fp_fake_openai";

  if (!c.stream) {
    p.body.clear();
    p.body += "{\"id\":\"chatcmpl-fake";
    append_int(p.body, static_cast<std::int64_t>(seq));
    p.body += "\",\"object\":\"chat.completion\",\"created\":";
    append_int(p.body, created);
    p.body += ",\"model\":";
    append_json_string(p.body, c.model);
    p.body += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
    append_json_string(p.body, p.reply);
    if (reasoner) {
      p.body += ",\"reasoning_content\":";
      append_json_string(p.body, p.reasoning);
    } else if (c.vendor == Vendor::openai) {
      p.body += ",\"refusal\":null";
    }
    p.body += "},\"logprobs\":null,\"finish_reason\":\"";
    p.body += finish;
    p.body += "\"}]";
    if (!d.usage_off) {
      p.body += ",\"usage\":";
      add_openai_usage(p.body, c, completion, reasoning_tokens);
    }
    p.body += ",\"system_fingerprint\":\"";
    p.body += fingerprint;
    p.body += "\"}";
    if (d.malformed) p.body.resize(p.body.size() / 2);
    whole(p, 200, "application/json", "", f);
    return;
  }

  const bool usage_chunk = c.include_usage && c.vendor == Vendor::openai && !d.usage_off;
  auto chunk_head = [&] {
    p.event += "data: {\"id\":\"chatcmpl-fake";
    append_int(p.event, static_cast<std::int64_t>(seq));
    p.event += "\",\"object\":\"chat.completion.chunk\",\"created\":";
    append_int(p.event, created);
    p.event += ",\"model\":";
    append_json_string(p.event, c.model);
    p.event += ",\"system_fingerprint\":\"";
    p.event += fingerprint;
    p.event += "\",\"choices\":[";
  };
  auto chunk_tail = [&](std::string_view finish_reason) {
    p.event += ",\"logprobs\":null,\"finish_reason\":";
    p.event += finish_reason;
    p.event += "}]";
    if (usage_chunk) p.event += ",\"usage\":null";
    p.event += "}\n\n";
  };
  Stream s{p, f};
  s.begin("text/event-stream; charset=utf-8", "");
  if (c.vendor == Vendor::deepseek) {
    p.event = ": keep-alive\n\n";
    s.send(false);
  }
  chunk_head();
  p.event += "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":";
  p.event += reasoner ? "null,\"reasoning_content\":\"\"}" : "\"\"}";
  chunk_tail("null");
  s.send(false);

  const std::int64_t total_tokens = static_cast<std::int64_t>(sim::count_tokens(p.reply));
  const std::int64_t error_after = std::max<std::int64_t>(1, total_tokens / 2);
  bool failed = false;
  auto fail = [&] {
    p.event +=
        "data: {\"error\":{\"message\":\"The server had an error while processing your "
        "request. Sorry about that!\",\"type\":\"server_error\",\"param\":null,"
        "\"code\":null}}\n\n";
    s.send(false);
    failed = true;
  };
  auto emit = [&](std::string_view piece, bool reasoning) {
    if (failed) return;
    if (d.midstream_error && !reasoning && s.tokens - reasoning_tokens >= error_after)
      return fail();
    chunk_head();
    p.event += "{\"index\":0,\"delta\":{";
    if (reasoning) {
      p.event += "\"content\":null,\"reasoning_content\":";
      append_json_string(p.event, piece);
    } else {
      p.event += "\"content\":";
      append_json_string(p.event, piece);
      if (reasoner) p.event += ",\"reasoning_content\":null";
    }
    p.event += '}';
    chunk_tail("null");
    s.send(true);
    if (d.malformed && s.tokens == 1) {
      p.event +=
          "data: {\"id\":\"chatcmpl-fake\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n";
      s.send(false);
    }
  };
  sim::split_tokens(p.reasoning, [&](std::string_view t) { emit(t, true); });
  sim::split_tokens(p.reply, [&](std::string_view t) { emit(t, false); });
  if (d.midstream_error && !failed) fail();  // a reply too short to split still fails
  if (failed) {
    s.finish();
    return;
  }
  chunk_head();
  p.event += "{\"index\":0,\"delta\":{}";
  std::string_view fr = length ? "\"length\"" : "\"stop\"";
  p.event += ",\"logprobs\":null,\"finish_reason\":";
  p.event += fr;
  p.event += "}]";
  if (c.vendor == Vendor::deepseek && !d.usage_off) {
    p.event += ",\"usage\":";
    add_openai_usage(p.event, c, completion, reasoning_tokens);
  } else if (usage_chunk) {
    p.event += ",\"usage\":null";
  }
  p.event += "}\n\n";
  s.send(false);
  if (usage_chunk) {
    chunk_head();
    p.event += "],\"usage\":";
    add_openai_usage(p.event, c, completion, reasoning_tokens);
    p.event += "}\n\n";
    s.send(false);
  }
  p.event = "data: [DONE]\n\n";
  s.send(false);
  s.finish();
}

void Responder::Impl::anthropic_reply(Plan& p, const Call& c, const sim::Directives& d,
                                      const Faults& f) {
  const bool length = cap_tokens(p.reply, c.max_tokens);
  const auto completion = static_cast<std::int64_t>(sim::count_tokens(p.reply));
  const std::string_view stop = length ? "max_tokens" : "end_turn";
  const std::uint64_t seq = sequence.load();
  std::string extra = "request-id: req_fake_";
  append_int(extra, static_cast<std::int64_t>(seq));
  extra += "\r\n";
  auto usage = [&](std::string& out, std::int64_t output) {
    out += "{\"input_tokens\":";
    append_int(out, c.prompt_tokens);
    out += ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":";
    append_int(out, output);
    out += '}';
  };
  auto message_head = [&](std::string& out) {
    out += "{\"id\":\"msg_fake";
    append_int(out, static_cast<std::int64_t>(seq));
    out += "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":";
    append_json_string(out, c.model);
    out += ",\"content\":[";
  };
  if (!c.stream) {
    p.body.clear();
    message_head(p.body);
    p.body += "{\"type\":\"text\",\"text\":";
    append_json_string(p.body, p.reply);
    p.body += "}],\"stop_reason\":\"";
    p.body += stop;
    p.body += "\",\"stop_sequence\":null";
    if (!d.usage_off) {
      p.body += ",\"usage\":";
      usage(p.body, completion);
    }
    p.body += '}';
    if (d.malformed) p.body.resize(p.body.size() / 2);
    whole(p, 200, "application/json", extra, f);
    return;
  }
  Stream s{p, f};
  s.begin("text/event-stream; charset=utf-8", extra);
  p.event += "event: message_start\ndata: {\"type\":\"message_start\",\"message\":";
  message_head(p.event);
  p.event += "],\"stop_reason\":null,\"stop_sequence\":null";
  if (!d.usage_off) {
    p.event += ",\"usage\":";
    usage(p.event, 1);
  }
  p.event += "}}\n\n";
  s.send(false);
  p.event +=
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
  s.send(false);
  p.event += "event: ping\ndata: {\"type\":\"ping\"}\n\n";
  s.send(false);
  const std::int64_t error_after = std::max<std::int64_t>(1, completion / 2);
  bool failed = false;
  auto fail = [&] {
    p.event +=
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"Overloaded\"}}\n\n";
    s.send(false);
    failed = true;
  };
  sim::split_tokens(p.reply, [&](std::string_view t) {
    if (failed) return;
    if (d.midstream_error && s.tokens >= error_after) return fail();
    p.event +=
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":";
    append_json_string(p.event, t);
    p.event += "}}\n\n";
    s.send(true);
    if (d.malformed && s.tokens == 1) {
      p.event +=
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
          "\"delta\":{\"type\":\"text_delta\",\"text\":\n\n";
      s.send(false);
    }
  });
  if (d.midstream_error && !failed) fail();
  if (failed) return s.finish();
  p.event += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
  s.send(false);
  p.event +=
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"";
  p.event += stop;
  p.event += "\",\"stop_sequence\":null}";
  if (!d.usage_off) {
    p.event += ",\"usage\":{\"output_tokens\":";
    append_int(p.event, completion);
    p.event += '}';
  }
  p.event += "}\n\n";
  s.send(false);
  p.event += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  s.send(false);
  s.finish();
}

void Responder::Impl::gemini_reply(Plan& p, const Call& c, const sim::Directives& d,
                                   const Faults& f) {
  const bool length = cap_tokens(p.reply, c.max_tokens);
  const auto completion = static_cast<std::int64_t>(sim::count_tokens(p.reply));
  const std::string_view finish = length ? "MAX_TOKENS" : "STOP";
  const std::uint64_t seq = sequence.load();
  // One GenerateContentResponse holding `text`; usage counts `so_far` candidate tokens.
  auto response = [&](std::string& out, std::string_view text, bool last, std::int64_t so_far) {
    out += "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": ";
    append_json_string(out, text);
    out += "}],\"role\": \"model\"}";
    if (last) {
      out += ",\"finishReason\": \"";
      out += finish;
      out += '"';
    }
    out += ",\"index\": 0}]";
    if (!d.usage_off) {
      out += ",\"usageMetadata\": {\"promptTokenCount\": ";
      append_int(out, c.prompt_tokens);
      out += ",\"candidatesTokenCount\": ";
      append_int(out, so_far);
      out += ",\"totalTokenCount\": ";
      append_int(out, c.prompt_tokens + so_far);
      out += '}';
    }
    out += ",\"modelVersion\": ";
    append_json_string(out, c.model);
    out += ",\"responseId\": \"fake";
    append_int(out, static_cast<std::int64_t>(seq));
    out += "\"}";
  };
  if (!c.stream) {
    p.body.clear();
    response(p.body, p.reply, true, completion);
    if (d.malformed) p.body.resize(p.body.size() / 2);
    whole(p, 200, "application/json; charset=UTF-8", "", f);
    return;
  }
  Stream s{p, f};
  s.begin(c.sse ? "text/event-stream" : "application/json; charset=UTF-8", "");
  const std::int64_t error_after = std::max<std::int64_t>(1, completion / 2);
  bool failed = false;
  std::int64_t n = 0;       // chunks sent
  std::int64_t so_far = 0;  // tokens sent
  auto fail = [&] {
    p.event += c.sse ? "data: " : (n == 0 ? "[" : ",\r\n");
    p.event +=
        "{\"error\": {\"code\": 503,\"message\": \"The model is overloaded. Please try again "
        "later.\",\"status\": \"UNAVAILABLE\"}}";
    p.event += c.sse ? "\r\n\r\n" : "]";
    s.send(false);
    failed = true;
  };
  auto emit = [&](std::string_view t, bool last) {
    if (failed) return;
    if (d.midstream_error && n >= error_after) return fail();
    ++n;
    if (!t.empty()) ++so_far;
    if (c.sse)
      p.event += "data: ";
    else
      p.event += n == 1 ? "[" : ",\r\n";
    response(p.event, t, last, so_far);
    if (c.sse) p.event += "\r\n\r\n";
    s.send(true);
    if (d.malformed && n == 1 && !last) {
      p.event += c.sse ? "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \r\n\r\n"
                       : ",\r\n{\"candidates\": [{";
      s.send(false);
    }
  };
  // Emit each token, the last one carrying finishReason (an empty reply is one empty chunk).
  std::string_view pending;
  bool have = false;
  sim::split_tokens(p.reply, [&](std::string_view t) {
    if (have) emit(pending, false);
    pending = t;
    have = true;
  });
  if (d.midstream_error && !failed && n >= error_after) fail();
  emit(pending, true);
  if (d.midstream_error && !failed) fail();
  if (!c.sse && !failed) {
    p.event = "]";
    s.send(false);
  }
  s.finish();
}

void Responder::Impl::list_models(Plan& p, Vendor v, const Faults& f) {
  p.body.clear();
  switch (v) {
    case Vendor::openai:
    case Vendor::deepseek:
      p.body += "{\"object\":\"list\",\"data\":[";
      for (std::string_view id : {"gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "o3-mini",
                                  "deepseek-chat", "deepseek-reasoner"}) {
        if (p.body.back() == '}') p.body += ',';
        p.body += "{\"id\":";
        append_json_string(p.body, id);
        p.body += ",\"object\":\"model\",\"created\":1715367049,\"owned_by\":\"chorus-fake-llm\"}";
      }
      p.body += "]}";
      whole(p, 200, "application/json", "", f);
      return;
    case Vendor::anthropic:
      p.body += "{\"data\":[";
      for (std::string_view id : {"claude-sonnet-4-20250514", "claude-3-5-sonnet-20241022",
                                  "claude-3-5-haiku-20241022"}) {
        if (p.body.back() == '}') p.body += ',';
        p.body += "{\"type\":\"model\",\"id\":";
        append_json_string(p.body, id);
        p.body += ",\"display_name\":";
        append_json_string(p.body, id);
        p.body += ",\"created_at\":\"2025-01-01T00:00:00Z\"}";
      }
      p.body +=
          "],\"has_more\":false,\"first_id\":\"claude-sonnet-4-20250514\","
          "\"last_id\":\"claude-3-5-haiku-20241022\"}";
      whole(p, 200, "application/json", "", f);
      return;
    case Vendor::gemini:
      p.body += "{\n  \"models\": [";
      for (std::string_view id : {"gemini-2.0-flash", "gemini-1.5-flash", "gemini-2.5-pro"}) {
        if (p.body.back() == '}') p.body += ',';
        p.body += "\n    {\"name\": \"models/";
        p.body += id;
        p.body += "\", \"displayName\": ";
        append_json_string(p.body, id);
        p.body +=
            ", \"supportedGenerationMethods\": [\"generateContent\", "
            "\"countTokens\"]}";
      }
      p.body += "\n  ]\n}\n";
      whole(p, 200, "application/json; charset=UTF-8", "", f);
      return;
  }
}

void Responder::Impl::replay_fixture(Plan& p, std::string_view name, const Faults& f) {
  auto not_found = [&](std::string message) {
    p.body.clear();
    p.body += "{\"error\":{\"type\":\"fixture_not_found\",\"message\":";
    append_json_string(p.body, message);
    p.body += "}}";
    whole(p, 404, "application/json", "", f);
  };
  if (!valid_fixture_name(name))
    return not_found("x-fake-fixture: invalid fixture name (letters, digits, '-', '_', '.')");
  std::string path = options.fixtures_dir + "/" + std::string(name) + ".json";
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return not_found("x-fake-fixture: no fixture named \"" + std::string(name) + "\" in " +
                     options.fixtures_dir);
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value doc = json::parse(ss.str(), ec);
  const json::object* response = nullptr;
  if (!ec && doc.is_object())
    if (auto* r = doc.get_object().if_contains("response")) response = r->if_object();
  const json::value* status = response ? response->if_contains("status") : nullptr;
  if (!response || !status || !status->is_int64())
    return not_found("x-fake-fixture: " + path + " has no response.status");
  p.body.clear();
  if (auto* raw = response->if_contains("body_raw"); raw && raw->is_string())
    p.body = raw->get_string();
  else if (auto* body = response->if_contains("body"))
    p.body = json::serialize(*body);
  std::string extra;
  std::string_view content_type = "application/json";
  if (auto* headers = response->if_contains("headers"); headers && headers->is_object()) {
    for (const auto& [key, value] : headers->get_object()) {
      if (!value.is_string() || key == "content-length" || key == "connection" ||
          key == "transfer-encoding")
        continue;
      if (key == "content-type") {
        content_type = value.get_string();
        continue;
      }
      extra += key;
      extra += ": ";
      extra += value.get_string();
      extra += "\r\n";
    }
  }
  whole(p, static_cast<int>(status->get_int64()), content_type, extra, f);
}

void Responder::Impl::respond(Responder& self, const RequestView& req, Plan& p) {
  const auto& h = req.headers;
  std::string_view path = req.target.substr(0, req.target.find('?'));
  std::string_view query =
      path.size() < req.target.size() ? req.target.substr(path.size() + 1) : std::string_view();

  // Header directives apply to every endpoint (fixtures and errors included).
  sim::Directives d;
  if (auto it = h.find("x-fake-directives"); it != h.end())
    d = sim::parse_directives(std::string_view(it->value().data(), it->value().size()));
  Faults f{d.cut, d.content_type, d.token_delay.value_or(options.token_delay)};
  p.latency = d.latency.value_or(options.latency);
  p.slow = d.slow.value_or(milliseconds(0));

  if (req.method == "GET" && path == "/health") {
    p.body = "{\"status\":\"ok\"}";
    return whole(p, 200, "application/json", "", f);
  }
  if (req.method == "GET" && path == "/_fake/stats") {
    p.body = "{\"requests\":";
    append_int(p.body, static_cast<std::int64_t>(self.requests.load()));
    p.body += ",\"open_connections\":";
    append_int(p.body, static_cast<std::int64_t>(self.open_connections.load()));
    p.body += '}';
    return whole(p, 200, "application/json", "", f);
  }
  if (req.method == "POST" && path == "/_fake/reset") {
    failures.reset();
    p.body = "{\"reset\":true}";
    return whole(p, 200, "application/json", "", f);
  }
  if (auto it = h.find("x-fake-fixture"); it != h.end())
    return replay_fixture(p, std::string_view(it->value().data(), it->value().size()), f);

  // Route.
  const bool lenient = h.find("x-fake-directives") != h.end();
  bool generic = false;
  Call c;
  std::string model_from_path;
  bool models_list = false;
  if (path == "/v1/chat/completions" || path == "/chat/completions") {
    c.vendor = Vendor::openai;
  } else if (path == "/v1/messages") {
    c.vendor = Vendor::anthropic;
  } else if (path.starts_with("/v1beta/models/") || path.starts_with("/v1/models/")) {
    std::string_view rest = path.substr(path.find("/models/") + 8);
    auto colon = rest.rfind(':');
    std::string_view method = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
    c.vendor = Vendor::gemini;
    if (req.method != "POST" ||
        (method != "generateContent" && method != "streamGenerateContent")) {
      p.body = "{\"error\":{\"code\":404,\"message\":";
      append_json_string(p.body, "chorus-fake-llm: no endpoint for " + std::string(req.method) +
                                     " " + std::string(path));
      p.body += ",\"status\":\"NOT_FOUND\"}}";
      return whole(p, 404, "application/json; charset=UTF-8", "", f);
    }
    model_from_path = rest.substr(0, colon);
    c.stream = method == "streamGenerateContent";
    c.sse = query_param(query, "alt") == "sse";
  } else if (req.method == "GET" && (path == "/v1/models" || path == "/models")) {
    models_list = true;
    c.vendor = (h.find("x-api-key") != h.end() || h.find("anthropic-version") != h.end())
                   ? Vendor::anthropic
                   : Vendor::openai;
  } else if (req.method == "GET" && path == "/v1beta/models") {
    models_list = true;
    c.vendor = Vendor::gemini;
  } else if (lenient && req.method == "POST") {
    generic = true;  // any path, OpenAI format, no key needed: for HTTP-level tests
  } else {
    p.body = "{\"error\":{\"type\":\"not_found_error\",\"message\":";
    append_json_string(p.body, "chorus-fake-llm: no endpoint for " + std::string(req.method) + " " +
                                   std::string(path));
    p.body += "}}";
    return whole(p, 404, "application/json", "", f);
  }
  if (!models_list && req.method != "POST") {
    BadRequest b{"", "this endpoint accepts POST only"};
    p.body.clear();
    bad_request(p, c.vendor, b, f);
    return;
  }

  // A status fault asked for in the header wins over everything but routing: HTTP-level tests
  // exercise retries without building valid requests.
  if (d.status) {
    auto status = std::move(d.status);
    d.status.reset();
    if (status->code >= 400 && failures.should_fail(*status))
      return status_error(p, c.vendor, *status, f);
  }

  // Authentication, in each vendor's words; the key itself never appears in a response.
  std::string_view key;
  auto header = [&](std::string_view name) {
    auto it = h.find(name);
    return it == h.end() ? std::string_view()
                         : std::string_view(it->value().data(), it->value().size());
  };
  switch (c.vendor) {
    case Vendor::openai:
    case Vendor::deepseek: {
      std::string_view auth = header("authorization");
      if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer "))
        key = auth.substr(7);
      break;
    }
    case Vendor::anthropic:
      key = header("x-api-key");
      break;
    case Vendor::gemini:
      key = header("x-goog-api-key");
      if (key.empty()) key = query_param(query, "key");
      break;
  }
  if (!generic && (key.empty() || starts_with_invalid(key)))
    return auth_error(p, c.vendor, key.empty(), f);
  if (c.vendor == Vendor::anthropic && header("anthropic-version").empty())
    return bad_request(p, c.vendor, {"anthropic-version", "header is required"}, f);
  if (models_list) return list_models(p, c.vendor, f);

  // The request body.
  alignas(std::max_align_t) unsigned char arena[16384];
  json::monotonic_resource mr(arena, sizeof arena);
  boost::system::error_code ec;
  json::value doc = json::parse(req.body, ec, &mr);
  p.system.clear();
  std::optional<BadRequest> bad;
  if (ec || !doc.is_object()) {
    bad = BadRequest{"", ec ? "We could not parse the JSON body of your request: " + ec.message()
                            : std::string("the request body must be a JSON object")};
  } else {
    switch (c.vendor) {
      case Vendor::openai:
      case Vendor::deepseek:
        bad = parse_openai(doc.get_object(), c, p.system);
        break;
      case Vendor::anthropic:
        bad = parse_anthropic(doc.get_object(), c, p.system);
        break;
      case Vendor::gemini:
        c.model = model_from_path;
        bad = parse_gemini(doc.get_object(), c, p.system);
        break;
    }
  }
  if (bad && !lenient) return bad_request(p, c.vendor, *bad, f);
  if (bad) {  // header directives alone decide the reply to an arbitrary body
    Call lenient_call;
    lenient_call.vendor = c.vendor == Vendor::deepseek ? Vendor::openai : c.vendor;
    lenient_call.stream = c.vendor == Vendor::gemini && c.stream;
    lenient_call.sse = c.sse;
    lenient_call.model = model_from_path.empty() ? "fake-model" : model_from_path;
    c = std::move(lenient_call);
    p.system.clear();
  }

  // Directives: script rule < header < last user message.
  sim::Directives message = sim::parse_directives(c.last_user);
  sim::Directives merged;
  for (const auto& rule : rules) {
    if (!rule.vendor.empty() && rule.vendor != vendor_name(c.vendor)) continue;
    if (!model_matches(rule.model, c.model)) continue;
    if (!rule.match.empty() && message.text.find(rule.match) == std::string::npos) continue;
    merged = rule.directives;
    break;
  }
  sim::merge_directives(merged, d);
  sim::merge_directives(merged, message);
  merged.text = std::move(message.text);
  f.cut = merged.cut;
  f.content_type = merged.content_type;
  f.token_delay = merged.token_delay.value_or(options.token_delay);
  p.latency = merged.latency.value_or(options.latency);
  p.slow = merged.slow.value_or(milliseconds(0));

  if (merged.status && merged.status->code >= 400 && failures.should_fail(*merged.status))
    return status_error(p, c.vendor, *merged.status, f);

  p.reply = sim::make_reply(merged, p.system, c.model);
  switch (c.vendor) {
    case Vendor::openai:
    case Vendor::deepseek:
      return openai_reply(p, c, merged, f);
    case Vendor::anthropic:
      return anthropic_reply(p, c, merged, f);
    case Vendor::gemini:
      return gemini_reply(p, c, merged, f);
  }
}

}  // namespace chorus::test::fake
