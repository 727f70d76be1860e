#pragma once

/// Worker pools: what the runtime's pool manager asks of a pool kind.
///
/// A pool kind (`registry::add_pool_kind`, the built-in `worker_pool`) runs
/// between `min_workers` and `max_workers` instances of its handler kind in
/// the node, each a worker with its own consumer (connection, thread and
/// prefetch) on the pool's queue. The runtime does the mechanics: the
/// workers are the dynamic children of a supervisor of their own (started
/// and stopped at run time, OTP's start_child/terminate_child), restarted
/// after a crash by the actor's child spec; its pool manager reads the
/// queue's depth every `check_interval` (one passive declare on a
/// connection of its own) and asks the kind's `pool_policy` what to do.
/// The kind only decides, as pure logic, so the decisions are tested
/// without a broker.
///
/// Removing a worker drains it: it stops consuming (basic.cancel), settles
/// what it holds, acks, closes and ends; anything left unacked goes back to
/// the broker. A handler is never stopped in the middle of a message.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace warren {

/// One worker as the pool manager sees it at a check.
struct pool_worker_view {
  /// 0 to max_workers - 1; its child id is `<actor>[<slot>]`.
  uint32_t slot = 0;
  /// Deliveries handed to it and not settled yet.
  uint32_t in_hand = 0;
  /// Since it last settled a delivery, or since it started when it has
  /// settled none; 0 while it holds one.
  std::chrono::milliseconds idle_for{0};
  /// Deliveries it settled since it started.
  uint64_t handled = 0;
};

/// Everything a pool policy decides on.
struct pool_view {
  std::chrono::steady_clock::time_point now;
  /// Whether the queue's figures below were read at this check (false while
  /// the manager's connection is down).
  bool queue_known = false;
  /// Messages ready in the queue (not those delivered and unacked).
  uint32_t queue_ready = 0;
  /// Consumers of the queue: this node's workers, other nodes' and any
  /// other client's.
  uint32_t queue_consumers = 0;
  /// The workers of this node: running, starting or waiting for a restart
  /// (not those draining away), by slot.
  std::vector<pool_worker_view> workers;
};

/// What to do at a check.
struct pool_decision {
  enum class action : uint8_t {
    hold,
    /// Start `count` more workers.
    add,
    /// Drain and end the worker in `slot`.
    remove,
  };
  action what = action::hold;
  uint32_t count = 0;
  uint32_t slot = 0;
  /// Why, in words, for the log.
  std::string reason;
  /// A hold worth an info line when it starts (e.g. a backlog at
  /// max_workers); other holds are logged at debug level.
  bool notable = false;
};

/// A pool kind's scaling logic; one object per pool, called from the pool
/// manager's thread only.
class pool_policy {
 public:
  virtual ~pool_policy();

  /// At least 1.
  virtual uint32_t min_workers() const = 0;
  /// At least `min_workers()`.
  virtual uint32_t max_workers() const = 0;
  /// How often the manager reads the queue and calls `decide`.
  virtual std::chrono::milliseconds check_interval() const = 0;
  /// The decision at `view.now`. An `add` beyond `max_workers()` or a
  /// `remove` of a slot not in `view.workers` is ignored (and logged).
  virtual pool_decision decide(const pool_view& view) = 0;
};

/// A pool kind's handler options are under this key of its `options` (the
/// rest are the pool's own): each worker gets them as its `options`.
constexpr const char* pool_worker_options_key = "worker";

} // namespace warren
