#include "families.hpp"
#include "options.hpp"
#include "pool/scaling.hpp"

namespace warren::actors {

void register_pool_kinds(registry& kinds) {
  kind_traits pool;
  pool.check_options = [](config::object_reader& options) {
    (void)read_scaling_options(options);
  };
  kinds.add_pool_kind(
    "worker_pool",
    [](const actor_init& init) -> std::unique_ptr<pool_policy> {
      return std::make_unique<scaler>(read_options(init, read_scaling_options));
    },
    std::move(pool));
}

} // namespace warren::actors
