#pragma once

// What this node does for one sharded actor, for its membership
// announcements and metrics (README.md, "Clustering"): which shards it owns
// in which epoch, and how far its changelog reader has come. Written by the
// actor's shard owners and its reader, read by the announcer (other
// threads). Display and alerts only: ownership is decided by the changelog,
// never by this.

#include "warren/metrics/sets.hpp"
#include "warren/runtime/membership.hpp"

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

class member_status {
 public:
  /// What the announcer reads: the actor as this node's announcement
  /// reports it (the shards it owns with their epochs, its reader's
  /// position and lag).
  using snapshot = membership::actor_report;

  /// `actor` with `shards` shards; metrics off when `changelog` and
  /// `shards_metrics` are default (one entry per shard otherwise).
  member_status(std::string actor, uint32_t shards,
                metrics::changelog_metrics changelog = {},
                std::vector<metrics::shard_metrics> shard_metrics = {});

  /// An owner claimed `shard` in `epoch` and now works on it.
  void owned(uint32_t shard, int64_t epoch);

  /// The owner of `shard` on this node ended (fenced, its consumer gone, the
  /// node stopping).
  void released(uint32_t shard);

  /// The reader applied `records` more, up to `position`; `lag_seconds` of
  /// each one that carried its publish time.
  void applied(int64_t position, uint64_t records,
               const std::vector<double>& lag_seconds);

  /// The reader has nothing more to read (its stream was quiet since it
  /// last looked): the lag is 0, not that of the last record applied, which
  /// may be old (a node that replayed an idle changelog).
  void caught_up();

  /// The reader (re)subscribes or lost its connection: its lag is not known
  /// until it reads again (a stream that stays quiet then may be one the
  /// broker does not deliver, not one at its end).
  void lag_unknown();

  snapshot read() const;

 private:
  mutable std::mutex mutex_;
  std::string actor_;
  // Per shard: the epoch this node owns it in, -1 when it does not.
  std::vector<int64_t> owned_;
  int64_t position_ = 0;
  std::optional<double> lag_;
  metrics::changelog_metrics changelog_metrics_;
  std::vector<metrics::shard_metrics> shard_metrics_;
};

} // namespace warren::runtime::cluster
