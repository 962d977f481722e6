// Inline hot loop of chorus::sse::Parser (see ../sse.hpp).
#pragma once

#include <cstring>

namespace chorus::sse {

template <class OnEvent>
void Parser::feed(std::string_view bytes, OnEvent&& on_event) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  if (!bom_done_) {
    static constexpr char bom[3] = {'\xEF', '\xBB', '\xBF'};
    while (p != end && bom_matched_ < 3 && *p == bom[bom_matched_]) {
      ++bom_matched_;
      ++p;
    }
    if (bom_matched_ == 3) {
      bom_done_ = true;
    } else if (p == end) {
      return;  // still maybe a BOM: wait for more bytes
    } else {
      bom_done_ = true;  // not a BOM after all: the bytes matched so far are content
      if (bom_matched_ > 0) line_.append(bom, bom_matched_);
    }
  }
  if (skip_lf_ && p != end) {
    skip_lf_ = false;
    if (*p == '\n') ++p;
  }
  feed_lines(p, end, on_event);
}

template <class OnEvent>
void Parser::feed_lines(const char* p, const char* end, OnEvent& on_event) {
  // Line ends are found with memchr (vectorised by libc); the next '\n' is remembered across
  // lines so that a stream of bare '\r' line ends stays linear.
  auto next_lf = [end](const char* from) {
    auto found =
        static_cast<const char*>(std::memchr(from, '\n', static_cast<std::size_t>(end - from)));
    return found ? found : end;
  };
  const char* lf = p == end ? end : next_lf(p);
  while (p != end) {
    if (lf < p) lf = next_lf(p);
    auto cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(lf - p)));
    const char* eol = cr ? cr : lf;
    if (eol == end) {
      line_.append(p, static_cast<std::size_t>(end - p));
      return;
    }
    if (line_.empty()) {
      process_line(std::string_view(p, static_cast<std::size_t>(eol - p)), on_event);
    } else {
      line_.append(p, static_cast<std::size_t>(eol - p));
      process_line(line_, on_event);
      line_.clear();
    }
    if (*eol == '\r') {
      ++eol;
      if (eol == end) {
        skip_lf_ = true;
        return;
      }
      if (*eol == '\n') ++eol;
    } else {
      ++eol;
    }
    p = eol;
  }
}

template <class OnEvent>
void Parser::process_line(std::string_view line, OnEvent& on_event) {
  if (line.empty()) {
    dispatch(on_event);
    return;
  }
  if (line.front() == ':') return;  // comment
  has_event_ = true;
  auto colon = static_cast<const char*>(std::memchr(line.data(), ':', line.size()));
  if (colon == nullptr) {
    process_field(line, {});
    return;
  }
  std::size_t n = static_cast<std::size_t>(colon - line.data());
  std::string_view value = line.substr(n + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  std::string_view field = line.substr(0, n);
  if (field.size() == 4 && std::memcmp(field.data(), "data", 4) == 0) {
    data_.append(value);
    data_.push_back('\n');
    return;
  }
  process_field(field, value);
}

template <class OnEvent>
void Parser::dispatch(OnEvent& on_event) {
  has_event_ = false;
  if (data_.empty()) {
    event_.clear();
    return;
  }
  Event ev;
  ev.type = event_.empty() ? std::string_view("message") : std::string_view(event_);
  ev.data = std::string_view(data_.data(), data_.size() - 1);  // drop the last '\n'
  ev.id = id_;
  on_event(static_cast<const Event&>(ev));
  data_.clear();
  event_.clear();
}

}  // namespace chorus::sse
