#pragma once

// Private to warren::runtime: small helpers over SQLite's C API for the
// checkpoint store. Every failure is an `errc::store_failed` naming the file.

#include "warren/core/errc.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <cstdint>
#include <sqlite3.h>
#include <string>

namespace warren::runtime::detail {

// One prepared statement, finalized with its owner.
/// Bytes bound as a BLOB (a string binds as TEXT).
struct blob {
  const std::string& bytes;
};

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

  sqlite3_stmt* raw() const noexcept { return stmt_; }

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
  void bind_one(int index, const blob& data) {
    sqlite3_bind_blob(stmt_, index, data.bytes.data(),
                      static_cast<int>(data.bytes.size()), SQLITE_STATIC);
  }

  sqlite3_stmt* stmt_ = nullptr;
};

inline std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* text =
    reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  return text == nullptr
           ? std::string{}
           : std::string{text, static_cast<std::size_t>(
                                 sqlite3_column_bytes(stmt, column))};
}

inline caf::error failure(sqlite3* db, const std::string& path,
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
inline caf::error exec(sqlite3* db, const std::string& path, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK)
    return caf::none;
  std::string text = message != nullptr ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return make_error(errc::store_failed, path + ": " + sql + ": " + text);
}

// The single text or integer a pragma returns.
inline caf::expected<std::string> pragma(sqlite3* db, const std::string& path,
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

} // namespace warren::runtime::detail
