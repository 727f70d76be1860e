// The pipeline kinds as the node sees them: registered among the built-in
// kinds (stateless, no handler), and their options checked in config files
// the way `warren check` and every node start do, with errors that name the
// file and the JSON path.

#include "warren/actors/builtin.hpp"
#include "warren/core/errc.hpp"
#include "warren/runtime/node.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>

using namespace warren;

namespace {

const std::string bad_dir =
  std::string{WARREN_SOURCE_DIR} + "/tests/configs/bad_pipeline";

// File -> what follows "<path>: " in the error.
const std::map<std::string, std::string> bad_configs = {
  {"validator_bad_schema.json",
   "$.actors[0].options.schemas.reading: not a JSON Schema (draft 7): "
   "#/properties/id/pattern: \"([\" is not an ECMAScript regular "
   "expression"},
  {"validator_min_quality_out_of_range.json",
   "$.actors[0].options.min_quality: expected a number from 0 to 1, found "
   "80"},
  {"transformer_unknown_op.json",
   "$.actors[0].options.operations[1].op: expected one of \"rename\", "
   "\"copy\", \"drop\", \"set\", \"default\", \"nest\", \"flatten\", "
   "\"scale\", \"upper\", \"lower\", \"timestamp\", found \"convert\""},
  {"router_bad_key_template.json",
   "$.actors[0].options.routes[0].output.routing_key: the field opened at "
   "offset 4 is not closed with '}'"},
  {"router_bad_predicate.json",
   "$.actors[0].options.routes[0].when.all[0].above: unknown key (expected "
   "\"field\" or a test: exists, eq, ne, lt, le, gt, ge, in, matches, "
   "type)"},
  {"filter_without_rule.json",
   "$.actors[0].options: expected either \"drop_when\" or \"keep_when\" (a "
   "predicate)"},
  {"filter_without_output.json",
   "$.actors[0].options.output: required key is missing"},
};

} // namespace

TEST_CASE("the pipeline kinds are built in, stateless and take no handler",
          "[pipeline][kinds]") {
  registry kinds;
  actors::register_builtin_kinds(kinds);
  for (const char* name : {"validator", "transformer", "router", "filter"}) {
    INFO(name);
    const auto* kind = kinds.describe(name);
    REQUIRE(kind != nullptr);
    CHECK(kind->what == kind_descriptor::family::actor);
    CHECK_FALSE(kind->takes_handler);
    CHECK(kind->check_options);
  }
}

TEST_CASE("bad pipeline options in a config file are errors that name the "
          "file and the JSON path",
          "[pipeline][kinds]") {
  registry kinds;
  actors::register_builtin_kinds(kinds);
  for (const auto& [file, expected] : bad_configs) {
    DYNAMIC_SECTION(file) {
      auto path = bad_dir + "/" + file;
      auto cfg = config::load_config(path);
      REQUIRE(cfg);
      auto err = runtime::check_kinds(*cfg, kinds);
      REQUIRE(err);
      CHECK(code_of(err) == errc::invalid_config);
      auto text = describe(err);
      // The regular expression library's own words end some messages.
      CHECK(text.substr(0, path.size() + 2 + expected.size()) ==
            path + ": " + expected);
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator{bad_dir}) {
    INFO(entry.path().filename().string());
    CHECK(bad_configs.count(entry.path().filename().string()) == 1);
  }
}
