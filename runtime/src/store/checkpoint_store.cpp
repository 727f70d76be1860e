#include "warren/runtime/store/checkpoint_store.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/kill_point.hpp"

#include <filesystem>
#include <sqlite3.h>

namespace warren::runtime {

namespace {

// One prepared statement, finalized with its owner.
class statement {
 public:
  statement() = default;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  caf::error prepare(sqlite3* db, const std::string& path, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_,
                           nullptr) != SQLITE_OK)
      return make_error(errc::store_failed, path + ": preparing '" + sql +
                                              "': " + sqlite3_errmsg(db));
    return caf::none;
  }

  // Resets and binds: text for strings, integers for integers.
  template<class... Ts>
  sqlite3_stmt* bind(const Ts&... args) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    int index = 0;
    (bind_one(++index, args), ...);
    return stmt_;
  }

 private:
  void bind_one(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                      SQLITE_STATIC);
  }
  void bind_one(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
  }

  sqlite3_stmt* stmt_ = nullptr;
};

std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* text =
    reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  return text == nullptr
           ? std::string{}
           : std::string{text, static_cast<std::size_t>(
                                 sqlite3_column_bytes(stmt, column))};
}

caf::error failure(sqlite3* db, const std::string& path,
                   const std::string& what) {
  return make_error(errc::store_failed,
                    path + ": " + what + ": " + sqlite3_errmsg(db));
}

// Runs one statement with text and integer parameters and calls `on_row`
// (returning an error to stop) for each result row.
template<class OnRow, class... Ts>
caf::error query(sqlite3* db, const std::string& path, const std::string& sql,
                 OnRow&& on_row, const Ts&... args) {
  statement stmt;
  if (auto err = stmt.prepare(db, path, sql.c_str()))
    return err;
  auto* raw = stmt.bind(args...);
  int rc = 0;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW)
    if (auto err = on_row(raw))
      return err;
  if (rc != SQLITE_DONE)
    return failure(db, path, sql);
  return caf::none;
}

// Runs SQL without results.
caf::error exec(sqlite3* db, const std::string& path, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK)
    return caf::none;
  std::string text = message != nullptr ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return make_error(errc::store_failed, path + ": " + sql + ": " + text);
}

// The single text or integer a pragma returns.
caf::expected<std::string> pragma(sqlite3* db, const std::string& path,
                                  const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
    return failure(db, path, sql);
  std::string result;
  auto rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    result = column_text(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return failure(db, path, sql);
  return result;
}

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

const char* const migrations[] = {schema_v1};
static_assert(std::size(migrations) == store_schema_version);

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

} // namespace

struct checkpoint_store::statements {
  statement load;
  statement seen;
  statement upsert_state;
  statement insert_inbox;
  statement insert_outbox;
  statement delete_outbox;
  statement begin;
  statement commit;
  statement rollback;

  caf::error prepare(sqlite3* db, const std::string& path) {
    std::pair<statement*, const char*> all[] = {
      {&load, "SELECT version, state FROM actor_state WHERE actor = ?1 AND "
              "key = ?2"},
      {&seen, "SELECT 1 FROM inbox WHERE actor = ?1 AND message_id = ?2"},
      {&upsert_state,
       "INSERT INTO actor_state (actor, key, version, state) VALUES (?1, ?2, "
       "?3, ?4) ON CONFLICT (actor, key) DO UPDATE SET version = "
       "excluded.version, state = excluded.state"},
      {&insert_inbox, "INSERT OR IGNORE INTO inbox (actor, message_id, "
                      "received_ms) VALUES (?1, ?2, ?3)"},
      {&insert_outbox, "INSERT INTO outbox (actor, message) VALUES (?1, ?2)"},
      {&delete_outbox, "DELETE FROM outbox WHERE id = ?1"},
      {&begin, "BEGIN IMMEDIATE"},
      {&commit, "COMMIT"},
      {&rollback, "ROLLBACK"},
    };
    for (auto& [stmt, sql] : all)
      if (auto err = stmt->prepare(db, path, sql))
        return err;
    return caf::none;
  }
};

caf::expected<std::unique_ptr<checkpoint_store>>
checkpoint_store::open(const store_settings& settings) {
  const auto& path = settings.path;
  if (!settings.read_only) {
    auto dir = std::filesystem::path{path}.parent_path();
    std::error_code ec;
    if (!dir.empty())
      std::filesystem::create_directories(dir, ec);
    if (ec)
      return make_error(errc::store_failed, path + ": cannot create " +
                                              dir.string() + ": " +
                                              ec.message());
  }
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
  // The first read of the file: a file that is not a database fails here.
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
  if (settings.read_only) {
    if (from == 0)
      return make_error(errc::store_failed,
                        path + ": not a warren database (no schema)");
  } else {
    auto mode = pragma(db, path, "PRAGMA journal_mode = WAL");
    if (!mode)
      return mode.error();
    if (*mode != "wal")
      return make_error(errc::store_failed,
                        path + ": cannot switch to WAL mode (got '" + *mode +
                          "')");
    auto sync = settings.synchronous == sync_mode::full
                  ? "PRAGMA synchronous = FULL"
                  : "PRAGMA synchronous = NORMAL";
    if (auto err = exec(db, path, sync))
      return err;
    if (auto err = migrate(db, path, from))
      return make_error(errc::store_failed, path + ": " + describe(err));
  }
  // A damaged page is found now rather than in the middle of the work.
  auto check = pragma(db, path, "PRAGMA quick_check");
  if (!check)
    return check.error();
  if (*check != "ok")
    return make_error(
      errc::store_failed,
      path + ": the database is damaged (quick_check: " + *check + ")");
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

caf::expected<std::optional<stored_state>>
checkpoint_store::load(const std::string& actor, const std::string& key) {
  auto* stmt = stmts_->load.bind(actor, key);
  auto rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE)
    return std::optional<stored_state>{};
  if (rc != SQLITE_ROW)
    return failure(db_, path_, "loading the state of " + actor + "/" + key);
  stored_state result;
  result.key = key;
  result.version = sqlite3_column_int64(stmt, 0);
  result.state = column_text(stmt, 1);
  sqlite3_reset(stmt);
  return std::optional<stored_state>{std::move(result)};
}

caf::expected<bool> checkpoint_store::seen(const std::string& actor,
                                           const std::string& message_id) {
  auto* stmt = stmts_->seen.bind(actor, message_id);
  auto rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  return failure(db_, path_, "reading the inbox of " + actor);
}

caf::error checkpoint_store::commit(commit_batch& batch) {
  auto step = [this](sqlite3_stmt* stmt, const char* what) -> caf::error {
    auto rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
      return caf::none;
    return failure(db_, path_, what);
  };
  if (auto err = step(stmts_->begin.bind(), "BEGIN"))
    return err;
  auto work = [&]() -> caf::error {
    for (const auto& s : batch.states)
      if (auto err = step(
            stmts_->upsert_state.bind(batch.actor, s.key, s.version, s.state),
            "writing state"))
        return err;
    auto now = now_ms();
    for (const auto& id : batch.inbox)
      if (auto err = step(stmts_->insert_inbox.bind(batch.actor, id, now),
                          "writing the inbox"))
        return err;
    for (auto& row : batch.outbox) {
      if (auto err = step(stmts_->insert_outbox.bind(
                            batch.actor, encode_outgoing(row.message)),
                          "writing the outbox"))
        return err;
      row.id = sqlite3_last_insert_rowid(db_);
      row.actor = batch.actor;
    }
    if (!batch.outbox.empty())
      warren::kill_point("after_outbox_write");
    for (auto id : batch.published)
      if (auto err =
            step(stmts_->delete_outbox.bind(id), "deleting from the outbox"))
        return err;
    return step(stmts_->commit.bind(), "COMMIT");
  };
  if (auto err = work()) {
    // A failed COMMIT may have rolled back already; ROLLBACK then fails
    // harmlessly.
    step(stmts_->rollback.bind(), "ROLLBACK");
    for (auto& row : batch.outbox)
      row.id = 0;
    return err;
  }
  return caf::none;
}

caf::expected<std::vector<outbox_row>>
checkpoint_store::pending_outbox(const std::string& actor, std::size_t limit) {
  // SQLite reads a negative LIMIT as none.
  auto bound = limit > static_cast<std::size_t>(INT64_MAX)
                 ? int64_t{-1}
                 : static_cast<int64_t>(limit);
  std::vector<outbox_row> rows;
  auto read_row = [&](sqlite3_stmt* stmt) -> caf::error {
    outbox_row row;
    row.id = sqlite3_column_int64(stmt, 0);
    row.actor = column_text(stmt, 1);
    auto msg = decode_outgoing(column_text(stmt, 2));
    if (!msg)
      return make_error(errc::store_failed, path_ + ": outbox row " +
                                              std::to_string(row.id) + ": " +
                                              describe(msg.error()));
    row.message = std::move(*msg);
    rows.push_back(std::move(row));
    return caf::none;
  };
  auto err =
    actor.empty()
      ? query(db_, path_,
              "SELECT id, actor, message FROM outbox ORDER BY id LIMIT ?1",
              read_row, bound)
      : query(db_, path_,
              "SELECT id, actor, message FROM outbox WHERE actor = ?2 ORDER "
              "BY id LIMIT ?1",
              read_row, bound, actor);
  if (err)
    return err;
  return rows;
}

caf::error checkpoint_store::delete_outbox(const std::vector<int64_t>& ids) {
  commit_batch batch;
  batch.published = ids;
  return commit(batch);
}

caf::expected<std::size_t>
checkpoint_store::prune_inbox(const std::string& actor, int64_t before_ms) {
  if (auto err = query(
        db_, path_, "DELETE FROM inbox WHERE actor = ?1 AND received_ms < ?2",
        [](sqlite3_stmt*) { return caf::error{}; }, actor, before_ms))
    return err;
  return static_cast<std::size_t>(sqlite3_changes(db_));
}

caf::expected<std::vector<std::pair<std::string, int64_t>>>
checkpoint_store::actors() {
  std::vector<std::pair<std::string, int64_t>> result;
  if (auto err = query(db_, path_,
                       "SELECT actor, count(*) FROM actor_state GROUP BY "
                       "actor ORDER BY actor",
                       [&](sqlite3_stmt* stmt) {
                         result.emplace_back(column_text(stmt, 0),
                                             sqlite3_column_int64(stmt, 1));
                         return caf::error{};
                       }))
    return err;
  return result;
}

caf::expected<std::vector<stored_state>>
checkpoint_store::keys(const std::string& actor, std::size_t limit) {
  std::vector<stored_state> result;
  if (auto err = query(
        db_, path_,
        "SELECT key, version FROM actor_state WHERE actor = ?1 "
        "ORDER BY key LIMIT ?2",
        [&](sqlite3_stmt* stmt) {
          stored_state s;
          s.key = column_text(stmt, 0);
          s.version = sqlite3_column_int64(stmt, 1);
          result.push_back(std::move(s));
          return caf::error{};
        },
        actor, static_cast<int64_t>(limit)))
    return err;
  return result;
}

namespace {

caf::expected<int64_t> count_rows(sqlite3* db, const std::string& path,
                                  const std::string& table,
                                  const std::string& actor) {
  int64_t n = 0;
  auto count = [&](sqlite3_stmt* stmt) {
    n = sqlite3_column_int64(stmt, 0);
    return caf::error{};
  };
  auto sql = "SELECT count(*) FROM " + table;
  auto err = actor.empty()
               ? query(db, path, sql, count)
               : query(db, path, sql + " WHERE actor = ?1", count, actor);
  if (err)
    return err;
  return n;
}

} // namespace

caf::expected<int64_t> checkpoint_store::inbox_size(const std::string& actor) {
  return count_rows(db_, path_, "inbox", actor);
}

caf::expected<int64_t> checkpoint_store::outbox_size(const std::string& actor) {
  return count_rows(db_, path_, "outbox", actor);
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
