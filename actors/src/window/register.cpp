#include "families.hpp"

namespace warren::actors {

void register_window_kinds(registry&) {}

} // namespace warren::actors
