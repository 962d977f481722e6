// URL splitting, header lookup and the environment: the small pure parts of the HTTP layer.
#include "http/url.hpp"

#include <chorus/http.hpp>

#include <algorithm>
#include <cstdlib>

namespace chorus::http {
namespace {

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::string env(const char* lower_name, const char* upper_name) {
  if (const char* v = std::getenv(lower_name); v && *v) return v;
  if (const char* v = std::getenv(upper_name); v && *v) return v;
  return {};
}

bool valid_port(std::string_view p) noexcept {
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v >= 1 && v <= 65535;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = lower(c);
  return out;
}

std::string_view Response::header(std::string_view name) const noexcept {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

std::optional<Url> parse_url(std::string_view url) {
  Url out;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  out.scheme = to_lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  std::string_view rest = url.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (authority.front() == '[') {  // IPv6 literal
    auto close = authority.find(']');
    if (close == std::string_view::npos || close < 2) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
    }
    if (authority.empty()) return std::nullopt;
    for (char c : authority)
      if (c <= ' ' || c == 0x7f || c == '[' || c == ']' || c == '\\') return std::nullopt;
    out.host = to_lower(authority);
  }
  if (!port.empty() && !valid_port(port)) return std::nullopt;
  out.port = port.empty() ? (out.scheme == "https" ? "443" : "80") : std::string(port);
  for (char c : target)
    if (c <= ' ' || c == 0x7f) return std::nullopt;
  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = "/" + std::string(target);
  } else {
    out.target = std::string(target);
  }
  return out;
}

ClientOptions ClientOptions::from_environment() {
  ClientOptions o;
  if (const char* ca = std::getenv("CHORUS_CA_BUNDLE"); ca && *ca) o.ca_file = ca;
  o.proxy = env("https_proxy", "HTTPS_PROXY");
  o.http_proxy = env("http_proxy", "HTTP_PROXY");
  o.no_proxy = env("no_proxy", "NO_PROXY");
  return o;
}

std::optional<ProxyTarget> parse_proxy(std::string_view proxy, std::string& error) {
  proxy = trim(proxy);
  if (proxy.find("://") == std::string_view::npos) {
    // "host:port" without a scheme, as many environments set it.
    static thread_local std::string with_scheme;
    with_scheme = "http://";
    with_scheme += proxy;
    proxy = with_scheme;
  }
  std::string scheme = to_lower(proxy.substr(0, proxy.find("://")));
  if (scheme != "http") {
    error = "only http:// proxies are supported (got " + scheme + "://)";
    return std::nullopt;
  }
  std::string_view rest = proxy.substr(proxy.find("://") + 3);
  ProxyTarget out;
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    out.credentials = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  auto url = parse_url("http://" + std::string(authority) + "/");
  if (!url) {
    error = "not a valid proxy address";
    return std::nullopt;
  }
  out.host = url->host;
  out.port = url->port;
  return out;
}

bool bypass_proxy(std::string_view no_proxy, std::string_view host, std::string_view port) {
  std::string h = to_lower(host);
  while (!no_proxy.empty()) {
    auto comma = no_proxy.find(',');
    std::string_view entry = trim(no_proxy.substr(0, comma));
    no_proxy = comma == std::string_view::npos ? std::string_view{} : no_proxy.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    std::string_view entry_port;
    if (entry.front() == '[') {  // [::1]:port
      auto close = entry.find(']');
      if (close == std::string_view::npos) continue;
      if (close + 1 < entry.size() && entry[close + 1] == ':') entry_port = entry.substr(close + 2);
      entry = entry.substr(1, close - 1);
    } else if (auto colon = entry.rfind(':');
               colon != std::string_view::npos && entry.find(':') == colon) {
      entry_port = entry.substr(colon + 1);
      entry = entry.substr(0, colon);
    }
    if (!entry_port.empty() && entry_port != port) continue;
    while (!entry.empty() && entry.front() == '.')
      entry.remove_prefix(1);
    if (entry.starts_with("*.")) entry.remove_prefix(2);
    std::string e = to_lower(entry);
    if (e.empty()) continue;
    if (h == e) return true;
    if (h.size() > e.size() && h.ends_with(e) && h[h.size() - e.size() - 1] == '.') return true;
  }
  return false;
}

}  // namespace chorus::http
