#include "eventstore/event_store.hpp"
#include "families.hpp"

namespace warren::actors {

void register_eventstore_kinds(registry& kinds) {
  kinds.add_kind<event_store>("event_store");
}

} // namespace warren::actors
