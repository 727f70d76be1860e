#pragma once

// The records of a sharded actor's changelog, the RabbitMQ stream
// `<actor>.log` every node reads (README.md, "Clustering"; DESIGN.md §6):
//
//   shards   the actor's shard count, written once, first: a node
//            configured with another count refuses to start;
//   claim    a node takes a shard over; the claim's offset in the stream
//            is the shard's new epoch;
//   batch    what one unit of work of a shard's owner changed: the SQLite
//            changeset (state, inbox, operator rows, the kind's tables) and
//            the messages it sends, under the epoch it was made in, with
//            its sequence number in that epoch;
//   flushed  the owner's outbox of the shard's batches up to a stream
//            offset was confirmed by the broker: no takeover sends it again;
//   snapshot one chunk of the actor's whole replicated state as of a stream
//            offset (changelog_snapshot.hpp): what a node whose file is
//            behind the stream's retention starts from.
//
// Scalar fields travel as headers (a stream drops array and table headers);
// a batch's changeset and messages are the body. Pure: no I/O.

#include "warren/core/envelope.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

enum class record_kind { shards, claim, batch, flushed, snapshot };

const char* to_string(record_kind kind) noexcept;

struct changelog_record {
  record_kind kind = record_kind::batch;
  /// shards, snapshot: the actor's count; else the shard the record is
  /// about.
  uint32_t shard = 0;
  uint32_t shards = 0;
  /// claim, batch, flushed, snapshot: who wrote it (a node's name and the run
  /// of its process: a restarted node is another incarnation).
  std::string node;
  std::string incarnation;
  /// batch: the epoch it was made in; its number in that epoch (1, 2, ...).
  /// claim: its number among the claims of its incarnation (1, 2, ...), so
  /// an owner finds its own claim when it claims a shard again.
  int64_t epoch = -1;
  uint64_t sequence = 0;
  /// batch: the changeset and what it sends. snapshot: this chunk's bytes.
  std::string changeset;
  std::vector<outgoing_message> outbox;
  /// flushed: the stream offset of the last batch whose messages all left.
  /// snapshot: the offset of the first record the snapshot does not reflect
  /// (a node loading it reads on from there).
  int64_t upto = -1;
  /// snapshot: this chunk's number (0, 1, ...) among `chunks`.
  uint32_t chunk = 0;
  uint32_t chunks = 0;
  /// When its writer made it (ms since the epoch; -1: not said, as in
  /// records of earlier versions): a reader's standby lag is measured from it.
  int64_t published_ms = -1;
};

/// The stream message of `record` (published to the default exchange with
/// routing key `stream`). Its id is stable: a batch published twice (a lost
/// confirm) is the same message twice.
outgoing_message to_message(const changelog_record& record,
                            const std::string& stream);

/// A record read back. Errors (`errc::validation_failed`) say what is wrong;
/// a record no warren wrote is never taken for one.
caf::expected<changelog_record> from_message(const message_properties& props,
                                             const std::string& body);

} // namespace warren::runtime::cluster
