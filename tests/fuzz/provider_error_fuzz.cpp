// Fuzzes providers::classify_error: any status, headers and body of a failed call.
// Input: vendor byte, status (2 bytes, little-endian, taken mod 1000), a "plant" byte, then
// header lines "name: value" up to an empty line, then the body. When the plant byte is odd, a
// fake API key is inserted into the body at an offset derived from it.
// Oracles: the error always has a kind and a message; a key in the body never reaches the
// message, the body excerpt or the vendor code (API keys never go into errors); a retry hint is
// never negative.
#include "provider_common.hpp"

#include <chrono>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono;
  static constexpr std::string_view secret = "sk-proj-FuzzPlantedKey0123456789abcdef";
  static constexpr std::string_view secret_core = "FuzzPlantedKey0123";

  chorus::fuzz::Reader in(data, size);
  auto vendor = chorus::fuzz::vendor_from(in.byte());
  int status = in.u16() % 1000;
  std::uint8_t plant = in.byte();
  chorus::http::Headers headers;
  while (!in.empty()) {
    std::string_view line = in.line();
    if (line.empty()) break;
    auto colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    std::string lower(name);
    for (char& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    headers.emplace_back(std::move(lower), std::string(value));
  }
  std::string body(in.rest());
  // Only when the fuzzer did not already write the key somewhere (a header is not redacted: it is
  // not the body, and request ids are not secrets).
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  const bool planted = (plant & 1) != 0 && whole.find(secret_core) == std::string_view::npos;
  if (planted) body.insert(std::min<std::size_t>(plant >> 1, body.size()), secret);

  auto now = system_clock::time_point(seconds(1'750'000'000));
  chorus::Error e = chorus::providers::classify_error(vendor, status, headers, body, now);
  CHORUS_FUZZ_CHECK(static_cast<bool>(e.code));
  CHORUS_FUZZ_CHECK(!e.message.empty());
  if (e.retry_after) CHORUS_FUZZ_CHECK(e.retry_after->count() >= 0);
  if (planted) {
    CHORUS_FUZZ_CHECK(e.message.find(secret_core) == std::string::npos);
    CHORUS_FUZZ_CHECK(e.body_excerpt.find(secret_core) == std::string::npos);
    CHORUS_FUZZ_CHECK(e.vendor_code.find(secret_core) == std::string::npos);
    CHORUS_FUZZ_CHECK(e.request_id.find(secret_core) == std::string::npos);
    CHORUS_FUZZ_CHECK(e.describe().find(secret_core) == std::string::npos);
  }
  return 0;
}
