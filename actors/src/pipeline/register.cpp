#include "families.hpp"
#include "pipeline/enricher.hpp"
#include "pipeline/filter.hpp"
#include "pipeline/router.hpp"
#include "pipeline/transformer.hpp"
#include "pipeline/validator.hpp"

namespace warren::actors {

void register_pipeline_kinds(registry& kinds) {
  kinds.add_kind<enricher>("enricher");
  kinds.add_kind<validator>("validator");
  kinds.add_kind<transformer>("transformer");
  kinds.add_kind<router>("router");
  kinds.add_kind<filter>("filter");
}

} // namespace warren::actors
