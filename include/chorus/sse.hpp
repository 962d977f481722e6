// Server-Sent Events framing (WHATWG HTML, "Interpreting an event stream"), sans-IO: feed it
// bytes as they arrive, in chunks split anywhere, and it calls you back once per event.
#pragma once

#include <chorus/config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chorus::sse {

/// One dispatched event. The views point into the parser and are valid only during the callback.
struct Event {
  std::string_view type;  ///< The `event:` field, or "message" when the event had none.
  std::string_view data;  ///< The `data:` lines joined with '\n' ("" for one empty `data` line).
  std::string_view id;  ///< The last event id seen so far on this stream (persists across events).
};

/// An incremental, allocation-free-in-steady-state SSE parser. Conforms to the WHATWG rules:
/// `\n`, `\r\n` and `\r` line ends (also a `\r\n` split between two chunks), a leading UTF-8 BOM
/// is skipped, comment lines (`: keep-alive`) are ignored, a field without a colon has an empty
/// value, one optional space after the colon is removed, `id` values containing NUL are ignored,
/// `retry` takes digits only, unknown fields are ignored, and an event is dispatched on a blank
/// line only when its data is non-empty (an `event:` with no data is dropped, as the spec says).
class Parser {
 public:
  Parser() = default;

  /// Parses `bytes` and calls `on_event(const Event&)` for every complete event in them. Any
  /// prefix of an event is kept for the next call. `on_event` may not call feed() re-entrantly.
  template <class OnEvent>
  void feed(std::string_view bytes, OnEvent&& on_event);

  /// End of stream. A pending, unterminated event is dropped (per spec). Returns true when the
  /// stream ended on an event boundary (nothing was dropped), false when it was cut mid-event.
  /// The parser is then ready for a new stream; last_event_id() and retry() are kept, as a
  /// reconnecting EventSource keeps them.
  bool finish() noexcept;

  /// Forgets everything, last event id and retry included.
  void reset() noexcept;

  /// The last event id buffer ("" when none was set).
  std::string_view last_event_id() const noexcept { return id_; }

  /// The reconnection time of the last valid `retry:` field, if any.
  std::optional<std::chrono::milliseconds> retry() const noexcept { return retry_; }

 private:
  template <class OnEvent>
  void feed_lines(const char* p, const char* end, OnEvent& on_event);
  template <class OnEvent>
  void process_line(std::string_view line, OnEvent& on_event);
  template <class OnEvent>
  void dispatch(OnEvent& on_event);
  void process_field(std::string_view field, std::string_view value);

  std::string line_;   // an unterminated line carried over from the previous chunk
  std::string data_;   // data buffer: each data line followed by '\n'
  std::string event_;  // event type buffer
  std::string id_;     // last event id buffer
  std::optional<std::chrono::milliseconds> retry_;
  unsigned bom_matched_ = 0;  // bytes of a leading BOM matched so far
  bool bom_done_ = false;     // past the point where a BOM may appear
  bool skip_lf_ = false;      // the previous chunk ended with '\r': a leading '\n' belongs to it
  bool has_event_ = false;    // some field of an undispatched event was seen
};

}  // namespace chorus::sse

#include <chorus/impl/sse.hpp>
