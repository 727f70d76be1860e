#include "families.hpp"
#include "window/window_actor.hpp"

namespace warren::actors {

void register_window_kinds(registry& kinds) {
  kinds.add_kind<window_actor>("window");
}

} // namespace warren::actors
