#include "warren/actors/builtin.hpp"

#include "families.hpp"

namespace warren::actors {

void register_builtin_kinds(registry& kinds) {
  register_basic_kinds(kinds);
  register_pool_kinds(kinds);
  register_pipeline_kinds(kinds);
  register_window_kinds(kinds);
  register_eventstore_kinds(kinds);
  register_saga_kinds(kinds);
}

} // namespace warren::actors
