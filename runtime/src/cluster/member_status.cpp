#include "cluster/member_status.hpp"

namespace warren::runtime::cluster {

member_status::member_status(std::string actor, uint32_t shards,
                             metrics::changelog_metrics changelog,
                             std::vector<metrics::shard_metrics> shard_metrics)
  : actor_(std::move(actor)), owned_(shards, -1),
    changelog_metrics_(std::move(changelog)),
    shard_metrics_(std::move(shard_metrics)) {
  shard_metrics_.resize(shards);
}

void member_status::owned(uint32_t shard, int64_t epoch) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (shard >= owned_.size())
    return;
  owned_[shard] = epoch;
  shard_metrics_[shard].owned.set(1);
  shard_metrics_[shard].epoch.set(static_cast<double>(epoch));
}

void member_status::released(uint32_t shard) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (shard >= owned_.size())
    return;
  owned_[shard] = -1;
  shard_metrics_[shard].owned.set(0);
}

void member_status::applied(int64_t position, uint64_t records,
                            const std::vector<double>& lag_seconds) {
  std::lock_guard<std::mutex> guard{mutex_};
  position_ = position;
  changelog_metrics_.position.set(static_cast<double>(position));
  changelog_metrics_.applied.inc(static_cast<double>(records));
  for (auto lag : lag_seconds)
    changelog_metrics_.lag.observe(lag);
  if (!lag_seconds.empty()) {
    lag_ = lag_seconds.back();
    changelog_metrics_.lag_seconds.set(*lag_);
  }
}

void member_status::caught_up() {
  std::lock_guard<std::mutex> guard{mutex_};
  lag_ = 0.0;
  changelog_metrics_.lag_seconds.set(0);
}

void member_status::lag_unknown() {
  std::lock_guard<std::mutex> guard{mutex_};
  lag_.reset();
}

member_status::snapshot member_status::read() const {
  std::lock_guard<std::mutex> guard{mutex_};
  snapshot out;
  out.actor = actor_;
  out.shards = static_cast<uint32_t>(owned_.size());
  for (uint32_t i = 0; i < owned_.size(); ++i)
    if (owned_[i] >= 0)
      out.owned.push_back({i, owned_[i]});
  out.position = position_;
  out.lag_seconds = lag_;
  return out;
}

} // namespace warren::runtime::cluster
