#include "warren/runtime/store/checkpoint_store.hpp"

#include "store/sqlite.hpp"
#include "store/statements.hpp"
#include "warren/core/errc.hpp"

#include <filesystem>

// Opening: create or migrate the schema, WAL mode, synchronous, and a
// quick_check, so that a file warren must not use is refused at start-up
// with a clear error, never silently reset.

namespace warren::runtime {

using namespace detail;

namespace {

// Schema version 1. Every later version adds a migration step from the one
// before it; `open` runs the steps the file lacks, each in a transaction.
constexpr const char* schema_v1 = R"(
CREATE TABLE actor_state (
  actor TEXT NOT NULL,
  key TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (actor, key)
) WITHOUT ROWID;
CREATE TABLE inbox (
  actor TEXT NOT NULL,
  message_id TEXT NOT NULL,
  received_ms INTEGER NOT NULL,
  PRIMARY KEY (actor, message_id)
) WITHOUT ROWID;
CREATE INDEX inbox_by_time ON inbox (actor, received_ms);
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  actor TEXT NOT NULL,
  message TEXT NOT NULL
);
)";

// Version 2: id-less messages applied and not yet acked, so a redelivery of
// one is recognised after a restart (README.md, "Message identity").
constexpr const char* schema_v2 = R"(
CREATE TABLE anonymous_unacked (
  actor TEXT NOT NULL,
  message_id TEXT NOT NULL,
  content_key TEXT NOT NULL,
  applied_ms INTEGER NOT NULL,
  PRIMARY KEY (actor, message_id)
) WITHOUT ROWID;
)";

// Version 3: the rows of stream operators (windows; later sagas, projections):
// named blobs per actor that the kind writes itself, in the unit of work
// with the inbox and the outbox (warren/runtime/stream_operator.hpp).
constexpr const char* schema_v3 = R"(
CREATE TABLE operator_rows (
  actor TEXT NOT NULL,
  name TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (actor, name)
);
)";

const char* const migrations[] = {schema_v1, schema_v2, schema_v3};
static_assert(std::size(migrations) == store_schema_version);

// The catalog of tables and indexes that units create at run time (a
// sharded projection's generations): replicated as rows, turned into DDL
// by whoever applies them (changeset.cpp). Outside the versioned schema so
// that a file it is added to stays readable by an older build.
constexpr const char* catalog_schema = R"(
CREATE TABLE IF NOT EXISTS warren_schema (
  actor TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  sql TEXT NOT NULL,
  PRIMARY KEY (actor, name)
) WITHOUT ROWID;
)";

caf::error migrate(sqlite3* db, const std::string& path, int from) {
  for (int v = from; v < store_schema_version; ++v) {
    if (auto err = exec(db, path, "BEGIN IMMEDIATE"))
      return err;
    auto err = exec(db, path, migrations[v]);
    if (!err)
      err = exec(db, path,
                 ("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
    if (!err)
      err = exec(db, path, "COMMIT");
    if (err) {
      exec(db, path, "ROLLBACK");
      return make_error(errc::store_failed, "migrating to schema version " +
                                              std::to_string(v + 1) + ": " +
                                              describe(err));
    }
  }
  return caf::none;
}

// The directory of a writable store, created when missing.
caf::error make_directory(const std::string& path) {
  auto dir = std::filesystem::path{path}.parent_path();
  std::error_code ec;
  if (!dir.empty())
    std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(errc::store_failed, path + ": cannot create " +
                                            dir.string() + ": " + ec.message());
  return caf::none;
}

// The schema version of the file; a file that is not a database (or one
// newer than this build) is refused here, at the first read.
caf::expected<int> schema_version(sqlite3* db, const std::string& path) {
  auto version = pragma(db, path, "PRAGMA user_version");
  if (!version)
    return make_error(errc::store_failed,
                      describe(version.error()) +
                        " (not a warren database, or damaged)");
  auto from = std::stoi(*version);
  if (from > store_schema_version)
    return make_error(
      errc::store_failed,
      path + ": schema version " + *version + " is newer than this build's (" +
        std::to_string(store_schema_version) + "); use a newer warren");
  return from;
}

// WAL mode, the configured synchronous, the schema migrated from `from`, and
// the schema catalog.
caf::error prepare_for_writing(sqlite3* db, const std::string& path,
                               sync_mode synchronous, int from) {
  auto mode = pragma(db, path, "PRAGMA journal_mode = WAL");
  if (!mode)
    return mode.error();
  if (*mode != "wal")
    return make_error(errc::store_failed, path +
                                            ": cannot switch to WAL mode "
                                            "(got '" +
                                            *mode + "')");
  auto sync = synchronous == sync_mode::full ? "PRAGMA synchronous = FULL"
                                             : "PRAGMA synchronous = NORMAL";
  if (auto err = exec(db, path, sync))
    return err;
  if (auto err = migrate(db, path, from))
    return make_error(errc::store_failed, path + ": " + describe(err));
  return exec(db, path, catalog_schema);
}

// A damaged page is found now rather than in the middle of the work.
caf::error check_pages(sqlite3* db, const std::string& path) {
  auto check = pragma(db, path, "PRAGMA quick_check");
  if (!check)
    return check.error();
  if (*check != "ok")
    return make_error(
      errc::store_failed,
      path + ": the database is damaged (quick_check: " + *check + ")");
  return caf::none;
}

} // namespace

caf::expected<std::unique_ptr<checkpoint_store>>
checkpoint_store::open(const store_settings& settings) {
  const auto& path = settings.path;
  if (!settings.read_only)
    if (auto err = make_directory(path))
      return err;
  sqlite3* db = nullptr;
  int flags = settings.read_only ? SQLITE_OPEN_READONLY
                                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    auto err =
      make_error(errc::store_failed,
                 path + ": cannot open: " +
                   (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return err;
  }
  std::unique_ptr<checkpoint_store> store{new checkpoint_store(db, path)};
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(settings.busy_timeout.count()));
  auto from = schema_version(db, path);
  if (!from)
    return from.error();
  if (settings.read_only && *from == 0)
    return make_error(errc::store_failed,
                      path + ": not a warren database (no schema)");
  if (!settings.read_only)
    if (auto err = prepare_for_writing(db, path, settings.synchronous, *from))
      return err;
  if (auto err = check_pages(db, path))
    return err;
  if (auto err = store->stmts_->prepare(db, path))
    return err;
  return store;
}

checkpoint_store::checkpoint_store(sqlite3* db, std::string path)
  : db_(db), path_(std::move(path)), stmts_(std::make_unique<statements>()) {
  // Nothing else to do.
}

checkpoint_store::~checkpoint_store() {
  stmts_.reset(); // Statements go before the connection.
  sqlite3_close(db_);
}

caf::error checkpoint_store::integrity_check() {
  auto result = pragma(db_, path_, "PRAGMA integrity_check");
  if (!result)
    return result.error();
  if (*result != "ok")
    return make_error(errc::store_failed,
                      path_ + ": integrity_check: " + *result);
  return caf::none;
}

} // namespace warren::runtime
