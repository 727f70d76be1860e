#include "pipeline/reference_table.hpp"

#include "pipeline/field_path.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <sqlite3.h>
#include <vector>

namespace warren::actors {

namespace json = boost::json;

bool render_key(const json::value& key, std::string& out) {
  out.clear();
  switch (key.kind()) {
    case json::kind::string:
      out.assign(key.get_string().data(), key.get_string().size());
      return true;
    case json::kind::int64:
      out = std::to_string(key.get_int64());
      return true;
    case json::kind::uint64:
      out = std::to_string(key.get_uint64());
      return true;
    case json::kind::double_:
      out = json::serialize(key);
      return true;
    case json::kind::bool_:
      out = key.get_bool() ? "true" : "false";
      return true;
    default:
      return false;
  }
}

// Assembles a table: records go into `root` (allocated from the table's
// own monotonic resource), then `index` makes the key index once `root`
// will no longer move.
class table_builder {
 public:
  table_builder()
    : storage_(json::make_shared_resource<json::monotonic_resource>()),
      table_(new reference_table(storage_)) {
    // Nothing else to do.
  }

  json::storage_ptr storage() const { return storage_; }

  json::value& root() { return table_->root_; }

  // Adds `key` -> `record`; false (and `error` set) on a duplicate.
  bool add(std::string key, const json::value* record, const std::string& where,
           std::string& error) {
    auto [at, inserted] = table_->index_.emplace(std::move(key), record);
    if (!inserted) {
      error = where + ": duplicate key '" + at->first + "'";
      return false;
    }
    return true;
  }

  void reserve(std::size_t rows) { table_->index_.reserve(rows); }

  table_result done() { return {std::move(table_), {}}; }

 private:
  json::storage_ptr storage_;
  std::shared_ptr<reference_table> table_;
};

std::shared_ptr<const reference_table> reference_table::empty() {
  static const auto none = std::make_shared<const reference_table>();
  return none;
}

namespace {

table_result failure(std::string why) {
  return {nullptr, std::move(why)};
}

std::string too_many(const table_shape& shape) {
  return "more than max_rows (" + std::to_string(shape.max_rows) + ") records";
}

} // namespace

// -- JSON ---------------------------------------------------------------------

table_result parse_json_table(std::string_view text, const table_shape& shape) {
  table_builder builder;
  json::error_code ec;
  builder.root() = json::parse(text, ec, builder.storage());
  if (ec)
    return failure("not JSON: " + ec.message());
  auto& root = builder.root();
  std::string error;
  if (auto* obj = root.if_object()) {
    if (obj->size() > shape.max_rows)
      return failure(too_many(shape));
    builder.reserve(obj->size());
    for (const auto& member : *obj) {
      std::string key{member.key()};
      if (!builder.add(key, &member.value(), "$." + key, error))
        return failure(error);
    }
    return builder.done();
  }
  auto* arr = root.if_array();
  if (arr == nullptr)
    return failure("expected an array of records or an object of records by "
                   "key, found a " +
                   std::string{json::to_string(root.kind())});
  if (arr->size() > shape.max_rows)
    return failure(too_many(shape));
  auto key_path = field_path::parse(shape.key_column);
  if (!key_path)
    return failure("key_column '" + shape.key_column + "' is not a path");
  builder.reserve(arr->size());
  std::string key;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto where = "$[" + std::to_string(i) + "]";
    const auto& record = (*arr)[i];
    if (!record.is_object())
      return failure(where + ": expected an object, found a " +
                     std::string{json::to_string(record.kind())});
    const auto* key_value = key_path->find(record);
    if (key_value == nullptr)
      return failure(where + ": the key column '" + shape.key_column +
                     "' is missing");
    if (!render_key(*key_value, key))
      return failure(where + ": the key column '" + shape.key_column +
                     "' is not a string, number or boolean");
    if (!builder.add(key, &record, where, error))
      return failure(error);
  }
  return builder.done();
}

// -- CSV ----------------------------------------------------------------------

namespace {

struct csv_field {
  std::string text;
  bool quoted = false;
};

// Splits RFC 4180 text into rows of fields. Tracks the line each row starts
// on for error messages.
class csv_reader {
 public:
  explicit csv_reader(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") // A UTF-8 byte order mark.
      pos_ = 3;
  }

  // Reads the next non-empty row into `row`; false at the end or on an
  // error (`error` set).
  bool next(std::vector<csv_field>& row, std::string& error) {
    row.clear();
    // Skip empty lines.
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r'))
      consume_line_break();
    if (pos_ >= text_.size())
      return false;
    row_line_ = line_;
    for (;;) {
      csv_field field;
      if (!read_field(field, error))
        return false;
      row.push_back(std::move(field));
      if (pos_ >= text_.size())
        return true;
      char c = text_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      // A line break ends the row.
      consume_line_break();
      return true;
    }
  }

  std::size_t row_line() const noexcept { return row_line_; }

 private:
  void consume_line_break() {
    if (text_[pos_] == '\r' && pos_ + 1 < text_.size() &&
        text_[pos_ + 1] == '\n')
      ++pos_;
    ++pos_;
    ++line_;
  }

  bool read_field(csv_field& field, std::string& error) {
    if (pos_ < text_.size() && text_[pos_] == '"') {
      field.quoted = true;
      auto opened = line_;
      ++pos_;
      for (;;) {
        if (pos_ >= text_.size()) {
          error =
            "line " + std::to_string(opened) + ": a quoted field is not closed";
          return false;
        }
        char c = text_[pos_++];
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            field.text += '"';
            ++pos_;
            continue;
          }
          break;
        }
        if (c == '\n')
          ++line_;
        field.text += c;
      }
      if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' &&
          text_[pos_] != '\r') {
        error = "line " + std::to_string(line_) +
                ": expected a comma or the end of the line after a quoted "
                "field, found '" +
                std::string(1, text_[pos_]) + "'";
        return false;
      }
      return true;
    }
    auto start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' &&
           text_[pos_] != '\r') {
      if (text_[pos_] == '"') {
        error = "line " + std::to_string(line_) +
                ": a quote inside an unquoted field (quote the whole field "
                "and double the quote)";
        return false;
      }
      ++pos_;
    }
    field.text.assign(text_.data() + start, pos_ - start);
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t row_line_ = 1;
};

// The JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view s, bool& integral) {
  std::size_t i = 0;
  auto digits = [&] {
    auto start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '-')
    ++i;
  if (i < s.size() && s[i] == '0')
    ++i;
  else if (digits() == 0)
    return false;
  integral = true;
  if (i < s.size() && s[i] == '.') {
    ++i;
    integral = false;
    if (digits() == 0)
      return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    integral = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
      ++i;
    if (digits() == 0)
      return false;
  }
  return i == s.size();
}

json::value csv_value(const csv_field& field, bool numbers,
                      const json::storage_ptr& sp) {
  bool integral = false;
  if (numbers && !field.quoted && is_json_number(field.text, integral)) {
    const auto* first = field.text.data();
    const auto* last = first + field.text.size();
    if (integral) {
      int64_t n = 0;
      auto [ptr, ec] = std::from_chars(first, last, n);
      if (ec == std::errc{} && ptr == last)
        return json::value(n, sp);
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(first, last, d);
    if (ec == std::errc{} && ptr == last)
      return json::value(d, sp);
  }
  return json::value(json::string(field.text, sp));
}

} // namespace

table_result parse_csv_table(std::string_view text, const table_shape& shape) {
  csv_reader reader{text};
  std::vector<csv_field> row;
  std::string error;
  if (!reader.next(row, error))
    return failure(error.empty() ? "no header row" : error);
  std::vector<json::string> header;
  std::size_t key_index = row.size();
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i].text.empty())
      return failure("line " + std::to_string(reader.row_line()) + ": column " +
                     std::to_string(i + 1) + " of the header has no name");
    for (std::size_t j = 0; j < i; ++j)
      if (row[j].text == row[i].text)
        return failure("line " + std::to_string(reader.row_line()) +
                       ": the header names column '" + row[i].text + "' twice");
    if (row[i].text == shape.key_column)
      key_index = i;
    header.emplace_back(row[i].text);
  }
  if (key_index == row.size())
    return failure("the header has no key column '" + shape.key_column + "'");

  table_builder builder;
  auto sp = builder.storage();
  json::array records(sp);
  std::vector<std::string> keys;
  std::vector<std::size_t> lines;
  while (reader.next(row, error)) {
    if (records.size() == shape.max_rows)
      return failure(too_many(shape));
    if (row.size() != header.size())
      return failure("line " + std::to_string(reader.row_line()) + ": " +
                     std::to_string(row.size()) + " fields, but the header " +
                     "has " + std::to_string(header.size()));
    json::object record(sp);
    record.reserve(header.size());
    for (std::size_t i = 0; i < header.size(); ++i)
      record.emplace(header[i], csv_value(row[i], shape.csv_numbers, sp));
    // The key is the field as written, not as inferred: "017" stays "017".
    keys.push_back(std::move(row[key_index].text));
    lines.push_back(reader.row_line());
    records.emplace_back(std::move(record));
  }
  if (!error.empty())
    return failure(error);
  builder.root() = std::move(records);
  const auto& stored = builder.root().get_array();
  builder.reserve(stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i)
    if (!builder.add(std::move(keys[i]), &stored[i],
                     "line " + std::to_string(lines[i]), error))
      return failure(error);
  return builder.done();
}

// -- SQLite -------------------------------------------------------------------

namespace {

struct db_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

struct stmt_closer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

std::string quote_identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + "\"";
}

} // namespace

table_result load_sqlite_table(const std::string& path,
                               const sqlite_select& select,
                               const table_shape& shape, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, db_closer> db{raw};
  if (rc != SQLITE_OK)
    return failure("cannot open " + path + " read-only: " +
                   (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  auto sql = select.query.empty()
               ? "SELECT * FROM " + quote_identifier(select.table)
               : select.query;
  sqlite3_stmt* raw_stmt = nullptr;
  const char* tail = nullptr;
  rc = sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw_stmt, &tail);
  std::unique_ptr<sqlite3_stmt, stmt_closer> stmt{raw_stmt};
  if (rc != SQLITE_OK)
    return failure("cannot prepare '" + sql + "': " + sqlite3_errmsg(db.get()));
  if (!stmt)
    return failure("'" + sql + "' is no statement");
  if (tail != nullptr && std::string_view{tail}.find_first_not_of(" \t\r\n;") !=
                           std::string_view::npos)
    return failure("the query is more than one statement");
  if (sqlite3_stmt_readonly(stmt.get()) == 0)
    return failure("the query writes: only SELECT is allowed");

  int columns = sqlite3_column_count(stmt.get());
  std::vector<json::string> names;
  int key_index = -1;
  for (int i = 0; i < columns; ++i) {
    names.emplace_back(sqlite3_column_name(stmt.get(), i));
    if (names.back() == shape.key_column)
      key_index = i;
  }
  if (key_index < 0)
    return failure("the result has no key column '" + shape.key_column + "'");

  table_builder builder;
  auto sp = builder.storage();
  json::array records(sp);
  std::vector<std::string> keys;
  std::string key;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    if (records.size() == shape.max_rows)
      return failure(too_many(shape));
    auto row = std::to_string(records.size() + 1);
    json::object record(sp);
    record.reserve(names.size());
    for (int i = 0; i < columns; ++i) {
      json::value v(sp);
      switch (sqlite3_column_type(stmt.get(), i)) {
        case SQLITE_INTEGER:
          v = static_cast<int64_t>(sqlite3_column_int64(stmt.get(), i));
          break;
        case SQLITE_FLOAT:
          v = sqlite3_column_double(stmt.get(), i);
          break;
        case SQLITE_TEXT:
          v = json::string(
            std::string_view{
              reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), i)),
              static_cast<std::size_t>(sqlite3_column_bytes(stmt.get(), i))},
            sp);
          break;
        case SQLITE_NULL:
          break;
        default:
          return failure("row " + row + ": column '" +
                         std::string{names[static_cast<std::size_t>(i)]} +
                         "' is a BLOB (expected INTEGER, REAL, TEXT or NULL)");
      }
      if (i == key_index && !render_key(v, key))
        return failure("row " + row + ": the key column '" + shape.key_column +
                       "' is NULL");
      record.emplace(names[static_cast<std::size_t>(i)], std::move(v));
    }
    keys.push_back(key);
    records.emplace_back(std::move(record));
  }
  if (rc != SQLITE_DONE)
    return failure("reading '" + sql + "': " + sqlite3_errmsg(db.get()));
  builder.root() = std::move(records);
  const auto& stored = builder.root().get_array();
  builder.reserve(stored.size());
  std::string error;
  for (std::size_t i = 0; i < stored.size(); ++i)
    if (!builder.add(std::move(keys[i]), &stored[i],
                     "row " + std::to_string(i + 1), error))
      return failure(error);
  return builder.done();
}

} // namespace warren::actors
