#pragma once

// Private to warren::runtime: one delivery being handled by a warren actor
// (the `message_scope`), the context its handlers get, and the steps shared
// by the stateless and the stateful dispatcher: run a handler guarded, send
// what it produced, and turn its outcome (or failure, through the retry
// policy) into the consumer's outcome.

#include "dispatch/dispatcher.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/runtime/actor.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace warren::detail {

using warren::outcome;
using warren::outgoing_message;
// Everything about one delivery while it is being handled: the delivery
// itself (shared with the consumer, not copied), what its handlers want
// published, and how many publishes and calls are still outstanding.
struct message_scope {
  bridges::consumer_host* host = nullptr;
  std::shared_ptr<const dispatch_services> services;
  std::shared_ptr<const dispatch_settings> settings;
  // Runs the handler again on `delivery` (an immediate retry).
  std::function<void(caf::message delivery, std::function<void(outcome)> done)>
    again;
  const actor* user = nullptr;
  caf::message delivery; // (deliver_atom, envelope)
  std::function<void(outcome)> done;
  std::vector<outgoing_message> outbox;
  struct pending_call {
    outgoing_message request;
    std::chrono::milliseconds timeout;
    call_continuation then;
  };
  std::vector<pending_call> calls;
  int outstanding = 0;
  status failure = status::ok();
  // Whether the actor instance goes on after this message (`actor_failure`
  // thrown, or `context::stop` called).
  warren::outcome::lifecycle next = warren::outcome::lifecycle::carry_on;
  // Shared by every message of the instance: set once it has ended, after
  // which none of its code runs again.
  std::shared_ptr<bool> ended;
  bool replied = false;
  bool answered = false;
  // Stateful actors: `call` is not available, what the handler sends is kept
  // in `outbox` for the caller, and success runs `on_success` instead of
  // answering `done` (the answer comes after the commit).
  bool stateful = false;
  std::function<void(const std::shared_ptr<message_scope>&)> on_success;

  const envelope& message() const { return delivery.get_as<envelope>(1); }
};

using scope_ptr = std::shared_ptr<message_scope>;

/// What every scope of one actor instance shares.
struct instance_scope {
  std::shared_ptr<const dispatch_services> services;
  std::shared_ptr<const dispatch_settings> settings;
  const actor* user = nullptr;
  /// Set once the instance has ended.
  std::shared_ptr<bool> ended = std::make_shared<bool>(false);
  bool stateful = false;
};

/// The scope of `delivery` for an instance whose handler is `dispatcher`
/// (immediate retries run it again). Returns nullptr, having answered a
/// requeue, when the instance has already ended.
scope_ptr open_scope(const instance_scope& instance,
                     bridges::delivery_handler& dispatcher,
                     bridges::consumer_host& host, const caf::message& delivery,
                     std::function<void(outcome)> done);

/// The permanent failure of a message whose type no handler takes.
status unknown_type(const envelope& env);

/// A message `cause` leads to: a fresh id, the trace id carried along.
outgoing_message make_outgoing(const envelope& cause, std::string exchange,
                               std::string routing_key, std::string type,
                               const boost::json::value& body);

/// Runs `fn` with a context for `scope`, turning exceptions into failures
/// (`actor_failure` also ends the instance).
void run_in_context(const scope_ptr& scope,
                    const std::function<status(context&)>& fn);

/// Publishes what the handler produced (only if it succeeded) and starts its
/// calls; each settles `outstanding`.
void flush_effects(const scope_ptr& scope);

/// Answers the consumer with `result` (once).
void answer(const scope_ptr& scope, outcome result);

/// Once nothing is outstanding: success answers `done` (or runs
/// `on_success`), a failure goes through the actor's retry policy.
void finish_if_done(const scope_ptr& scope);

} // namespace warren::detail
