#include "warren/actors/builtin.hpp"

#include "warren/actors/delegating.hpp"
#include "warren/actors/workers.hpp"
#include "warren/runtime/config.hpp"

namespace warren::actors {

void register_builtin_kinds(registry& kinds) {
  kinds.add_kind<service>(runtime::service_kind);
  kinds.add_kind<subscriber>(runtime::subscriber_kind);
  kinds.add_kind<echo>("echo");
  kinds.add_kind<log>("log");
  kinds.add_kind<record>("record");
}

} // namespace warren::actors
