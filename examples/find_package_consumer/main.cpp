// Built by scripts/test against the installed package: uses the public surface only.
#include <chorus/error.hpp>

#include <iostream>

int main() {
  chorus::error_code ec = chorus::errc::rate_limited;
  if (chorus::error_kind(ec) != "rate_limited" || !chorus::is_retryable(ec)) return 1;
  std::cout << "chorus " << chorus::version << ": installed package OK\n";
  return 0;
}
