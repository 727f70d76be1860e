#pragma once

// Private to warren::actors: the router's choice of outputs for a message,
// apart from the actor (router.hpp). Pure logic.
//
//   "mode": "first",                      or "all"
//   "routes": [
//     {"name": "hot", "when": {"field": "temperature", "gt": 30},
//      "output": {"exchange": "alerts", "routing_key": "hot.{device_id}"}},
//     {"when": {"field": "kind", "eq": "metric"}, "output": {"actor": "agg"}}
//   ],
//   "otherwise": {"actor": "archive"}     optional
//
// Routes are tried in order; `first` takes the first whose `when` holds,
// `all` every one. No route and no `otherwise`: unroutable.

#include "pipeline/predicate.hpp"
#include "pipeline/stage_output.hpp"
#include "warren/config/reader.hpp"

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

namespace warren::actors {

class routing_table {
 public:
  /// The most routes one router may have.
  static constexpr std::size_t max_routes = 1000;

  struct route {
    /// `name`, or the route's index ("0", "1", ...): the metrics label.
    std::string name;
    predicate when;
    stage_output output;
  };

  /// Reads `mode`, `routes` (required, at least one) and `otherwise`.
  /// Records errors in the reader; nullopt then.
  static std::optional<routing_table> read(config::object_reader& options);

  /// The indexes of the routes `body` takes, in order, into `out` (cleared
  /// first): at most one in `first` mode. Empty: `otherwise`, if any.
  void select(const boost::json::value& body,
              std::vector<std::size_t>& out) const;

  const std::vector<route>& routes() const noexcept { return routes_; }
  const std::optional<stage_output>& otherwise() const noexcept {
    return otherwise_;
  }
  bool all_matches() const noexcept { return all_; }

 private:
  std::vector<route> routes_;
  std::optional<stage_output> otherwise_;
  bool all_ = false;
};

} // namespace warren::actors
