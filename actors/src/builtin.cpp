#include "warren/actors/builtin.hpp"

#include "basic/delegating.hpp"
#include "basic/workers.hpp"
#include "warren/config/node_config.hpp"

namespace warren::actors {

void register_builtin_kinds(registry& kinds) {
  kinds.add_kind<service>(config::service_kind);
  kinds.add_kind<subscriber>(config::subscriber_kind);
  kinds.add_kind<echo>("echo");
  kinds.add_kind<log>("log");
  kinds.add_kind<record>("record");
}

} // namespace warren::actors
