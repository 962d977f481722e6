// Helpers shared by the fuzz targets: deterministic chunking of an input and a small reader for
// the targets whose input carries a few parameters before the payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace chorus::fuzz {

/// Aborts (a crash libFuzzer reports, with the input saved) when an invariant does not hold.
#define CHORUS_FUZZ_CHECK(cond)                                                         \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

/// Splits a byte string into chunks whose sizes come from a seeded xorshift generator: 1..16
/// bytes mostly (every boundary case of a line end or a UTF-8 sequence), now and then up to 4 KiB.
/// The same seed always gives the same chunks, so a crashing input replays exactly.
class Chunker {
 public:
  Chunker(std::string_view bytes, std::uint32_t seed)
      : rest_(bytes), state_(seed * 2654435761u + 1) {}

  /// The next chunk, or false at the end.
  bool next(std::string_view& chunk) {
    if (rest_.empty()) return false;
    std::uint32_t r = step();
    std::size_t n = (r & 0xF0u) == 0 ? 1 + (r >> 8) % 4096 : 1 + (r >> 8) % 16;
    if (n > rest_.size()) n = rest_.size();
    chunk = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

 private:
  std::uint32_t step() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }
  std::string_view rest_;
  std::uint32_t state_;
};

/// Reads parameters off the front of a fuzz input; what is left is the payload.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  /// One byte (0 when the input is exhausted).
  std::uint8_t byte() {
    if (rest_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  /// Two bytes, little-endian.
  std::uint16_t u16() {
    std::uint16_t lo = byte();
    return static_cast<std::uint16_t>(lo | (byte() << 8));
  }
  /// Text up to the next '\n' (excluded; the '\n' is consumed), or all that is left.
  std::string_view line() {
    auto nl = rest_.find('\n');
    std::string_view out = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    return out;
  }
  std::string_view rest() const { return rest_; }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace chorus::fuzz
