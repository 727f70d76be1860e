#include "eventstore/append_rules.hpp"

namespace warren::actors {

std::optional<expected_version>
read_expected_version(const boost::json::value* v, std::string& why) {
  expected_version result;
  if (v == nullptr || v->is_null())
    return result;
  if (const auto* s = v->if_string()) {
    if (*s == "any")
      return result;
    if (*s == "no_stream") {
      result.what = expected_version::kind::no_stream;
      return result;
    }
    if (*s == "stream_exists") {
      result.what = expected_version::kind::stream_exists;
      return result;
    }
  } else if (const auto* n = v->if_int64(); n != nullptr && *n >= 0) {
    result.what = *n == 0 ? expected_version::kind::no_stream
                          : expected_version::kind::exact;
    result.version = *n;
    return result;
  } else if (const auto* u = v->if_uint64();
             u != nullptr && *u <= static_cast<uint64_t>(INT64_MAX)) {
    result.what = expected_version::kind::exact;
    result.version = static_cast<int64_t>(*u);
    return result;
  }
  why = "expected_version: expected \"any\", \"no_stream\", "
        "\"stream_exists\" or a version (an integer >= 0)";
  return std::nullopt;
}

std::string to_string(const expected_version& expected) {
  switch (expected.what) {
    case expected_version::kind::any:
      return "any";
    case expected_version::kind::no_stream:
      return "no_stream";
    case expected_version::kind::stream_exists:
      return "stream_exists";
    case expected_version::kind::exact:
      break;
  }
  return std::to_string(expected.version);
}

bool satisfied(const expected_version& expected, int64_t current) {
  switch (expected.what) {
    case expected_version::kind::any:
      return true;
    case expected_version::kind::no_stream:
      return current == 0;
    case expected_version::kind::stream_exists:
      return current >= 1;
    case expected_version::kind::exact:
      break;
  }
  return current == expected.version;
}

append_decision
decide_append(const std::string& stream, const expected_version& expected,
              int64_t current,
              const std::vector<std::optional<recorded_at>>& found) {
  std::size_t there = 0;
  for (const auto& f : found)
    if (f)
      ++there;
  if (there == 0)
    return satisfied(expected, current)
             ? append_decision::write
             : append_decision::wrong_expected_version;
  if (there < found.size())
    return append_decision::idempotency_conflict;
  // All there: as one run of versions in this stream, in this order, that
  // began where the expected version says the stream was.
  auto first = found.front()->version;
  for (std::size_t i = 0; i < found.size(); ++i)
    if (found[i]->stream != stream ||
        found[i]->version != first + static_cast<int64_t>(i))
      return append_decision::idempotency_conflict;
  return satisfied(expected, first - 1) ? append_decision::already
                                        : append_decision::idempotency_conflict;
}

} // namespace warren::actors
