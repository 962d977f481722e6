#include <chorus/pricing.hpp>
#include <chorus/provider.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

namespace chorus {
namespace {

namespace json = boost::json;

[[noreturn]] void bad_field(std::string_view field, std::string_view what) {
  std::string message = "pricing: ";
  message += field;
  message += ": ";
  message += what;
  throw Exception(make_error(errc::invalid_argument, std::move(message)));
}

std::optional<double> read_price(const json::object& entry, std::string_view key,
                                 const std::string& path) {
  const json::value* v = entry.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  double d = 0;
  if (v->is_double()) {
    d = v->get_double();
  } else if (v->is_int64()) {
    d = static_cast<double>(v->get_int64());
  } else if (v->is_uint64()) {
    d = static_cast<double>(v->get_uint64());
  } else {
    bad_field(path + "." + std::string(key), "must be a number (USD per 1M tokens)");
  }
  if (!(d >= 0)) bad_field(path + "." + std::string(key), "must not be negative");
  return d;
}

struct Global {
  std::mutex mutex;
  std::shared_ptr<const PriceTable> table;
  PricingWarningHandler warn = [](std::string_view message) {
    std::fprintf(stderr, "chorus: warning: %.*s\n", static_cast<int>(message.size()),
                 message.data());
  };
  std::set<std::string, std::less<>> warned;
};

Global& global() {
  static Global g;
  return g;
}

void warn_locked(Global& g, std::string_view message) {
  if (g.warn) g.warn(message);
}

// Builds the default table plus $CHORUS_PRICING_FILE; called with the mutex held.
std::shared_ptr<const PriceTable> initial_table(Global& g) {
  auto table = PriceTable::defaults();
  if (const char* file = std::getenv("CHORUS_PRICING_FILE"); file && *file) {
    try {
      std::ifstream in(file, std::ios::binary);
      if (!in) throw Exception(make_error(errc::not_found, std::string("cannot read ") + file));
      std::ostringstream text;
      text << in.rdbuf();
      table.merge(PriceTable::parse(text.str()));
    } catch (const Exception& e) {
      warn_locked(g, std::string("CHORUS_PRICING_FILE ignored: ") + e.error().message);
    }
  }
  return std::make_shared<const PriceTable>(std::move(table));
}

}  // namespace

PriceTable PriceTable::defaults() {
  static const PriceTable table = parse(data::pricing_json());
  return table;
}

PriceTable PriceTable::parse(std::string_view text) {
  json::value doc;
  try {
    doc = json::parse(text);
  } catch (const std::exception& e) {
    bad_field("(document)", std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) bad_field("(document)", "must be a JSON object");
  PriceTable table;
  const json::object& root = doc.get_object();
  if (const auto* as_of = root.if_contains("as_of")) {
    if (!as_of->is_string()) bad_field("as_of", "must be a string");
    table.as_of_ = std::string(as_of->get_string());
  }
  const json::value* models = root.if_contains("models");
  if (!models) bad_field("models", "missing");
  if (!models->is_object()) bad_field("models", "must be an object keyed by model id");
  for (const auto& [key, value] : models->get_object()) {
    const std::string path = "models." + std::string(key);
    if (key.empty()) bad_field("models", "empty model id");
    if (!value.is_object()) bad_field(path, "must be an object");
    const json::object& entry = value.get_object();
    Price price;
    if (const auto* vendor = entry.if_contains("vendor")) {
      if (!vendor->is_string()) bad_field(path + ".vendor", "must be a string");
      price.vendor = std::string(vendor->get_string());
    }
    price.input = read_price(entry, "input", path);
    price.output = read_price(entry, "output", path);
    price.cached_input = read_price(entry, "cached_input", path);
    if (const auto* cw = entry.if_contains("context_window"); cw && !cw->is_null()) {
      if (!cw->is_int64() || cw->get_int64() <= 0)
        bad_field(path + ".context_window", "must be a positive integer (tokens)");
      price.context_window = cw->get_int64();
    }
    if (const auto* note = entry.if_contains("note"); note && note->is_string())
      price.note = std::string(note->get_string());
    table.entries_.emplace(std::string(key), std::move(price));
  }
  return table;
}

void PriceTable::merge(const PriceTable& other) {
  for (const auto& [key, price] : other.entries_) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      entries_.emplace(key, price);
      continue;
    }
    Price& mine = it->second;
    if (!price.vendor.empty()) mine.vendor = price.vendor;
    if (price.input) mine.input = price.input;
    if (price.output) mine.output = price.output;
    if (price.cached_input) mine.cached_input = price.cached_input;
    if (price.context_window) mine.context_window = price.context_window;
    if (!price.note.empty()) mine.note = price.note;
  }
  if (!other.as_of_.empty()) as_of_ = other.as_of_;
}

namespace {

// The entry whose key is the longest prefix of `model` ending at its end or before a '-' (few
// lookups, longest first), or end().
template <class Map>
typename Map::const_iterator longest_match(const Map& entries, std::string_view model) {
  if (model.starts_with("models/")) model.remove_prefix(7);
  for (std::size_t end = model.size(); end > 0; --end) {
    if (end != model.size() && model[end] != '-') continue;
    auto it = entries.find(model.substr(0, end));
    if (it != entries.end()) return it;
  }
  return entries.end();
}

}  // namespace

std::string_view PriceTable::match(std::string_view model) const noexcept {
  auto it = longest_match(entries_, model);
  return it == entries_.end() ? std::string_view() : std::string_view(it->first);
}

const Price* PriceTable::find(std::string_view model) const noexcept {
  auto it = longest_match(entries_, model);
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<double> compute_cost(const Price& price, const Usage& usage) noexcept {
  if (!price.input || !price.output) return std::nullopt;
  const double cached_price = price.cached_input.value_or(*price.input);
  const auto cached = std::min(usage.cached_prompt_tokens, usage.prompt_tokens);
  return (static_cast<double>(usage.prompt_tokens - cached) * *price.input +
          static_cast<double>(cached) * cached_price +
          static_cast<double>(usage.completion_tokens) * *price.output) /
         1e6;
}

std::shared_ptr<const PriceTable> pricing() {
  Global& g = global();
  std::lock_guard lock(g.mutex);
  if (!g.table) g.table = initial_table(g);
  return g.table;
}

void set_pricing(PriceTable table) {
  Global& g = global();
  auto next = std::make_shared<const PriceTable>(std::move(table));
  std::lock_guard lock(g.mutex);
  g.table = std::move(next);
  g.warned.clear();
}

void merge_pricing_json(std::string_view text) {
  PriceTable extra = PriceTable::parse(text);
  Global& g = global();
  std::lock_guard lock(g.mutex);
  if (!g.table) g.table = initial_table(g);
  PriceTable merged = *g.table;
  merged.merge(extra);
  g.table = std::make_shared<const PriceTable>(std::move(merged));
  g.warned.clear();
}

void load_pricing_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Exception(make_error(errc::not_found, "pricing file: cannot read " + path));
  std::ostringstream text;
  text << in.rdbuf();
  try {
    merge_pricing_json(text.str());
  } catch (const Exception& e) {
    Error error = e.error();
    error.message = path + ": " + error.message;
    throw Exception(std::move(error));
  }
}

void set_pricing_warning_handler(PricingWarningHandler handler) {
  Global& g = global();
  std::lock_guard lock(g.mutex);
  g.warn = std::move(handler);
}

std::optional<double> price_call(std::string_view model, const Usage& usage,
                                 std::string_view fallback_model) {
  auto table = pricing();
  const Price* price = table->find(model);
  if (!price && !fallback_model.empty()) price = table->find(fallback_model);
  if (price) return compute_cost(*price, usage);
  const std::string_view named = model.empty() ? fallback_model : model;
  Global& g = global();
  PricingWarningHandler warn;
  {
    std::lock_guard lock(g.mutex);
    if (g.warned.find(named) != g.warned.end()) return std::nullopt;
    g.warned.emplace(named);
    warn = g.warn;  // called unlocked: the handler may use the pricing functions
  }
  if (warn)
    warn("no price known for model '" + std::string(named) +
         "': cost reported as null (add it with CHORUS_PRICING_FILE)");
  return std::nullopt;
}

std::optional<std::int64_t> context_window(std::string_view model) {
  auto table = pricing();
  const Price* price = table->find(model);
  if (!price) return std::nullopt;
  return price->context_window;
}

}  // namespace chorus
