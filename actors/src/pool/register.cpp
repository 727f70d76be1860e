#include "families.hpp"

namespace warren::actors {

void register_pool_kinds(registry&) {}

} // namespace warren::actors
