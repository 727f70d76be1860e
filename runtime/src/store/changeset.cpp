// A unit's changes as an SQLite changeset (the session extension), and a
// changeset written into a file: how a shard's state travels through its
// changelog to every node (README.md, "Clustering"). Debian's libsqlite3
// is built with the session extension and the pre-update hook; its
// declarations need these two macros before the header.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include "sqlite.hpp"
#include "statements.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <cstring>
#include <memory>
#include <sqlite3.h>
#include <utility>
#include <vector>

namespace warren::runtime {

using namespace detail;

namespace {

// The tables a changeset carries: all but the outbox (a shard's outbox
// travels with its changelog record, and its row ids are per file), SQLite's
// own, and a node's bookkeeping (`local_*`).
int replicated_table(void*, const char* table) {
  return std::strcmp(table, "outbox") != 0 &&
         std::strncmp(table, "sqlite_", 7) != 0 &&
         std::strncmp(table, "local_", 6) != 0;
}

struct session_deleter {
  void operator()(sqlite3_session* s) const noexcept {
    sqlite3session_delete(s);
  }
};

// Every table but the outbox: a snapshot loads the node's bookkeeping too.
int snapshot_table(void*, const char* table) {
  return std::strcmp(table, "outbox") != 0 &&
         std::strncmp(table, "sqlite_", 7) != 0;
}

struct connection_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close(db); }
};

// A table holding rows of actors (`snapshot_rows`): its name, its CREATE
// statement, and the column naming each row's actor.
struct actor_table {
  std::string name;
  std::string create;
  std::string column;
};

// Every table with an `actor` column (or `store`: an event store's tables)
// but the outbox and SQLite's own.
caf::expected<std::vector<actor_table>> actor_tables(sqlite3* db,
                                                     const std::string& path) {
  std::vector<actor_table> out;
  auto err = query(
    db, path,
    "SELECT m.name, m.sql, (SELECT p.name FROM pragma_table_info(m.name) p "
    "WHERE p.name IN ('actor', 'store') ORDER BY p.name LIMIT 1) FROM "
    "sqlite_master m WHERE m.type = 'table' AND m.name <> 'outbox' AND "
    "substr(m.name, 1, 7) <> 'sqlite_' ORDER BY m.name",
    [&](sqlite3_stmt* row) -> caf::error {
      if (sqlite3_column_type(row, 2) != SQLITE_NULL)
        out.push_back(
          {column_text(row, 0), column_text(row, 1), column_text(row, 2)});
      return caf::none;
    });
  if (err)
    return err;
  return out;
}

// The rows of actor ?1 in a table whose `column` names the actor: its own,
// and its shards' ("<actor>.s<i>": a sharded event store numbers each
// shard's events under the shard's name).
std::string rows_of_actor(const std::string& column) {
  const auto& c = column;
  return c + " = ?1 OR (length(" + c + ") > length(?1) + 2 AND substr(" + c +
         ", 1, length(?1) + 2) = ?1 || '.s' AND substr(" + c +
         ", length(?1) + 3) NOT GLOB '*[^0-9]*')";
}

std::string quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name)
    out += c == '"' ? std::string{"\"\""} : std::string{c};
  return out + "\"";
}

// Copies the rows of `actor` in `table` from `from` into the same table of
// `to` (whose session records them).
caf::error copy_rows(sqlite3* from, const std::string& path, sqlite3* to,
                     const std::string& table, const std::string& column,
                     const std::string& actor) {
  statement select;
  auto sql =
    "SELECT * FROM " + quoted(table) + " WHERE " + rows_of_actor(column);
  if (auto err = select.prepare(from, path, sql.c_str()))
    return err;
  auto* rows = select.bind(actor);
  auto columns = sqlite3_column_count(rows);
  std::string insert_sql = "INSERT INTO " + quoted(table) + " VALUES (";
  for (int c = 0; c < columns; ++c)
    insert_sql += c == 0 ? "?" : ", ?";
  insert_sql += ")";
  statement insert;
  if (auto err = insert.prepare(to, ":memory:", insert_sql.c_str()))
    return err;
  int rc = 0;
  while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
    auto* out = insert.bind();
    for (int c = 0; c < columns; ++c)
      sqlite3_bind_value(out, c + 1, sqlite3_column_value(rows, c));
    if (sqlite3_step(out) != SQLITE_DONE)
      return failure(to, ":memory:", "copying a row of " + table);
  }
  if (rc != SQLITE_DONE)
    return failure(from, path, sql);
  return caf::none;
}

struct conflict_counts {
  checkpoint_store::apply_report report;
};

// The changeset wins: a row that differs is overwritten, one that is gone
// is left gone; only a broken constraint (a UNIQUE index another row
// holds) fails the transaction.
int resolve_conflict(void* context, int kind, sqlite3_changeset_iter*) {
  auto& counts = *static_cast<conflict_counts*>(context);
  switch (kind) {
    case SQLITE_CHANGESET_DATA:
    case SQLITE_CHANGESET_CONFLICT:
      ++counts.report.replaced;
      return SQLITE_CHANGESET_REPLACE;
    case SQLITE_CHANGESET_NOTFOUND:
      ++counts.report.missing;
      return SQLITE_CHANGESET_OMIT;
    default:
      return SQLITE_CHANGESET_ABORT;
  }
}

} // namespace

caf::expected<std::string>
checkpoint_store::capture_changeset(unit_of_work& work) {
  sqlite3_session* raw = nullptr;
  if (sqlite3session_create(db_, "main", &raw) != SQLITE_OK)
    return failure(db_, path_, "starting a session");
  std::unique_ptr<sqlite3_session, session_deleter> session{raw};
  sqlite3session_table_filter(raw, replicated_table, nullptr);
  if (sqlite3session_attach(raw, nullptr) != SQLITE_OK)
    return failure(db_, path_, "attaching a session");
  if (auto err = step(stmts_->begin.bind(), "BEGIN"))
    return err;
  auto err = write_unit(work, false);
  std::string changes;
  if (!err) {
    int size = 0;
    void* data = nullptr;
    if (sqlite3session_changeset(raw, &size, &data) != SQLITE_OK)
      err = failure(db_, path_, "reading a session's changeset");
    else
      changes.assign(static_cast<const char*>(data),
                     static_cast<std::size_t>(size));
    sqlite3_free(data);
  }
  // Nothing stays: the changeset is written when its record is accepted.
  step(stmts_->rollback.bind(), "ROLLBACK");
  if (err)
    return err;
  return changes;
}

caf::expected<checkpoint_store::apply_report>
checkpoint_store::apply_changeset(const std::string& changeset,
                                  const std::vector<sql_group>& local) {
  return apply_changesets({changeset}, local);
}

caf::expected<checkpoint_store::apply_report>
checkpoint_store::apply_changesets(const std::vector<std::string>& changesets,
                                   const std::vector<sql_group>& local) {
  if (auto err = step(stmts_->begin.bind(), "BEGIN"))
    return err;
  conflict_counts counts;
  caf::error err;
  for (const auto& changeset : changesets) {
    if (changeset.empty())
      continue;
    // Our own transaction holds it all: no savepoint of its own.
    auto rc = sqlite3changeset_apply_v2(
      db_, static_cast<int>(changeset.size()),
      const_cast<char*>(changeset.data()), replicated_table, resolve_conflict,
      &counts, nullptr, nullptr, SQLITE_CHANGESETAPPLY_NOSAVEPOINT);
    if (rc != SQLITE_OK) {
      err = failure(db_, path_, "applying a changeset");
      break;
    }
  }
  if (!err && !local.empty()) {
    unit_of_work bookkeeping;
    for (const auto& group : local)
      bookkeeping.execute(group);
    err = run_groups(bookkeeping);
  }
  if (!err)
    err = step(stmts_->commit.bind(), "COMMIT");
  if (err) {
    step(stmts_->rollback.bind(), "ROLLBACK");
    return err;
  }
  return counts.report;
}

caf::expected<std::string>
checkpoint_store::snapshot_rows(const std::string& actor) {
  // The rows are copied into an in-memory database of the same tables
  // under a session, which then gives them as a changeset of inserts.
  sqlite3* raw_copy = nullptr;
  if (sqlite3_open(":memory:", &raw_copy) != SQLITE_OK) {
    sqlite3_close(raw_copy);
    return make_error(errc::store_failed, "opening an in-memory database");
  }
  std::unique_ptr<sqlite3, connection_closer> copy{raw_copy};
  // One read transaction: the rows as of one commit of this file.
  if (auto err = exec(db_, path_, "BEGIN"))
    return err;
  auto finish = [this](caf::error err) {
    exec(db_, path_, err ? "ROLLBACK" : "COMMIT");
    return err;
  };
  auto tables = actor_tables(db_, path_);
  if (!tables)
    return finish(tables.error());
  for (const auto& table : *tables)
    if (auto err = exec(raw_copy, ":memory:", table.create.c_str()))
      return finish(std::move(err));
  sqlite3_session* raw = nullptr;
  if (sqlite3session_create(raw_copy, "main", &raw) != SQLITE_OK)
    return finish(failure(raw_copy, ":memory:", "starting a session"));
  std::unique_ptr<sqlite3_session, session_deleter> session{raw};
  if (sqlite3session_attach(raw, nullptr) != SQLITE_OK)
    return finish(failure(raw_copy, ":memory:", "attaching a session"));
  if (auto err = exec(raw_copy, ":memory:", "BEGIN"))
    return finish(std::move(err));
  for (const auto& table : *tables)
    if (auto err =
          copy_rows(db_, path_, raw_copy, table.name, table.column, actor))
      return finish(std::move(err));
  if (auto err = finish(caf::none))
    return err;
  int size = 0;
  void* data = nullptr;
  if (sqlite3session_changeset(raw, &size, &data) != SQLITE_OK)
    return failure(raw_copy, ":memory:", "reading a session's changeset");
  std::string rows{static_cast<const char*>(data),
                   static_cast<std::size_t>(size)};
  sqlite3_free(data);
  return rows;
}

caf::error checkpoint_store::replace_rows(const std::string& actor,
                                          const std::string& snapshot) {
  auto tables = actor_tables(db_, path_);
  if (!tables)
    return tables.error();
  if (auto err = step(stmts_->begin.bind(), "BEGIN"))
    return err;
  caf::error err;
  for (const auto& table : *tables) {
    statement erase;
    auto sql = "DELETE FROM " + quoted(table.name) + " WHERE " +
               rows_of_actor(table.column);
    if ((err = erase.prepare(db_, path_, sql.c_str())))
      break;
    if ((err = step(erase.bind(actor), sql.c_str())))
      break;
  }
  conflict_counts counts;
  if (!err && !snapshot.empty() &&
      sqlite3changeset_apply_v2(db_, static_cast<int>(snapshot.size()),
                                const_cast<char*>(snapshot.data()),
                                snapshot_table, resolve_conflict, &counts,
                                nullptr, nullptr,
                                SQLITE_CHANGESETAPPLY_NOSAVEPOINT) != SQLITE_OK)
    err = failure(db_, path_, "loading a snapshot");
  if (!err)
    err = step(stmts_->commit.bind(), "COMMIT");
  if (err) {
    step(stmts_->rollback.bind(), "ROLLBACK");
    return err;
  }
  return caf::none;
}

} // namespace warren::runtime
