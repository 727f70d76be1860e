#pragma once

// Private to warren::runtime: one delivery being handled by a warren actor
// (the `message_scope`), the context its handlers get, and the stages the
// dispatchers compose:
//
//   admission (admission.hpp) -> de-duplication (stateful only) ->
//   guarded handler (`run_in_context`) -> effects (`flush_effects`, or the
//   stateful actor's outbox) -> settle (`finish_if_done`, settle.hpp)
//
// A scope ends exactly once (`answer`): done, parked for a retry, or
// dead-lettered, through the actor's retry policy; an immediate retry runs
// the handler again as the next attempt.

#include "dispatch/admission.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/config/actor.hpp"
#include "warren/metrics/cells.hpp"
#include "warren/runtime/actor.hpp"

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace warren::runtime::cluster {
class shard_directory;
} // namespace warren::runtime::cluster

namespace warren::detail {

/// What every dispatcher of a node shares.
struct dispatch_services {
  std::string node_name;
  /// Default timeout of a call from a handler.
  std::chrono::milliseconds call_timeout{5000};
  /// Larger bodies are rejected at admission.
  std::size_t max_body_bytes = 1024 * 1024;
  /// The sharded actors of the node's config: sends to them go to their
  /// shard queues (null: none).
  std::shared_ptr<const runtime::cluster::shard_directory> shards;
};

/// What one actor's dispatchers need to know of its config.
struct dispatch_settings {
  /// The actor's queue (its retry ladder and dead-letter queue hang off it).
  std::string queue;
  config::retry_policy retry;
  /// Messages without `message_id` are dead-lettered, not given one.
  bool require_message_id = false;
  /// Counts the handler run again at once (or after a backoff) on the
  /// consumer's thread: `warren_messages_retried_total`, with the retries
  /// through the broker the consumer counts.
  metrics::counter immediate_retries{};
};

/// Runs a delivery through a dispatcher again (an immediate retry).
using redispatch =
  std::function<void(bridges::consumer_host&, bridges::delivery,
                     std::function<void(bridges::settlement)>)>;

/// What every message of one actor instance shares.
struct instance_scope {
  dispatch_services services;
  dispatch_settings settings;
  const actor* user = nullptr;
  /// Set once the instance has ended (`actor_failure`, `ctx.stop()`): none
  /// of its code runs again.
  bool ended = false;
  /// Stateful actors cannot `call`, and keep what their handlers send for
  /// their transaction's outbox.
  bool stateful = false;
  redispatch again;

  const std::string& actor_name() const { return user->name(); }
  admission_rules admission() const {
    return {services.max_body_bytes, settings.require_message_id};
  }
};

// Everything about one delivery while it is being handled: the delivery
// itself (shared with the consumer, not copied), what its handlers want
// sent, and how many publishes and calls are still outstanding.
struct message_scope {
  std::shared_ptr<instance_scope> instance;
  bridges::consumer_host* host = nullptr;
  bridges::delivery msg;
  std::function<void(bridges::settlement)> done;
  /// What the handler sent, in order.
  std::vector<outgoing_message> effects;
  /// Replies to a transient request (stateless actors): sent without a
  /// confirm on the request's own channel (`consumer_host::send_reply`).
  std::vector<outgoing_message> replies;
  struct pending_call {
    outgoing_message request;
    std::chrono::milliseconds timeout;
    call_continuation then;
  };
  std::vector<pending_call> calls;
  int outstanding = 0;
  status failure = status::ok();
  /// The failure is transient (a store that could not be read): an
  /// immediate retry waits `backoff_after(attempt)` first.
  bool back_off = false;
  /// Whether the actor instance goes on after this message.
  outcome::lifecycle next = outcome::lifecycle::carry_on;
  bool replied = false;
  bool answered = false;
  /// Messages made so far (the index in their stable ids).
  std::size_t made = 0;
  /// A stream operator's query: its replies leave at once, as a stateless
  /// actor's do.
  bool query = false;
  /// Stateful actors: success runs this instead of answering (the answer
  /// comes after the commit).
  std::function<void(const std::shared_ptr<message_scope>&)> on_success;

  const envelope& message() const { return *msg; }
};

using scope_ptr = std::shared_ptr<message_scope>;

/// The scope of `msg`. Returns nullptr, having answered (requeue), when the
/// instance has already ended.
scope_ptr open_scope(const std::shared_ptr<instance_scope>& instance,
                     bridges::consumer_host& host, bridges::delivery msg,
                     std::function<void(bridges::settlement)> done);

/// The permanent failure of a message whose type no handler takes.
status unknown_type(const envelope& env);

/// The next message `scope`'s delivery leads to: its id stable
/// (`effect_id`: the delivery's id, the actor, the effect's index, so a
/// redelivery or retry sends the same ids), the trace id carried along.
outgoing_message make_outgoing(message_scope& scope, std::string exchange,
                               std::string routing_key, std::string type,
                               const boost::json::value& body);

/// The reply to `scope`'s request for an error: type `warren.error`, body
/// `{"error": {"code", "message", ...details}}`, headers x-warren-error and
/// x-warren-error-code, the request's correlation id and delivery mode.
outgoing_message make_error_reply(message_scope& scope, const std::string& code,
                                  const std::string& message,
                                  boost::json::object details = {});

/// The guarded-handler stage: runs `fn` with a context for `scope`, turning
/// exceptions into failures (`actor_failure` also ends the instance).
void run_in_context(const scope_ptr& scope,
                    const std::function<status(context&)>& fn);

/// The effects stage of stateless actors: publishes what the handler sent
/// (only if it succeeded) and starts its calls, on the consumer's own
/// connection; each settles `outstanding`.
void flush_effects(const scope_ptr& scope);

/// Ends the scope with `result` (once).
void answer(const scope_ptr& scope, outcome result);

/// The settle stage, once nothing is outstanding: success answers done (or
/// runs `on_success`); a failure goes through the actor's retry policy.
void finish_if_done(const scope_ptr& scope);

} // namespace warren::detail
