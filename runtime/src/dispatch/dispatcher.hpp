#pragma once

// Private to warren::runtime: runs one `warren::actor` instance's handlers
// for the deliveries of its consumer, in the consumer's own thread.
//
// For each delivery: find the handler by `type`, run it with a context that
// collects what it sends, publish that (only if the handler succeeded) on the
// consumer's connection with confirms, start its calls through the node's
// requester, and report the outcome once every publish is confirmed and every
// call continuation has run. A handler that throws or fails never takes the
// consumer down: the failure goes through the actor's retry policy. Only
// `actor_failure` (and `context::stop`) end the instance: the outcome then
// tells the consumer to exit once the message is settled, and none of the
// instance's code (call continuations included) runs again.

#include "warren/bridges/consumer.hpp"
#include "warren/runtime/actor.hpp"
#include "warren/runtime/dispatch/retry_policy.hpp"

#include <caf/actor.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace warren::detail {

/// What every dispatcher of a node shares.
struct dispatch_services {
  caf::actor requester;
  std::string node_name;
  std::chrono::milliseconds call_timeout{5000};
};

/// What one actor's dispatchers need to know of its config.
struct dispatch_settings {
  /// The actor's queue (its retry ladder hangs off it).
  std::string queue;
  runtime::retry_policy retry;
};

/// Makes the handler a consumer runs for `user`'s deliveries. A failed
/// message is retried as `settings.retry` says: at once by running the
/// handler again, later by parking a copy on the retry ladder, and after the
/// last attempt (or at once when the failure is permanent) dead-lettered.
std::shared_ptr<bridges::delivery_handler>
make_dispatcher(std::shared_ptr<actor> user, dispatch_services services,
                dispatch_settings settings);

} // namespace warren::detail
