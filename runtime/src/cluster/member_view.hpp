#pragma once

// What a node hears of its cluster (README.md, "Rebalancing"): every node's
// latest announcement on the stream `warren.cluster`, read by a reader of
// its own, for the placement of shards. Like `warren cluster status`, it is
// advice: a node acts on it only to hand a shard over or leave one to
// another node, and ownership is still taken by a claim in the changelog
// (a view that is wrong or late costs a needless handover, never a double
// effect).

#include "warren/bridges/consumer.hpp"
#include "warren/runtime/membership.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

/// Every node's latest announcement (thread-safe: a reader writes, the
/// shard owners of the node read).
class member_view {
 public:
  /// Keeps `a`, read at `heard_ms` (default now), if it is the newest
  /// heard from its node. Nodes silent for an hour (the stream's
  /// retention) are forgotten, so the view stays as small as the cluster.
  void heard(membership::announcement a, int64_t heard_ms);
  void heard(membership::announcement a);

  /// Whether `node` was heard at all (a view that has not heard its own
  /// node yet is too young to place shards with).
  bool knows(const std::string& node) const;

  /// The cluster as heard, at `now_ms`.
  membership::cluster_status status(int64_t now_ms) const;

  /// Each node's latest announcement with when it was read (downing).
  std::vector<membership::heard_announcement> heard() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, membership::heard_announcement> latest_;
};

/// A reader of the stream `warren.cluster` into `view`, from `replay`
/// before now (`consume_arguments`): the announcements of nodes that are
/// live now. What is not an announcement is skipped.
class member_view_reader : public bridges::delivery_handler {
 public:
  member_view_reader(std::shared_ptr<member_view> view,
                     std::chrono::milliseconds replay);

  field_table consume_arguments() const;

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override;

 private:
  std::shared_ptr<member_view> view_;
  std::chrono::milliseconds replay_;
  // A bad announcement is logged once per run, not once per interval.
  bool warned_ = false;
};

} // namespace warren::runtime::cluster
