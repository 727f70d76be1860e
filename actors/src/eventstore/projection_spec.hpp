#pragma once

// Private to warren::actors: a projection's options, read and checked (its
// SQL is run against an in-memory SQLite database, so `warren check` names
// bad SQL by its JSON path), and its SQL rendered for a generation of its
// tables.
//
//   {"source": {"store": "orders-events", "shards": 0, "page": 500,
//               "live": false, "poll_ms": 1000, "read_timeout_ms": 5000},
//    "tables": {"summary": "CREATE TABLE {summary} (order_id TEXT PRIMARY
//               KEY, status TEXT, total REAL)"},
//    "indexes": ["CREATE INDEX {index} ON {summary} (status)"],
//    "on": {"OrderCreated": [{"sql": "INSERT INTO {summary} VALUES (:id,
//           'created', :total)", "params": {"id": "data.order_id",
//           "total": "data.total"}}]},
//    "queries": {"by_id": {"sql": "SELECT * FROM {summary} WHERE order_id =
//                :id"}},
//    "max_rows": 1000}
//
// `{t}` names the projection's table `t`; `:name` is a parameter: in `on`,
// a field path into the event ({"position", "stream", "version",
// "event_id", "type", "data", "metadata", "recorded_ms"}); in `queries`, a
// member of the request's "params".

#include "pipeline/field_path.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace warren::config {
class object_reader;
}

namespace warren::actors {

/// A statement run for an event: SQL with `{table}`s and `?N`s, and the
/// field path of each `?N` (N = index + 1).
struct projection_statement {
  std::string sql;
  std::vector<field_path> params;
};

/// A read-only query: SQL with `{table}`s and `?N`s, and the request
/// parameter of each.
struct projection_query {
  std::string sql;
  std::vector<std::string> params;
};

struct projection_spec {
  /// The event store actor read from.
  std::string store;
  /// The store's `shards` (0: not sharded): each shard numbers its own
  /// events, and the projection follows each shard's positions.
  uint32_t shards = 0;
  std::size_t page = 500;
  /// Events also come from the store's exchange (the projection's queue is
  /// bound to it): the store is read at start, after a gap, and when a feed
  /// has heard nothing for `poll_ms` (a live feed that brings nothing, a
  /// binding left out or the store's publishes dead-lettered, must not
  /// leave the model behind for good).
  bool live = false;
  /// Without `live`, how often the store is read; with it, how long a feed
  /// may be quiet before the store is asked once.
  int64_t poll_ms = 1000;
  int64_t read_timeout_ms = 5000;
  /// Name -> CREATE TABLE statement.
  std::map<std::string, std::string> tables;
  std::vector<std::string> indexes;
  /// Event type -> statements, in order.
  std::map<std::string, std::vector<projection_statement>, std::less<>> on;
  std::map<std::string, projection_query> queries;
  std::size_t max_rows = 1000;
  /// A hash of tables, indexes, `on` and the store's shards: when it
  /// changes the read model is rebuilt.
  std::string definition_hash;
  /// Each table's columns, in order (a sharded projection's queries read
  /// the union of every shard's table by these names).
  std::map<std::string, std::vector<std::string>> columns;
  /// Why the rows of a table would not travel through a sharded actor's
  /// changelog (an SQLite session records rows by a primary key that is
  /// never NULL); tables without a problem are not listed.
  std::map<std::string, std::string> not_replicable;
  /// Why an `on` statement cannot run in a sharded projection (it changes
  /// the schema), by its JSON path.
  std::map<std::string, std::string> schema_changes;
};

/// The checks a projection declaring `shards` (README.md, "Sharded
/// projections") adds to `read_projection_spec`'s: its source is a store of
/// as many shards, each shard keeps the shard of the store with the same
/// number, and its tables' rows can travel through the changelog. Errors go
/// to o's reader with the JSON path.
void check_sharded_projection(config::object_reader& o, uint32_t shards);

/// A sharded projection's query: `sql` (its `{t}`s) reading, for each
/// table, the union of the shards' tables of the generation each shard
/// serves (`generations[i]`: shard i's, none for a shard not started), by
/// the columns `columns` names. A query starting with WITH keeps its own
/// common table expressions after ours.
std::string render_sharded_query(
  const std::string& sql, const std::string& actor,
  const std::vector<std::optional<int64_t>>& generations,
  const std::map<std::string, std::vector<std::string>>& columns);

/// Reads and checks `o` (a projection actor `actor`'s options); errors go
/// to o's reader with the JSON path.
projection_spec read_projection_spec(config::object_reader& o,
                                     const std::string& actor);

/// `sql` with each `{t}` replaced by the name of table `t` of `actor`'s
/// `generation` (`{index}` by an index name unique to `index_number`).
std::string render_sql(const std::string& sql, const std::string& actor,
                       int64_t generation, std::size_t index_number = 0);

/// The table `table` of `actor`'s `generation`: p_<actor>_g<generation>_<t>
/// (the actor's name reduced to [a-z0-9_]).
std::string table_name(const std::string& actor, int64_t generation,
                       const std::string& table);

/// `sql` with its `:name` parameters (outside quotes) as `?1`, `?2` ...;
/// `names` gets each name once, in order of first use.
std::string positional(const std::string& sql, std::vector<std::string>& names);

} // namespace warren::actors
