// The enricher's options, checked as `warren check` and every node start
// check them: each mistake is one error naming the JSON path.

#include "warren/actors/builtin.hpp"
#include "warren/core/errc.hpp"
#include "warren/runtime/node.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

using namespace warren;

namespace {

caf::error check(const std::string& options) {
  registry kinds;
  actors::register_builtin_kinds(kinds);
  config::node_config cfg;
  cfg.source_file = "node.json";
  config::actor_spec spec;
  spec.name = "enrich";
  spec.kind = "enricher";
  spec.options = boost::json::parse(options).as_object();
  cfg.actors.push_back(spec);
  return runtime::check_kinds(cfg, kinds);
}

const char* output = R"("output": {"actor": "next"})";

std::string with_output(const std::string& options) {
  return "{" + options + ", " + output + "}";
}

} // namespace

TEST_CASE("good enricher options pass the check", "[enricher]") {
  for (const auto& options : std::vector<std::string>{
         R"("key_field": "device_id", "table": {"path": "d.csv"},
            "fields": {"location.city": "city"})",
         R"("key": "{site}-{device}", "table": {"path": "d.db",
            "sqlite_table": "devices", "key_column": "name",
            "reload_check_ms": 0, "if_missing": "empty"}, "into": "device",
            "on_miss": "default", "defaults": {"city": "unknown"},
            "miss_flag": "meta.unknown_device")",
         R"("key_field": "d", "table": {"path": "t", "format": "json",
            "key_column": "a.b", "max_rows": 10, "max_bytes": 1000},
            "into": "x", "on_miss": "dead_letter")",
         R"("key_field": "d", "service": {"actor": "devices",
            "type": "get", "request_field": "id", "timeout_ms": 200,
            "on_error": "miss"}, "cache": {"max_entries": 10, "ttl_ms": 5,
            "negative_ttl_ms": 1}, "into": "x")",
       }) {
    INFO(options);
    auto err = check(with_output(options));
    CHECK(describe(err) == "no error");
  }
}

TEST_CASE("each mistake in enricher options is named by its JSON path",
          "[enricher]") {
  const std::string table = R"("table": {"path": "d.csv"})";
  const std::string key = R"("key_field": "id")";
  const std::string fields = R"("into": "x")";
  const std::vector<std::pair<std::string, std::string>> cases = {
    {table + ", " + fields,
     "$.actors[0].options: expected exactly one of \"key_field\" (a dotted "
     "path) and \"key\" (a template such as \"{site}-{device}\")"},
    {R"("key_field": "a..b", )" + table + ", " + fields,
     "$.actors[0].options.key_field: expected a dotted field path such as "
     "\"device_id\" or \"location.city\", found \"a..b\""},
    {R"("key": "{open", )" + table + ", " + fields,
     "$.actors[0].options.key: the field opened at offset 0 is not closed "
     "with '}'"},
    {key + ", " + fields,
     "$.actors[0].options: expected exactly one of \"table\" (a JSON, CSV or "
     "SQLite file) and \"service\""},
    {key + R"(, "table": {"path": "d.txt"}, )" + fields,
     "$.actors[0].options.table.format: required key is missing (the path "
     "\"d.txt\" ends in none of .json, .csv, .db, .sqlite, .sqlite3): one of "
     "\"json\", \"csv\", \"sqlite\""},
    {key + R"(, "table": {"path": "d.db"}, )" + fields,
     "$.actors[0].options.table: a sqlite table needs exactly one of "
     "\"sqlite_table\" (a table name) and \"query\" (a SELECT statement)"},
    {key + R"(, "table": {"path": "d.csv", "query": "SELECT 1"}, )" + fields,
     "$.actors[0].options.table.query: only a sqlite table takes this key"},
    {key + R"(, "table": {"path": "d.json", "csv_numbers": false}, )" + fields,
     "$.actors[0].options.table.csv_numbers: only a csv table takes this key"},
    {key + R"(, "table": {"path": "d.csv", "if_missing": "ignore"}, )" + fields,
     "$.actors[0].options.table.if_missing: expected one of \"fail\", "
     "\"empty\", found \"ignore\""},
    {key + R"(, "table": {"path": "d.csv", "reload_check_ms": -1}, )" + fields,
     "$.actors[0].options.table.reload_check_ms: expected an integer from 0 "
     "to 86400000, found -1"},
    {key + R"(, "table": {"path": "d.csv", "watch": true}, )" + fields,
     "$.actors[0].options.table.watch: unknown key (expected one of: path, "
     "format, key_column, sqlite_table, query, reload_check_ms, if_missing, "
     "max_rows, max_bytes, csv_numbers)"},
    {key + ", " + table + R"(, "cache": {"ttl_ms": 5}, )" + fields,
     "$.actors[0].options.cache: only a \"service\" source is cached (a "
     "table is in memory already)"},
    {key + R"(, "service": {"type": "get"}, )" + fields,
     "$.actors[0].options.service.actor: required key is missing"},
    {key + R"(, "service": {"actor": "s", "on_error": "ignore"}, )" + fields,
     "$.actors[0].options.service.on_error: expected one of \"retry\", "
     "\"miss\", \"dead_letter\", found \"ignore\""},
    {key + ", " + table,
     "$.actors[0].options: expected exactly one of \"fields\" (output path "
     "-> record path) and \"into\" (the path that gets the whole record)"},
    {key + ", " + table + R"(, "fields": {"a": 1})",
     "$.actors[0].options.fields.a: expected a non-empty string, found 1"},
    {key + ", " + table + R"(, "fields": {})",
     "$.actors[0].options.fields: expected at least one field"},
    {key + ", " + table + ", " + fields + R"(, "on_miss": "default")",
     "$.actors[0].options.defaults: required key is missing"},
    {key + ", " + table + ", " + fields + R"(, "defaults": {"a": 1})",
     "$.actors[0].options.defaults: only on_miss \"default\" uses defaults"},
    {key + ", " + table + ", " + fields +
       R"(, "on_miss": "default", "defaults": [1])",
     "$.actors[0].options.defaults: expected an object (the record used on a "
     "miss), found an array"},
    {key + ", " + table + ", " + fields +
       R"(, "on_miss": "dead_letter", "miss_flag": "m")",
     "$.actors[0].options.miss_flag: a miss is dead-lettered (on_miss "
     "\"dead_letter\"): there is nothing to flag"},
  };
  for (const auto& [options, expected] : cases) {
    INFO(options);
    auto err = check(with_output(options));
    REQUIRE(err);
    CHECK(code_of(err) == errc::invalid_config);
    CHECK(describe(err) == "node.json: " + expected);
  }
  SECTION("output is required") {
    auto err = check("{" + key + ", " + table + ", " + fields + "}");
    CHECK(describe(err) == "node.json: $.actors[0].options.output: required "
                           "key is missing");
  }
}
