#pragma once

// Private to warren::actors: the `projection` kind, a stream operator
// keeping a read model (SQLite tables of its own) up to date with an event
// store's events, and answering queries on it.
//
// Events come from the store by request (`event_store.read_all` pages,
// replies to this actor's queue) and, with `source.live`, from the store's
// exchange as they are appended (this actor's queue bound to it). Each
// event's statements run as one tolerant group, and the projection's
// position (the last event applied) is written in the same transaction
// (table `warren_projections`): an event is applied once, in position
// order, whatever is redelivered or read again; an event whose SQL breaks
// a constraint is skipped (logged, counted) and the position still moves.
//
// Tables are per generation (p_<actor>_g<n>_<table>). A rebuild
// (`projection.rebuild`, or a changed definition at start) fills the next
// generation from position 0 while queries still read the current one,
// then swaps the two in one transaction and drops the old tables.
//
// Following a sharded store (`source.shards`), it keeps a position per
// shard, reads each shard's pages, and applies each shard's events in that
// shard's order (events of different shards in any order: a model should
// not depend on an order between streams of different shards).
//
// Requests: projection.query {"query", "params"?, "min_position"?} ->
// projection.rows {"rows", "position", "rebuilding"} (or warren.error
// `behind` while the position is below min_position, `unknown_query`);
// projection.status {} -> {"position", "generation", "rebuilding",
// "rebuild_position", "head", "lag_events"}; projection.rebuild {} ->
// projection.status.

#include "eventstore/projection_spec.hpp"
#include "warren/metrics/cells.hpp"
#include "warren/runtime/stream_operator.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warren::config {
class object_reader;
}

namespace warren::metrics {
class registry;
}

namespace warren::actors {

class projection : public stream_operator {
 public:
  explicit projection(const actor_init& init);

  static void check_options(config::object_reader& options);

  bool replies_with_errors() const override { return true; }
  caf::error open(operator_store& store) override;
  caf::error restore(operator_row_set rows) override;
  status apply(context& ctx, const envelope& msg) override;
  void checkpoint(operator_rows& rows) override;
  void committed(const std::vector<skipped_group>& skipped) override;
  std::chrono::milliseconds tick_interval() const override;
  void tick(operator_output& out, int64_t now_ms) override;
  bool is_query(const envelope& msg) const override;
  caf::expected<std::string> key_of(const envelope& msg) const override;
  std::optional<uint32_t> shard_asked(const envelope& msg) const override;

 private:
  // Which generation answers queries, and which is being rebuilt, as
  // `warren_projections` holds it.
  struct progress {
    int64_t generation = 1;
    std::optional<int64_t> rebuild_generation;
  };

  // One numbering of the store's events the projection follows: the
  // store's, or one shard's of a sharded store (`source.shards`; rows of
  // `warren_projection_shards`).
  struct feed {
    // The last event applied, in the current generation and in the one
    // being rebuilt.
    int64_t position = 0;
    int64_t rebuild_position = 0;
    // The last position the store gave, as last heard.
    int64_t head = 0;
    // The page asked for and not answered yet: its id and when.
    std::string outstanding;
    int64_t asked_ms = 0;
    // Whether the store may hold events past the position (at start, after
    // a gap, while rebuilding, and always without a live feed).
    bool catching_up = true;
    // When the store was last heard from (a live event, the page asked for),
    // and whether the read in hand was asked because it had been quiet.
    int64_t heard_ms = 0;
    bool quiet_check = false;
    // Positions not written yet.
    bool changed = false;
  };

  // What queries read: the generation and the feeds' positions as last
  // committed. Memory runs ahead of the file while a unit is built (events
  // applied, their SQL not committed yet), and a query is answered at
  // once, from the file: checked against memory, `min_position` could pass
  // and the rows still miss the write (and a swap not committed yet would
  // send it to a generation half filled).
  struct read_view {
    int64_t generation = 1;
    std::vector<int64_t> positions;
    int64_t position() const;
  };
  read_view current_view() const;

  status apply_page(context& ctx, const envelope& msg);
  status apply_live(const envelope& msg);
  status query(context& ctx, const envelope& msg);
  std::vector<sql_value> params_of(const envelope& msg,
                                   const projection_query& q) const;
  // A query's rows, at most max_rows (`truncated` then).
  caf::error collect_rows(const std::string& sql,
                          const std::vector<sql_value>& params,
                          boost::json::array& rows, bool& truncated) const;
  void make_metrics(metrics::registry& registry);
  boost::json::object status_json() const;

  // A sharded projection (`shards`: README.md, "Sharded projections"):
  // shard i keeps the events of the store's shard i in tables of its own,
  // made and dropped through the catalog `warren_schema` so that they
  // reach every node's copy; any shard answers queries over the union of
  // every shard's tables, from the state rows in the file.
  struct shard_state {
    int64_t position = 0;
    int64_t head = 0;
    int64_t generation = 0;
    std::optional<int64_t> rebuild_generation;
    int64_t rebuild_position = 0;
    std::string definition;
  };
  // A row of `warren_projection_state` (select_shard_state's columns).
  static shard_state shard_state_of(const sql_row& row);
  caf::error open_shard(operator_store& store);
  // Every shard's row as this node's file holds it (none for a shard
  // that never ran).
  caf::expected<std::vector<std::optional<shard_state>>> shard_states() const;
  status query_shards(context& ctx, const envelope& msg,
                      const projection_query& q);
  boost::json::object shard_status_json() const;
  // The catalog's objects of generation `g` of this shard (name, type).
  std::vector<std::pair<std::string, std::string>>
  catalog_objects(const std::function<bool(int64_t generation)>& which) const;
  // The store's shard whose events feed `index` follows.
  uint32_t source_shard(std::size_t index) const;
  sql_group drop_objects(
    const std::vector<std::pair<std::string, std::string>>& objects) const;
  // The feed of a page (its "shard") or a live event (its header
  // x-warren-shard); an error says why the source's shards do not match.
  caf::expected<std::size_t> feed_of(const envelope& msg, bool page) const;
  // Applies `event` if it is the next one of `f` for the generation being
  // filled; false when it is not (a gap, or already applied).
  bool apply_event(const boost::json::value& event, feed& f);
  // The SQL of `type`'s statements for `generation`, rendered once per
  // generation.
  const std::vector<std::string>&
  rendered(const std::string& type,
           const std::vector<projection_statement>& statements,
           int64_t generation);
  // Generation `g`'s tables and indexes: each one's name and the statement
  // that creates it.
  std::vector<std::pair<std::string, std::string>>
  generation_objects(int64_t g) const;
  // The statements that create generation `g`'s tables and indexes.
  std::vector<sql_statement> create_generation(int64_t g) const;
  std::vector<sql_statement> drop_generation(int64_t g) const;
  void start_rebuild();
  // Once every feed has read the store to its end: the rebuilt generation
  // replaces the current one.
  void finish_rebuild_if_caught_up();
  template<class Publish>
  void request_page(Publish&& publish, std::size_t index, int64_t now_ms);
  // Positions and heads summed over the feeds (one, unsharded).
  int64_t position() const;
  int64_t head() const;
  int64_t lag_events() const;
  void update_metrics();

  struct metric_set {
    metrics::gauge position;
    metrics::gauge head;
    metrics::gauge lag_events;
    metrics::gauge lag_seconds;
    metrics::gauge rebuilding;
    metrics::counter events;
    metrics::counter skipped;
  };

  projection_spec spec_;
  metric_set metrics_;
  operator_store* store_ = nullptr;
  progress progress_;
  std::vector<feed> feeds_;
  // As of the last checkpoint (staged) and the last commit (what queries
  // read).
  read_view staged_;
  read_view committed_;
  uint64_t reads_ = 0;
  int64_t last_recorded_ms_ = 0;
  int64_t next_poll_ms_ = 0;
  // A quiet check found events the live feed had not brought: said once.
  bool live_gap_reported_ = false;
  // What the unit being built runs, in order: tables made, events applied,
  // tables dropped.
  std::vector<sql_group> groups_;
  bool progress_changed_ = false;
  std::map<std::string, std::vector<std::string>> rendered_;
  int64_t rendered_generation_ = -1;
  // Makes this instance's read ids its own.
  std::string nonce_;
  bool sharded_ = false;
  // What names this instance's tables, catalog rows and reads: the actor,
  // or its shard's name ("<actor>.s<i>").
  std::string prefix_;
  // Generations replaced in the unit being committed: dropped in a later
  // unit (a unit must not drop a table it wrote, which a session cannot
  // then describe), and those whose unit committed.
  std::vector<int64_t> replaced_;
  std::vector<int64_t> staged_replaced_;
  std::vector<int64_t> droppable_;
  // The head as last written in the shard's state row.
  int64_t written_head_ = -1;
};

} // namespace warren::actors
