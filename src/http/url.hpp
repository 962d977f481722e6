// Internal helpers of the HTTP layer shared by client.cpp, url.cpp and the unit tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace chorus::http {

/// ASCII case-insensitive comparison.
bool iequals(std::string_view a, std::string_view b) noexcept;
std::string to_lower(std::string_view s);

/// A parsed proxy address.
struct ProxyTarget {
  std::string host;
  std::string port;
  std::string credentials;  ///< "user:pass" when given (sent as Proxy-Authorization: Basic).
};

/// Parses "http://[user:pass@]host:port" (or "host:port"); on failure sets `error`.
std::optional<ProxyTarget> parse_proxy(std::string_view proxy, std::string& error);

/// Whether `host` matches a NO_PROXY list: "*", exact names, domain suffixes (".example.com",
/// "example.com" also covers "api.example.com"), optional ":port", IP literals.
bool bypass_proxy(std::string_view no_proxy, std::string_view host, std::string_view port);

}  // namespace chorus::http
