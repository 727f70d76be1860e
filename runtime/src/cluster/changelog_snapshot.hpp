#pragma once

// Snapshots of a sharded actor's changelog (README.md, "Clustering",
// "Retention and snapshots"). The stream `<actor>.log` has a size bound
// (`cluster.changelog_max_bytes`): the broker deletes its oldest segments.
// A node whose file is behind the first record still in the stream (a new
// node, one down longer than the retention) cannot replay from its own
// position; it starts from a snapshot instead:
//
//   - now and then one node (the one whose claim on shard 0 is the latest
//     in the changelog: every reader agrees who that is, and it is a live
//     node within seconds of a death) writes the actor's whole replicated
//     state as of offset `upto`: every row of the actor in the node's file,
//     its reader's bookkeeping included (the rule's views: each shard's
//     epoch, claimant, last sequence, flushed mark; the messages accepted
//     batches owe; the inbox). Its reader begins a read transaction right
//     after it applied a group, so that view of the file holds exactly the
//     records before `upto`, and reads the rows from it on another thread
//     while it goes on applying;
//   - the snapshot travels as chunk records (at most `chunk_bytes` each),
//     published one after the other by one writer, each naming `upto`, its
//     number and the count; other records may come between them;
//   - a reader whose file is behind the stream skips records until it has
//     a complete snapshot whose `upto` is not before the first offset it
//     read (the records from `upto` on are all still there), replaces the
//     actor's rows with it in one transaction, and reads on from `upto`. A
//     reader whose file is current ignores snapshots. No usable snapshot:
//     the reader applies nothing and says why, it never applies a gap.
//
// Copies are harmless: a chunk published twice is skipped, two snapshots of
// one offset are the same state, and a snapshot a lost chunk left incomplete
// is never used. Pure: no I/O.

#include "cluster/changelog_rule.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

/// A chunk's largest body: far below the broker's message limit, and a
/// reader holds one of them per record in flight.
inline constexpr std::size_t default_snapshot_chunk_bytes = 1024 * 1024;

/// `content` (the state as of the records before offset `upto`) as the
/// chunk records that carry it, in publishing order; one chunk for an empty
/// content.
std::vector<changelog_record>
snapshot_chunks(const std::string& content, int64_t upto, uint32_t shards,
                const std::string& node, const std::string& incarnation,
                std::size_t chunk_bytes = default_snapshot_chunk_bytes);

/// A snapshot read back whole.
struct snapshot {
  /// The first offset it does not reflect.
  int64_t upto = -1;
  uint32_t shards = 0;
  std::string node;
  std::string incarnation;
  /// Its bytes (empty when assembled without keeping them).
  std::string content;
  /// Its size, kept or not.
  std::size_t bytes = 0;
  /// Where its first and last chunks are in the stream.
  int64_t first_offset = -1;
  int64_t last_offset = -1;
};

/// Puts a snapshot's chunks back together in stream order.
class snapshot_assembler {
 public:
  /// `keep_content` false: only sizes are counted (a current reader that
  /// only needs to know a snapshot went by).
  explicit snapshot_assembler(bool keep_content = true)
    : keep_content_(keep_content) {}

  /// Takes the chunk `record`, read at `offset`: the snapshot once its last
  /// chunk came after all the others of its writer and offset, else
  /// nullopt. A chunk that does not follow the one before (a lost chunk, or
  /// the first ones cut off by retention) drops that writer's snapshot; a
  /// copy of a chunk already taken is skipped.
  std::optional<snapshot> add(const changelog_record& record, int64_t offset);

  /// Writers with a snapshot half read.
  std::size_t partial() const noexcept { return partial_.size(); }

 private:
  bool keep_content_;
  // By writer (node and incarnation): at most one snapshot in progress each.
  std::map<std::string, snapshot> partial_;
  std::map<std::string, uint32_t> next_chunk_;
};

/// What a reader does with the record at `offset`, its file being at
/// `file_next` (the offset after the last record it applied).
///
/// Offsets in a stream are not quite contiguous for an AMQP consumer: each
/// segment but the first begins with a chunk of the broker's own (its
/// tracking snapshot), which takes one offset and is never delivered. So a
/// record one past `file_next` is the next one. Retention deletes whole
/// segments, each with its own chunk and at least one record, and so leaves
/// a gap of two offsets or more.
enum class read_step {
  /// The next record: judge and apply it.
  apply,
  /// Applied already (read again after a reconnect): skip it.
  skip,
  /// Records from `file_next` on are gone from the stream (retention): the
  /// file cannot go on from here, only from a snapshot.
  behind,
};

read_step next_step(int64_t file_next, int64_t offset) noexcept;

/// Whether a reader whose file is behind can start from `s`: every record
/// from its `upto` on is still in the stream (`first_retained`: the first
/// offset the reader was given this time; `upto` may be the broker's chunk
/// just before it, see `read_step`), and it is newer than the file.
bool usable(const snapshot& s, int64_t first_retained,
            int64_t file_next) noexcept;

/// When a reader writes a snapshot: it is the latest claimant of shard 0
/// (so one node writes, and another once that one dies), no snapshot of its
/// own is on its way, and the records applied since the last snapshot in
/// the stream add up to `every_bytes`, or to the last snapshot's size when
/// that is larger (so snapshots never take more than half the stream).
class snapshot_schedule {
 public:
  explicit snapshot_schedule(std::size_t every_bytes)
    : every_bytes_(every_bytes) {}

  /// Records of `bytes` were applied.
  void applied(std::size_t bytes) noexcept { since_ += bytes; }

  /// A complete snapshot of `bytes` went by in the stream (anyone's).
  void seen(std::size_t bytes) noexcept {
    since_ = 0;
    last_size_ = bytes;
  }

  /// Whether this reader, of node `node` in run `incarnation`, writes one
  /// now, by `rule` as of what it applied.
  bool due(const changelog_rule& rule, const std::string& node,
           const std::string& incarnation) const;

  /// This reader starts writing one (the count starts again).
  void writing() noexcept {
    in_flight_ = true;
    since_ = 0;
  }

  /// The one it writes has `bytes` (known once its rows are read).
  void sized(std::size_t bytes) noexcept { last_size_ = bytes; }

  /// Its chunks were all confirmed, or one failed.
  void written() noexcept { in_flight_ = false; }

  std::size_t since() const noexcept { return since_; }
  std::size_t every_bytes() const noexcept { return every_bytes_; }

 private:
  std::size_t every_bytes_;
  std::size_t since_ = 0;
  std::size_t last_size_ = 0;
  bool in_flight_ = false;
};

} // namespace warren::runtime::cluster
