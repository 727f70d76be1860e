#pragma once

/// The checkpoint store: one SQLite database per node (`<state_dir>/warren.db`)
/// holding what stateful actors need to survive the death of the process.
///
/// Tables (schema version in `PRAGMA user_version`, migrated on open):
///   actor_state(actor, key, version, state)  the state of each key of each
///                                            stateful actor, as JSON text;
///   inbox(actor, message_id, received_ms)    ids of messages applied, for
///                                            de-duplicating redeliveries;
///   outbox(id, actor, message)               messages sent by stateful
///                                            actors, committed but not yet
///                                            confirmed by the broker;
///   anonymous_unacked(actor, message_id, ...) id-less messages applied and
///                                            not yet seen acked;
///   operator_rows(actor, name, data)         the rows of stream operators
///                                            (windows): named blobs the
///                                            kind writes itself;
///   warren_schema(actor, name, type, sql)    the schema catalog: tables and
///                                            indexes units create at run
///                                            time (see "Schema changes"
///                                            below); created at open when
///                                            missing, outside the versioned
///                                            schema.
///
/// The database runs in WAL mode; `synchronous` is FULL by default (a commit
/// survives power loss) or NORMAL (survives a crash of the process). A file
/// that is not a database, is corrupted or has a schema newer than this
/// build is an error at open, never a silent reset.
///
/// One `checkpoint_store` is one SQLite connection; use it from one thread at
/// a time. Several connections to one file (one per actor instance, plus
/// readers such as `warren state`) are fine: SQLite serializes the writers
/// and WAL lets readers run beside them.

#include "warren/config/store.hpp"
#include "warren/core/envelope.hpp"
#include "warren/runtime/store/sql.hpp"
#include "warren/runtime/store/unit_of_work.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

struct sqlite3_stmt;

namespace warren::runtime {

using config::sync_mode;

struct store_settings {
  /// The database file; created with its directory when missing (unless
  /// read-only).
  std::string path;
  sync_mode synchronous = sync_mode::full;
  /// How long a writer waits for another connection's write lock.
  std::chrono::milliseconds busy_timeout{10000};
  /// Open for reading only (inspection tools); never creates or migrates.
  bool read_only = false;
};

/// The schema version this build writes.
constexpr int store_schema_version = 3;

class checkpoint_store {
 public:
  /// Opens (creating and migrating unless read-only) the database. Errors
  /// (`errc::store_failed`) name the file and what is wrong with it.
  static caf::expected<std::unique_ptr<checkpoint_store>>
  open(const store_settings& settings);

  ~checkpoint_store();

  checkpoint_store(const checkpoint_store&) = delete;
  checkpoint_store& operator=(const checkpoint_store&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// The state of `key` of `actor`, or nullopt when it has none yet.
  caf::expected<std::optional<stored_state>> load(const std::string& actor,
                                                  const std::string& key);

  /// The rows of stream operator `actor` whose names start with `prefix`
  /// (all when empty), in name order.
  caf::expected<std::vector<std::pair<std::string, std::string>>>
  load_rows(const std::string& actor, const std::string& prefix = {});

  /// Whether `actor` already applied message `message_id`.
  caf::expected<bool> seen(const std::string& actor,
                           const std::string& message_id);

  /// The inbox ids of `actor` in batch `batch_id`'s namespace
  /// (`<batch_id>#...`: its entries without an id of their own, and the
  /// record of the whole batch), in id order; one range read.
  caf::expected<std::vector<std::string>>
  applied_in_batch(const std::string& actor, const std::string& batch_id);

  /// The id-less messages `actor` applied whose ack was not yet seen
  /// written: (the id warren gave it, its content key), in the order
  /// applied (see `unit_of_work::applied_anonymous`).
  caf::expected<std::vector<std::pair<std::string, std::string>>>
  unacked_anonymous(const std::string& actor);

  /// Writes `work` in one transaction (all or nothing) and fills in the ids
  /// of its outbox rows. On error nothing was written. The tolerant SQL
  /// groups it left out are in `work.skipped()`.
  caf::error commit(unit_of_work& work);

  // -- changesets: a unit's changes, replicated (README.md, "Clustering") --
  //
  // Schema changes. A changeset carries rows, never DDL, and applying one
  // skips the rows of a table the file lacks without a word. A unit that
  // creates a table or an index at run time (a sharded projection's
  // generations) therefore records it in the catalog in the same unit:
  //
  //   CREATE TABLE p_x_s0_g1_t (...);
  //   INSERT INTO warren_schema (actor, name, type, sql)
  //     VALUES ('x.s0', 'p_x_s0_g1_t', 'table', '<that CREATE statement>');
  //
  // ('index' for a CREATE INDEX), and drops one with `DROP TABLE IF EXISTS`
  // (or INDEX) and the DELETE of its catalog row, never in a unit that
  // wrote rows to it. Catalog names start with `p_`; a catalog row's SQL
  // may create its own object and do nothing else.

  /// Writes `work` as `commit` would, except its outbox rows (they travel
  /// with the changeset, not in the file), records every row it changed,
  /// and rolls it all back: returns the changes as an SQLite changeset
  /// (the session extension's format) that `apply_changeset` writes into
  /// this or any other node's file. The outbox and the tables named
  /// `local_*` (a node's own bookkeeping) are never part of one. Fails
  /// (`errc::store_failed`) when the unit changed the schema without a
  /// change to `warren_schema` (its tables would reach no other node), and
  /// when it dropped or altered a table it wrote rows to (SQLite cannot
  /// make a changeset of that).
  caf::expected<std::string> capture_changeset(unit_of_work& work);

  /// What `apply_changeset` met.
  struct apply_report {
    /// Rows whose values differed from the changeset's old values (or that
    /// existed already for an insert) and were overwritten with its new
    /// ones: a copy that had diverged converges.
    std::size_t replaced = 0;
    /// Updates and deletes of rows this file does not have: left out.
    std::size_t missing = 0;
  };

  /// Writes `changeset` and then `local` (this node's bookkeeping, say the
  /// changelog position applied) in one transaction. A conflict is resolved
  /// for the changeset (see `apply_report`); a constraint it would break
  /// fails the whole transaction. Catalog rows the changeset inserts or
  /// updates create their objects before its rows are written (tables,
  /// then indexes; an object that exists with the same SQL is kept, one
  /// with other SQL is dropped and created anew, with a warning); catalog
  /// rows it deletes drop theirs after. A catalog row whose name does not
  /// start with `p_`, or whose SQL does anything but create that object,
  /// fails the whole transaction.
  caf::expected<apply_report>
  apply_changeset(const std::string& changeset,
                  const std::vector<sql_group>& local = {});

  /// The same for several changesets, in order, in one transaction.
  caf::expected<apply_report>
  apply_changesets(const std::vector<std::string>& changesets,
                   const std::vector<sql_group>& local = {});

  // -- snapshots of a sharded actor (README.md, "Retention and snapshots") --

  /// Every row of `actor` in this file, in one read transaction, as an
  /// SQLite changeset of inserts: the rows of each table with an `actor`
  /// (or `store`) column naming `actor` or one of its shards
  /// (`<actor>.s<i>`): the state, inbox and operator tables, a kind's own
  /// tables, a node's bookkeeping `local_*` and the catalog
  /// `warren_schema`; and every row of the tables the actor's catalog rows
  /// list (whatever their columns say; a table some catalog row lists is
  /// never selected by its columns). Not the outbox (its rows are per
  /// file). A table without a primary key is left out (the session
  /// extension needs one; no changeset carries such a table either).
  caf::expected<std::string> snapshot_rows(const std::string& actor);

  /// Begins a read transaction and takes its view of the file now: a
  /// `snapshot_rows` that follows (on another thread, maybe) reads the rows
  /// as of this moment, whatever other connections commit meanwhile, and
  /// ends it.
  caf::error begin_read();

  /// Replaces every row of `actor` (the same tables) with the rows of
  /// `snapshot` (from `snapshot_rows`) in one transaction: all or nothing.
  /// The objects this file's catalog lists for the actor are dropped, and
  /// the ones the snapshot's catalog rows list are created (as
  /// `apply_changesets` does). A table the file does not have otherwise is
  /// skipped.
  caf::error replace_rows(const std::string& actor,
                          const std::string& snapshot);

  /// Runs read-only `sql` (a statement that would write is refused) with
  /// `params`, calling `on_row` for each row. Sees what was committed.
  caf::error read_sql(const std::string& sql,
                      const std::vector<sql_value>& params,
                      const sql_row_handler& on_row);

  /// Runs `sql` in a transaction of its own: the tables and rows a kind
  /// sets up when it opens (`CREATE TABLE IF NOT EXISTS ...`).
  caf::error setup(const std::string& sql,
                   const std::vector<sql_value>& params = {});

  /// Outbox rows not yet confirmed, oldest first; all actors when `actor` is
  /// empty.
  caf::expected<std::vector<outbox_row>>
  pending_outbox(const std::string& actor = {}, std::size_t limit = 10000);

  /// Deletes confirmed outbox rows.
  caf::error delete_outbox(const std::vector<int64_t>& ids);

  /// Inbox retention: forgets the ids `actor` applied before `before_ms`
  /// (milliseconds since the epoch). Returns how many were forgotten.
  caf::expected<std::size_t> prune_inbox(const std::string& actor,
                                         int64_t before_ms);

  /// The actors with state, and how many keys each has.
  caf::expected<std::vector<std::pair<std::string, int64_t>>> actors();

  /// The keys of `actor` with their versions (states left empty), in key
  /// order, at most `limit`.
  caf::expected<std::vector<stored_state>> keys(const std::string& actor,
                                                std::size_t limit = 1000);

  /// Counts for inspection: inbox and outbox rows of `actor` (all when
  /// empty).
  caf::expected<int64_t> inbox_size(const std::string& actor = {});
  caf::expected<int64_t> outbox_size(const std::string& actor = {});

  /// `PRAGMA integrity_check`: none when the database is sound.
  caf::error integrity_check();

 private:
  checkpoint_store(sqlite3* db, std::string path);

  // Stream operators' SQL (operator_sql.cpp).
  sqlite3_stmt* prepared(const std::string& sql, int& rc);
  caf::error run_groups(unit_of_work& work);

  // The writes of `commit`, inside its transaction (store_queries.cpp);
  // without the outbox when `with_outbox` is false.
  caf::error write_unit(unit_of_work& work, bool with_outbox);
  caf::error step(sqlite3_stmt* stmt, const char* what);

  struct statements;

  sqlite3* db_;
  std::string path_;
  std::unique_ptr<statements> stmts_;
};

/// The outbox's encoding of a message (JSON text; pure, unit-tested).
std::string encode_outgoing(const warren::outgoing_message& msg);
caf::expected<warren::outgoing_message>
decode_outgoing(const std::string& text);

/// Milliseconds since the epoch, for the inbox.
int64_t now_ms();

} // namespace warren::runtime
