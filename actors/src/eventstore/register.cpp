#include "eventstore/event_store.hpp"
#include "eventstore/projection.hpp"
#include "families.hpp"

namespace warren::actors {

void register_eventstore_kinds(registry& kinds) {
  // A sharded event store numbers each shard's events on its own.
  kinds.add_kind<event_store>("event_store");
  // A projection's tables change shape at runtime (a rebuild's next
  // generation), which a shard's changelog (row changes) does not carry.
  kind_traits follower;
  follower.not_shardable =
    "a projection's tables are made and dropped as it rebuilds, which the "
    "changelog of a sharded actor does not carry (not supported yet)";
  kinds.add_kind<projection>("projection", std::move(follower));
}

} // namespace warren::actors
