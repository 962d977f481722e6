// Out-of-line parts of chorus::sse::Parser: the rare fields and end of stream.
#include <chorus/sse.hpp>

namespace chorus::sse {

void Parser::process_field(std::string_view field, std::string_view value) {
  if (field == "event") {
    event_.assign(value);
  } else if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_.assign(value);
  } else if (field == "retry") {
    if (value.empty()) return;
    std::int64_t ms = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;
      if (ms > (INT64_MAX - 9) / 10) return;  // absurdly long: ignore rather than overflow
      ms = ms * 10 + (c - '0');
    }
    retry_ = std::chrono::milliseconds(ms);
  }
  // Any other field is ignored, per spec.
}

bool Parser::finish() noexcept {
  bool clean = line_.empty() && data_.empty() && !has_event_;
  // A BOM prefix that never completed is content of an unterminated line.
  if (!bom_done_ && bom_matched_ > 0) clean = false;
  line_.clear();
  data_.clear();
  event_.clear();
  has_event_ = false;
  skip_lf_ = false;
  bom_matched_ = 0;
  bom_done_ = false;
  return clean;
}

void Parser::reset() noexcept {
  finish();
  id_.clear();
  retry_.reset();
}

}  // namespace chorus::sse
