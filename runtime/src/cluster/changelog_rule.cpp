#include "cluster/changelog_rule.hpp"

#include <algorithm>

namespace warren::runtime::cluster {

const char* to_string(verdict v) noexcept {
  switch (v) {
    case verdict::shards_set:
      return "shards_set";
    case verdict::shards_conflict:
      return "shards_conflict";
    case verdict::claimed:
      return "claimed";
    case verdict::accepted:
      return "accepted";
    case verdict::fenced:
      return "fenced";
    case verdict::duplicate:
      return "duplicate";
    case verdict::out_of_order:
      return "out_of_order";
    case verdict::flushed:
      return "flushed";
    case verdict::invalid_shard:
      return "invalid_shard";
    case verdict::snapshot:
      return "snapshot";
  }
  return "invalid_shard";
}

changelog_rule::changelog_rule(uint32_t shards, std::vector<shard_view> views)
  : shards_(shards), views_(std::move(views)) {
  views_.resize(shards_);
}

verdict changelog_rule::apply(const changelog_record& r, int64_t offset) {
  if (r.kind == record_kind::snapshot)
    return verdict::snapshot;
  if (r.kind == record_kind::shards) {
    if (shards_ == 0) {
      shards_ = r.shards;
      views_.assign(shards_, shard_view{});
      return verdict::shards_set;
    }
    return r.shards == shards_ ? verdict::shards_set : verdict::shards_conflict;
  }
  if (r.shard >= shards_)
    return verdict::invalid_shard;
  auto& view = views_[r.shard];
  switch (r.kind) {
    case record_kind::claim:
      if (view.epoch >= 0 && r.node == view.node &&
          r.incarnation == view.incarnation && r.sequence == view.claim)
        return verdict::duplicate;
      view.epoch = offset;
      view.claim = r.sequence;
      view.node = r.node;
      view.incarnation = r.incarnation;
      view.sequence = 0;
      return verdict::claimed;
    case record_kind::batch:
      if (r.epoch != view.epoch || view.epoch < 0)
        return verdict::fenced;
      if (r.sequence <= view.sequence)
        return verdict::duplicate;
      if (r.sequence != view.sequence + 1)
        return verdict::out_of_order;
      view.sequence = r.sequence;
      return verdict::accepted;
    case record_kind::flushed:
      // A late flush of an older owner never moves the mark back.
      view.flushed = std::max(view.flushed, r.upto);
      return verdict::flushed;
    case record_kind::shards:
    case record_kind::snapshot:
      break;
  }
  return verdict::invalid_shard;
}

} // namespace warren::runtime::cluster
