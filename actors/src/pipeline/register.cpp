#include "families.hpp"

namespace warren::actors {

void register_pipeline_kinds(registry&) {}

} // namespace warren::actors
