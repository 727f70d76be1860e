#include "store/sqlite.hpp"
#include "store/statements.hpp"
#include "warren/core/kill_point.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

// Reading and writing: states, the inbox, the outbox, one unit of work per
// transaction, and the counts the inspection tools show.

namespace warren::runtime {

using namespace detail;

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

caf::expected<std::vector<std::pair<std::string, std::string>>>
checkpoint_store::load_rows(const std::string& actor,
                            const std::string& prefix) {
  // Every name that starts with the prefix sorts below prefix + "\xff"
  // (names are text; no UTF-8 byte is 0xff).
  // Bound without a copy (SQLITE_STATIC): it must outlive the statement.
  auto below = prefix + "\xff";
  auto* stmt = stmts_->load_rows.bind(actor, prefix, below);
  std::vector<std::pair<std::string, std::string>> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, 1));
    auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, 1));
    rows.emplace_back(column_text(stmt, 0), data == nullptr
                                              ? std::string{}
                                              : std::string{data, size});
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    return failure(db_, path_, "reading the rows of " + actor);
  return rows;
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

caf::expected<std::vector<std::string>>
checkpoint_store::applied_in_batch(const std::string& actor,
                                   const std::string& batch_id) {
  // Every id that starts with `<batch_id>#` sorts below `<batch_id>$` ('$'
  // follows '#'), whatever bytes come after. Bound without a copy
  // (SQLITE_STATIC): both must outlive the statement.
  auto from = batch_id + "#";
  auto below = batch_id + "$";
  auto* stmt = stmts_->seen_in_range.bind(actor, from, below);
  std::vector<std::string> ids;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    ids.push_back(column_text(stmt, 0));
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    return failure(db_, path_, "reading the inbox of " + actor);
  return ids;
}

caf::error checkpoint_store::step(sqlite3_stmt* stmt, const char* what) {
  auto rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW)
    return caf::none;
  return failure(db_, path_, what);
}

caf::error checkpoint_store::write_unit(unit_of_work& work, bool with_outbox) {
  const auto& actor = work.actor();
  for (const auto& s : work.states())
    if (auto err =
          step(stmts_->upsert_state.bind(actor, s.key, s.version, s.state),
               "writing state"))
      return err;
  for (const auto& row : work.rows()) {
    auto* stmt = row.erase
                   ? stmts_->erase_row.bind(actor, row.name)
                   : stmts_->put_row.bind(actor, row.name, blob{row.data});
    if (auto err = step(stmt, "writing an operator row"))
      return err;
  }
  if (auto err = run_groups(work))
    return err;
  auto now = now_ms();
  for (const auto& id : work.inbox())
    if (auto err =
          step(stmts_->insert_inbox.bind(actor, id, now), "writing the inbox"))
      return err;
  for (auto& row : work.outbox()) {
    if (!with_outbox)
      break;
    if (auto err =
          step(stmts_->insert_outbox.bind(actor, encode_outgoing(row.message)),
               "writing the outbox"))
      return err;
    row.id = sqlite3_last_insert_rowid(db_);
    row.actor = actor;
  }
  if (with_outbox && !work.outbox().empty())
    warren::kill_point("after_outbox_write");
  for (const auto& [id, key] : work.anonymous())
    if (auto err = step(stmts_->insert_anonymous.bind(actor, id, key, now),
                        "remembering an id-less message"))
      return err;
  for (const auto& id : work.forgotten_anonymous())
    if (auto err = step(stmts_->delete_anonymous.bind(actor, id),
                        "forgetting an id-less message"))
      return err;
  for (auto id : work.relayed_rows())
    if (auto err =
          step(stmts_->delete_outbox.bind(id), "deleting from the outbox"))
      return err;
  return caf::none;
}

caf::error checkpoint_store::commit(unit_of_work& work) {
  if (auto err = step(stmts_->begin.bind(), "BEGIN"))
    return err;
  auto err = write_unit(work, true);
  if (!err)
    err = step(stmts_->commit.bind(), "COMMIT");
  if (err) {
    // A failed COMMIT may have rolled back already; ROLLBACK then fails
    // harmlessly.
    step(stmts_->rollback.bind(), "ROLLBACK");
    for (auto& row : work.outbox())
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
    auto text = column_text(stmt, 2);
    auto msg = decode_outgoing(text);
    if (msg) {
      row.message = std::move(*msg);
    } else {
      // Never a reason to stop the actor from starting: the row is handed
      // on as damaged (and dead-lettered by the relay).
      row.damaged = path_ + ": outbox row " + std::to_string(row.id) +
                    " cannot be decoded: " + describe(msg.error());
      row.message.body = std::move(text);
    }
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

caf::expected<std::vector<std::pair<std::string, std::string>>>
checkpoint_store::unacked_anonymous(const std::string& actor) {
  std::vector<std::pair<std::string, std::string>> result;
  if (auto err = query(
        db_, path_,
        "SELECT message_id, content_key FROM anonymous_unacked "
        "WHERE actor = ?1 ORDER BY applied_ms",
        [&](sqlite3_stmt* stmt) {
          result.emplace_back(column_text(stmt, 0), column_text(stmt, 1));
          return caf::error{};
        },
        actor))
    return err;
  return result;
}

caf::error checkpoint_store::delete_outbox(const std::vector<int64_t>& ids) {
  unit_of_work work;
  work.relayed(ids);
  return commit(work);
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

} // namespace warren::runtime
