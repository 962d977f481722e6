// JSON text the way people (and Python's json module) write it: doubles in their shortest
// round-trip form ("0.7", "1.0", "1e-05"), not Boost.JSON's "7E-1".
#pragma once

#include <boost/json/value.hpp>

#include <string>

namespace chorus::detail {

/// Appends `v` to `out`: compact (no spaces, like boost::json::serialize) when `indent` < 0, else
/// indented by 2 spaces starting at `indent`, like Python's json.dumps(indent=2,
/// ensure_ascii=False).
void write_json(std::string& out, const boost::json::value& v, int indent);

/// write_json(v, -1) into a new string.
std::string compact_json(const boost::json::value& v);

}  // namespace chorus::detail
