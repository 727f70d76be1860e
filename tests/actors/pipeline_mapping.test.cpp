// The transformer's field mapping, operation by operation, with missing
// sources, values of the wrong kind and their options; timestamps in ISO
// 8601 and epoch numbers; and the transformer kind end to end.

#include "pipeline/field_mapping.hpp"
#include "pipeline/timestamp.hpp"
#include "pipeline/transformer.hpp"
#include "pipeline_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using actors::field_mapping;
using actors::parse_iso8601;
using actors::parse_timestamp;
using actors::timestamp_format;
namespace json = boost::json;

namespace {

field_mapping mapping(const std::string& operations) {
  config::config_reader reader{"node.json"};
  auto options = json::parse(R"({"operations": )" + operations + "}");
  config::object_reader obj{reader, options.as_object(), "$.options"};
  auto m = field_mapping::read(obj, "operations");
  INFO(operations << ": " << (reader.ok() ? "" : describe(reader.error())));
  REQUIRE(m);
  return std::move(*m);
}

// The body after the operations, or "error: <why>".
std::string mapped(const std::string& operations, const std::string& body) {
  auto m = mapping(operations);
  auto value = json::parse(body);
  std::string why;
  if (!m.apply(value, why))
    return "error: " + why;
  return json::serialize(value);
}

std::string mapping_error(const std::string& operations) {
  config::config_reader reader{"node.json"};
  auto options = json::parse(R"({"operations": )" + operations + "}");
  config::object_reader obj{reader, options.as_object(), "$.options"};
  CHECK_FALSE(field_mapping::read(obj, "operations"));
  return reader.ok() ? "" : describe(reader.error());
}

int64_t iso(const std::string& text) {
  std::string why;
  auto ms = parse_iso8601(text, why);
  INFO(text << ": " << why);
  REQUIRE(ms);
  return *ms;
}

std::string iso_error(const std::string& text) {
  std::string why;
  CHECK_FALSE(parse_iso8601(text, why));
  return why;
}

} // namespace

TEST_CASE("mapping rename, copy, drop, set and default",
          "[pipeline][mapping]") {
  CHECK(mapped(R"([{"op": "rename", "from": "ts", "to": "timestamp"}])",
               R"({"ts": 1, "a": 2})") == R"({"a":2,"timestamp":1})");
  CHECK(mapped(R"([{"op": "rename", "from": "a.b", "to": "c.d"}])",
               R"({"a": {"b": 1, "x": 0}})") == R"({"a":{"x":0},"c":{"d":1}})");
  CHECK(mapped(R"([{"op": "copy", "from": "device", "to": "meta.device"}])",
               R"({"device": "d1"})") ==
        R"({"device":"d1","meta":{"device":"d1"}})");
  CHECK(mapped(R"([{"op": "drop", "fields": ["debug", "raw.bytes", "nope"]}])",
               R"({"debug": 1, "raw": {"bytes": 2, "n": 3}, "v": 4})") ==
        R"({"raw":{"n":3},"v":4})");
  CHECK(mapped(R"([{"op": "drop", "field": "a"}])", R"({"a": 1})") == "{}");
  CHECK(mapped(R"([{"op": "set", "field": "source", "value": {"k": [1]}}])",
               R"({"source": "old"})") == R"({"source":{"k":[1]}})");
  CHECK(mapped(R"([{"op": "default", "field": "unit", "value": "C"}])",
               R"({"v": 1})") == R"({"v":1,"unit":"C"})");
  CHECK(mapped(R"([{"op": "default", "field": "unit", "value": "C"}])",
               R"({"unit": null})") == R"({"unit":"C"})");
  CHECK(mapped(R"([{"op": "default", "field": "unit", "value": "C"}])",
               R"({"unit": "F"})") == R"({"unit":"F"})");
}

TEST_CASE("mapping nest and flatten", "[pipeline][mapping]") {
  CHECK(
    mapped(R"([{"op": "nest", "fields": ["lat", "lon"], "into": "location"}])",
           R"({"lat": 1.5, "lon": 2.5, "v": 3})") ==
    R"({"v":3,"location":{"lat":1.5E0,"lon":2.5E0}})");
  // Into an existing object; missing fields are skipped.
  CHECK(mapped(R"([{"op": "nest", "fields": ["lat", "alt"], "into": "loc"}])",
               R"({"lat": 1, "loc": {"city": "Oslo"}})") ==
        R"({"loc":{"city":"Oslo","lat":1}})");
  CHECK(mapped(R"([{"op": "nest", "fields": ["x"], "into": "loc"}])",
               R"({"v": 1})") == R"({"v":1})");
  CHECK(mapped(R"([{"op": "nest", "fields": ["lat"], "into": "loc"}])",
               R"({"lat": 1, "loc": 5})") ==
        "error: operations[0] (nest lat): $.loc: expected an object to nest "
        "into, found 5");
  CHECK(mapped(R"([{"op": "flatten", "field": "location"}])",
               R"({"location": {"lat": 1, "geo": {"x": 2}}, "v": 3})") ==
        R"({"v":3,"location_lat":1,"location_geo_x":2})");
  CHECK(
    mapped(
      R"([{"op": "flatten", "field": "a.b", "separator": ".", "prefix": ""}])",
      R"({"a": {"b": {"c": 1}, "d": 2}})") == R"({"a":{"d":2,"c":1}})");
  CHECK(mapped(R"([{"op": "flatten"}])",
               R"({"a": {"b": 1, "c": {"d": 2}}, "e": 3, "f": {}})") ==
        R"({"a_b":1,"a_c_d":2,"e":3,"f":{}})");
  CHECK(mapped(R"([{"op": "flatten", "field": "v"}])", R"({"v": 3})") ==
        "error: operations[0] (flatten v): $.v: expected an object to "
        "flatten, found 3");
}

TEST_CASE("mapping scale converts units with factor, offset and decimals",
          "[pipeline][mapping]") {
  // Fahrenheit to Celsius: (F - 32) * 5/9 = F * 5/9 - 160/9.
  auto f_to_c = R"([{"op": "scale", "field": "t", "factor": 0.5555555555555556,
                     "offset": -17.77777777777778, "decimals": 2}])";
  CHECK(mapped(f_to_c, R"({"t": 212})") == R"({"t":1E2})");
  CHECK(mapped(f_to_c, R"({"t": 98.6})") == R"({"t":3.7E1})");
  CHECK(mapped(f_to_c, R"({"t": 0})") == R"({"t":-1.778E1})");
  CHECK(
    mapped(R"([{"op": "scale", "field": "ms", "factor": 0.001, "to": "s"}])",
           R"({"ms": 1500})") == R"({"ms":1500,"s":1.5E0})");
  CHECK(
    mapped(R"([{"op": "scale", "field": "n", "factor": 10, "decimals": 0}])",
           R"({"n": 1.26})") == R"({"n":13})");
  CHECK(mapped(R"([{"op": "scale", "field": "t", "factor": 2}])",
               R"({"t": "hot"})") ==
        "error: operations[0] (scale t): $.t: expected a number, found "
        "\"hot\"");
  CHECK(
    mapped(
      R"([{"op": "scale", "field": "t", "factor": 2, "on_invalid": "skip"}])",
      R"({"t": "hot"})") == R"({"t":"hot"})");
  CHECK(mapped(R"([{"op": "scale", "field": "t", "factor": 1e308}])",
               R"({"t": 1e308})") ==
        "error: operations[0] (scale t): $.t: scaling 1E308 gives no finite "
        "number");
}

TEST_CASE("mapping upper and lower change ASCII letters only",
          "[pipeline][mapping]") {
  CHECK(mapped(R"([{"op": "upper", "field": "unit"}])", R"({"unit": "c°x"})") ==
        R"({"unit":"C°X"})");
  CHECK(mapped(R"([{"op": "lower", "field": "id", "to": "key"}])",
               R"({"id": "DEV-1"})") == R"({"id":"DEV-1","key":"dev-1"})");
  CHECK(mapped(R"([{"op": "lower", "field": "id"}])", R"({"id": 5})") ==
        "error: operations[0] (lower id): $.id: expected a string, found 5");
}

TEST_CASE("mapping timestamp turns ISO 8601 and epoch numbers into epoch "
          "milliseconds",
          "[pipeline][mapping]") {
  auto op = R"([{"op": "timestamp", "field": "ts"}])";
  CHECK(mapped(op, R"({"ts": "2026-12-01T10:42:20.123Z"})") ==
        R"({"ts":1796121740123})");
  CHECK(mapped(op, R"({"ts": 1796121740})") == R"({"ts":1796121740000})");
  CHECK(mapped(op, R"({"ts": 1796121740.5})") == R"({"ts":1796121740500})");
  CHECK(mapped(op, R"({"ts": 1796121740123})") == R"({"ts":1796121740123})");
  CHECK(mapped(op, R"({"ts": "yesterday"})") ==
        "error: operations[0] (timestamp ts): $.ts: not an ISO 8601 "
        "timestamp (no date YYYY-MM-DD; expected e.g. 2026-12-01T10:42:20Z "
        "or 2026-12-01T10:42:20.123+01:00), found \"yesterday\"");
  CHECK(mapped(op, R"({"ts": true})") ==
        "error: operations[0] (timestamp ts): $.ts: expected an ISO 8601 "
        "string or epoch seconds or milliseconds, found true");
  CHECK(
    mapped(
      R"([{"op": "timestamp", "field": "ts", "format": "epoch_ms", "to": "ms"}])",
      R"({"ts": 1796121740})") == R"({"ts":1796121740,"ms":1796121740})");
  CHECK(mapped(R"([{"op": "timestamp", "field": "ts", "format": "epoch_s"}])",
               R"({"ts": "1796121740"})") ==
        "error: operations[0] (timestamp ts): $.ts: expected epoch seconds "
        "(a number), found \"1796121740\"");
  CHECK(mapped(R"([{"op": "timestamp", "field": "ts", "format": "iso8601"}])",
               R"({"ts": 1796121740})") ==
        "error: operations[0] (timestamp ts): $.ts: expected an ISO 8601 "
        "string, found 1796121740");
  CHECK(mapped(R"([{"op": "timestamp", "field": "ts", "on_invalid": "skip"}])",
               R"({"ts": "soon"})") == R"({"ts":"soon"})");
}

TEST_CASE("ISO 8601 timestamps: offsets, fractions and real dates",
          "[pipeline][mapping]") {
  CHECK(iso("1970-01-01T00:00:00Z") == 0);
  CHECK(iso("1970-01-01T00:00:00.001Z") == 1);
  CHECK(iso("1970-01-01T01:00:00+01:00") == 0);
  CHECK(iso("1969-12-31T19:00:00-0500") == 0);
  CHECK(iso("1970-01-01T05:30+05:30") == 0);
  CHECK(iso("1970-01-01 00:00:01,5z") == 1500);
  CHECK(iso("1970-01-01T00:00:00.9999999Z") == 999);
  CHECK(iso("2000-02-29T00:00:00Z") == 951782400000);
  CHECK(iso("2026-12-01T10:42:20+00") == 1796121740000);
  CHECK(iso("1969-12-31T23:59:59Z") == -1000);
  CHECK(iso("1600-03-01T00:00:00Z") == -11670912000000);
  CHECK(iso_error("2026-12-01T10:42:20").find("no offset: add Z or +HH:MM") !=
        std::string::npos);
  CHECK(iso_error("2025-02-29T00:00:00Z").find("no such day") !=
        std::string::npos);
  CHECK(iso_error("2026-13-01T00:00:00Z").find("month out of range") !=
        std::string::npos);
  CHECK(iso_error("2026-12-01T24:00:00Z").find("time out of range") !=
        std::string::npos);
  CHECK(iso_error("2026-12-01").find("no time after the date") !=
        std::string::npos);
  CHECK(iso_error("2026-12-01T10:42:20Zjunk").find("unexpected text") !=
        std::string::npos);
  CHECK(iso_error("2026-12-01T10:42:20.Z").find("no digits") !=
        std::string::npos);
  CHECK(iso_error("2026-12-01T10:42:20+25:00").find("offset out of range") !=
        std::string::npos);
  // Every day of a leap and a common year round-trips with days_from_civil.
  for (int year : {2023, 2024}) {
    int64_t day = actors::days_from_civil(year, 1, 1);
    for (unsigned month = 1; month <= 12; ++month)
      for (unsigned d = 1; d <= 31; ++d) {
        char text[32];
        std::snprintf(text, sizeof text, "%04d-%02u-%02uT00:00:00Z", year,
                      month, d);
        std::string why;
        auto ms = parse_iso8601(text, why);
        if (!ms)
          continue; // no such day
        CHECK(*ms == day * 86400000);
        ++day;
      }
    CHECK(day == actors::days_from_civil(year + 1, 1, 1));
  }
  std::string why;
  CHECK(*parse_timestamp(json::value(99999999999.0),
                         timestamp_format::automatic, why) == 99999999999000);
  CHECK(*parse_timestamp(json::value(100000000000), timestamp_format::automatic,
                         why) == 100000000000);
  CHECK_FALSE(
    parse_timestamp(json::value(1e300), timestamp_format::epoch_seconds, why));
}

TEST_CASE("mapping missing sources skip, unless if_missing is fail",
          "[pipeline][mapping]") {
  for (auto op : {R"({"op": "rename", "from": "x", "to": "y")",
                  R"({"op": "copy", "from": "x", "to": "y")",
                  R"({"op": "scale", "field": "x", "factor": 2)",
                  R"({"op": "upper", "field": "x")",
                  R"({"op": "timestamp", "field": "x")",
                  R"({"op": "flatten", "field": "x")",
                  R"({"op": "nest", "fields": ["x"], "into": "y")"}) {
    INFO(op);
    CHECK(mapped(std::string{"["} + op + "}]", R"({"v": 1})") == R"({"v":1})");
    auto failing = mapped(std::string{"["} + op + R"(, "if_missing": "fail"}])",
                          R"({"v": 1})");
    CHECK(failing.find(": $.x: the field is missing") != std::string::npos);
  }
}

TEST_CASE("mapping operations apply in order, and a write under a "
          "non-object fails without losing the field",
          "[pipeline][mapping]") {
  CHECK(mapped(R"([{"op": "rename", "from": "a", "to": "b"},
                  {"op": "scale", "field": "b", "factor": 2},
                  {"op": "copy", "from": "b", "to": "c"},
                  {"op": "drop", "fields": ["b"]}])",
               R"({"a": 2})") == R"({"c":4E0})");
  CHECK(mapped(R"([{"op": "rename", "from": "a", "to": "v.x"}])",
               R"({"a": 1, "v": 2})") ==
        "error: operations[0] (rename a): cannot write $.v.x: a field on its "
        "way is not an object");
  CHECK(
    mapped(
      R"([{"op": "rename", "from": "a", "to": "v.x", "on_invalid": "skip"}])",
      R"({"a": 1, "v": 2})")
      .find("unknown key") == std::string::npos);
  CHECK(mapped(R"([{"op": "set", "field": "a", "value": 1}])", "[1]") ==
        "error: operations[0] (set a): cannot write $.a: the body is not a "
        "JSON object");
}

TEST_CASE("mapping options errors name the operation's JSON path",
          "[pipeline][mapping]") {
  CHECK(mapping_error(R"([{"op": "move"}])")
          .rfind("node.json: $.options.operations[0].op: expected one of "
                 "\"rename\"",
                 0) == 0);
  CHECK(mapping_error(R"([{"from": "a"}])") ==
        "node.json: $.options.operations[0].op: required key is missing");
  CHECK(mapping_error(R"([{"op": "rename", "from": "a"}])") ==
        "node.json: $.options.operations[0].to: required key is missing");
  CHECK(mapping_error(R"([{"op": "scale", "field": "a", "factor": "2"}])") ==
        "node.json: $.options.operations[0].factor: expected a number, "
        "found \"2\"");
  CHECK(mapping_error(R"([{"op": "drop", "field": "a", "fields": ["b"]}])") ==
        "node.json: $.options.operations[0]: expected either \"field\" (one "
        "path) or \"fields\" (an array of paths)");
  CHECK(mapping_error(R"([{"op": "set", "field": "a"}])") ==
        "node.json: $.options.operations[0].value: required key is missing");
  CHECK(mapping_error(R"([{"op": "upper", "field": "a", "value": 1}])") ==
        "node.json: $.options.operations[0].value: unknown key (expected one "
        "of: op, field, to, if_missing, on_invalid)");
  CHECK(
    mapping_error(R"([{"op": "timestamp", "field": "a", "format": "unix"}])") ==
    "node.json: $.options.operations[0].format: expected one of "
    "\"auto\", \"iso8601\", \"epoch_s\", \"epoch_ms\", found \"unix\"");
  CHECK(mapping_error(R"([{"op": "nest", "fields": [], "into": "x"}])") ==
        "node.json: $.options.operations[0].fields: expected at least one "
        "field path");
  CHECK(mapping_error(R"([{"op": "copy", "from": "a.", "to": "b"}])") ==
        "node.json: $.options.operations[0].from: expected a field path such "
        "as \"device_id\" or \"location.city\" (no empty segments), found "
        "\"a.\"");
  CHECK(mapping_error(
          R"([{"op": "scale", "field": "a", "if_missing": "ignore"}])") ==
        "node.json: $.options.operations[0].if_missing: expected one of "
        "\"skip\", \"fail\", found \"ignore\"");
}

TEST_CASE("transformer maps a copy of the body and sends it on, and "
          "dead-letters a message an operation fails on",
          "[pipeline][mapping]") {
  test::stage_under_test<actors::transformer> stage{R"({
    "operations": [{"op": "rename", "from": "temp_f", "to": "temp_c"},
                   {"op": "scale", "field": "temp_c", "factor": 0.5555555555555556,
                    "offset": -17.77777777777778, "decimals": 1},
                   {"op": "timestamp", "field": "ts"}],
    "output": {"exchange": "metrics", "routing_key": "t.{device_id}",
               "type": "reading.clean"}})"};
  test::recording_context ctx{"reading"};
  REQUIRE(stage
            .handle(ctx, R"({"device_id": "d1", "temp_f": 212,
                             "ts": "1970-01-01T00:00:01Z"})")
            .is_ok());
  REQUIRE(ctx.sent.size() == 1);
  CHECK(ctx.sent[0].how == "publish");
  CHECK(ctx.sent[0].to == "metrics");
  CHECK(ctx.sent[0].routing_key == "t.d1");
  CHECK(ctx.sent[0].type == "reading.clean");
  CHECK(ctx.sent[0].body ==
        json::parse(R"({"device_id": "d1", "ts": 1000, "temp_c": 100.0})"));
  test::recording_context bad{"reading"};
  auto failed = stage.handle(bad, R"({"device_id": "d1", "ts": "noon"})");
  CHECK(bad.sent.empty());
  CHECK(failed.permanent());
  CHECK(failed.code() == errc::validation_failed);
  CHECK(failed.reason().rfind("operations[2] (timestamp ts): $.ts: not an "
                              "ISO 8601 timestamp",
                              0) == 0);
  CHECK(
    test::options_error<actors::transformer>(R"({"output": {"actor": "x"}})") ==
    "$.actors[0].options.operations: required key is missing");
}
