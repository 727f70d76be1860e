#pragma once

// A node's reader of one sharded actor's changelog (README.md,
// "Clustering"): it consumes the stream `<actor>.log` from the offset after
// the last record it applied, judges each record by the apply rule, and
// writes what counts into the node's SQLite file (the accepted batches'
// changesets, and the messages they owe until a `flushed` says they left),
// with its position and the rule's views in the same transaction. So every
// node is a warm standby of every shard, and the file a cache the changelog
// can rebuild.
//
// Records are applied in groups: one transaction for what arrived together
// (up to `max_group` records, applied at most a millisecond after the first
// of them). The actor's shard owners on the node learn their own records'
// verdicts through `changelog_state`, after the transaction that applied
// them.
//
// Retention and snapshots (changelog_snapshot.hpp): right after applying a
// group, the reader of the node whose claim on shard 0 is the latest begins
// a snapshot of the actor's rows when enough was applied since the last
// one (a read transaction of that moment, its rows read on another thread
// while the reader goes on). A reader whose file is behind the stream's first
// record (retention dropped records it never applied) applies nothing: it reads
// on until a complete snapshot it can go on from and a quiet moment (the latest
// such snapshot by then), loads it in one transaction, and ends its consumer so
// that it is started again from the snapshot's offset (records it skipped
// meanwhile are read again). Until then it says why it applies nothing,
// every 30 s.

#include "cluster/changelog_rule.hpp"
#include "cluster/changelog_snapshot.hpp"
#include "cluster/member_status.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace warren::runtime::cluster {

/// The verdict on one record, as an owner waiting for it learns it.
struct record_outcome {
  verdict outcome = verdict::invalid_shard;
  /// Its offset in the stream (a claim's is the epoch it starts).
  int64_t offset = -1;
};

/// What a node knows of one actor's changelog: written by its reader,
/// read by the actor's shard owners on the node (other threads).
class changelog_state {
 public:
  /// `status` learns what the reader applies and what the owners own (for
  /// announcements and metrics); by default one nobody reads.
  explicit changelog_state(std::shared_ptr<member_status> status =
                             std::make_shared<member_status>("", 0));

  member_status& status() const noexcept { return *status_; }

  /// An owner about to publish record `id` wants its verdict: kept until
  /// `take` (only expected ids are kept, so memory is bounded by the
  /// records in flight).
  void expect(const std::string& id);

  /// The verdict of an expected record once the reader applied it; waits up
  /// to `timeout` for it.
  std::optional<record_outcome> take(const std::string& id,
                                     std::chrono::milliseconds timeout = {});

  /// Forgets an expected record (its owner gave up on it).
  void forget(const std::string& id);

  /// An owner waits too long for a record the broker confirmed: the reader
  /// reads the stream again from its position (at its next quiet moment).
  void request_reread();

  /// The reader's side: whether a re-read was asked for (clears it).
  bool take_reread();

  /// The offset after the last record applied (where the reader resumes).
  int64_t next_offset() const;

  /// The rule's view of shard `i` as of `next_offset` (default when the
  /// shard count is not known yet).
  shard_view shard(uint32_t i) const;

  /// 0 until the changelog's `shards` record.
  uint32_t shards() const;

  // The reader's side.
  void applied(int64_t next_offset, const changelog_rule& rule,
               const std::vector<std::pair<std::string, record_outcome>>& done);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int64_t next_offset_ = 0;
  uint32_t shards_ = 0;
  std::vector<shard_view> views_;
  // Expected ids: nullopt until applied.
  std::unordered_map<std::string, std::optional<record_outcome>> expected_;
  bool reread_ = false;
  std::shared_ptr<member_status> status_;
};

/// When and how a reader writes snapshots.
struct snapshot_settings {
  /// This node and this run of its process: the reader writes snapshots
  /// while their claim on shard 0 is the changelog's latest. Empty: it
  /// never writes one (it still loads one when its file is behind).
  std::string node;
  std::string incarnation;
  /// `cluster.changelog_snapshot_bytes`: changelog bytes applied between
  /// two snapshots (at least the last snapshot's size). Default 64 MiB.
  std::size_t every_bytes = 64 * 1024 * 1024;
  /// `cluster.changelog_max_bytes`, the stream's bound: a snapshot larger
  /// than a fifth of it is warned about (0: no warning).
  std::size_t retention_bytes = 0;
  std::size_t chunk_bytes = default_snapshot_chunk_bytes;
  /// The stream it reads and writes snapshots to; empty: `<actor>.log`.
  std::string stream;
};

class changelog_reader : public bridges::delivery_handler {
 public:
  /// Reads `actor`'s changelog into the store at `store`.
  changelog_reader(std::string actor, store_settings store,
                   std::shared_ptr<changelog_state> state,
                   std::size_t max_group = 256,
                   snapshot_settings snapshots = {});

  /// Runs `prepare` on the store once it is open, before any record is
  /// applied: the tables the actor's kind keeps (a saga's) must exist in
  /// this node's file for the changesets to fill them (SQLite skips the
  /// changes of a table the file does not have).
  void prepare_with(std::function<caf::error(checkpoint_store&)> prepare) {
    prepare_ = std::move(prepare);
  }

  /// The consumer's arguments: the stream from the next offset to apply.
  field_table consume_arguments() const;

  caf::error start(bridges::consumer_host& host) override;
  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override;
  void idle(bridges::consumer_host& host) override;
  void connection_lost(bridges::consumer_host& host) override;

  /// Records read and judged, not yet applied (for tests).
  std::size_t pending() const noexcept { return pending_.size(); }

 private:
  struct pending_record {
    std::string id;
    record_outcome outcome;
    int64_t published_ms = -1;
  };

  // A file behind the stream: the snapshot being looked for.
  struct bootstrap {
    // The first offset the stream gave: records from it on are there.
    int64_t first_retained = -1;
    snapshot_assembler chunks{true};
    // The latest whole snapshot it can go on from, loaded at the next quiet
    // moment (by then a later one may have come).
    std::optional<snapshot> usable;
    std::chrono::steady_clock::time_point reported;
    bool reported_once = false;
  };

  caf::error apply_pending();
  caf::error load_position();
  void start_snapshot();
  void poll_snapshot();
  void publish_snapshot(int64_t upto, std::chrono::milliseconds took,
                        caf::expected<std::string> rows);
  void start_bootstrap(int64_t offset);
  void bootstrap_read(const bridges::delivery& msg, int64_t offset);
  void load_snapshot(bridges::consumer_host& host);
  void report_bootstrap();

  std::string actor_;
  store_settings settings_;
  std::shared_ptr<changelog_state> state_;
  std::function<caf::error(checkpoint_store&)> prepare_;
  // A group is applied this long after its first record at the latest.
  static constexpr std::chrono::milliseconds group_delay{1};
  bool apply_armed_ = false;
  std::size_t max_group_;
  std::unique_ptr<checkpoint_store> store_;
  changelog_rule rule_;
  int64_t next_offset_ = 0;
  // The group being built: changesets, bookkeeping, and the records whose
  // verdicts owners learn once it is applied.
  std::vector<std::string> changesets_;
  std::vector<sql_group> local_;
  std::vector<pending_record> pending_;
  bool failing_ = false;
  // A record arrived since the last quiet moment: not caught up yet.
  bool read_since_idle_ = false;
  // A record arrived since the consumer (re)subscribed: only then does a
  // quiet moment say the reader is at the end of the stream. Before, the
  // quiet may be a connection that is gone and not known to be yet (a
  // partition, until heartbeats tell), or a consumer the broker does not
  // deliver to; announced as caught up, its node would be given shards
  // whose claims then wait for it to catch up.
  bool read_since_subscribing_ = false;
  // Snapshots: writing them, telling them apart from records.
  snapshot_settings snapshots_;
  snapshot_schedule schedule_;
  snapshot_assembler seen_{false};
  // Bytes of the records in the group being built.
  std::size_t group_bytes_ = 0;
  std::optional<bootstrap> behind_;
  bridges::consumer_host* host_ = nullptr;
  // A snapshot's rows are read on a thread of their own, from a connection
  // of their own whose read transaction was begun right after a group: the
  // reader goes on applying records meanwhile (the shards this node owns
  // are not held up). Opened at the first snapshot, kept for the next.
  std::unique_ptr<checkpoint_store> snapshot_store_;
  struct snapshot_read {
    int64_t upto = -1;
    std::chrono::steady_clock::time_point started;
    std::future<caf::expected<std::string>> rows;
  };
  // Declared after the connection it reads from: destroyed first, its
  // future waits for the thread.
  std::optional<snapshot_read> reading_;
};

} // namespace warren::runtime::cluster
