#pragma once

/// filter: a pipeline stage that drops the messages a predicate picks
/// (predicate.hpp) and sends the others on unchanged.
///
/// Protocol: consumes any message type. With `drop_when`, a message for
/// which it holds is dropped; with `keep_when`, one for which it does not
/// hold is. A dropped message is done (acked): it is counted in
/// warren_filter_dropped_total{actor} and logged at debug level with its
/// id, never lost silently. A kept one goes to `output` (stage_output.hpp)
/// with an id derived from the input's. Stateless; restart type as
/// configured.
///
/// Options: exactly one of `drop_when` and `keep_when`; `output`
/// (required). Metrics (when on): warren_filter_dropped_total{actor},
/// warren_filter_passed_total{actor}, warren_filter_failed_total{actor,
/// reason} (reason: output).

#include "pipeline/predicate.hpp"
#include "pipeline/stage_common.hpp"
#include "pipeline/stage_output.hpp"
#include "warren/config/reader.hpp"
#include "warren/runtime/actor.hpp"

#include <optional>

namespace warren::actors {

/// Which messages a filter keeps. Pure logic.
class filter_rule {
 public:
  /// Reads `drop_when` or `keep_when` (exactly one). Records errors in the
  /// reader; nullopt then.
  static std::optional<filter_rule> read(config::object_reader& options);

  bool keeps(const boost::json::value& body) const {
    return test_.holds(body) != drops_when_holds_;
  }

  /// "drop_when temperature lt -50", for the log.
  std::string describe() const;

 private:
  filter_rule(predicate test, bool drops_when_holds)
    : test_(std::move(test)), drops_when_holds_(drops_when_holds) {}

  predicate test_;
  bool drops_when_holds_;
};

class filter : public actor {
 public:
  /// Throws std::invalid_argument (a failed start) on bad options.
  explicit filter(const actor_init& init);

  static void check_options(config::object_reader& options);

  void setup(handlers& on) override;

 private:
  status handle(context& ctx, const boost::json::value& body);

  std::optional<filter_rule> rule_;
  /// The rule in words, made once for the debug log.
  std::string rule_text_;
  stage_output output_;
  stage_counters counters_;
  metrics::counter dropped_;
  metrics::counter output_failed_;
};

} // namespace warren::actors
