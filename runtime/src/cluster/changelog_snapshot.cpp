#include "cluster/changelog_snapshot.hpp"

#include <algorithm>

namespace warren::runtime::cluster {

std::vector<changelog_record> snapshot_chunks(const std::string& content,
                                              int64_t upto, uint32_t shards,
                                              const std::string& node,
                                              const std::string& incarnation,
                                              std::size_t chunk_bytes) {
  chunk_bytes = std::max<std::size_t>(chunk_bytes, 1);
  auto count =
    std::max<std::size_t>(1, (content.size() + chunk_bytes - 1) / chunk_bytes);
  std::vector<changelog_record> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    changelog_record r;
    r.kind = record_kind::snapshot;
    r.shards = shards;
    r.node = node;
    r.incarnation = incarnation;
    r.upto = upto;
    r.chunk = static_cast<uint32_t>(i);
    r.chunks = static_cast<uint32_t>(count);
    if (i * chunk_bytes < content.size())
      r.changeset = content.substr(i * chunk_bytes, chunk_bytes);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<snapshot> snapshot_assembler::add(const changelog_record& r,
                                                int64_t offset) {
  if (r.kind != record_kind::snapshot || r.chunks == 0)
    return std::nullopt;
  auto writer = r.node + "/" + r.incarnation;
  auto it = partial_.find(writer);
  bool same = it != partial_.end() && it->second.upto == r.upto &&
              it->second.shards == r.shards;
  if (same && r.chunk < next_chunk_[writer])
    return std::nullopt; // a copy of a chunk taken already
  if (r.chunk == 0) {
    snapshot s;
    s.upto = r.upto;
    s.shards = r.shards;
    s.node = r.node;
    s.incarnation = r.incarnation;
    s.first_offset = offset;
    it = partial_.insert_or_assign(writer, std::move(s)).first;
    next_chunk_[writer] = 0;
  } else if (!same || r.chunk != next_chunk_[writer]) {
    // Its start is gone (retention), or a chunk before it was lost.
    if (it != partial_.end())
      partial_.erase(it);
    next_chunk_.erase(writer);
    return std::nullopt;
  }
  auto& s = it->second;
  s.bytes += r.changeset.size();
  if (keep_content_)
    s.content += r.changeset;
  s.last_offset = offset;
  if (r.chunk + 1 < r.chunks) {
    next_chunk_[writer] = r.chunk + 1;
    return std::nullopt;
  }
  auto done = std::move(s);
  partial_.erase(it);
  next_chunk_.erase(writer);
  return done;
}

read_step next_step(int64_t file_next, int64_t offset) noexcept {
  if (offset < file_next)
    return read_step::skip;
  return offset <= file_next + 1 ? read_step::apply : read_step::behind;
}

bool usable(const snapshot& s, int64_t first_retained,
            int64_t file_next) noexcept {
  return s.upto + 1 >= first_retained && s.upto > file_next;
}

bool snapshot_schedule::due(const changelog_rule& rule, const std::string& node,
                            const std::string& incarnation) const {
  if (in_flight_ || every_bytes_ == 0 || node.empty() || rule.shards() == 0)
    return false;
  const auto& owner = rule.shard(0);
  if (owner.epoch < 0 || owner.node != node || owner.incarnation != incarnation)
    return false;
  return since_ >= std::max(every_bytes_, last_size_);
}

} // namespace warren::runtime::cluster
