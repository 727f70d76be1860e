#pragma once

/// service and subscriber: actors whose work is done by another registered
/// kind (`actors[].handler`). They differ in what a failure means for the
/// caller: a service answers failed requests with an error reply.

#include "warren/runtime/actor.hpp"

#include <memory>

namespace warren::actors {

class delegating_actor : public actor {
 public:
  /// Makes the handler kind named in `init.handler`. Throws
  /// std::invalid_argument when it is missing or unknown (the node checks
  /// kinds before spawning, so this means a misuse of the API).
  delegating_actor(const actor_init& init, bool replies_with_errors);

  void setup(handlers& on) override;

  bool replies_with_errors() const override { return replies_with_errors_; }

 private:
  std::unique_ptr<actor> worker_;
  bool replies_with_errors_;
};

/// Request-response service (restart type: permanent).
class service : public delegating_actor {
 public:
  explicit service(const actor_init& init) : delegating_actor(init, true) {}
};

/// Queue subscriber (restart type: permanent).
class subscriber : public delegating_actor {
 public:
  explicit subscriber(const actor_init& init) : delegating_actor(init, false) {}
};

} // namespace warren::actors
