#pragma once

// When a node hands a shard over or leaves it to another node (README.md,
// "Rebalancing"). Single-active-consumer gives a shard to the oldest
// waiting consumer, never to the node that just joined, so the nodes steer
// it: all of them place the shards the same way (membership::place_shards
// over the live, caught-up nodes they hear of), and
//
//   - an owner whose shard placement gives to another node hands it over:
//     it finishes the work in hand and closes its consumer, which then
//     consumes again behind the others;
//   - a standby the broker makes active on a shard placement gives to
//     another node leaves it the same way, without claiming it, unless
//     that node is the one that just let it go (dead, or leaving).
//
// So a shard passes along the waiting consumers until the node placement
// wants takes it. It is advice, never fencing (a claim still takes a
// shard), and it is damped so that views that disagree, or a node that
// does not consume, cannot toss a shard around: a standby leaves a shard
// at most once per epoch of the shard (if it comes round again with no
// claim made meanwhile, the node placement wants did not take it, and the
// standby does); a node hands over at most one shard of an actor at a time,
// and only after owning it for `hold`, doubled after each handover that
// came back to it within `come_back_window`.

#include "cluster/member_view.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

struct rebalance_settings {
  bool enabled = true;
  std::chrono::milliseconds hold{5000};
};

class rebalancer {
 public:
  using clock = std::chrono::steady_clock;

  static constexpr std::chrono::seconds come_back_window{30};
  /// A handover that has not ended by then no longer holds the others.
  static constexpr std::chrono::seconds handover_timeout{30};

  /// Of `actor` (with `shards` shards) on node `node`.
  rebalancer(std::string node, std::string actor, uint32_t shards,
             std::shared_ptr<const member_view> view,
             rebalance_settings settings);

  /// The node placement gives shard `shard` to now; empty when the view
  /// has not heard this node yet, or rebalancing is off.
  std::string target(uint32_t shard) const;

  /// A standby the broker made active on `shard`, whose latest claim is by
  /// `claimant` in `epoch`: the node to leave it to, or empty to take it
  /// over.
  std::string yield_to(uint32_t shard, const std::string& claimant,
                       int64_t epoch);

  /// This node took `shard` over at `now`.
  void took_over(uint32_t shard, clock::time_point now);

  /// This node's owner of `shard`: the node to hand it over to now, or
  /// empty to keep it.
  std::string hand_over_to(uint32_t shard, clock::time_point now);

  /// The owner of `shard` ended (handed over, fenced, or stopped).
  void released(uint32_t shard);

 private:
  struct shard_memory {
    clock::time_point owned_since{};
    // The shard's epoch when this node last left it to another.
    int64_t yielded_in = -2;
    clock::time_point last_handover{};
    bool handed_over = false;
    // Handovers that came back to this node in a row.
    int came_back = 0;
  };

  std::string target_locked(uint32_t shard) const;

  std::string node_;
  std::string actor_;
  uint32_t shards_;
  std::shared_ptr<const member_view> view_;
  rebalance_settings settings_;
  mutable std::mutex mutex_;
  std::vector<shard_memory> memory_;
  // The shard this node is handing over (one at a time), since when.
  int64_t handing_over_ = -1;
  clock::time_point handover_started_{};
};

} // namespace warren::runtime::cluster
