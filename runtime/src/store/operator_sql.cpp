// The checkpoint store's side of stream operators' SQL (sql.hpp): groups
// run in a unit of work's transaction (tolerant ones under a savepoint),
// read-only queries, set-up statements, and result rows.

#include "store/statements.hpp"

namespace warren {

int sql_row::columns() const noexcept {
  return sqlite3_column_count(static_cast<sqlite3_stmt*>(stmt_));
}

bool sql_row::is_null(int column) const noexcept {
  return sqlite3_column_type(static_cast<sqlite3_stmt*>(stmt_), column) ==
         SQLITE_NULL;
}

int64_t sql_row::integer(int column) const noexcept {
  return sqlite3_column_int64(static_cast<sqlite3_stmt*>(stmt_), column);
}

double sql_row::real(int column) const noexcept {
  return sqlite3_column_double(static_cast<sqlite3_stmt*>(stmt_), column);
}

std::string_view sql_row::text(int column) const noexcept {
  auto* stmt = static_cast<sqlite3_stmt*>(stmt_);
  const auto* bytes = sqlite3_column_blob(stmt, column);
  if (bytes == nullptr)
    return {};
  return {static_cast<const char*>(bytes),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

std::string_view sql_row::name(int column) const noexcept {
  const char* text =
    sqlite3_column_name(static_cast<sqlite3_stmt*>(stmt_), column);
  return text != nullptr ? std::string_view{text} : std::string_view{};
}

sql_row::value_type sql_row::type(int column) const noexcept {
  switch (sqlite3_column_type(static_cast<sqlite3_stmt*>(stmt_), column)) {
    case SQLITE_INTEGER:
      return value_type::integer;
    case SQLITE_FLOAT:
      return value_type::real;
    case SQLITE_TEXT:
      return value_type::text;
    case SQLITE_BLOB:
      return value_type::blob;
    default:
      return value_type::null;
  }
}

} // namespace warren

namespace warren::runtime {

using detail::failure;

namespace {

// Statements cached by text at most; past it the cache starts over (at the
// start of a commit, when none of them is in use).
constexpr std::size_t max_cached_statements = 256;

// Binds without copies: the values outlive the statement's use.
void bind_values(sqlite3_stmt* stmt, const std::vector<sql_value>& params) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  int index = 0;
  for (const auto& value : params) {
    ++index;
    if (const auto* i = std::get_if<int64_t>(&value))
      sqlite3_bind_int64(stmt, index, *i);
    else if (const auto* d = std::get_if<double>(&value))
      sqlite3_bind_double(stmt, index, *d);
    else if (const auto* text = std::get_if<std::string>(&value))
      sqlite3_bind_text(stmt, index, text->data(),
                        static_cast<int>(text->size()), SQLITE_STATIC);
    else if (const auto* blob = std::get_if<sql_blob>(&value))
      sqlite3_bind_blob(stmt, index, blob->bytes.data(),
                        static_cast<int>(blob->bytes.size()), SQLITE_STATIC);
    else
      sqlite3_bind_null(stmt, index);
  }
}

// What a tolerant group is allowed to fail on: the data or the SQL, not
// the file.
bool is_data_error(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
      return true;
    default:
      return false;
  }
}

} // namespace

// The statement for `sql`, prepared on first use. Null (with `rc` set)
// when it does not prepare.
sqlite3_stmt* checkpoint_store::prepared(const std::string& sql, int& rc) {
  auto& cache = stmts_->by_text;
  if (auto i = cache.find(sql); i != cache.end())
    return i->second->raw();
  auto stmt = std::make_unique<detail::statement>();
  if (stmt->prepare(db_, path_, sql.c_str())) {
    rc = sqlite3_errcode(db_);
    return nullptr;
  }
  return cache.emplace(sql, std::move(stmt)).first->second->raw();
}

caf::error checkpoint_store::run_groups(unit_of_work& work) {
  if (stmts_->by_text.size() > max_cached_statements)
    stmts_->by_text.clear();
  work.skipped().clear();
  static const std::string savepoint = "SAVEPOINT warren_group";
  static const std::string release = "RELEASE warren_group";
  static const std::string roll_back = "ROLLBACK TO warren_group";
  auto plain = [this](const std::string& sql) -> caf::error {
    int rc = SQLITE_OK;
    auto* stmt = prepared(sql, rc);
    if (stmt == nullptr)
      return failure(db_, path_, sql);
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? caf::none : failure(db_, path_, sql);
  };
  for (const auto& group : work.groups()) {
    if (group.tolerant)
      if (auto err = plain(savepoint))
        return err;
    for (const auto& statement : group.statements) {
      int rc = SQLITE_OK;
      auto* stmt = prepared(statement.sql, rc);
      if (stmt != nullptr) {
        bind_values(stmt, statement.params);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
          // A statement that returns rows (RETURNING) runs to its end.
        }
        sqlite3_reset(stmt);
        if (rc == SQLITE_DONE)
          continue;
      }
      std::string why = sqlite3_errmsg(db_);
      if (!group.tolerant || !is_data_error(rc))
        return make_error(errc::store_failed,
                          path_ + ": " + statement.sql + ": " + why);
      if (auto err = plain(roll_back))
        return err;
      work.skipped().push_back({group.label, statement.sql + ": " + why});
      break;
    }
    if (group.tolerant)
      if (auto err = plain(release))
        return err;
  }
  return caf::none;
}

caf::error checkpoint_store::read_sql(const std::string& sql,
                                      const std::vector<sql_value>& params,
                                      const sql_row_handler& on_row) {
  int rc = SQLITE_OK;
  auto* stmt = prepared(sql, rc);
  if (stmt == nullptr)
    return failure(db_, path_, "preparing '" + sql + "'");
  if (sqlite3_stmt_readonly(stmt) == 0)
    return make_error(errc::store_failed,
                      path_ + ": '" + sql +
                        "' would write: a query only reads");
  bind_values(stmt, params);
  caf::error stopped;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    if ((stopped = on_row(sql_row{stmt})))
      break;
  // Reset at once: an open read would hold back WAL checkpoints.
  sqlite3_reset(stmt);
  if (stopped)
    return stopped;
  return rc == SQLITE_DONE ? caf::none : failure(db_, path_, sql);
}

caf::error checkpoint_store::setup(const std::string& sql,
                                   const std::vector<sql_value>& params) {
  unit_of_work work;
  work.execute(sql_group::of(sql, params));
  return commit(work);
}

} // namespace warren::runtime
