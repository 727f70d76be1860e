#pragma once

/// transformer: a pipeline stage that maps the fields of each message
/// (field_mapping.hpp: rename, copy, drop, set, default, nest, flatten,
/// scale, upper, lower, timestamp) and sends the result on.
///
/// Protocol: consumes any message type. The operations run in order on a
/// copy of the body; the result goes to `output` (stage_output.hpp) with an
/// id derived from the input's. An operation that fails (a value of the
/// wrong kind, a bad timestamp, a missing field marked `if_missing: fail`)
/// fails the message permanently (`validation_failed`): it is
/// dead-lettered with the operation and the field's JSON path in
/// `x-warren-error`. Stateless; restart type as configured.
///
/// Options: `operations` (required, an array), `output` (required).
/// Metrics (when on): warren_transformer_passed_total{actor},
/// warren_transformer_failed_total{actor,reason} (reason: mapping, output).

#include "pipeline/field_mapping.hpp"
#include "pipeline/stage_common.hpp"
#include "pipeline/stage_output.hpp"
#include "warren/config/reader.hpp"
#include "warren/runtime/actor.hpp"

namespace warren::actors {

class transformer : public actor {
 public:
  /// Throws std::invalid_argument (a failed start) on bad options.
  explicit transformer(const actor_init& init);

  static void check_options(config::object_reader& options);

  void setup(handlers& on) override;

 private:
  status handle(context& ctx, const boost::json::value& body);

  field_mapping mapping_;
  stage_output output_;
  stage_counters counters_;
  metrics::counter mapping_failed_;
  metrics::counter output_failed_;
  std::string why_; // reused per message
};

} // namespace warren::actors
