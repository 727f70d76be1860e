#include "eventstore/event_store.hpp"
#include "eventstore/projection.hpp"
#include "families.hpp"

namespace warren::actors {

void register_eventstore_kinds(registry& kinds) {
  // A sharded event store numbers each shard's events on its own.
  kinds.add_kind<event_store>("event_store");
  // A sharded projection keeps shard i of its store in its shard i.
  kind_traits follower;
  follower.check_shards = [](config::object_reader& options, uint32_t shards) {
    check_sharded_projection(options, shards);
  };
  kinds.add_kind<projection>("projection", std::move(follower));
}

} // namespace warren::actors
