#include "eventstore/projection_spec.hpp"

#include "warren/config/reader.hpp"
#include "warren/core/envelope.hpp"
#include "warren/core/shard.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <memory>
#include <set>
#include <sqlite3.h>

namespace warren::actors {

namespace {

constexpr config::int_range pages{1, 10000};
constexpr config::int_range intervals{10, 3600 * 1000};

bool identifier_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

// An in-memory database to try the SQL on.
struct scratch_db {
  scratch_db() { sqlite3_open(":memory:", &db); }
  ~scratch_db() { sqlite3_close(db); }
  scratch_db(const scratch_db&) = delete;
  scratch_db& operator=(const scratch_db&) = delete;

  // Nullopt when `sql` runs (or, with `prepare_only`, prepares); else
  // SQLite's words. `read_only` also asks that it write nothing.
  std::optional<std::string> try_sql(const std::string& sql, bool prepare_only,
                                     bool read_only = false) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt,
                           &tail) != SQLITE_OK)
      return std::string{sqlite3_errmsg(db)};
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard{
      stmt, sqlite3_finalize};
    if (stmt == nullptr)
      return std::string{"no statement"};
    if (tail != nullptr && *tail != '\0' &&
        std::string_view{tail}.find_first_not_of(" \t\r\n;") !=
          std::string_view::npos)
      return std::string{"one statement only (found more after the first)"};
    if (read_only && sqlite3_stmt_readonly(stmt) == 0)
      return std::string{"a query must only read"};
    if (prepare_only)
      return std::nullopt;
    auto rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
      return std::string{sqlite3_errmsg(db)};
    return std::nullopt;
  }

  sqlite3* db = nullptr;
};

// The first word of `sql`, upper-cased (CREATE, INSERT, WITH...).
std::string leading_keyword(const std::string& sql) {
  std::size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i])))
    ++i;
  std::string out;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i])))
    out +=
      static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++])));
  return out;
}

std::string quoted_name(const std::string& name) {
  std::string out = "\"";
  for (char c : name)
    out += c == '"' ? std::string{"\"\""} : std::string{c};
  return out + "\"";
}

// Table `table`'s columns in the scratch database, in order, and why its
// rows would not reach a shard's standbys: an SQLite session records a row
// by its primary key and skips rows whose key is NULL, which a rowid table
// allows in a PRIMARY KEY column not declared NOT NULL (an INTEGER
// PRIMARY KEY is the rowid: never NULL).
void describe_table(sqlite3* db, const std::string& physical,
                    std::vector<std::string>& columns, std::string& problem) {
  sqlite3_stmt* stmt = nullptr;
  auto sql = "SELECT name, type, \"notnull\", pk, (SELECT wr FROM "
             "pragma_table_list WHERE name = ?1) FROM pragma_table_info(?1) "
             "ORDER BY cid";
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
    return;
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard{stmt,
                                                              sqlite3_finalize};
  sqlite3_bind_text(stmt, 1, physical.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<std::string> nullable_keys;
  int keys = 0;
  bool integer_key = false;
  bool without_rowid = false;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    auto text = [&](int c) {
      const auto* t = sqlite3_column_text(stmt, c);
      return t == nullptr ? std::string{}
                          : std::string{reinterpret_cast<const char*>(t)};
    };
    columns.push_back(text(0));
    without_rowid = sqlite3_column_int(stmt, 4) != 0;
    if (sqlite3_column_int(stmt, 3) == 0)
      continue;
    ++keys;
    integer_key = leading_keyword(text(1)) == "INTEGER";
    if (sqlite3_column_int(stmt, 2) == 0)
      nullable_keys.push_back(text(0));
  }
  if (keys == 0)
    problem = "a sharded projection's table needs a PRIMARY KEY (its rows "
              "travel to the other nodes by their key)";
  else if (!without_rowid && !(keys == 1 && integer_key) &&
           !nullable_keys.empty())
    problem = "a sharded projection's table needs its PRIMARY KEY columns "
              "NOT NULL (SQLite lets a rowid table's key be NULL, and such a "
              "row would not reach the other nodes): declare " +
              nullable_keys.front() + " NOT NULL";
}

} // namespace

std::string table_name(const std::string& actor, int64_t generation,
                       const std::string& table) {
  std::string out = "p_";
  for (char c : actor)
    out += identifier_char(c)
             ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
             : '_';
  return out + "_g" + std::to_string(generation) + "_" + table;
}

std::string render_sql(const std::string& sql, const std::string& actor,
                       int64_t generation, std::size_t index_number) {
  std::string out;
  out.reserve(sql.size() + 32);
  for (std::size_t i = 0; i < sql.size(); ++i) {
    auto close = sql[i] == '{' ? sql.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      out += sql[i];
      continue;
    }
    auto name = sql.substr(i + 1, close - i - 1);
    if (name == "index")
      out +=
        table_name(actor, generation, "index" + std::to_string(index_number));
    else
      out += table_name(actor, generation, name);
    i = close;
  }
  return out;
}

std::string positional(const std::string& sql,
                       std::vector<std::string>& names) {
  std::string out;
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote != 0) {
      out += c;
      if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out += c;
      continue;
    }
    if (c != ':' || i + 1 >= sql.size() || !identifier_char(sql[i + 1])) {
      out += c;
      continue;
    }
    auto end = i + 1;
    while (end < sql.size() && identifier_char(sql[end]))
      ++end;
    auto name = sql.substr(i + 1, end - i - 1);
    std::size_t n = 0;
    while (n < names.size() && names[n] != name)
      ++n;
    if (n == names.size())
      names.push_back(name);
    out += "?" + std::to_string(n + 1);
    i = end - 1;
  }
  return out;
}

projection_spec read_projection_spec(config::object_reader& o,
                                     const std::string& actor) {
  projection_spec s;
  o.allow({"source", "tables", "indexes", "on", "queries", "max_rows"});
  auto& reader = o.reader();
  if (o.require("source") != nullptr)
    if (auto source = o.object("source")) {
      source->allow(
        {"store", "shards", "page", "live", "poll_ms", "read_timeout_ms"});
      if (source->require("store") != nullptr)
        source->string("store", s.store, config::text_rule::non_empty);
      source->integer("shards", {0, max_shards}, s.shards);
      source->integer("page", pages, s.page);
      source->boolean("live", s.live);
      source->integer("poll_ms", intervals, s.poll_ms);
      source->integer("read_timeout_ms", intervals, s.read_timeout_ms);
    }
  o.integer("max_rows", {1, 100000}, s.max_rows);
  scratch_db scratch;
  // Tables first: the statements and queries are tried against them.
  if (o.require("tables") != nullptr)
    if (auto tables = o.object("tables")) {
      if (tables->json().empty())
        reader.fail(o.path_of("tables"), "expected at least one table");
      for (const auto& [name, value] : tables->json()) {
        auto path = tables->path_of(name);
        std::string key{name};
        if (key.empty() || key.size() > 64 ||
            !std::all_of(key.begin(), key.end(), identifier_char)) {
          reader.fail(path, "a table name is 1 to 64 letters, digits or _");
          break;
        }
        auto sql = reader.string(value, path, config::text_rule::non_empty);
        if (!sql)
          break;
        if (auto why = scratch.try_sql(render_sql(*sql, actor, 0), false)) {
          reader.fail(path, "SQL: " + *why);
          break;
        }
        std::string problem;
        describe_table(scratch.db, table_name(actor, 0, key), s.columns[key],
                       problem);
        if (!problem.empty())
          s.not_replicable.emplace(key, std::move(problem));
        s.tables.emplace(key, *sql);
      }
    }
  if (const auto* indexes = o.array("indexes"))
    for (std::size_t i = 0; i < indexes->size(); ++i) {
      auto path = o.path_of("indexes") + "[" + std::to_string(i) + "]";
      auto sql =
        reader.string((*indexes)[i], path, config::text_rule::non_empty);
      if (!sql)
        break;
      if (auto why = scratch.try_sql(render_sql(*sql, actor, 0, i), false)) {
        reader.fail(path, "SQL: " + *why);
        break;
      }
      s.indexes.push_back(*sql);
    }
  if (o.require("on") != nullptr)
    if (auto on = o.object("on"))
      for (const auto& [type, list_value] : on->json()) {
        auto list_path = on->path_of(type);
        const auto* list = reader.array(list_value, list_path);
        if (list == nullptr)
          break;
        auto& statements = s.on[std::string{type}];
        for (std::size_t i = 0; i < list->size() && reader.ok(); ++i) {
          auto path = list_path + "[" + std::to_string(i) + "]";
          auto st = reader.object((*list)[i], path);
          if (!st)
            break;
          st->allow({"sql", "params"});
          std::string sql;
          if (st->require("sql") == nullptr ||
              !st->string("sql", sql, config::text_rule::non_empty))
            break;
          std::vector<std::string> names;
          projection_statement statement;
          statement.sql = positional(sql, names);
          boost::json::object given;
          if (auto params = st->object("params"))
            given = params->json();
          for (const auto& name : names) {
            const auto* field = given.if_contains(name);
            auto field_text =
              field != nullptr
                ? reader.string(*field, st->path_of("params") + "." + name,
                                config::text_rule::non_empty)
                : std::nullopt;
            auto parsed =
              field_text ? field_path::parse(*field_text) : std::nullopt;
            if (!parsed) {
              if (reader.ok())
                reader.fail(st->path_of("params") + "." + name,
                            "the SQL uses :" + name +
                              ": expected a field path of the event "
                              "(data.order_id, recorded_ms, ...)");
              break;
            }
            statement.params.push_back(std::move(*parsed));
          }
          for (const auto& [name, field] : given)
            if (std::find(names.begin(), names.end(), std::string{name}) ==
                  names.end() &&
                reader.ok())
              reader.fail(st->path_of("params") + "." + std::string{name},
                          "the SQL does not use :" + std::string{name});
          if (!reader.ok())
            break;
          if (auto why =
                scratch.try_sql(render_sql(statement.sql, actor, 0), true)) {
            reader.fail(st->path_of("sql"), "SQL: " + *why);
            break;
          }
          auto verb = leading_keyword(statement.sql);
          if (verb == "CREATE" || verb == "DROP" || verb == "ALTER")
            s.schema_changes.emplace(
              st->path_of("sql"),
              "a sharded projection's events change rows, not tables (" + verb +
                " would not reach the other nodes' copies)");
          statements.push_back(std::move(statement));
        }
      }
  if (auto queries = o.object("queries"))
    for (const auto& [name, value] : queries->json()) {
      auto path = queries->path_of(name);
      auto q = reader.object(value, path);
      if (!q)
        break;
      q->allow({"sql"});
      std::string sql;
      if (q->require("sql") == nullptr ||
          !q->string("sql", sql, config::text_rule::non_empty))
        break;
      projection_query query;
      query.sql = positional(sql, query.params);
      if (auto why =
            scratch.try_sql(render_sql(query.sql, actor, 0), true, true)) {
        reader.fail(q->path_of("sql"), "SQL: " + *why);
        break;
      }
      s.queries.emplace(std::string{name}, std::move(query));
    }
  // What the read model is made of: a change rebuilds it.
  boost::json::object definition;
  for (const char* key : {"tables", "indexes", "on"})
    if (const auto* v = o.find(key))
      definition[key] = *v;
  // Positions of another numbering: the model is made again (a store not
  // sharded keeps the hash it always had).
  if (s.shards > 0)
    definition["shards"] = s.shards;
  s.definition_hash = content_hash(boost::json::serialize(definition));
  return s;
}

void check_sharded_projection(config::object_reader& o, uint32_t shards) {
  auto s = read_projection_spec(o, "check");
  auto& reader = o.reader();
  if (!reader.ok())
    return;
  if (s.shards != shards) {
    reader.fail(o.path_of("source") + ".shards",
                "a sharded projection keeps each shard of its store in the "
                "shard with the same number: expected the projection's "
                "shards (" +
                  std::to_string(shards) + "), found " +
                  std::to_string(s.shards) +
                  (s.shards == 0 ? " (the store must be sharded too)" : ""));
    return;
  }
  for (const auto& [table, why] : s.not_replicable) {
    reader.fail(o.path_of("tables") + "." + table, why);
    return;
  }
  for (const auto& [path, why] : s.schema_changes) {
    reader.fail(path, why);
    return;
  }
}

std::string render_sharded_query(
  const std::string& sql, const std::string& actor,
  const std::vector<std::optional<int64_t>>& generations,
  const std::map<std::string, std::vector<std::string>>& columns) {
  // Each {t} becomes a common table expression over the shards' tables:
  // a reference stays a name (`{t}.col` keeps working), and SQLite pushes
  // a WHERE on it down into each arm.
  std::string with;
  for (const auto& [table, names] : columns) {
    if (sql.find("{" + table + "}") == std::string::npos)
      continue;
    std::string list;
    for (const auto& c : names)
      list += (list.empty() ? "" : ", ") + quoted_name(c);
    std::string arms;
    for (std::size_t i = 0; i < generations.size(); ++i)
      if (generations[i])
        arms += (arms.empty() ? "" : " UNION ALL ") + std::string{"SELECT "} +
                list + " FROM " +
                table_name(shard_name(actor, static_cast<uint32_t>(i)),
                           *generations[i], table);
    if (arms.empty()) {
      // No shard has started: the table is empty, with its columns.
      std::string nulls;
      for (const auto& c : names)
        nulls += (nulls.empty() ? "" : ", ") + std::string{"NULL AS "} +
                 quoted_name(c);
      arms = "SELECT " + nulls + " WHERE 0";
    }
    with += (with.empty() ? "" : ", ") + table_name(actor, 0, "q_" + table) +
            " (" + list + ") AS (" + arms + ")";
  }
  // {t} -> the expression's name.
  std::string body;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    auto close = sql[i] == '{' ? sql.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      body += sql[i];
      continue;
    }
    body += table_name(actor, 0, "q_" + sql.substr(i + 1, close - i - 1));
    i = close;
  }
  if (with.empty())
    return body;
  // The user's own WITH [RECURSIVE] goes on after ours.
  auto start = body.find_first_not_of(" \t\r\n");
  auto verb = leading_keyword(body);
  if (verb == "WITH") {
    auto rest = body.substr(start + 4);
    if (leading_keyword(rest) == "RECURSIVE") {
      auto at = rest.find_first_not_of(" \t\r\n");
      return "WITH RECURSIVE " + with + "," + rest.substr(at + 9);
    }
    return "WITH " + with + "," + rest;
  }
  return "WITH " + with + " " + body;
}

} // namespace warren::actors
