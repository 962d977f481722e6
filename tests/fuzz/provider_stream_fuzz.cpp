// Fuzzes the streaming path of each vendor exactly as the provider runs it: the body goes through
// sse::Parser in random splits, each event into providers::StreamAssembler, then finish().
// Input: one byte choosing the vendor, one byte of chunking seed, then the SSE body.
// Oracles: the deltas handed to the caller add up to the assembled content and reasoning, and the
// result does not depend on how the bytes were split.
#include <chorus/sse.hpp>

#include "provider_common.hpp"

#include <string>

namespace {

struct Run {
  chorus::ChatResponse out;
  std::string delta_text;
  std::string delta_reasoning;
  bool complete = false;
};

void run(chorus::providers::Vendor vendor, std::string_view body, std::uint32_t seed, bool whole,
         Run& r) {
  chorus::DeltaHandler on_delta = [&r](const chorus::StreamDelta& d) {
    r.delta_text.append(d.text);
    r.delta_reasoning.append(d.reasoning);
  };
  chorus::providers::StreamAssembler assembler(vendor, r.out, &on_delta);
  chorus::sse::Parser parser;
  auto on_event = [&](const chorus::sse::Event& ev) { assembler.on_event(ev.type, ev.data); };
  if (whole) {
    parser.feed(body, on_event);
  } else {
    chorus::fuzz::Chunker chunks(body, seed);
    std::string_view chunk;
    while (chunks.next(chunk))
      parser.feed(chunk, on_event);
  }
  parser.finish();
  assembler.finish();
  r.complete = assembler.complete();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chorus::fuzz::Reader in(data, size);
  auto vendor = chorus::fuzz::vendor_from(in.byte());
  std::uint8_t seed = in.byte();
  std::string_view body = in.rest();

  Run split;
  run(vendor, body, seed, false, split);
  chorus::fuzz::check_response(split.out);
  CHORUS_FUZZ_CHECK(split.delta_text == split.out.content);
  CHORUS_FUZZ_CHECK(split.delta_reasoning == split.out.reasoning);
  // A stream that ended without its terminal event (or, outside Anthropic, without a finish
  // reason, which openai-compatible servers may send instead of [DONE]) must end in an error.
  const bool ended = split.complete || (vendor != chorus::providers::Vendor::anthropic &&
                                        !split.out.finish_reason_raw.empty());
  if (!ended) CHORUS_FUZZ_CHECK(static_cast<bool>(split.out.error));

  Run whole;
  run(vendor, body, seed, true, whole);
  const auto& a = split.out;
  const auto& b = whole.out;
  CHORUS_FUZZ_CHECK(a.content == b.content && a.reasoning == b.reasoning);
  CHORUS_FUZZ_CHECK(a.tool_calls.size() == b.tool_calls.size());
  CHORUS_FUZZ_CHECK(a.usage.prompt_tokens == b.usage.prompt_tokens &&
                    a.usage.completion_tokens == b.usage.completion_tokens &&
                    a.usage.total_tokens == b.usage.total_tokens);
  CHORUS_FUZZ_CHECK(a.finish_reason == b.finish_reason && a.model == b.model &&
                    a.request_id == b.request_id && a.error.code == b.error.code);
  CHORUS_FUZZ_CHECK(split.complete == whole.complete);
  return 0;
}
