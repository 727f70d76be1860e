// The built-in kinds' descriptors, checked against configs the way
// `warren check` and every node start do: which kinds take a handler, and
// their options validators, with errors that name the file and JSON path.

#include "warren/actors/builtin.hpp"
#include "warren/core/errc.hpp"
#include "warren/runtime/node.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>

using namespace warren;

namespace {

const std::string bad_kinds_dir =
  std::string{WARREN_SOURCE_DIR} + "/tests/configs/bad_kinds";

// File -> what follows "<path>: " in the error.
const std::map<std::string, std::string> bad_kinds = {
  {"service_without_handler.json",
   "$.actors[0].handler: required key is missing (kind \"service\" needs a "
   "handler)"},
  {"handler_for_plain_kind.json",
   "$.actors[0].handler: only the kinds \"service\", \"subscriber\" and "
   "\"worker_pool\" take a handler (this actor's kind is \"echo\")"},
  {"record_without_path.json",
   "$.actors[1].options.path: required key is missing"},
  {"record_path_not_a_string.json",
   "$.actors[0].options.path: expected a non-empty string, found 42"},
  {"echo_with_options.json",
   "$.actors[0].options.verbose: unknown key (expected no keys here)"},
  {"unknown_handler.json",
   "$.actors[0].handler: unknown handler kind 'bill' (registered kinds: echo, "
   "enricher, event_store, filter, log, projection, record, router, saga, "
   "service, subscriber, transformer, validator, window, worker_pool)"},
  {"projection_bad_sql.json",
   "$.actors[0].options.on.OrderCreated[0].sql: SQL: no such table: "
   "p_check_g0_orderz"},
  // An event store may be sharded (actors[0]); a projection may not.
  {"projection_sharded.json",
   "$.actors[1].options.source.shards: a sharded projection keeps each "
   "shard of its store in the shard with the same number: expected the "
   "projection's shards (2), found 0 (the store must be sharded too)"},
  {"saga_step_without_action.json",
   "$.actors[0].options.definitions.order.steps[1].action: required key is "
   "missing"},
};

caf::error check(const std::string& path, const registry& kinds) {
  auto cfg = config::load_config(path);
  REQUIRE(cfg);
  return runtime::check_kinds(*cfg, kinds);
}

// A kind that does its work through a handler, as service does.
class wrapper : public actor {
 public:
  using actor::actor;
  void setup(handlers&) override {
    // The test only checks its config.
  }
};

} // namespace

TEST_CASE("every actor is checked against its kind's descriptor, and each "
          "error names the file and JSON path",
          "[kinds]") {
  registry kinds;
  actors::register_builtin_kinds(kinds);
  for (const auto& [file, expected] : bad_kinds) {
    DYNAMIC_SECTION(file) {
      auto path = bad_kinds_dir + "/" + file;
      auto err = check(path, kinds);
      REQUIRE(err);
      CHECK(describe(err) == path + ": " + expected);
    }
  }
}

TEST_CASE("every file of bad kinds has an expected error", "[kinds]") {
  for (const auto& entry : std::filesystem::directory_iterator{bad_kinds_dir}) {
    auto name = entry.path().filename().string();
    INFO(name);
    CHECK(bad_kinds.count(name) == 1);
  }
}

TEST_CASE("the built-in kinds: service, subscriber and worker_pool take a "
          "handler, window, event_store, saga and projection are stateful, "
          "worker_pool the one "
          "pool",
          "[kinds]") {
  registry kinds;
  actors::register_builtin_kinds(kinds);
  CHECK(kinds.handler_kinds() ==
        std::vector<std::string>{"service", "subscriber", "worker_pool"});
  for (const auto& name : kinds.kinds()) {
    INFO(name);
    const auto* kind = kinds.describe(name);
    REQUIRE(kind != nullptr);
    auto stateful = name == "window" || name == "event_store" ||
                    name == "saga" || name == "projection";
    auto family = stateful                ? kind_descriptor::family::stateful
                  : name == "worker_pool" ? kind_descriptor::family::pool
                                          : kind_descriptor::family::actor;
    CHECK(kind->what == family);
  }
}

TEST_CASE("a kind registered with its own options validator and a handler "
          "rule is checked by them, and by its handler kind's validator",
          "[kinds]") {
  registry kinds;
  actors::register_builtin_kinds(kinds);
  kind_traits traits;
  traits.takes_handler = true;
  traits.check_options = [](config::object_reader& options) {
    options.allow({"mode"});
    options.choice("mode", {"fast", "safe"});
  };
  kinds.add_kind<wrapper>("test.wrapper", traits);
  config::node_config cfg;
  cfg.source_file = "node.json";
  config::actor_spec spec;
  spec.name = "w";
  spec.kind = "test.wrapper";
  spec.handler = "echo";
  spec.options = boost::json::object{{"mode", "slow"}};
  cfg.actors.push_back(spec);
  auto err = runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK(code_of(err) == errc::invalid_config);
  CHECK(describe(err) == "node.json: $.actors[0].options.mode: expected one "
                         "of \"fast\", \"safe\", found \"slow\"");
  cfg.actors[0].options = boost::json::object{{"mode", "safe"}};
  // The handler kind's validator runs too: echo takes no options.
  err = runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK(describe(err) == "node.json: $.actors[0].options.mode: unknown key "
                         "(expected no keys here)");
  cfg.actors[0].options = {};
  CHECK_FALSE(runtime::check_kinds(cfg, kinds));
  // A kind that takes no handler is told so, with the kinds that do.
  cfg.actors[0].kind = "echo";
  err = runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK(describe(err) ==
        "node.json: $.actors[0].handler: only the kinds \"service\", "
        "\"subscriber\", \"test.wrapper\" and \"worker_pool\" take a "
        "handler (this actor's kind is \"echo\")");
}
