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

} // namespace warren::runtime
