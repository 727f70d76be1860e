#include "eventstore/event_store.hpp"
#include "eventstore/projection.hpp"
#include "families.hpp"

namespace warren::actors {

void register_eventstore_kinds(registry& kinds) {
  kinds.add_kind<event_store>("event_store");
  kinds.add_kind<projection>("projection");
}

} // namespace warren::actors
