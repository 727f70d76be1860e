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
