#include "basic/delegating.hpp"
#include "basic/workers.hpp"
#include "families.hpp"

namespace warren::actors {

void register_basic_kinds(registry& kinds) {
  kind_traits delegating;
  delegating.takes_handler = true;
  kinds.add_kind<service>("service", delegating);
  kinds.add_kind<subscriber>("subscriber", delegating);
  kinds.add_kind<echo>("echo");
  kinds.add_kind<log>("log");
  kinds.add_kind<record>("record");
}

} // namespace warren::actors
