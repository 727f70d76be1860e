#include "cluster/rebalancer.hpp"

#include "warren/runtime/store/checkpoint_store.hpp"

#include <algorithm>

namespace warren::runtime::cluster {

namespace {

// Hold is doubled per handover that came back, up to this many times.
constexpr int max_doublings = 6;

} // namespace

rebalancer::rebalancer(std::string node, std::string actor, uint32_t shards,
                       std::shared_ptr<const member_view> view,
                       rebalance_settings settings)
  : node_(std::move(node)), actor_(std::move(actor)), shards_(shards),
    view_(std::move(view)), settings_(settings), memory_(shards) {}

std::string rebalancer::target(uint32_t shard) const {
  std::lock_guard<std::mutex> guard{mutex_};
  return target_locked(shard);
}

std::string rebalancer::target_locked(uint32_t shard) const {
  if (!settings_.enabled || view_ == nullptr || shard >= shards_ ||
      !view_->knows(node_))
    return {};
  auto nodes =
    membership::shard_candidates(view_->status(now_ms()), actor_, shards_);
  if (nodes.empty())
    return {};
  return membership::place_shards(actor_, shards_, nodes)[shard];
}

std::string rebalancer::yield_to(uint32_t shard, const std::string& claimant,
                                 int64_t epoch) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto to = target_locked(shard);
  // The claimant let the shard go (died, or is leaving): waiting for it
  // would leave the shard without an owner.
  if (to.empty() || to == node_ || to == claimant)
    return {};
  // Left once in this epoch already: it came round again unclaimed, so
  // the node placement wants does not take it.
  auto& m = memory_[shard];
  if (m.yielded_in == epoch)
    return {};
  m.yielded_in = epoch;
  return to;
}

void rebalancer::took_over(uint32_t shard, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (shard >= shards_)
    return;
  auto& m = memory_[shard];
  m.owned_since = now;
  if (m.handed_over && now - m.last_handover < come_back_window)
    m.came_back = std::min(m.came_back + 1, max_doublings);
  else
    m.came_back = 0;
}

std::string rebalancer::hand_over_to(uint32_t shard, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (shard >= shards_)
    return {};
  if (handing_over_ >= 0 && now - handover_started_ > handover_timeout)
    handing_over_ = -1;
  if (handing_over_ >= 0)
    return {};
  auto& m = memory_[shard];
  if (now - m.owned_since < settings_.hold * (int64_t{1} << m.came_back))
    return {};
  auto to = target_locked(shard);
  if (to.empty() || to == node_)
    return {};
  handing_over_ = shard;
  handover_started_ = now;
  m.handed_over = true;
  m.last_handover = now;
  return to;
}

void rebalancer::released(uint32_t shard) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (handing_over_ == static_cast<int64_t>(shard))
    handing_over_ = -1;
}

} // namespace warren::runtime::cluster
