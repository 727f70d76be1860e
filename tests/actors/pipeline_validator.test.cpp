// The validator kind: schemas per message type with a "*" default, schema
// files, the quality score of soft checks and `min_quality`, what reaches
// the output and what fails with which reason, and its options errors.

#include "pipeline/validator.hpp"
#include "pipeline_support.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using namespace warren;
using actors::validator;
using test::recording_context;
namespace json = boost::json;

namespace {

const char* reading_schema = R"({
  "type": "object",
  "required": ["device_id", "value"],
  "properties": {
    "device_id": {"type": "string"},
    "value": {"type": "number"}
  }
})";

std::string options_with(const std::string& extra) {
  return std::string{R"({"schemas": {"reading": )"} + reading_schema +
         R"(}, "output": {"actor": "next"})" + extra + "}";
}

} // namespace

TEST_CASE("validator sends a valid message on unchanged and dead-letters an "
          "invalid one with every violation's path",
          "[pipeline][validator]") {
  test::stage_under_test<validator> stage{options_with("")};
  recording_context good{"reading"};
  auto ok = stage.handle(good, R"({"device_id": "d1", "value": 20.5})");
  CHECK(ok.is_ok());
  REQUIRE(good.sent.size() == 1);
  CHECK(good.sent[0].how == "actor");
  CHECK(good.sent[0].to == "next");
  CHECK(good.sent[0].type == "reading");
  CHECK(good.sent[0].body ==
        json::parse(R"({"device_id": "d1", "value": 20.5})"));

  recording_context bad{"reading"};
  auto failed = stage.handle(bad, R"({"device_id": 7, "value": "hot"})");
  CHECK(bad.sent.empty());
  CHECK_FALSE(failed.is_ok());
  CHECK(failed.permanent());
  CHECK(failed.code() == errc::validation_failed);
  CHECK(failed.reason() ==
        "schema violations (message type 'reading', 2): $.device_id: Value "
        "type not permitted by 'type' constraint.; $.value: Value type not "
        "permitted by 'type' constraint.");
}

TEST_CASE("validator uses the \"*\" schema for other types and messages "
          "without a type, and fails types it has no schema for",
          "[pipeline][validator]") {
  SECTION("without \"*\"") {
    test::stage_under_test<validator> stage{options_with("")};
    recording_context other{"alert"};
    auto failed = stage.handle(other, "{}");
    CHECK(failed.permanent());
    CHECK(failed.reason() ==
          "no schema for message type 'alert' (and no \"*\" schema)");
    recording_context untyped{""};
    CHECK(stage.handle(untyped, "{}").reason() ==
          "no schema for message type (none) (and no \"*\" schema)");
  }
  SECTION("with \"*\"") {
    test::stage_under_test<validator> stage{
      R"({"schemas": {"reading": {"required": ["value"]},
                      "*": {"type": "object", "required": ["kind"]}},
          "output": {"actor": "next"}})"};
    recording_context other{"alert"};
    CHECK(stage.handle(other, R"({"kind": "x"})").is_ok());
    recording_context untyped{""};
    CHECK(stage.handle(untyped, R"({"kind": "x"})").is_ok());
    recording_context bad{"alert"};
    CHECK(stage.handle(bad, R"({"value": 1})").reason() ==
          "schema violation (message type 'alert', 1): $: Missing required "
          "property 'kind'.");
    // The type's own schema wins over "*".
    recording_context reading{"reading"};
    CHECK(stage.handle(reading, R"({"value": 1})").is_ok());
  }
  SECTION("without schemas at all, only soft checks") {
    test::stage_under_test<validator> stage{
      R"({"soft_checks": [{"field": "v", "exists": true}],
          "output": {"actor": "next"}})"};
    recording_context any{"whatever"};
    CHECK(stage.handle(any, R"({"v": 1})").is_ok());
  }
}

TEST_CASE("validator adds the quality score and dead-letters messages below "
          "min_quality with the failed soft checks",
          "[pipeline][validator]") {
  auto options = options_with(R"(,
    "soft_checks": [
      {"name": "value in range", "field": "value", "ge": -40, "le": 125},
      {"field": "unit", "in": ["C", "F"]},
      {"name": "has location", "field": "location", "exists": true},
      {"field": "device_id", "matches": "^dev-"}
    ],
    "min_quality": 0.5)");
  test::stage_under_test<validator> stage{options};
  recording_context full{"reading"};
  REQUIRE(stage
            .handle(full, R"({"device_id": "dev-1", "value": 20, "unit": "C",
                              "location": "hall"})")
            .is_ok());
  REQUIRE(full.sent.size() == 1);
  CHECK(full.sent[0].body.at("quality") == json::value(1.0));

  recording_context half{"reading"};
  // Out of range and no location: 2 of 4, at min_quality: passed.
  REQUIRE(
    stage.handle(half, R"({"device_id": "dev-1", "value": 200, "unit": "F"})")
      .is_ok());
  CHECK(half.sent[0].body.at("quality") == json::value(0.25 * 2));

  recording_context poor{"reading"};
  auto failed =
    stage.handle(poor, R"({"device_id": "x", "value": 200, "unit": "K"})");
  CHECK(poor.sent.empty());
  CHECK(failed.permanent());
  CHECK(failed.code() == errc::validation_failed);
  CHECK(failed.reason() ==
        "quality 0 is below min_quality 0.5 (0 of 4 soft checks passed); "
        "failed: value in range; unit in [\"C\",\"F\"]; has location; "
        "device_id matches \"^dev-\"");
}

TEST_CASE("validator writes the score at quality_field, or not at all when "
          "it is empty",
          "[pipeline][validator]") {
  SECTION("a nested field") {
    test::stage_under_test<validator> stage{
      R"({"soft_checks": [{"field": "v", "gt": 0}, {"field": "w", "gt": 0}],
          "quality_field": "meta.quality", "output": {"actor": "next"}})"};
    recording_context ctx;
    REQUIRE(stage.handle(ctx, R"({"v": 1, "w": 0})").is_ok());
    CHECK(ctx.sent[0].body ==
          json::parse(R"({"v": 1, "w": 0, "meta": {"quality": 0.5}})"));
    recording_context blocked;
    auto failed = stage.handle(blocked, R"({"v": 1, "meta": 3})");
    CHECK(failed.permanent());
    CHECK(failed.reason() == "cannot write the quality score at "
                             "'meta.quality': a field on the way is not an "
                             "object");
    recording_context array;
    CHECK(stage.handle(array, "[1]").reason() ==
          "cannot write the quality score at 'meta.quality': the body is not "
          "a JSON object");
  }
  SECTION("left out") {
    test::stage_under_test<validator> stage{
      R"({"soft_checks": [{"field": "v", "gt": 0}], "quality_field": "",
          "output": {"actor": "next"}})"};
    recording_context ctx;
    REQUIRE(stage.handle(ctx, R"({"v": 1})").is_ok());
    CHECK(ctx.sent[0].body == json::parse(R"({"v": 1})"));
  }
}

TEST_CASE("validator reads schema files relative to the config's directory "
          "and fails its start on a bad one, naming the path",
          "[pipeline][validator]") {
  auto dir = std::filesystem::temp_directory_path() /
             ("warren-validator-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "schemas");
  std::ofstream{dir / "schemas" / "reading.json"} << reading_schema;
  std::ofstream{dir / "schemas" / "broken.json"} << "{\"type\": ";
  std::ofstream{dir / "schemas" / "wrong.json"} << R"({"type": "nope"})";
  const std::string output = R"(, "output": {"actor": "next"}})";
  {
    test::stage_under_test<validator> stage{
      R"({"schemas": {"reading": "schemas/reading.json"})" + output,
      dir.string()};
    recording_context bad{"reading"};
    CHECK(stage.handle(bad, R"({"device_id": "d"})").reason() ==
          "schema violation (message type 'reading', 1): $: Missing required "
          "property 'value'.");
  }
  auto start_error = [&](const std::string& file) {
    try {
      test::stage_under_test<validator> stage{
        R"({"schemas": {"reading": ")" + file + "\"}" + output, dir.string()};
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{"started"};
  };
  auto path = (dir / "schemas").string();
  CHECK(start_error("schemas/missing.json") ==
        "actor 'stage' options: $.options.schemas.reading: cannot read the "
        "schema file " +
          path + "/missing.json: No such file or directory");
  CHECK(start_error("schemas/broken.json")
          .rfind("actor 'stage' options: $.options.schemas.reading: the "
                 "schema file " +
                   path + "/broken.json is not JSON: ",
                 0) == 0);
  CHECK(start_error("schemas/wrong.json") ==
        "actor 'stage' options: $.options.schemas.reading: the schema file " +
          path +
          "/wrong.json is not a schema: Unrecognised JSON type name "
          "'nope'");
  // An absolute path is used as it is.
  CHECK(start_error((dir / "schemas" / "reading.json").string()) == "started");
  std::filesystem::remove_all(dir);
}

TEST_CASE("validator options errors name the JSON path",
          "[pipeline][validator]") {
  using test::options_error;
  CHECK(options_error<validator>(R"({"schemas": {"a": {}}})") ==
        "$.actors[0].options.output: required key is missing");
  CHECK(options_error<validator>(
          R"({"schemas": {"a": {"type": 3}}, "output": {"actor": "n"}})")
          .rfind("$.actors[0].options.schemas.a: not a JSON Schema (draft "
                 "7): ",
                 0) == 0);
  CHECK(options_error<validator>(
          R"({"schemas": {"a": {"pattern": "(["}}, "output": {"actor": "n"}})")
          .rfind("$.actors[0].options.schemas.a: not a JSON Schema (draft "
                 "7): #/pattern: \"([\" is not an ECMAScript regular "
                 "expression",
                 0) == 0);
  CHECK(options_error<validator>(
          R"({"schemas": {"a": 3}, "output": {"actor": "n"}})") ==
        "$.actors[0].options.schemas.a: expected a schema (an object or a "
        "boolean) or the path of a schema file, found 3");
  CHECK(
    options_error<validator>(R"({"schemas": {}, "output": {"actor": "n"}})") ==
    "$.actors[0].options.schemas: expected at least one message type "
    "with its schema (\"*\" for every type)");
  CHECK(
    options_error<validator>(
      R"({"min_quality": 1.5, "soft_checks": [{"field": "a", "exists": true}], "output": {"actor": "n"}})") ==
    "$.actors[0].options.min_quality: expected a number from 0 to 1, "
    "found 1.5");
  CHECK(options_error<validator>(
          R"({"min_quality": 0.5, "output": {"actor": "n"}})") ==
        "$.actors[0].options.min_quality: a minimum quality needs "
        "\"soft_checks\" to score");
  CHECK(
    options_error<validator>(
      R"({"soft_checks": [{"name": "x", "field": "a"}], "output": {"actor": "n"}})") ==
    "$.actors[0].options.soft_checks[0]: the test on \"a\" has no "
    "operator (expected at least one of: exists, eq, ne, lt, le, gt, "
    "ge, in, matches, type)");
  CHECK(
    options_error<validator>(
      R"({"soft_checks": [{"name": "", "field": "a", "exists": true}], "output": {"actor": "n"}})") ==
    "$.actors[0].options.soft_checks[0].name: expected a non-empty "
    "string, found \"\"");
  CHECK(options_error<validator>(
          R"({"quality_field": "a..b", "output": {"actor": "n"}})")
          .rfind("$.actors[0].options.quality_field: expected a field path",
                 0) == 0);
  CHECK(
    options_error<validator>(R"({"schema": {}, "output": {"actor": "n"}})") ==
    "$.actors[0].options.schema: unknown key (expected one of: schemas, "
    "soft_checks, quality_field, min_quality, output)");
  // Files are read when the actor starts, not by `warren check`.
  CHECK(
    options_error<validator>(
      R"({"schemas": {"a": "no/such/file.json"}, "output": {"actor": "n"}})") ==
    "");
}
