#pragma once

// Private to warren::actors: the validator's quality score, after the seed
// platform's data quality checks: a list of soft checks, each a predicate
// (predicate.hpp) with an optional name, and the score is the share that
// pass, from 0 to 1. A soft check that fails does not fail the message by
// itself; the validator's `min_quality` decides. Pure logic.
//
//   "soft_checks": [
//     {"name": "value present", "field": "value", "exists": true},
//     {"name": "value in range", "field": "value", "ge": -40, "le": 125},
//     {"field": "unit", "in": ["C", "F", "K"]},
//     {"field": "device_id", "matches": "^dev-[0-9]+$"}
//   ]

#include "pipeline/predicate.hpp"
#include "warren/config/reader.hpp"

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warren::actors {

struct soft_check {
  /// The check's `name`, or its predicate in words ("value ge -40, le 125").
  std::string name;
  predicate check;
};

class quality_checks {
 public:
  /// Reads the array under `key` (absent: no checks). Records errors in the
  /// reader; nullopt then.
  static std::optional<quality_checks> read(config::object_reader& options,
                                            std::string_view key);

  bool empty() const noexcept { return checks_.empty(); }
  std::size_t size() const noexcept { return checks_.size(); }
  const soft_check& operator[](std::size_t i) const { return checks_[i]; }

  /// The share of checks `body` passes (1 when there are none); the indexes
  /// of the failed ones are appended to `failed`.
  double score(const boost::json::value& body,
               std::vector<std::size_t>& failed) const;

 private:
  std::vector<soft_check> checks_;
};

} // namespace warren::actors
