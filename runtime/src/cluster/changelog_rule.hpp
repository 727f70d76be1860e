#pragma once

// The apply rule of a sharded actor's changelog, the same on every node
// (README.md, "Clustering"; DESIGN.md §6). Single-active-consumer makes the
// broker pick one owner per shard, but it is not a lease: a paused or
// partitioned owner may still act after another took over. The changelog
// decides instead. Read in stream order:
//
//   - a shard's epoch is the offset of its latest claim;
//   - a batch counts only when it carries the shard's current epoch and is
//     the next of that epoch (sequence = the last counted + 1): a batch of
//     an older epoch (a zombie's) is fenced, a copy of a counted batch (a
//     publish retried after a lost confirm) is a duplicate, a batch after a
//     gap is out of order;
//   - the first record fixes the shard count; a `shards` record with
//     another count is a conflict;
//   - a snapshot changes nothing: its state is what the records before it
//     made, views included (a node starting from one judges every later
//     record as the others do).
//
// An owner knows its batch counted only once its own reader reached it: the
// read-back. Pure: no I/O; the reader persists `shard_view`s with what it
// applies.

#include "cluster/changelog_record.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

/// What the rule says of one record.
enum class verdict {
  /// shards: the count is set (or was already, the same).
  shards_set,
  /// shards: another count than the changelog's.
  shards_conflict,
  /// claim: the shard's epoch is now this record's offset.
  claimed,
  /// batch: counts; apply its changeset, its messages are owed.
  accepted,
  /// batch: made under an epoch that is not the shard's current one.
  fenced,
  /// batch: a copy of one counted already; claim: a copy of the current
  /// claim (a retried publish), which leaves the epoch as it is.
  duplicate,
  /// batch: its sequence skips one.
  out_of_order,
  /// flushed: the shard's messages up to its offset left.
  flushed,
  /// A shard outside the count (or any record before the count is known).
  invalid_shard,
  /// snapshot: a chunk of a snapshot; the rule ignores it (a reader whose
  /// file is current has every record the snapshot reflects).
  snapshot,
};

const char* to_string(verdict v) noexcept;

/// A shard as the changelog says it is.
struct shard_view {
  /// Offset of its latest claim; -1 before any.
  int64_t epoch = -1;
  /// The claim's author, and its number among that incarnation's claims.
  std::string node;
  std::string incarnation;
  uint64_t claim = 0;
  /// The last batch counted in this epoch (0: none yet).
  uint64_t sequence = 0;
  /// Offset of the last batch whose messages all left; -1: none.
  int64_t flushed = -1;
};

class changelog_rule {
 public:
  /// A rule before any record (the shard count unknown).
  changelog_rule() = default;

  /// A rule resumed from what a node stored with its last applied record.
  changelog_rule(uint32_t shards, std::vector<shard_view> views);

  /// The verdict on `record`, read at `offset`; the views change with it.
  verdict apply(const changelog_record& record, int64_t offset);

  /// 0 until a `shards` record.
  uint32_t shards() const noexcept { return shards_; }

  const shard_view& shard(uint32_t i) const { return views_.at(i); }
  const std::vector<shard_view>& shards_view() const noexcept { return views_; }

 private:
  uint32_t shards_ = 0;
  std::vector<shard_view> views_;
};

} // namespace warren::runtime::cluster
