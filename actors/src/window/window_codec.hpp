#pragma once

// Private to warren::actors: what the `window` kind reads from a message and
// writes as a result, shared by the actor and `warren window replay` so
// both run the same logic. Pure.
//
// An event's key is the JSON array of its key fields' values (`["d1"]`):
// numbers, strings and booleans as JSON writes them, so 1 and "1" are
// different keys. Its time is the time field read as its format says, or
// the processing time given. Its values are one double per value field,
// NaN when the field is missing or null. A result body is
//
//   {"key": {"<key field>": value, ...}, "window": "sliding",
//    "start": ms, "end": ms, "revision": 0, "update": false, "count": n,
//    "fields": {"<value field>": {"count", "sum", "avg", ..., "p90"}}}
//
// with the aggregates the config asks for (null where a field had no
// value), and its id `<key>/<start>/<end>/<actor>/<revision>` (hashed when
// longer than 255 bytes): the same result gets the same id, whoever
// publishes it and however often.

#include "window/window_kernel.hpp"
#include "window/window_options.hpp"

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

namespace warren::actors {

class window_codec {
 public:
  explicit window_codec(const window_settings& settings);

  /// Reads the event of `body`; false with `why` (naming the field) when
  /// it has none. `values` holds one double per value field.
  bool read(const boost::json::value& body, int64_t now_ms,
            std::string& key_text, int64_t& time, double* values,
            std::string& why) const;

  /// Reads only the key of `body` (read's first step): what a sharded
  /// window's routers send each event by.
  bool read_key(const boost::json::value& body, std::string& key_text,
                std::string& why) const;

  boost::json::value result_body(const window_result& r) const;

  static std::string result_id(const window_result& r,
                               const std::string& actor);

 private:
  const window_settings& settings_;
};

} // namespace warren::actors
