#include "basic/delegating.hpp"

#include "warren/runtime/registry.hpp"

#include <stdexcept>

namespace warren::actors {

namespace {

std::unique_ptr<actor> make_worker(const actor_init& init) {
  if (init.kinds == nullptr || init.handler.empty())
    throw std::invalid_argument("actor '" + init.name +
                                "' needs a handler kind");
  const auto* factory = init.kinds->find(init.handler);
  if (factory == nullptr)
    throw std::invalid_argument(
      "actor '" + init.name + "': unknown handler kind '" + init.handler + "'");
  return (*factory)(init);
}

} // namespace

delegating_actor::delegating_actor(const actor_init& init,
                                   bool replies_with_errors)
  : actor(init), worker_(make_worker(init)),
    replies_with_errors_(replies_with_errors) {
  // Nothing else to do.
}

void delegating_actor::setup(handlers& on) {
  worker_->setup(on);
}

} // namespace warren::actors
