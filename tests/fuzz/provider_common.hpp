// Shared by the provider fuzz targets: picking a vendor and checking a ChatResponse.
#pragma once

#include "providers/wire.hpp"

#include "fuzz_util.hpp"

namespace chorus::fuzz {

inline providers::Vendor vendor_from(std::uint8_t b) {
  static constexpr providers::Vendor vendors[] = {
      providers::Vendor::openai, providers::Vendor::anthropic, providers::Vendor::gemini,
      providers::Vendor::deepseek, providers::Vendor::openai_compatible};
  return vendors[b % 5];
}

/// What holds for any parsed answer, however odd the bytes: an error says what went wrong.
inline void check_response(const ChatResponse& r) {
  if (r.error) CHORUS_FUZZ_CHECK(!r.error.message.empty());
}

}  // namespace chorus::fuzz
