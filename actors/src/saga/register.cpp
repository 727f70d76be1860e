#include "families.hpp"
#include "saga/saga_actor.hpp"

namespace warren::actors {

void register_saga_kinds(registry& kinds) {
  kinds.add_kind<saga_actor>("saga");
}

} // namespace warren::actors
