#include "eventstore/event_store.hpp"
#include "eventstore/projection.hpp"
#include "families.hpp"

namespace warren::actors {

void register_eventstore_kinds(registry& kinds) {
  // An event store gives each event a position in the whole store, in the
  // order it commits: one sequence that shards owned by different nodes
  // could not share. A projection follows those positions.
  kind_traits store;
  store.not_shardable =
    "an event store numbers every event in one sequence for the whole "
    "store (read_all, projections), which shards on different nodes "
    "cannot share (not supported yet)";
  kinds.add_kind<event_store>("event_store", store);
  kind_traits follower;
  follower.not_shardable =
    "a projection follows an event store's positions in one sequence, one "
    "event after the other (not supported yet)";
  kinds.add_kind<projection>("projection", std::move(follower));
}

} // namespace warren::actors
