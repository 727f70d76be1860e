#pragma once

/// The consumer bridge: a connection-owner actor that consumes one queue and
/// hands each delivery to a `delivery_handler` run in its own thread (no
/// hand-off to another thread on the way in or out). One consumer hosts one
/// actor instance: the handler is that instance.
///
/// Protocol (`consumer_actor`):
///   (pause_atom) -> ok_atom          stop taking deliveries: cancel the
///                                    consumer (on a single-active-consumer
///                                    queue: hold what still comes until
///                                    the close gives it back, see Stopping)
///   (drain_atom) -> ok_atom          answered when nothing is in flight
///   (stats_atom) -> consumer_stats
///
/// Settling: the handler answers each delivery with a `settlement`: ack it,
/// requeue it, or move it (publish a copy, e.g. a dead letter, with a
/// confirm, then ack; requeue if the copy cannot be confirmed: nothing is
/// dropped). Acks are batched: the longest prefix of settled deliveries is
/// acked with one multiple-ack when it reaches `ack_batch`, or as soon as the
/// socket goes quiet (the ack ledger).
///
/// Back-pressure: `prefetch` bounds the unacked deliveries, so the backlog of
/// a slow actor stays in the broker, not in memory. What a handler publishes
/// goes out on the consumer's own connection with confirms; calls it makes
/// go out and come back on that connection too (a reply queue of its own,
/// declared at the first call).
///
/// Ending: a settlement whose `next` ends the hosted actor makes the
/// consumer stop consuming, wait for that delivery to be settled, ack what
/// is settled, close its connection (every other unacked delivery goes back
/// to the broker, redelivered) and exit; its supervisor decides what
/// follows. Deliveries that arrive meanwhile are requeued at once (held,
/// on a single-active-consumer queue: see Stopping).
///
/// Stopping: an exit message with reason `user_shutdown` is a graceful stop:
/// stop consuming, let the deliveries being handled settle (their publishes
/// confirmed), ack, close, exit. Any other exit reason closes at once.
/// On a single-active-consumer queue "stop consuming" sends no cancel (the
/// broker would activate the next consumer while this one still finishes
/// older deliveries): what still comes is held unread, and the close gives
/// it back and activates the next consumer in one step.
///
/// Failure: a channel error is a channel error (the consume channel closed
/// by the broker is reopened and consuming resumes; its unacked deliveries
/// come back redelivered); a lost connection or a cancelled consumer (queue
/// deleted) is reopened with backoff, the topology declared again, and
/// consuming resumed. Settlements of deliveries from before are ignored: the
/// broker redelivers those messages (`redelivered` set).

#include "warren/bridges/atoms.hpp"
#include "warren/bridges/broker.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/delivery.hpp"
#include "warren/core/envelope.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/outcome.hpp"
#include "warren/metrics/sets.hpp"

#include <boost/json/value.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace warren::bridges {

/// A delivery as handlers get it: shared, so it can be kept (a batch, a
/// call's continuation) without copying. The handler's first stage may
/// complete it in place (parse the body, fill in what a foreign client left
/// out); after that it is read only.
using delivery = std::shared_ptr<envelope>;

/// What the consumer does with a delivery once its handler is done.
struct settlement {
  enum class action : uint8_t {
    /// The work is done: ack.
    ack,
    /// Give the message back to the broker (a transient failure).
    requeue,
    /// Publish `copy` with a confirm, then ack; requeue if the copy cannot
    /// be confirmed.
    move,
  };
  action what = action::ack;
  /// move: the copy (a dead letter, or a copy parked on a retry step). Kept
  /// out of line: most settlements are acks, and an empty message is a
  /// dozen strings to build and move for nothing.
  std::shared_ptr<outgoing_message> copy;
  /// move: counted as a dead letter (else as a retry).
  bool dead_letter = false;
  /// Why (requeue, move, or the actor's end), for the log.
  std::string reason;
  /// requeue and move: the failure's code (the `reason` label of metrics).
  errc code = errc::none;
  /// ack: the message had been applied already (counted as a duplicate).
  bool duplicate = false;
  /// Whether the hosted actor goes on after this delivery.
  outcome::lifecycle next = outcome::lifecycle::carry_on;

  static settlement ack() { return {}; }
};

/// What a delivery handler may use of the consumer that runs it. Valid in
/// the consumer's thread only: inside `delivery_handler::handle`, `idle`,
/// `start`, and the callbacks it gets from these functions.
class consumer_host {
 public:
  virtual ~consumer_host();

  using confirm_callback = std::function<void(const caf::error&)>;
  using reply_callback = std::function<void(caf::expected<boost::json::value>)>;

  /// Publishes on the consumer's connection with a confirm; `confirmed`
  /// gets `caf::none`, or the error: `errc::publish_nacked`,
  /// `errc::unroutable` (a mandatory message no queue took),
  /// `errc::not_found` (no such exchange; the channel comes back),
  /// `errc::access_refused`, `errc::channel_error`, `errc::connection_lost`.
  virtual void publish(outgoing_message msg, confirm_callback confirmed) = 0;

  /// Sends the reply to a transient request (one its caller did not make
  /// persistent) the way an at-least-once AMQP server does: on the channel
  /// the request was delivered on, without a confirm, so the broker routes
  /// it before it sees the request's ack, which follows on the same
  /// channel. A reply's confirm would cost every round trip a frame and a
  /// wake-up for nothing the caller would not see anyway (it waits for the
  /// reply). Errors only when the connection is lost writing it.
  virtual caf::error send_reply(const outgoing_message& msg) = 0;

  /// Whether the broker blocks the consumer's connection (a resource
  /// alarm): publishes wait until it unblocks it, and replies had better go
  /// through `publish`, whose answer holds their delivery meanwhile, than
  /// through `send_reply`. Default false.
  virtual bool publishing_blocked() const;

  /// Calls a service on the consumer's own connection: sets `reply_to` and
  /// `correlation_id`, publishes `request` (mandatory, with a confirm) and
  /// runs `then` with the reply body or an error (`errc::timeout` after
  /// `timeout`, `errc::remote_error`, `errc::unroutable` when no such
  /// service exists, `errc::connection_lost`).
  virtual void call(outgoing_message request, std::chrono::milliseconds timeout,
                    reply_callback then) = 0;

  /// Hands `msg` to a delivery actor (a raw CAF kind) and runs `then` with
  /// its outcome, or the error when it cannot answer (it quit).
  virtual void ask(const delivery_actor& who, const envelope& msg,
                   std::function<void(caf::expected<outcome>)> then) = 0;

  /// Runs `fn` in the consumer's thread after `delay` (also during a
  /// graceful stop, so batched work can finish; not once the hosted actor
  /// ended).
  virtual void after(std::chrono::milliseconds delay,
                     std::function<void()> fn) = 0;

  /// Ends the consumer now with `errc::actor_failed` and `reason`: the
  /// deliveries already settled with an ack are acked, every other one goes
  /// back to the broker as its connection closes, and nothing more is
  /// published (a shard owner that learns it was fenced).
  virtual void fail(std::string reason) = 0;

  /// Ends the consumer now with `errc::released` (its supervisor starts it
  /// again at once, so it consumes anew, behind the queue's other
  /// consumers; see exit_kind::released): the
  /// deliveries already settled with an ack are acked, every other one goes
  /// back to the broker as its connection closes (a shard owner handing its
  /// shard over, or a standby leaving it to the node placement wants).
  virtual void release(std::string reason) = 0;

  /// Deliveries handed to the handler and not settled yet.
  virtual std::size_t working() const = 0;
};

/// Handles deliveries in the consumer's thread.
class delivery_handler {
 public:
  virtual ~delivery_handler();

  /// Called once, in the consumer's thread, before it connects: open what
  /// may block (a database, files). An error ends the consumer at once with
  /// that error (a failed start of its actor instance). Default: nothing.
  virtual caf::error start(consumer_host& host);

  /// Handles one delivery. Must call `done` exactly once, now or later from
  /// a callback running in the consumer.
  virtual void handle(consumer_host& host, delivery msg,
                      std::function<void(settlement)> done) = 0;

  /// Called when the consumer's socket has nothing more to read for now
  /// (between bursts, and every 200 ms while idle): the moment to finish
  /// batched work. Default: nothing.
  virtual void idle(consumer_host& host);

  /// Called once acks are written to the broker: delivery `tag` of channel
  /// generation `generation` (`envelope::channel_generation`), and with
  /// `multiple` every earlier one of it that was answered with an ack.
  /// Written is not yet received: the connection may still drop before the
  /// broker reads it. Default: nothing.
  virtual void acked(uint64_t generation, uint64_t tag, bool multiple);

  /// Called when the consumer's connection is lost, before it connects
  /// again: its unacked deliveries are back with the broker, which may give
  /// them (and a single-active-consumer queue) to another consumer
  /// meanwhile, and settlements of them will be ignored. The handler may
  /// end the consumer here (`consumer_host::fail`). Default: nothing.
  virtual void connection_lost(consumer_host& host);
};

struct consumer_config {
  broker_settings broker;
  /// Declared on every (re)connect before consuming.
  topology topo;
  std::string queue;
  /// The consumer's arguments, asked for at every (re)connect: a stream's
  /// reader starts after the last record it took (`x-stream-offset`).
  /// Default: none.
  std::function<field_table()> consume_arguments;
  /// Unacked deliveries at most. Default 100.
  uint16_t prefetch = 100;
  /// Settled deliveries per multiple-ack; 0 means prefetch / 5 (measured:
  /// 250 of 500 gave 0.91 of raw throughput, 100 gave 1.03). Default 0.
  uint16_t ack_batch = 0;
  /// The actor instance the consumer hosts.
  std::shared_ptr<delivery_handler> handler;
  /// For log lines and the name of the reply queue of calls.
  std::string actor_name;
  std::string node_name;
  /// Bodies larger than this are never held in memory (0: no limit): such
  /// a delivery is rejected to the broker's dead-letter route of its queue
  /// (warren declares one to `<queue>.dlq`), and such a reply fails its
  /// call. A queue without a dead-letter route gets its bodies read whole
  /// (the dispatcher dead-letters oversized ones itself).
  std::size_t max_body_bytes = 0;
  /// Where its deliveries, its connection and its publishes are counted
  /// (default: nowhere, metrics off).
  metrics::delivery_metrics delivery_metrics;
  /// Reads the queue's depth and consumers every few seconds into
  /// `delivery_metrics` (one instance of an actor does, for all of them).
  bool watch_queue = false;
  metrics::connection_metrics connection_metrics;
  metrics::publish_metrics publish_metrics;
};

struct consumer_stats {
  uint64_t delivered = 0;
  uint64_t acked = 0;
  uint64_t dead_lettered = 0;
  /// Parked on a retry ladder step.
  uint64_t retried = 0;
  uint64_t requeued = 0;
  uint64_t reconnects = 0;
  /// Channels the broker closed (publish or consume) without the
  /// connection being lost.
  uint64_t channel_errors = 0;
  std::size_t in_flight = 0;
  bool consuming = false;
};

/// The consumer's protocol (see above).
using consumer_actor =
  caf::typed_actor<caf::replies_to<pause_atom>::with<caf::ok_atom>,
                   caf::replies_to<drain_atom>::with<caf::ok_atom>,
                   caf::replies_to<stats_atom>::with<consumer_stats>>;

/// Spawns a consumer (detached). It starts its handler, then connects.
consumer_actor spawn_consumer(caf::actor_system& sys, consumer_config cfg);

} // namespace warren::bridges

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::bridges::consumer_stats)
