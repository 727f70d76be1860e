#pragma once

/// SQL that a stream operator runs in the node's SQLite file: statements
/// that commit in the unit of work with the inbox and the outbox (an event
/// store's events, a projection's read model), and read-only queries.
///
/// Kinds own their tables: they create them when the operator opens
/// (`operator_store::setup`, `CREATE TABLE IF NOT EXISTS`), name them after
/// themselves, and keep all their SQL in one file. Parameters are
/// positional (`?1`, `?2`, ...).

#include <caf/error.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace warren {

/// Bytes bound as a BLOB (a std::string binds as TEXT).
struct sql_blob {
  std::string bytes;
};

/// One parameter: NULL, INTEGER, REAL, TEXT or BLOB.
using sql_value =
  std::variant<std::monostate, int64_t, double, std::string, sql_blob>;

struct sql_statement {
  std::string sql;
  std::vector<sql_value> params;
};

/// Statements that commit together, in order.
///
/// Strict (the default): a statement that fails fails the whole unit of
/// work, which is then retried with backoff while nothing of it is acked,
/// so strict statements must not fail on data (check in memory first).
/// Tolerant: a statement that fails on the data (a constraint, a type, an
/// error in the SQL) rolls back the group alone (a savepoint) and the unit
/// commits without it; the group is reported (`skipped_group`). Failures of
/// the file itself (I/O, full, busy) still fail the unit.
struct sql_group {
  std::vector<sql_statement> statements;
  bool tolerant = false;
  /// Names the group in the report (a projection: the event's position).
  std::string label;

  /// A strict group of one statement.
  static sql_group of(std::string sql, std::vector<sql_value> params = {}) {
    sql_group g;
    g.statements.push_back({std::move(sql), std::move(params)});
    return g;
  }
};

/// A tolerant group left out of a commit, and why (SQLite's words).
struct skipped_group {
  std::string label;
  std::string why;
};

/// One result row of a query, valid during the callback only. Columns
/// count from 0.
class sql_row {
 public:
  /// `stmt` is an sqlite3_stmt positioned on a row.
  explicit sql_row(void* stmt) noexcept : stmt_(stmt) {}

  int columns() const noexcept;
  bool is_null(int column) const noexcept;
  int64_t integer(int column) const noexcept;
  double real(int column) const noexcept;
  /// TEXT (or a BLOB's bytes); empty for NULL.
  std::string_view text(int column) const noexcept;

  /// The column's name (its `AS` alias, else as SQLite names it).
  std::string_view name(int column) const noexcept;

  enum class value_type : uint8_t { null, integer, real, text, blob };
  /// What this row holds in `column`.
  value_type type(int column) const noexcept;

 private:
  void* stmt_;
};

/// Called for each row; an error stops the query and is returned by it.
using sql_row_handler = std::function<caf::error(const sql_row&)>;

} // namespace warren
