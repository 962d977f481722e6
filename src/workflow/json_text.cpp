// The JSON writer shared by to_string(), pretty_json() and template rendering.
#include "json_text.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <string_view>

namespace chorus::detail {
namespace {

void write_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
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
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(hex[(c >> 4) & 0xF]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// Python's repr(float): shortest round-trip digits, fixed notation for exponents in [-4, 16).
void write_double(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return;
  }
  if (std::isinf(d)) {
    // A number too large for a double (1e400) reads as infinity: write it back as JSON that reads
    // as infinity again. Python's "Infinity" is not JSON and would make the document unreadable.
    out += d < 0 ? "-1e999" : "1e999";
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  const auto epos = sci.find('e');
  std::string_view mant = sci.substr(0, epos);
  int exp = 0;
  std::from_chars(sci.data() + epos + 1 + (sci[epos + 1] == '+'), sci.data() + sci.size(), exp);
  std::string sign;
  if (mant.front() == '-') {
    sign = "-";
    mant.remove_prefix(1);
  }
  std::string digits;
  for (char c : mant)
    if (c != '.') digits.push_back(c);
  out += sign;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-exp - 1), '0');
      out += digits;
    } else {
      const std::size_t int_len = static_cast<std::size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out += digits;
        out.append(int_len - digits.size(), '0');
        out += ".0";
      } else {
        out += digits.substr(0, int_len);
        out += '.';
        out += digits.substr(int_len);
      }
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    char ebuf[16];
    auto er = std::to_chars(ebuf, ebuf + sizeof ebuf, exp < 0 ? -exp : exp);
    out += exp < 0 ? "e-" : "e+";
    if (er.ptr - ebuf < 2) out += '0';
    out.append(ebuf, er.ptr);
  }
}

}  // namespace

void write_json(std::string& out, const boost::json::value& v, int indent) {
  const bool pretty = indent >= 0;
  const std::size_t pad = pretty ? static_cast<std::size_t>(indent) : 0;
  auto newline = [&](std::size_t spaces) {
    if (!pretty) return;
    out += '\n';
    out.append(spaces, ' ');
  };
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      return;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::int64:
      out += std::to_string(v.get_int64());
      return;
    case boost::json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return;
    case boost::json::kind::double_:
      write_double(out, v.get_double());
      return;
    case boost::json::kind::string:
      write_string(out, v.get_string());
      return;
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        newline(pad + 2);
        write_json(out, a[i], pretty ? indent + 2 : -1);
      }
      newline(pad);
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& kv : o) {
        if (!first) out += ',';
        first = false;
        newline(pad + 2);
        write_string(out, kv.key());
        out += pretty ? ": " : ":";
        write_json(out, kv.value(), pretty ? indent + 2 : -1);
      }
      newline(pad);
      out += '}';
      return;
    }
  }
}

std::string compact_json(const boost::json::value& v) {
  std::string out;
  write_json(out, v, -1);
  return out;
}

}  // namespace chorus::detail
