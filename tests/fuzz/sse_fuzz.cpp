// Fuzzes chorus::sse::Parser. Input: one byte of chunking seed, then the stream bytes.
// Differential oracle: the events, the end-of-stream verdict, the last event id and the retry
// value must be the same whether the stream is fed whole or in random splits (split anywhere,
// inside "\r\n", inside a BOM or a UTF-8 sequence), and a reused parser must behave as a new one.
#include <chorus/sse.hpp>

#include "fuzz_util.hpp"

#include <string>
#include <vector>

namespace {

struct Outcome {
  std::vector<std::string> events;  // type '\0' data '\0' id
  bool clean = false;
  std::string last_id;
  long long retry = -1;
  bool operator==(const Outcome&) const = default;
};

template <class Feed>
Outcome run(chorus::sse::Parser& parser, Feed&& feed) {
  Outcome o;
  auto on_event = [&](const chorus::sse::Event& ev) {
    CHORUS_FUZZ_CHECK(!ev.type.empty());
    std::string e(ev.type);
    e.push_back('\0');
    e.append(ev.data);
    e.push_back('\0');
    e.append(ev.id);
    o.events.push_back(std::move(e));
  };
  feed(on_event);
  o.clean = parser.finish();
  o.last_id = std::string(parser.last_event_id());
  o.retry = parser.retry() ? parser.retry()->count() : -1;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chorus::fuzz::Reader in(data, size);
  std::uint8_t seed = in.byte();
  std::string_view stream = in.rest();

  chorus::sse::Parser whole;
  Outcome a = run(whole, [&](auto& on_event) { whole.feed(stream, on_event); });

  chorus::sse::Parser split;
  Outcome b = run(split, [&](auto& on_event) {
    chorus::fuzz::Chunker chunks(stream, seed);
    std::string_view chunk;
    while (chunks.next(chunk))
      split.feed(chunk, on_event);
  });
  CHORUS_FUZZ_CHECK(a == b);

  // A reset parser that already saw a stream must give the same answer as a fresh one.
  split.reset();
  Outcome c = run(split, [&](auto& on_event) { split.feed(stream, on_event); });
  CHORUS_FUZZ_CHECK(a == c);
  return 0;
}
