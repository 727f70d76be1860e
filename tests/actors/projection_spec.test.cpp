// A projection's options (pure, SQL tried on an in-memory database):
// named parameters become positional ones outside quotes, table names are
// per actor and generation, and bad options name their JSON path.

#include "eventstore/projection_spec.hpp"

#include "warren/config/reader.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren;
using namespace warren::actors;

namespace {

std::string error_of(const char* options) {
  config::config_reader reader{"node.json"};
  auto v = boost::json::parse(options);
  config::object_reader o{reader, v.as_object(), "$.actors[0].options"};
  read_projection_spec(o, "summary");
  return reader.ok() ? "" : describe(reader.error());
}

} // namespace

TEST_CASE("named parameters become positional ones, outside quotes, each "
          "name once",
          "[projection]") {
  std::vector<std::string> names;
  CHECK(positional("UPDATE t SET a = :x, b = ':x', c = :y WHERE d = :x",
                   names) == "UPDATE t SET a = ?1, b = ':x', c = ?2 WHERE d = "
                             "?1");
  CHECK(names == std::vector<std::string>{"x", "y"});
  names.clear();
  CHECK(positional("SELECT 'a:b', \"c:d\" FROM t WHERE x = :long_name_2",
                   names) == "SELECT 'a:b', \"c:d\" FROM t WHERE x = ?1");
  CHECK(names == std::vector<std::string>{"long_name_2"});
}

TEST_CASE("a projection's tables are named by actor and generation",
          "[projection]") {
  CHECK(table_name("Order-Summary", 3, "orders") ==
        "p_order_summary_g3_orders");
  CHECK(render_sql("INSERT INTO {orders} SELECT * FROM {items}", "s", 2) ==
        "INSERT INTO p_s_g2_orders SELECT * FROM p_s_g2_items");
  CHECK(render_sql("CREATE INDEX {index} ON {orders} (x)", "s", 1, 4) ==
        "CREATE INDEX p_s_g1_index4 ON p_s_g1_orders (x)");
}

TEST_CASE("a projection's bad options and SQL name their JSON path",
          "[projection]") {
  const std::string base = "node.json: $.actors[0].options";
  // clang-format off
  std::pair<const char*, std::string> cases[] = {
    {R"json({"tables": {"t": "CREATE TABLE {t} (a)"}, "on": {}})json",
     ".source: required key is missing"},
    {R"json({"source": {"store": "s"}, "tables": {"t": "CREATE TABLE {t} (a"}, "on": {}})json",
     ".tables.t: SQL: incomplete input"},
    {R"json({"source": {"store": "s"}, "tables": {"t": "CREATE TABLE {t} (a)"},
             "on": {"E": [{"sql": "INSERT INTO {t} VALUES (:a)"}]}})json",
     ".on.E[0].params.a: the SQL uses :a"},
    {R"json({"source": {"store": "s"}, "tables": {"t": "CREATE TABLE {t} (a)"},
             "on": {"E": [{"sql": "INSERT INTO {t} VALUES (1)", "params": {"b": "data.b"}}]}})json",
     ".on.E[0].params.b: the SQL does not use :b"},
    {R"json({"source": {"store": "s"}, "tables": {"t": "CREATE TABLE {t} (a)"},
             "on": {}, "queries": {"q": {"sql": "DELETE FROM {t}"}}})json",
     ".queries.q.sql: SQL: a query must only read"},
    {R"json({"source": {"store": "s"}, "tables": {"t": "CREATE TABLE {t} (a)"},
             "on": {}, "queries": {"q": {"sql": "SELECT 1; SELECT 2"}}})json",
     ".queries.q.sql: SQL: one statement only"},
    {R"json({"source": {"store": "s"}, "tables": {}, "on": {}})json",
     ".tables: expected at least one table"},
  };
  const char* good = R"json({"source": {"store": "s"},
    "tables": {"t": "CREATE TABLE {t} (a TEXT PRIMARY KEY, n INTEGER)"},
    "indexes": ["CREATE INDEX {index} ON {t} (n)"],
    "on": {"E": [{"sql": "INSERT INTO {t} VALUES (:a, :n)", "params": {"a": "data.a", "n": "version"}}]},
    "queries": {"q": {"sql": "SELECT * FROM {t} WHERE a = :a"}}})json";
  // clang-format on
  for (const auto& [options, expected] : cases) {
    INFO(options);
    CHECK_THAT(error_of(options), Catch::Contains(base + expected));
  }
  CHECK(error_of(good).empty());
}

namespace {

std::string sharded_error_of(const char* options, uint32_t shards) {
  config::config_reader reader{"node.json"};
  auto v = boost::json::parse(options);
  config::object_reader o{reader, v.as_object(), "$.actors[0].options"};
  check_sharded_projection(o, shards);
  return reader.ok() ? "" : describe(reader.error());
}

} // namespace

TEST_CASE("a sharded projection: its store's shards, keys never NULL, no "
          "DDL in on, each refusal at its JSON path",
          "[projection][shards]") {
  const std::string base = "node.json: $.actors[0].options";
  // clang-format off
  std::pair<const char*, std::string> cases[] = {
    {R"json({"source": {"store": "s", "shards": 2}, "tables": {"t": "CREATE TABLE {t} (a TEXT NOT NULL PRIMARY KEY)"}, "on": {}})json",
     ".source.shards: a sharded projection keeps each shard of its store in the shard with the same number: expected the projection's shards (3), found 2"},
    {R"json({"source": {"store": "s"}, "tables": {"t": "CREATE TABLE {t} (a TEXT NOT NULL PRIMARY KEY)"}, "on": {}})json",
     ".source.shards: a sharded projection keeps each shard of its store in the shard with the same number: expected the projection's shards (3), found 0 (the store must be sharded too)"},
    {R"json({"source": {"store": "s", "shards": 3}, "tables": {"t": "CREATE TABLE {t} (a TEXT, n INTEGER)"}, "on": {}})json",
     ".tables.t: a sharded projection's table needs a PRIMARY KEY"},
    {R"json({"source": {"store": "s", "shards": 3}, "tables": {"t": "CREATE TABLE {t} (a TEXT PRIMARY KEY, n INTEGER)"}, "on": {}})json",
     ".tables.t: a sharded projection's table needs its PRIMARY KEY columns NOT NULL"},
    {R"json({"source": {"store": "s", "shards": 3}, "tables": {"t": "CREATE TABLE {t} (a TEXT, b TEXT NOT NULL, PRIMARY KEY (a, b))"}, "on": {}})json",
     "declare a NOT NULL"},
    {R"json({"source": {"store": "s", "shards": 3}, "tables": {"t": "CREATE TABLE {t} (a TEXT NOT NULL PRIMARY KEY)"},
             "on": {"E": [{"sql": "CREATE TABLE IF NOT EXISTS {t}2 (x)"}]}})json",
     ".on.E[0].sql: a sharded projection's events change rows, not tables"},
  };
  // Keys that are never NULL: NOT NULL, the rowid itself, or WITHOUT ROWID.
  const char* good[] = {
    R"json({"source": {"store": "s", "shards": 3}, "tables": {"t": "CREATE TABLE {t} (a TEXT NOT NULL PRIMARY KEY, n INTEGER)"}, "on": {}})json",
    R"json({"source": {"store": "s", "shards": 3}, "tables": {"t": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, n INTEGER)"}, "on": {}})json",
    R"json({"source": {"store": "s", "shards": 3}, "tables": {"t": "CREATE TABLE {t} (a TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID"}, "on": {}})json",
  };
  // clang-format on
  for (const auto& [options, expected] : cases) {
    INFO(options);
    CHECK_THAT(sharded_error_of(options, 3), Catch::Contains(expected));
    if (expected.front() == '.')
      CHECK_THAT(sharded_error_of(options, 3),
                 Catch::Contains(base + expected));
  }
  for (const char* options : good) {
    INFO(options);
    CHECK(sharded_error_of(options, 3).empty());
  }
}

TEST_CASE("a sharded projection's query reads the union of the shards' "
          "tables, as a common table expression per table",
          "[projection][shards]") {
  std::map<std::string, std::vector<std::string>> columns{{"t", {"a", "n"}},
                                                          {"u", {"x"}}};
  auto sql = render_sharded_query("SELECT {t}.a FROM {t} WHERE {t}.n > 1",
                                  "Bal", {1, std::nullopt, 4}, columns);
  CHECK(sql == "WITH p_bal_g0_q_t (\"a\", \"n\") AS (SELECT \"a\", \"n\" FROM "
               "p_bal_s0_g1_t UNION ALL SELECT \"a\", \"n\" FROM "
               "p_bal_s2_g4_t) SELECT p_bal_g0_q_t.a FROM p_bal_g0_q_t WHERE "
               "p_bal_g0_q_t.n > 1");
  // The user's own WITH (and RECURSIVE) goes on after ours.
  CHECK(render_sharded_query("with q AS (SELECT x FROM {u}) SELECT * FROM q",
                             "b", {2}, columns) ==
        "WITH p_b_g0_q_u (\"x\") AS (SELECT \"x\" FROM p_b_s0_g2_u), q AS "
        "(SELECT x FROM p_b_g0_q_u) SELECT * FROM q");
  CHECK(render_sharded_query(
          "WITH RECURSIVE r(n) AS (SELECT 1) SELECT * FROM r, {u}", "b", {2},
          columns) ==
        "WITH RECURSIVE p_b_g0_q_u (\"x\") AS (SELECT \"x\" FROM "
        "p_b_s0_g2_u), r(n) AS (SELECT 1) SELECT * FROM r, p_b_g0_q_u");
  // No shard has started: an empty table with the columns.
  CHECK(
    render_sharded_query("SELECT * FROM {u}", "b", {std::nullopt}, columns) ==
    "WITH p_b_g0_q_u (\"x\") AS (SELECT NULL AS \"x\" WHERE 0) SELECT * "
    "FROM p_b_g0_q_u");
}
