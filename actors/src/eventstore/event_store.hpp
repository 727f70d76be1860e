#pragma once

// Private to warren::actors: the `event_store` kind, a stream operator
// (warren/runtime/stream_operator.hpp) keeping streams of events per
// aggregate id in the node's SQLite file (table `warren_events`, one per
// file, rows tagged with the actor's name).
//
// Requests (to the actor by name, replies to `reply_to`):
//
//   event_store.append       {"stream", "expected_version"?, "events":
//                             [{"event_id"?, "type", "data", "metadata"?}]}
//     -> event_store.appended {"stream", "first_version", "last_version",
//                              "first_position", "last_position",
//                              "idempotent"}
//     or warren.error, code wrong_expected_version (details: stream,
//        expected, actual) or idempotency_conflict: an answer, not a
//        failure (the request is done);
//   event_store.read_stream  {"stream", "from"?, "count"?, "direction"?}
//   event_store.read_all     {"from"?, "count"?}
//     -> event_store.events   {"events": [...], "next", "end"}
//   event_store.save_snapshot {"stream", "version", "type", "data"}
//     -> event_store.snapshot_saved {"stream", "version"} (a snapshot only
//        replaces an older one; one past the stream's version is refused)
//   event_store.load_snapshot {"stream"}
//     -> event_store.snapshot {"stream", "version", "type", "data",
//                              "recorded_ms"} ("version": 0 when none)
//
// Sharded (`shards: N`, README.md "Clustering"): each stream belongs to
// the shard of its name (its key; an aggregate's command key is its
// stream), and each shard numbers its own events: rows tagged
// "<actor>.s<i>", positions from 1 per shard, without gaps, in that
// shard's commit order. `read_all` then reads one shard ("shard" in the
// body, routed to its owner); an append of a stream another shard owns is
// refused; event ids are unique per shard (a stream's repeat is still
// found).
//
// An event: {"position", "stream", "version", "event_id", "type", "data",
// "metadata", "recorded_ms"}. Positions count from 1 over the whole store,
// without gaps, in commit order: this actor is the only writer of its rows
// (one instance per node), it numbers the events of a request when it
// applies it, and units of work commit one after the other in that order
// (a failed commit is retried with the same statements; an instance that
// dies before committing is replaced by one that numbers from the file's
// last position again). An event without an id gets `<message id>#e<i>`,
// stable as long as the request is sent again with its id.
//
// Appended events are published (option `publish`) through the outbox in
// the same transaction, with their event ids as message ids: effectively
// once downstream. A malformed request is dead-lettered, and its caller
// gets a warren.error reply.

#include "eventstore/append_rules.hpp"
#include "warren/actors/events.hpp"
#include "warren/metrics/cells.hpp"
#include "warren/runtime/stream_operator.hpp"

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace warren::config {
class object_reader;
}

namespace warren::actors {

/// An event as replies and publishes carry it.
boost::json::value event_json(const recorded_event& e);

struct event_store_settings {
  /// Where appended events are published; empty: not published.
  std::string exchange;
  /// With `{stream}` and `{type}` replaced.
  std::string routing_key = "{type}";
  std::size_t max_append_events = 1000;
  std::size_t max_read_count = 1000;
};

/// Reads the store's option keys (publish, max_append_events,
/// max_read_count) of `o`, without checking for others (the caller allows
/// its keys).
event_store_settings read_event_store_options(config::object_reader& o);

class event_store : public stream_operator {
 public:
  explicit event_store(const actor_init& init);
  /// With options read already (a kind that embeds a store).
  event_store(const actor_init& init, event_store_settings settings);

  static void check_options(config::object_reader& options);

  bool replies_with_errors() const override { return true; }

  /// A request's stream (sharded: its shard's owner answers it).
  caf::expected<std::string> key_of(const envelope& msg) const override;
  /// A `read_all`'s "shard".
  std::optional<uint32_t> shard_asked(const envelope& msg) const override;

  caf::error open(operator_store& store) override;
  caf::error restore(operator_row_set rows) override;
  status apply(context& ctx, const envelope& msg) override;
  void checkpoint(operator_rows& rows) override;
  void committed(const std::vector<skipped_group>& skipped) override;
  /// Reads (read_stream, read_all, load_snapshot) read committed events
  /// and are answered at once, without a commit.
  bool is_query(const envelope& msg) const override;

  /// An event to append; without an id it gets `<message id>#e<index>`.
  struct event_input {
    std::string id;
    std::string type;
    boost::json::value data;
    boost::json::object metadata;
  };

  struct append_result {
    append_decision decision = append_decision::write;
    /// The stream's version before.
    int64_t current = 0;
    /// write: the events as appended; already: where they are (without
    /// their data).
    std::vector<recorded_event> events;
    /// Sharded: the shard whose positions these are.
    std::optional<uint32_t> shard;
  };

  /// Appends `events` to `stream` in the unit being built (publishing them
  /// with it), or says why not (wrong_expected_version,
  /// idempotency_conflict: an answer). An error: a request that cannot be
  /// right (errc::validation_failed), or the file.
  caf::expected<append_result> stage_append(context& ctx,
                                            const std::string& stream,
                                            const expected_version& expected,
                                            std::vector<event_input> events);

  /// The events of `stream` after `version`, committed and staged.
  caf::expected<std::vector<recorded_event>>
  events_after(const std::string& stream, int64_t version);

  /// The latest snapshot of `stream` (staged or committed): its version and
  /// data.
  caf::expected<std::optional<std::pair<int64_t, boost::json::value>>>
  snapshot_of(const std::string& stream);

  void stage_snapshot(const std::string& stream, int64_t version,
                      const std::string& type, const boost::json::value& data);

  /// The last version of `stream` (0: none), staged or committed.
  caf::expected<int64_t> version_of(const std::string& stream);

  /// Applied to every event read (C++ kinds built on the store).
  void set_upcasters(upcasters up) { upcasters_ = std::move(up); }

  /// An append's answer to its caller.
  static status reply_to_append(context& ctx, const std::string& stream,
                                const expected_version& expected,
                                const append_result& result);

  /// An error of stage_append as a message's status.
  static status to_status(const caf::error& err);

 private:
  status append(context& ctx, const envelope& msg);
  status read_stream(context& ctx, const boost::json::object& body);
  status read_all(context& ctx, const boost::json::object& body);
  status save_snapshot(context& ctx, const boost::json::object& body);
  status load_snapshot(context& ctx, const boost::json::object& body);
  // Where event `id` is, staged or committed.
  caf::expected<std::optional<recorded_at>> find_event(const std::string& id);
  // The tag of the rows of `stream` (its shard's, when sharded).
  std::string tag_of(const std::string& stream) const;
  // Events of a read, as JSON.
  caf::error read_events(const std::string& sql,
                         const std::vector<sql_value>& params,
                         boost::json::array& out);

  struct metric_set {
    metrics::counter appends;
    metrics::counter events;
    metrics::counter idempotent;
    metrics::counter wrong_version;
    metrics::counter id_conflicts;
    metrics::gauge head;
  };

  event_store_settings settings_;
  upcasters upcasters_;
  metric_set metrics_;
  operator_store* store_ = nullptr;
  // The tag of the rows this instance writes (column `store`): the actor's
  // name, or its shard's.
  std::string tag_;
  // The next position to give.
  int64_t next_position_ = 1;
  // Appended but not yet committed (then in the file).
  std::unordered_map<std::string, int64_t> staged_versions_;
  std::unordered_map<std::string, recorded_at> staged_ids_;
  std::unordered_map<std::string, std::vector<recorded_event>> staged_events_;
  std::unordered_map<std::string, std::pair<int64_t, boost::json::value>>
    staged_snapshots_;
  sql_group pending_;
};

} // namespace warren::actors
