#pragma once

/// Events as the `event_store` kind keeps them and as event-sourced
/// aggregates (warren/actors/aggregate.hpp) see them.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

namespace warren {

/// An event in a store.
struct recorded_event {
  /// 1, 2, 3 ... over the whole store, in commit order, without gaps.
  int64_t position = 0;
  std::string stream;
  /// 1, 2, 3 ... in its stream.
  int64_t version = 0;
  std::string event_id;
  std::string type;
  boost::json::value data;
  boost::json::object metadata;
  int64_t recorded_ms = 0;
};

/// An event to append: what a command decided.
struct new_event {
  std::string type;
  boost::json::value data;
  boost::json::object metadata = {};
};

} // namespace warren
