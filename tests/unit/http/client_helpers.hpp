// What the HTTP client tests share: the outcome of one request, client options that ignore the
// environment, and a GET request.
#pragma once

#include <chorus/http.hpp>

#include <chrono>
#include <string>

namespace chorus::test {

// One request's completion, and how often the handler ran.
struct Result {
  error_code ec;
  http::Response response;
  int calls = 0;
};

// Not from_environment: the tests must not pick up a proxy from the CI box.
inline http::ClientOptions plain_options() {
  using namespace std::chrono_literals;
  http::ClientOptions o;
  o.timeouts.connect = 20s;
  o.timeouts.first_byte = 30s;
  o.timeouts.idle = 30s;
  o.timeouts.total = 60s;
  return o;
}

inline http::Request get(std::string url) {
  http::Request r;
  r.method = "GET";
  r.url = std::move(url);
  return r;
}

}  // namespace chorus::test
