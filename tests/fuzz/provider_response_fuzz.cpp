// Fuzzes providers::parse_chat_response: a whole 2xx body of each vendor's dialect.
// Input: one byte choosing the vendor (openai, anthropic, gemini, deepseek, openai-compatible),
// then the body. Any bytes must give either a response or an error with a message, never a crash.
#include "provider_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chorus::fuzz::Reader in(data, size);
  auto vendor = chorus::fuzz::vendor_from(in.byte());
  chorus::ChatResponse out;
  chorus::providers::parse_chat_response(vendor, in.rest(), out);
  chorus::fuzz::check_response(out);
  return 0;
}
