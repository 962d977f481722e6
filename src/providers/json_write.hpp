// Appends JSON text straight into a std::string: request bodies are written once, with no
// boost::json::value built and then serialised.
#pragma once

#include <chorus/provider.hpp>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace chorus::providers {

/// A JSON string literal, escaped as Boost.JSON's serializer does (quote, backslash and control
/// characters; bytes >= 0x20 are copied, UTF-8 included).
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default: {
        const char u[5] = {'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(u, sizeof u);
        break;
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

/// `"key":` (after a comma unless `first`).
inline void append_json_key(std::string& out, std::string_view key, bool& first) {
  if (!first) out.push_back(',');
  first = false;
  append_json_string(out, key);
  out.push_back(':');
}

inline void append_json_number(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// Shortest round-trip form; a non-finite value (never valid JSON) is written as null.
inline void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// Room for a chat request body's fixed parts plus its texts (escaping may grow it further).
inline std::size_t request_body_estimate(const ChatRequest& req) {
  std::size_t n = 192 + req.config.model.size() + req.config.system_prompt.size();
  for (const Message& m : req.messages)
    n += m.content.size() + 40;
  for (const auto& s : req.config.stop)
    n += s.size() + 4;
  return n;
}

inline void append_json_value(std::string& out, const boost::json::value& v) {
  out.append(boost::json::serialize(v));
}

}  // namespace chorus::providers
