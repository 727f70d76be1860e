#pragma once

/// Cluster membership (README.md, "Clustering"; DESIGN.md §6): every node
/// running a sharded actor announces itself every
/// `cluster.announce_interval_ms` on the stream `warren.cluster` (its name,
/// the run of its process, the shards it owns with their epochs, how far
/// its changelog readers are), and once more when it stops. `warren cluster
/// status` reads the recent announcements and sums them up here. Display
/// and alerts only: ownership is decided by the changelog, never by this.
///
/// Pure: no I/O. The JSON of an announcement is its wire format.

#include <boost/json/value.hpp>
#include <caf/expected.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warren::runtime::membership {

/// The stream announcements go to (max-age 1 h).
constexpr const char* stream_name = "warren.cluster";

/// The message type of an announcement.
constexpr const char* announcement_type = "warren.cluster.announce";

/// A node is taken for gone once silent this many of its own intervals.
constexpr int64_t silent_intervals = 3;

/// One shard a node owns, in the epoch it claimed it in.
struct owned_shard {
  uint32_t shard = 0;
  int64_t epoch = -1;
};

/// What a node does for one sharded actor.
struct actor_report {
  std::string actor;
  uint32_t shards = 0;
  std::vector<owned_shard> owned;
  /// Its changelog reader: the offset after the last record it applied,
  /// and that record's lag (publish to apply; nullopt: none yet).
  int64_t position = 0;
  std::optional<double> lag_seconds;
};

/// One node's announcement.
struct announcement {
  std::string node;
  /// The run of its process (a restarted node is a new incarnation).
  std::string incarnation;
  /// Milliseconds since the Unix epoch: when the process started, and when
  /// it made this announcement.
  int64_t started_ms = 0;
  int64_t at_ms = 0;
  /// How often it announces.
  int64_t interval_ms = 2000;
  /// Its last word: it is stopping (gracefully).
  bool leaving = false;
  std::vector<actor_report> actors;
};

boost::json::value to_json(const announcement& a);

/// An announcement read back; `errc::validation_failed` names what is wrong.
caf::expected<announcement> parse_announcement(std::string_view text);

/// A shard queue's figures (a passive declare).
struct queue_figures {
  uint32_t messages = 0;
  uint32_t consumers = 0;
};

/// One shard as the live nodes tell it.
struct shard_status {
  uint32_t shard = 0;
  /// Its queue, `<actor>.s<i>`.
  std::string queue;
  /// The live node announcing it owns the shard in the highest epoch; empty
  /// when no live node does.
  std::string owner;
  int64_t epoch = -1;
  /// Other live nodes that still say they own it in a lower epoch (fenced,
  /// about to give it up).
  std::vector<std::string> stale_owners;
  /// Filled in by the caller when it could read the queue.
  std::optional<queue_figures> queue_state;

  /// Messages are waiting and no live node owns the shard.
  bool stuck() const noexcept {
    return owner.empty() && queue_state && queue_state->messages > 0;
  }
};

/// One node's reader of one actor's changelog.
struct reader_status {
  std::string node;
  /// The actor's shard count on that node.
  uint32_t shards = 0;
  int64_t position = 0;
  /// Records behind the furthest live reader of the actor.
  int64_t behind = 0;
  std::optional<double> lag_seconds;
};

struct actor_status {
  std::string actor;
  uint32_t shards = 0;
  std::vector<shard_status> shard;
  /// Live nodes only.
  std::vector<reader_status> readers;
};

struct node_status {
  std::string node;
  std::string incarnation;
  int64_t started_ms = 0;
  int64_t last_heard_ms = 0;
  int64_t interval_ms = 0;
  /// Heard within `silent_intervals` of its interval and not leaving.
  bool live = false;
  bool leaving = false;
  /// Shards it owns (live nodes), over every actor.
  std::size_t owned = 0;
};

struct cluster_status {
  int64_t now_ms = 0;
  std::vector<node_status> nodes;
  std::vector<actor_status> actors;

  /// Shards with messages waiting and no live owner.
  std::size_t stuck_shards() const noexcept;
};

/// Sums up `heard` (any order; each node's latest counts) as of `now_ms`;
/// `only_actor`, when not empty, keeps that actor alone.
cluster_status summarize(const std::vector<announcement>& heard, int64_t now_ms,
                         const std::string& only_actor = {});

boost::json::value to_json(const cluster_status& status);

/// A reader this close to the furthest live one (records: readers of an
/// idle changelog), or whose last record was applied this soon after it was
/// published (seconds: readers under load, whose positions are announced
/// at different moments), is caught up: its node may be given shards. A
/// node replaying the changelog is neither (its records are old).
constexpr int64_t caught_up_records = 100;
constexpr double caught_up_seconds = 2.0;

/// The nodes fit to own shards of `actor` (README.md, "Rebalancing"): live,
/// running it with `shards` shards, and caught up. In name order.
std::vector<std::string> shard_candidates(const cluster_status& status,
                                          const std::string& actor,
                                          uint32_t shards);

/// Which of `nodes` (in name order, no repeats) should own each shard of
/// `actor` with `shards` shards: every node gets shards / nodes of them or
/// one more (the first `shards % nodes` nodes in name order get one more),
/// and each shard goes to the node that ranks it highest by rendezvous
/// hashing among those with room, so a node joining or leaving moves few
/// shards besides its own. Empty when `nodes` is. Pure and the same on
/// every node: nodes that hear the same announcements agree.
std::vector<std::string> place_shards(const std::string& actor, uint32_t shards,
                                      const std::vector<std::string>& nodes);

/// An announcement and when this node read it (its own clock, ms since the
/// Unix epoch: downing never compares two nodes' clocks).
struct heard_announcement {
  announcement said;
  int64_t heard_ms = 0;
};

/// A node to down: the run `incarnation` of `node`, silent since its
/// announcement of `said_ms` (its clock; a later silence of the same run is
/// another one) was heard here `silent_ms` ago.
struct silent_node {
  std::string node;
  std::string incarnation;
  int64_t said_ms = 0;
  int64_t silent_ms = 0;
};

/// The nodes `self` downs at `now_ms` (README.md, "Downing"): those whose
/// latest announcement, not a leaving one, was heard more than `after_ms`
/// times (k + 1) ago, k being the number of nodes heard within `after_ms`
/// and not leaving that come before `self` in name order: the first live
/// node acts, the next only if the silence lasts twice as long (the first
/// could not close the connections), and so on. Only if `self` heard its
/// own announcement within `after_ms` (its reader is not behind: a node cut
/// off hears nobody, itself included, and downs nobody). In name order.
std::vector<silent_node>
nodes_to_down(const std::vector<heard_announcement>& heard,
              const std::string& self, int64_t now_ms, int64_t after_ms);

/// The human table of `warren cluster status`.
std::string to_text(const cluster_status& status);

} // namespace warren::runtime::membership
