#pragma once

/// router: a pipeline stage that sends each message on by its content
/// (routing.hpp): to the output of the first route whose `when` holds, or
/// of every such route (`mode: all`), else to `otherwise`.
///
/// Protocol: consumes any message type; the body goes on unchanged, with an
/// id derived from the input's (one per output in `all` mode). A message no
/// route takes, with no `otherwise`, fails permanently (`unroutable`): it
/// is dead-lettered, never dropped. A routing key whose template cannot be
/// rendered (a missing field) fails it permanently too
/// (`validation_failed`). Stateless; restart type as configured.
///
/// Options: `routes` (required), `mode` ("first"), `otherwise`.
/// Metrics (when on): warren_router_routed_total{actor,route} (route: the
/// route's name, or "otherwise"), warren_router_passed_total{actor},
/// warren_router_failed_total{actor,reason} (reason: unroutable, output).

#include "pipeline/routing.hpp"
#include "pipeline/stage_common.hpp"
#include "warren/config/reader.hpp"
#include "warren/runtime/actor.hpp"

#include <vector>

namespace warren::actors {

class router : public actor {
 public:
  /// Throws std::invalid_argument (a failed start) on bad options.
  explicit router(const actor_init& init);

  static void check_options(config::object_reader& options);

  void setup(handlers& on) override;

 private:
  status handle(context& ctx, const boost::json::value& body);

  routing_table table_;
  stage_counters counters_;
  /// One per route, in order.
  std::vector<metrics::counter> routed_;
  metrics::counter routed_otherwise_;
  metrics::counter unroutable_;
  metrics::counter output_failed_;
  std::vector<std::size_t> matched_; // reused per message
};

} // namespace warren::actors
