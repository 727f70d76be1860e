#include "warren/core/json_convert.hpp"

namespace warren {

const char* json_kind_of(const boost::json::value& v) noexcept {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      return "an integer";
    case boost::json::kind::double_:
      return "a number with a fraction or exponent";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
  }
  return "a value";
}

namespace json_convert_detail {

void append_to_pointer(std::string& pointer, std::string_view name) {
  pointer += '/';
  for (char c : name) {
    if (c == '~')
      pointer += "~0";
    else if (c == '/')
      pointer += "~1";
    else
      pointer += c;
  }
}

std::string mismatch(const std::string& path, const std::string& what) {
  return (path.empty() ? std::string{"the value"} : "at " + path) + ": " + what;
}

bool is_kind(const boost::json::value& v, boost::json::kind kind,
             const std::string& path, std::string& error) {
  if (v.kind() == kind)
    return true;
  error = mismatch(
    path, std::string{"expected "} +
            (kind == boost::json::kind::object ? "an object" : "an array") +
            ", found " + json_kind_of(v));
  return false;
}

} // namespace json_convert_detail

} // namespace warren
