#pragma once

// Private to warren::actors: the transformer's declarative field mapping,
// an ordered list of operations applied to a message body in place. Pure
// logic.
//
//   {"op": "rename",    "from": "ts", "to": "timestamp"}
//   {"op": "copy",      "from": "device", "to": "meta.device"}
//   {"op": "drop",      "fields": ["debug", "raw.bytes"]}
//   {"op": "set",       "field": "source", "value": "sensors"}
//   {"op": "default",   "field": "unit", "value": "C"}      (missing or null)
//   {"op": "nest",      "fields": ["lat", "lon"], "into": "location"}
//   {"op": "flatten",   "field": "location", "separator": "_"}
//   {"op": "scale",     "field": "temp_f", "factor": 0.5555555555555556,
//                       "offset": -17.77777777777778, "decimals": 2,
//                       "to": "temp_c"}                    (x * factor +
//                       offset)
//   {"op": "upper",     "field": "unit"}   {"op": "lower", "field": "unit"}
//   {"op": "timestamp", "field": "ts", "format": "auto", "to": "ts_ms"}
//
// A missing source field skips the operation unless it says
// `"if_missing": "fail"`; a value of the wrong kind (scaling a string, a bad
// timestamp, flattening a number, writing under a non-object) fails the
// message unless the operation says `"on_invalid": "skip"` (the field is
// then left as it was). docs/pipeline.md documents each key.

#include "pipeline/field_path.hpp"
#include "pipeline/timestamp.hpp"
#include "warren/config/reader.hpp"

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warren::actors {

class field_mapping {
 public:
  /// The most operations one mapping may have.
  static constexpr std::size_t max_operations = 1000;

  /// Reads the array under `key` of `options` (required). Records errors in
  /// the reader; nullopt then.
  static std::optional<field_mapping> read(config::object_reader& options,
                                           std::string_view key);

  /// Applies every operation in order. False with `why` ("operations[2]
  /// (scale temperature): $.temperature: expected a number, found "hot"")
  /// at the first that fails; `body` is then partly mapped and should be
  /// dropped.
  bool apply(boost::json::value& body, std::string& why) const;

  std::size_t size() const noexcept { return ops_.size(); }

 private:
  enum class kind : uint8_t {
    rename,
    copy,
    drop,
    set,
    default_value,
    nest,
    flatten,
    scale,
    upper,
    lower,
    timestamp,
  };

  struct operation {
    kind what = kind::set;
    /// "scale temperature", for errors.
    std::string label;
    /// The source (`from` or `field`); absent for a whole-body flatten.
    std::optional<field_path> field;
    /// Where the result goes (`to` or `into`); absent: in place.
    std::optional<field_path> target;
    /// drop and nest.
    std::vector<field_path> fields;
    boost::json::value value;
    double factor = 1;
    double offset = 0;
    std::optional<int> decimals;
    timestamp_format format = timestamp_format::automatic;
    std::string separator = "_";
    std::optional<std::string> prefix;
    bool fail_if_missing = false;
    bool skip_if_invalid = false;
  };

  static bool read_operation(config::object_reader& op, operation& out);
  // Applies one operation; false with `why` (without the label).
  static bool apply(const operation& op, boost::json::value& body,
                    std::string& why);

  std::vector<operation> ops_;
};

} // namespace warren::actors
