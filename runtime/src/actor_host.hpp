#pragma once

// Private to warren::runtime: the CAF actor that hosts one `warren::actor`
// instance.
//
// Protocol: (deliver_atom, const envelope&) -> bridges::outcome, answered
// when the handler and every continuation it started are finished and all
// they published is confirmed. A handler that throws or fails never takes the
// host down; the outcome says reject and carries the reason.

#include "warren/bridges/consumer.hpp"
#include "warren/runtime/actor.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace warren::detail {

/// What every host of a node shares.
struct host_services {
  caf::actor publisher;
  caf::actor requester;
  std::string node_name;
  std::chrono::milliseconds call_timeout{5000};
};

caf::behavior actor_host(caf::event_based_actor* self,
                         std::shared_ptr<actor> user, host_services services);

} // namespace warren::detail
