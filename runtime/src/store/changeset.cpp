// A unit's changes as an SQLite changeset (the session extension), and a
// changeset written into a file: how a shard's state travels through its
// changelog to every node (README.md, "Clustering"). Debian's libsqlite3
// is built with the session extension and the pre-update hook; its
// declarations need these two macros before the header.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include "sqlite.hpp"
#include "statements.hpp"
#include "warren/core/log.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
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
// `to` (whose session records them); every row when `column` is empty.
caf::error copy_rows(sqlite3* from, const std::string& path, sqlite3* to,
                     const std::string& table, const std::string& column,
                     const std::string& actor) {
  statement select;
  auto sql = "SELECT * FROM " + quoted(table);
  if (!column.empty())
    sql += " WHERE " + rows_of_actor(column);
  if (auto err = select.prepare(from, path, sql.c_str()))
    return err;
  auto* rows = column.empty() ? select.bind() : select.bind(actor);
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

// -- the schema catalog (checkpoint_store.hpp, "Schema changes") --

constexpr const char* catalog_table = "warren_schema";

// A row of the catalog: `actor` (a shard, "<actor>.s<i>") made object
// `name`, a `type` "table" or "index", with the CREATE statement `sql`.
struct catalog_object {
  std::string actor;
  std::string name;
  std::string type;
  std::string sql;
};

// What a changeset does to the catalog: rows inserted or updated (objects
// to create before its rows are written) and rows deleted (objects to drop
// after).
struct catalog_changes {
  std::vector<catalog_object> created;
  std::vector<catalog_object> dropped;
};

struct iterator_finalizer {
  void operator()(sqlite3_changeset_iter* it) const noexcept {
    sqlite3changeset_finalize(it);
  }
};

std::optional<std::string> text_of(sqlite3_value* value) {
  if (value == nullptr || sqlite3_value_type(value) != SQLITE_TEXT)
    return std::nullopt;
  return std::string{reinterpret_cast<const char*>(sqlite3_value_text(value)),
                     static_cast<std::size_t>(sqlite3_value_bytes(value))};
}

// The catalog row `actor`/`name` as `db` holds it now.
caf::expected<std::optional<catalog_object>>
stored_catalog_row(sqlite3* db, const std::string& path,
                   const std::string& actor, const std::string& name) {
  std::optional<catalog_object> out;
  auto err = query(
    db, path,
    "SELECT type, sql FROM warren_schema WHERE actor = ?1 AND name = ?2",
    [&](sqlite3_stmt* row) -> caf::error {
      out =
        catalog_object{actor, name, column_text(row, 0), column_text(row, 1)};
      return caf::none;
    },
    actor, name);
  if (err)
    return err;
  return out;
}

// The catalog rows `changeset` inserts, updates or deletes. An update
// carries only the columns it changed (and its key in the old values): the
// others are those of the row `db` holds before the changeset.
caf::expected<catalog_changes>
catalog_changes_of(sqlite3* db, const std::string& path,
                   const std::string& changeset) {
  catalog_changes out;
  if (changeset.empty())
    return out;
  sqlite3_changeset_iter* raw = nullptr;
  if (sqlite3changeset_start(&raw, static_cast<int>(changeset.size()),
                             const_cast<char*>(changeset.data())) != SQLITE_OK)
    return make_error(errc::store_failed,
                      path + ": reading a changeset: it is malformed");
  std::unique_ptr<sqlite3_changeset_iter, iterator_finalizer> it{raw};
  int rc = 0;
  while ((rc = sqlite3changeset_next(raw)) == SQLITE_ROW) {
    const char* table = nullptr;
    int columns = 0;
    int op = 0;
    int indirect = 0;
    if (sqlite3changeset_op(raw, &table, &columns, &op, &indirect) !=
          SQLITE_OK ||
        std::strcmp(table, catalog_table) != 0)
      continue;
    if (columns != 4)
      return make_error(errc::store_failed,
                        path + ": a changeset's warren_schema has " +
                          std::to_string(columns) + " columns, not 4");
    std::optional<std::string> values[4];
    for (int c = 0; c < 4; ++c) {
      sqlite3_value* value = nullptr;
      if (op != SQLITE_DELETE)
        sqlite3changeset_new(raw, c, &value);
      if (value == nullptr && op != SQLITE_INSERT)
        sqlite3changeset_old(raw, c, &value);
      values[c] = text_of(value);
    }
    if (!values[0] || !values[1])
      return make_error(errc::store_failed,
                        path + ": a changeset's warren_schema row has no "
                               "text actor or name");
    catalog_object row{*values[0], *values[1], values[2].value_or(""),
                       values[3].value_or("")};
    if (op == SQLITE_UPDATE && (!values[2] || !values[3])) {
      auto stored = stored_catalog_row(db, path, row.actor, row.name);
      if (!stored)
        return stored.error();
      if (!*stored)
        return make_error(errc::store_failed,
                          path + ": a changeset updates catalog row " +
                            row.actor + "/" + row.name +
                            ", which this file does not have");
      if (!values[2])
        row.type = (*stored)->type;
      if (!values[3])
        row.sql = (*stored)->sql;
    }
    (op == SQLITE_DELETE ? out.dropped : out.created).push_back(std::move(row));
  }
  if (rc != SQLITE_DONE)
    return make_error(errc::store_failed,
                      path + ": reading a changeset: it is malformed");
  return out;
}

// Objects named by a stream's rows are a projection's own: this keeps SQL
// from a stream away from the inbox, the outbox and warren's and SQLite's
// tables.
bool is_catalog_name(const char* name) {
  return name != nullptr && std::strncmp(name, "p_", 2) == 0;
}

caf::error check_catalog_row(const std::string& path,
                             const catalog_object& object) {
  auto refuse = [&](const std::string& why) {
    return make_error(errc::store_failed, path + ": catalog row " +
                                            object.actor + "/" + object.name +
                                            " refused: " + why);
  };
  if (!is_catalog_name(object.name.c_str()))
    return refuse("its name does not start with 'p_'");
  if (object.type != "table" && object.type != "index")
    return refuse("its type is '" + object.type + "', not 'table' or 'index'");
  return caf::none;
}

// What a catalog row's SQL may do while it is prepared: create the object
// the row names in the main schema (with what SQLite does for that: its
// own rows in sqlite_master, a table's automatic indexes, reads of the
// columns a CHECK or an index names, functions), and nothing else.
struct create_permit {
  const catalog_object* object;
  // The table an index is on, once seen.
  std::string indexed_table;
  bool creates_object = false;
  bool denied = false;
};

int verdict_for(int action, const char* first, const char* second,
                const char* schema, create_permit& permit) {
  const auto& object = *permit.object;
  auto names = [](const char* text, const std::string& name) {
    return text != nullptr && name == text;
  };
  bool in_main = names(schema, "main");
  bool table = object.type == "table";
  switch (action) {
    case SQLITE_CREATE_TABLE:
      if (!table || !in_main || !names(first, object.name))
        return SQLITE_DENY;
      permit.creates_object = true;
      return SQLITE_OK;
    case SQLITE_CREATE_INDEX:
      if (!in_main)
        return SQLITE_DENY;
      if (table) {
        // A PRIMARY KEY or UNIQUE constraint of the table itself.
        auto own = "sqlite_autoindex_" + object.name + "_";
        return names(second, object.name) && first != nullptr &&
                   std::strncmp(first, own.c_str(), own.size()) == 0
                 ? SQLITE_OK
                 : SQLITE_DENY;
      }
      if (!names(first, object.name) || !is_catalog_name(second))
        return SQLITE_DENY;
      permit.indexed_table = second;
      permit.creates_object = true;
      return SQLITE_OK;
    case SQLITE_REINDEX: // CREATE INDEX fills the index it made
      return !table && names(first, object.name) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
      return in_main && names(first, "sqlite_master") ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_READ:
      return in_main &&
                 (names(first, "sqlite_master") ||
                  names(first, table ? object.name : permit.indexed_table))
               ? SQLITE_OK
               : SQLITE_DENY;
    case SQLITE_FUNCTION:
      return SQLITE_OK;
    default:
      return SQLITE_DENY;
  }
}

int permit_create(void* context, int action, const char* first,
                  const char* second, const char* schema, const char*) {
  auto& permit = *static_cast<create_permit*>(context);
  auto verdict = verdict_for(action, first, second, schema, permit);
  permit.denied = permit.denied || verdict != SQLITE_OK;
  return verdict;
}

struct statement_finalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};

struct authorizer_reset {
  sqlite3* db;
  ~authorizer_reset() { sqlite3_set_authorizer(db, nullptr, nullptr); }
};

// Runs the catalog row's CREATE statement, which may do nothing else.
caf::error run_create(sqlite3* db, const std::string& path,
                      const catalog_object& object) {
  auto refuse = [&](const std::string& why) {
    return make_error(errc::store_failed, path + ": catalog row " +
                                            object.actor + "/" + object.name +
                                            " refused: its SQL '" + object.sql +
                                            "' " + why);
  };
  create_permit permit{&object, {}, false, false};
  sqlite3_set_authorizer(db, permit_create, &permit);
  authorizer_reset reset{db};
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(db, object.sql.c_str(), -1, &raw, &tail) != SQLITE_OK)
    return refuse(permit.denied
                    ? "does more than create " + object.type + " " + object.name
                    : std::string{"fails: "} + sqlite3_errmsg(db));
  std::unique_ptr<sqlite3_stmt, statement_finalizer> create{raw};
  if (raw == nullptr || !permit.creates_object)
    return refuse("does not create " + object.type + " " + object.name);
  sqlite3_stmt* next = nullptr;
  auto rc = sqlite3_prepare_v2(db, tail, -1, &next, nullptr);
  sqlite3_finalize(next);
  if (rc != SQLITE_OK || next != nullptr)
    return refuse("holds more than one statement");
  if (sqlite3_step(raw) != SQLITE_DONE)
    return failure(db, path, "creating " + object.type + " " + object.name);
  return caf::none;
}

// The type and SQL of object `name` in sqlite_master.
caf::expected<std::optional<std::pair<std::string, std::string>>>
schema_object(sqlite3* db, const std::string& path, const std::string& name) {
  std::optional<std::pair<std::string, std::string>> out;
  auto err = query(
    db, path, "SELECT type, sql FROM sqlite_master WHERE name = ?1",
    [&](sqlite3_stmt* row) -> caf::error {
      out.emplace(column_text(row, 0), column_text(row, 1));
      return caf::none;
    },
    name);
  if (err)
    return err;
  return out;
}

// Drops table or index `name` (a catalog name) if the file has it.
caf::error drop_object(sqlite3* db, const std::string& path,
                       const std::string& name) {
  if (!is_catalog_name(name.c_str()))
    return make_error(errc::store_failed,
                      path + ": refusing to drop '" + name +
                        "' for the catalog: its name does not start with "
                        "'p_'");
  auto existing = schema_object(db, path, name);
  if (!existing)
    return existing.error();
  if (!*existing)
    return caf::none;
  const auto& type = (*existing)->first;
  if (type != "table" && type != "index")
    return make_error(errc::store_failed,
                      path + ": refusing to drop " + type + " " + name +
                        " for the catalog: only tables and indexes are");
  auto sql = (type == "table" ? "DROP TABLE " : "DROP INDEX ") + quoted(name);
  return exec(db, path, sql.c_str());
}

// Creates the object of a catalog row. An object of that name with other
// SQL is dropped first (its rows with it).
caf::error create_object(sqlite3* db, const std::string& path,
                         const catalog_object& object) {
  if (auto err = check_catalog_row(path, object))
    return err;
  auto existing = schema_object(db, path, object.name);
  if (!existing)
    return existing.error();
  if (!*existing)
    return run_create(db, path, object);
  if ((*existing)->first == object.type && (*existing)->second == object.sql)
    return caf::none;
  // SQLite keeps its own spelling of a CREATE (no IF NOT EXISTS, keywords
  // in capitals): the catalog's SQL is run in a savepoint to compare like
  // with like, and rolled back, restoring the object with its rows, when
  // it gives the same.
  if (auto err = exec(db, path, "SAVEPOINT warren_catalog"))
    return err;
  auto err = drop_object(db, path, object.name);
  if (!err)
    err = run_create(db, path, object);
  std::optional<std::pair<std::string, std::string>> created;
  if (!err) {
    auto now = schema_object(db, path, object.name);
    if (now)
      created = *now;
    else
      err = now.error();
  }
  bool same = !err && created == *existing;
  if (err || same)
    exec(db, path, "ROLLBACK TO warren_catalog");
  exec(db, path, "RELEASE warren_catalog");
  if (err)
    return err;
  if (!same)
    log::warning(log::scope{object.actor},
                 "{}: {} {} existed with other SQL ('{}'): dropped, and "
                 "created anew from its catalog row ('{}')",
                 path, object.type, object.name, (*existing)->second,
                 object.sql);
  return caf::none;
}

// Creates the objects of catalog rows: tables first, then the indexes on
// them (a changeset lists its rows in no statement order).
caf::error create_objects(sqlite3* db, const std::string& path,
                          std::vector<catalog_object> objects) {
  std::stable_partition(
    objects.begin(), objects.end(),
    [](const catalog_object& o) { return o.type == "table"; });
  for (const auto& object : objects)
    if (auto err = create_object(db, path, object))
      return err;
  return caf::none;
}

// The catalog rows of `actor` and of its shards (`rows_of_actor`).
caf::expected<std::vector<catalog_object>>
catalog_of(sqlite3* db, const std::string& path, const std::string& actor) {
  std::vector<catalog_object> out;
  auto err = query(
    db, path,
    "SELECT actor, name, type, sql FROM warren_schema WHERE " +
      rows_of_actor("actor") + " ORDER BY type = 'table', name",
    [&](sqlite3_stmt* row) -> caf::error {
      out.push_back({column_text(row, 0), column_text(row, 1),
                     column_text(row, 2), column_text(row, 3)});
      return caf::none;
    },
    actor);
  if (err)
    return err;
  return out;
}

// Every table some catalog row names, whichever actor's: its rows belong
// to that actor whatever its columns say.
caf::expected<std::set<std::string>> catalog_tables(sqlite3* db,
                                                    const std::string& path) {
  std::set<std::string> out;
  auto err =
    query(db, path, "SELECT name FROM warren_schema WHERE type = 'table'",
          [&](sqlite3_stmt* row) -> caf::error {
            out.insert(column_text(row, 0));
            return caf::none;
          });
  if (err)
    return err;
  return out;
}

// The tables with rows of actors (`actor_tables`) but the catalog's.
caf::expected<std::vector<actor_table>>
column_selected_tables(sqlite3* db, const std::string& path) {
  auto tables = actor_tables(db, path);
  if (!tables)
    return tables.error();
  auto listed = catalog_tables(db, path);
  if (!listed)
    return listed.error();
  tables->erase(std::remove_if(tables->begin(), tables->end(),
                               [&](const actor_table& t) {
                                 return listed->count(t.name) != 0;
                               }),
                tables->end());
  return tables;
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
  // Attached to every table, so that it records the tables the unit
  // creates too.
  if (sqlite3session_attach(raw, nullptr) != SQLITE_OK)
    return failure(db_, path_, "attaching a session");
  // IMMEDIATE: the unit's writes need the lock anyway, and a read first
  // (the schema version) would pin a snapshot that a commit of another
  // connection (this node's changelog reader) makes stale, failing the
  // first write with SQLITE_BUSY that no timeout retries.
  if (auto err = exec(db_, path_, "BEGIN IMMEDIATE"))
    return err;
  auto schema_before = pragma(db_, path_, "PRAGMA schema_version");
  caf::error err =
    schema_before ? write_unit(work, false) : std::move(schema_before.error());
  std::string changes;
  if (!err) {
    int size = 0;
    void* data = nullptr;
    auto rc = sqlite3session_changeset(raw, &size, &data);
    if (rc == SQLITE_SCHEMA)
      err = make_error(errc::store_failed,
                       path_ + ": reading a session's changeset: a unit "
                               "dropped or altered a table it wrote rows to");
    else if (rc != SQLITE_OK)
      err = failure(db_, path_, "reading a session's changeset");
    else
      changes.assign(static_cast<const char*>(data),
                     static_cast<std::size_t>(size));
    sqlite3_free(data);
  }
  if (!err) {
    auto schema_after = pragma(db_, path_, "PRAGMA schema_version");
    if (!schema_after) {
      err = std::move(schema_after.error());
    } else if (*schema_after != *schema_before) {
      // A changeset carries rows, never DDL: a table only a unit created
      // reaches the other nodes through its catalog row.
      auto catalog = catalog_changes_of(db_, path_, changes);
      if (!catalog)
        err = std::move(catalog.error());
      else if (catalog->created.empty() && catalog->dropped.empty())
        err = make_error(errc::store_failed,
                         path_ + ": a unit changed the schema without "
                                 "recording it in warren_schema: its "
                                 "standbys would lose rows");
    }
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
    // The objects its catalog rows create exist before its rows are
    // written, and the ones they drop after.
    auto catalog = catalog_changes_of(db_, path_, changeset);
    if (!catalog) {
      err = std::move(catalog.error());
      break;
    }
    if ((err = create_objects(db_, path_, std::move(catalog->created))))
      break;
    // Our own transaction holds it all: no savepoint of its own.
    auto rc = sqlite3changeset_apply_v2(
      db_, static_cast<int>(changeset.size()),
      const_cast<char*>(changeset.data()), replicated_table, resolve_conflict,
      &counts, nullptr, nullptr, SQLITE_CHANGESETAPPLY_NOSAVEPOINT);
    if (rc != SQLITE_OK) {
      err = failure(db_, path_, "applying a changeset");
      break;
    }
    for (const auto& object : catalog->dropped)
      if ((err = drop_object(db_, path_, object.name)))
        break;
    if (err)
      break;
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

caf::error checkpoint_store::begin_read() {
  if (auto err = exec(db_, path_, "BEGIN"))
    return err;
  // A deferred transaction takes its view of the file at its first read.
  if (auto err = exec(db_, path_, "SELECT count(*) FROM sqlite_master")) {
    exec(db_, path_, "ROLLBACK");
    return err;
  }
  return caf::none;
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
  // One read transaction: the rows as of one commit of this file (the
  // one `begin_read` began, when it did).
  if (sqlite3_get_autocommit(db_) != 0)
    if (auto err = exec(db_, path_, "BEGIN"))
      return err;
  auto finish = [this](caf::error err) {
    exec(db_, path_, err ? "ROLLBACK" : "COMMIT");
    return err;
  };
  auto tables = column_selected_tables(db_, path_);
  if (!tables)
    return finish(tables.error());
  // The actor's catalog tables, whole: every row is the actor's. Their
  // indexes are left out: whoever loads the snapshot creates them from the
  // catalog rows it carries.
  auto catalog = catalog_of(db_, path_, actor);
  if (!catalog)
    return finish(catalog.error());
  catalog->erase(
    std::remove_if(catalog->begin(), catalog->end(),
                   [](const catalog_object& o) { return o.type != "table"; }),
    catalog->end());
  for (const auto& table : *tables)
    if (auto err = exec(raw_copy, ":memory:", table.create.c_str()))
      return finish(std::move(err));
  for (const auto& object : *catalog)
    if (auto err = create_object(raw_copy, ":memory:", object))
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
  for (const auto& object : *catalog)
    if (auto err = copy_rows(db_, path_, raw_copy, object.name, {}, actor))
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
  if (auto err = step(stmts_->begin.bind(), "BEGIN"))
    return err;
  auto err = [&]() -> caf::error {
    // The actor's objects go (indexes first: a table's go with it), then
    // its rows, its catalog rows among them.
    auto stale = catalog_of(db_, path_, actor);
    if (!stale)
      return stale.error();
    for (const auto& object : *stale)
      if (auto err = drop_object(db_, path_, object.name))
        return err;
    auto tables = column_selected_tables(db_, path_);
    if (!tables)
      return tables.error();
    for (const auto& table : *tables) {
      statement erase;
      auto sql = "DELETE FROM " + quoted(table.name) + " WHERE " +
                 rows_of_actor(table.column);
      if (auto err = erase.prepare(db_, path_, sql.c_str()))
        return err;
      if (auto err = step(erase.bind(actor), sql.c_str()))
        return err;
    }
    if (snapshot.empty())
      return caf::none;
    auto catalog = catalog_changes_of(db_, path_, snapshot);
    if (!catalog)
      return catalog.error();
    if (auto err = create_objects(db_, path_, std::move(catalog->created)))
      return err;
    conflict_counts counts;
    if (sqlite3changeset_apply_v2(
          db_, static_cast<int>(snapshot.size()),
          const_cast<char*>(snapshot.data()), snapshot_table, resolve_conflict,
          &counts, nullptr, nullptr,
          SQLITE_CHANGESETAPPLY_NOSAVEPOINT) != SQLITE_OK)
      return failure(db_, path_, "loading a snapshot");
    return caf::none;
  }();
  if (!err)
    err = step(stmts_->commit.bind(), "COMMIT");
  if (err) {
    step(stmts_->rollback.bind(), "ROLLBACK");
    return err;
  }
  return caf::none;
}

} // namespace warren::runtime
