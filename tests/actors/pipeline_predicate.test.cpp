// Predicates on message fields (router `when`, filter `drop_when` /
// `keep_when`, validator soft checks): each operator, the combinators, the
// defined outcomes of missing fields and type mismatches, and config errors
// that name the JSON path.

#include "pipeline/predicate.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using actors::predicate;
namespace json = boost::json;

namespace {

predicate make(const std::string& text) {
  config::config_reader reader{"node.json"};
  auto p = predicate::read(reader, json::parse(text), "$.when");
  INFO(text << ": " << (reader.ok() ? "" : describe(reader.error())));
  REQUIRE(p);
  return std::move(*p);
}

bool holds(const std::string& pred, const std::string& body) {
  return make(pred).holds(json::parse(body));
}

std::string error_of(const std::string& text) {
  config::config_reader reader{"node.json"};
  auto p = predicate::read(reader, json::parse(text), "$.when");
  CHECK_FALSE(p);
  return reader.ok() ? "" : describe(reader.error());
}

} // namespace

TEST_CASE("predicate comparisons on numbers compare values whatever their "
          "JSON form",
          "[pipeline][predicate]") {
  CHECK(holds(R"({"field": "t", "gt": 30})", R"({"t": 31})"));
  CHECK_FALSE(holds(R"({"field": "t", "gt": 30})", R"({"t": 30})"));
  CHECK(holds(R"({"field": "t", "ge": 30})", R"({"t": 30.0})"));
  CHECK(holds(R"({"field": "t", "lt": 30.5})", R"({"t": 30})"));
  CHECK(holds(R"({"field": "t", "le": -1})", R"({"t": -1})"));
  CHECK(holds(R"({"field": "t", "eq": 1})", R"({"t": 1.0})"));
  CHECK(holds(R"({"field": "t", "ne": 1})", R"({"t": 2})"));
  // Large unsigned integers compare exactly with signed ones.
  CHECK(holds(R"({"field": "n", "gt": -1})", R"({"n": 18446744073709551615})"));
  CHECK(holds(R"({"field": "n", "lt": 18446744073709551615})",
              R"({"n": 9223372036854775807})"));
  // Several tests on one field must all hold: a range.
  auto range = make(R"({"field": "t", "ge": -40, "le": 125})");
  CHECK(range.holds(json::parse(R"({"t": -40})")));
  CHECK(range.holds(json::parse(R"({"t": 125})")));
  CHECK_FALSE(range.holds(json::parse(R"({"t": 125.01})")));
  CHECK_FALSE(range.holds(json::parse(R"({"t": -41})")));
}

TEST_CASE("predicate strings order by bytes, match regular expressions and "
          "belong to lists",
          "[pipeline][predicate]") {
  CHECK(holds(R"({"field": "ts", "lt": "2026-12-01T11:00:00Z"})",
              R"({"ts": "2026-12-01T10:59:59Z"})"));
  CHECK(holds(R"({"field": "id", "matches": "^dev-[0-9]+$"})",
              R"({"id": "dev-42"})"));
  CHECK_FALSE(holds(R"({"field": "id", "matches": "^dev-[0-9]+$"})",
                    R"({"id": "dev-42x"})"));
  // Unanchored: found anywhere.
  CHECK(
    holds(R"({"field": "msg", "matches": "err"})", R"({"msg": "an error"})"));
  CHECK(holds(R"({"field": "unit", "in": ["C", "F"]})", R"({"unit": "F"})"));
  CHECK_FALSE(
    holds(R"({"field": "unit", "in": ["C", "F"]})", R"({"unit": "K"})"));
  CHECK(holds(R"({"field": "n", "in": [1, 2]})", R"({"n": 2.0})"));
  CHECK(holds(R"({"field": "tags", "eq": ["a", {"b": 1}]})",
              R"({"tags": ["a", {"b": 1.0}]})"));
}

TEST_CASE("predicate exists treats null as missing and type names JSON "
          "types",
          "[pipeline][predicate]") {
  CHECK(holds(R"({"field": "a", "exists": true})", R"({"a": 0})"));
  CHECK_FALSE(holds(R"({"field": "a", "exists": true})", R"({"a": null})"));
  CHECK(holds(R"({"field": "a", "exists": false})", R"({"a": null})"));
  CHECK(holds(R"({"field": "a", "exists": false})", R"({})"));
  CHECK(holds(R"({"field": "a", "eq": null})", R"({"a": null})"));
  CHECK(holds(R"({"field": "a", "type": "integer"})", R"({"a": 3.0})"));
  CHECK_FALSE(holds(R"({"field": "a", "type": "integer"})", R"({"a": 3.5})"));
  CHECK(holds(R"({"field": "a", "type": "number"})", R"({"a": 3})"));
  CHECK(holds(R"({"field": "a", "type": "string"})", R"({"a": "3"})"));
  CHECK(holds(R"({"field": "a", "type": "boolean"})", R"({"a": false})"));
  CHECK(holds(R"({"field": "a", "type": "object"})", R"({"a": {}})"));
  CHECK(holds(R"({"field": "a", "type": "array"})", R"({"a": []})"));
  CHECK(holds(R"({"field": "a", "type": "null"})", R"({"a": null})"));
}

TEST_CASE("predicate type mismatches and missing fields are false, not "
          "errors",
          "[pipeline][predicate]") {
  // Ordering a string against a number, or a boolean at all: false.
  CHECK_FALSE(holds(R"({"field": "t", "gt": 30})", R"({"t": "hot"})"));
  CHECK_FALSE(holds(R"({"field": "t", "lt": 30})", R"({"t": "hot"})"));
  CHECK_FALSE(holds(R"({"field": "t", "gt": 0})", R"({"t": true})"));
  CHECK_FALSE(holds(R"({"field": "t", "gt": 0})", R"({"t": null})"));
  CHECK_FALSE(holds(R"({"field": "t", "gt": 0})", R"({"t": [1]})"));
  CHECK_FALSE(holds(R"({"field": "t", "matches": "1"})", R"({"t": 1})"));
  // eq across types is false, ne true.
  CHECK_FALSE(holds(R"({"field": "t", "eq": "1"})", R"({"t": 1})"));
  CHECK(holds(R"({"field": "t", "ne": "1"})", R"({"t": 1})"));
  // A missing field fails every test but exists:false, ne included.
  for (auto op : {R"("eq": 1)", R"("ne": 1)", R"("lt": 1)", R"("gt": 1)",
                  R"("in": [1])", R"("matches": "")", R"("type": "null")"}) {
    INFO(op);
    CHECK_FALSE(holds(std::string{R"({"field": "t", )"} + op + "}", "{}"));
  }
  // A body that is not an object has no fields.
  CHECK_FALSE(holds(R"({"field": "t", "eq": 1})", "[1]"));
  CHECK(holds(R"({"field": "t", "exists": false})", "42"));
}

TEST_CASE("predicate fields are dotted paths into objects and arrays",
          "[pipeline][predicate]") {
  CHECK(holds(R"({"field": "location.city", "eq": "Oslo"})",
              R"({"location": {"city": "Oslo"}})"));
  CHECK(holds(R"({"field": "readings.1.v", "gt": 5})",
              R"({"readings": [{"v": 1}, {"v": 9}]})"));
  CHECK_FALSE(holds(R"({"field": "readings.2.v", "exists": true})",
                    R"({"readings": [{"v": 1}, {"v": 9}]})"));
}

TEST_CASE("predicate combinators all, any and not nest",
          "[pipeline][predicate]") {
  auto p = make(R"({"any": [
      {"all": [{"field": "kind", "eq": "temp"}, {"field": "v", "gt": 30}]},
      {"not": {"field": "ok", "eq": true}}
    ]})");
  CHECK(p.holds(json::parse(R"({"kind": "temp", "v": 31, "ok": true})")));
  CHECK_FALSE(p.holds(json::parse(R"({"kind": "temp", "v": 30, "ok": true})")));
  CHECK(p.holds(json::parse(R"({"kind": "hum", "v": 1})")));
  CHECK(holds(R"({"all": []})", "{}"));
  CHECK_FALSE(holds(R"({"any": []})", "{}"));
  CHECK(p.describe() == "any(all(kind eq \"temp\", v gt 30), not(ok eq true))");
}

TEST_CASE("predicate config errors name the JSON path and what was expected",
          "[pipeline][predicate]") {
  CHECK(error_of(R"("x")") ==
        "node.json: $.when: expected a predicate (an object with \"field\" "
        "and tests such as \"eq\", or one of \"all\", \"any\", \"not\"), "
        "found \"x\"");
  CHECK(error_of(R"({"field": "t"})") ==
        "node.json: $.when: the test on \"t\" has no operator (expected at "
        "least one of: exists, eq, ne, lt, le, gt, ge, in, matches, type)");
  CHECK(error_of(R"({"field": "t", "greater": 1})") ==
        "node.json: $.when.greater: unknown key (expected \"field\" or a "
        "test: exists, eq, ne, lt, le, gt, ge, in, matches, type)");
  CHECK(error_of(R"({"field": "t", "gt": true})") ==
        "node.json: $.when.gt: expected a number or a string, found true");
  CHECK(error_of(R"({"field": "a..b", "eq": 1})") ==
        "node.json: $.when.field: expected a field path such as "
        "\"device_id\" or \"location.city\" (no empty segments), found "
        "\"a..b\"");
  CHECK(error_of(R"({"any": [{"field": "t", "in": 3}]})") ==
        "node.json: $.when.any[0].in: expected an array, found 3");
  CHECK(error_of(R"({"all": [], "field": "x"})") ==
        "node.json: $.when.field: unexpected key beside \"all\" (a "
        "combinator stands alone; put field tests inside it)");
  CHECK(error_of(R"({"field": "t", "type": "float"})")
          .rfind("node.json: $.when.type: expected one of \"string\"", 0) == 0);
  CHECK(error_of(R"({"field": "t", "exists": 1})") ==
        "node.json: $.when.exists: expected true or false, found 1");
  auto bad_regex = error_of(R"({"field": "t", "matches": "(["})");
  CHECK(bad_regex.rfind("node.json: $.when.matches: expected an ECMAScript "
                        "regular expression, found \"([\" (",
                        0) == 0);
  // Built in code: the JSON parser itself refuses such depth.
  json::value deep = json::parse(R"({"field": "t", "eq": 1})");
  for (int i = 0; i < 40; ++i)
    deep = json::object{{"not", deep}};
  config::config_reader reader{"node.json"};
  CHECK_FALSE(predicate::read(reader, deep, "$.when"));
  CHECK(describe(reader.error())
          .find("predicates nest deeper than 32 "
                "levels") != std::string::npos);
}
