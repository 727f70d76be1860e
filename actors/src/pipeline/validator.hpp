#pragma once

/// validator: a pipeline stage that checks each message against the JSON
/// Schema of its type and scores its quality, then sends it on.
///
/// Protocol: consumes any message type. A message whose type has no schema
/// (and no "*" schema), that breaks its schema, or whose quality score is
/// below `min_quality` fails permanently (`validation_failed`, never
/// retried): it is dead-lettered with every violation's JSON path, or the
/// failed soft checks, in `x-warren-error`. Otherwise the body, with the
/// score written at `quality_field` when there are soft checks, goes to
/// `output` (stage_output.hpp) with an id derived from the input's.
/// Stateless; restart type as configured (permanent by default).
///
/// Options, checked by `warren check` and at start (docs/pipeline.md):
/// `schemas`, `soft_checks`, `quality_field` (default "quality"),
/// `min_quality` (default 0), `output` (required). Schemas are compiled
/// once, when the instance starts; a bad one fails the start with its path.
///
/// Metrics (when on): warren_validator_passed_total{actor},
/// warren_validator_failed_total{actor,reason} (reason: no_schema, schema,
/// quality, unwritable, output), warren_validator_quality_ratio{actor} (a
/// histogram of scores) and warren_validator_soft_check_failed_total{actor,
/// check}.

#include "pipeline/stage_common.hpp"
#include "pipeline/stage_output.hpp"
#include "pipeline/validation.hpp"
#include "warren/config/reader.hpp"
#include "warren/metrics/cells.hpp"
#include "warren/runtime/actor.hpp"

#include <vector>

namespace warren::actors {

class validator : public actor {
 public:
  /// Throws std::invalid_argument (a failed start) on bad options or a
  /// schema file that cannot be read or compiled.
  explicit validator(const actor_init& init);

  static void check_options(config::object_reader& options);

  void setup(handlers& on) override;

 private:
  status handle(context& ctx, const boost::json::value& body);

  validation_rules rules_;
  stage_output output_;
  stage_counters counters_;
  metrics::counter no_schema_;
  metrics::counter schema_failed_;
  metrics::counter quality_failed_;
  metrics::counter unwritable_;
  metrics::counter output_failed_;
  metrics::histogram quality_;
  // The score of recent messages, exponentially weighted (about the last
  // 64): what the P2 alert `WarrenDataQualityLow` reads.
  metrics::gauge recent_quality_;
  double recent_ = -1;
  /// One per soft check, in order.
  std::vector<metrics::counter> check_failed_;
};

} // namespace warren::actors
