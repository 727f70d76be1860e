#pragma once

// Private to warren::actors: the enricher's reference table, an immutable
// snapshot of records indexed by key, and the parsers that make one from a
// JSON or CSV text or a SQLite query. Pure logic apart from the SQLite read
// (which takes an open path and nothing else): the enricher's table_source
// decides when to load and swaps snapshots.
//
// Keys are compared as text (`render_key`): a string as it is, an integer in
// decimal, any other number as JSON writes it, a boolean as true or false.
// So a message's `"device_id": 17` finds the CSV row whose key column reads
// `17` and the JSON record whose `"id"` is `17` or `"17"`.
//
// A table is bounded: more than `max_rows` records is a load error, as is a
// duplicate key (a reference table with two rows for one key is a bug in
// its producer, and picking one silently would hide it).

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace warren::actors {

/// Renders a key value as text into `out` (cleared first); false for null,
/// objects and arrays.
bool render_key(const boost::json::value& key, std::string& out);

/// How a table's records are keyed and bounded.
struct table_shape {
  /// JSON arrays: a dotted path into each record; CSV: a header name;
  /// SQLite: a column name. Not used for a JSON object keyed by id.
  std::string key_column = "id";
  /// The most records a table may have.
  std::size_t max_rows = 1'000'000;
  /// CSV: an unquoted field that is a JSON number becomes a number; anything
  /// else (quoted fields always) stays a string.
  bool csv_numbers = true;
};

/// An immutable set of records by key. Shared between the message path and
/// the loader as a `shared_ptr<const reference_table>`.
class reference_table {
 public:
  /// The record of `key`, or nullptr.
  const boost::json::value* find(const std::string& key) const {
    auto i = index_.find(key);
    return i == index_.end() ? nullptr : i->second;
  }

  std::size_t size() const noexcept { return index_.size(); }

  /// An empty table (for a table whose file is missing at start when
  /// `if_missing` is "empty").
  static std::shared_ptr<const reference_table> empty();

 private:
  friend class table_builder;
  explicit reference_table(boost::json::storage_ptr storage)
    : root_(std::move(storage)) {
    // Nothing else to do.
  }

 public:
  reference_table() = default;

 private:
  // The records live in `root_` (in one monotonic resource); the index
  // points into it, so `root_` never changes after indexing.
  boost::json::value root_;
  std::unordered_map<std::string, const boost::json::value*> index_;
};

/// What a parse or load made: a table, or an error sentence (with the line,
/// row or JSON path of the problem).
struct table_result {
  std::shared_ptr<const reference_table> table;
  std::string error;

  explicit operator bool() const noexcept { return table != nullptr; }
};

/// A JSON table: an array of objects (keyed by `shape.key_column`) or an
/// object whose member names are the keys and whose values are the records.
table_result parse_json_table(std::string_view text, const table_shape& shape);

/// A CSV table (RFC 4180): a header row naming the columns, then one record
/// per row; fields separated by commas, rows by CRLF or LF, a field in
/// double quotes may hold commas, line breaks and `""` for a quote. Empty
/// lines are skipped; every other row must have as many fields as the
/// header. Each record is an object of column name to value.
table_result parse_csv_table(std::string_view text, const table_shape& shape);

/// Where a SQLite table's rows come from: a table by name or a query.
struct sqlite_select {
  /// A table name (quoted as an identifier), or empty when `query` is set.
  std::string table;
  /// A SELECT statement.
  std::string query;
};

/// Reads a SQLite table, opening `path` read-only: one record per row, an
/// object of column name to value (INTEGER, REAL, TEXT, NULL; a BLOB is an
/// error). `busy_timeout_ms` bounds the wait for a writer's lock.
table_result load_sqlite_table(const std::string& path,
                               const sqlite_select& select,
                               const table_shape& shape,
                               int busy_timeout_ms = 1000);

} // namespace warren::actors
