// Saga definitions read from a saga actor's config and from the seed's
// `execute_saga` message (pure), with errors naming the JSON path.

#include "saga/saga_definition.hpp"

#include "warren/config/reader.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren;
using namespace warren::actors;

namespace {

// The definition, or the reader's error.
std::optional<saga_definition> read(const char* json, std::string& error) {
  auto doc = boost::json::parse(json);
  config::config_reader reader{"node.json"};
  config::object_reader o{reader, doc.as_object(),
                          "$.actors[0].options.definitions.order"};
  auto def = read_saga_definition(o, "order");
  if (!reader.ok())
    error = describe(reader.error());
  return def;
}

} // namespace

TEST_CASE("a saga definition from the config has its steps, calls, timeouts "
          "and retries, with defaults",
          "[saga]") {
  std::string error;
  auto def = read(R"({"steps": [
      {"id": "create", "action": {"actor": "orders", "type": "create_order",
                                  "body": {"x": 1}},
       "compensation": {"actor": "orders", "type": "cancel_order"},
       "timeout_ms": 5000,
       "retry": {"max": 2, "backoff_ms": 200, "final": ["refused"]}},
      {"id": "notify", "action": {"actor": "mail", "type": "notify"}}],
    "compensation_retry": {"max": 7}, "compensate_on_timeout": false})",
                  error);
  INFO(error);
  REQUIRE(def);
  REQUIRE(def->steps.size() == 2);
  const auto& create = def->steps[0];
  CHECK(create.id == "create");
  CHECK(create.action.actor == "orders");
  CHECK(create.action.body == boost::json::parse(R"({"x": 1})"));
  REQUIRE(create.compensation);
  CHECK(create.compensation->type == "cancel_order");
  CHECK(create.timeout_ms == 5000);
  CHECK(create.retry.max == 2);
  CHECK(create.retry.backoff_ms == 200);
  CHECK(create.retry.final_codes == std::vector<std::string>{"refused"});
  const auto& notify = def->steps[1];
  CHECK_FALSE(notify.compensation);
  CHECK(notify.timeout_ms == 30000);
  CHECK(notify.retry.max == 3);
  // A participant's refusal is not sent again unless `final` says so.
  CHECK(
    notify.retry.final_codes ==
    std::vector<std::string>{"refused", "validation_failed", "unknown_type"});
  CHECK(def->compensation_retry.max == 7);
  CHECK(def->compensation_retry.final_codes.empty());
  CHECK_FALSE(def->compensate_on_timeout);

  // Stored in the config form, it reads back the same: a saga keeps the
  // definition it started with.
  auto stored = encode_saga_definition(*def);
  std::string why;
  auto back = decode_saga_definition("order", stored, why);
  INFO(why);
  REQUIRE(back);
  CHECK(encode_saga_definition(*back) == stored);
  CHECK(back->steps[0].retry.final_codes ==
        std::vector<std::string>{"refused"});
  CHECK(back->steps[1].action.body.is_null());
  CHECK_FALSE(back->compensate_on_timeout);
  CHECK_FALSE(decode_saga_definition("order", boost::json::parse("[1]"), why));
  CHECK_THAT(why, Catch::Contains("saga definition 'order'"));
}

TEST_CASE("a parallel group in the config runs its steps as one group, and "
          "is stored as one",
          "[saga]") {
  std::string error;
  auto def = read(R"({"steps": [
      {"id": "create", "action": {"actor": "orders", "type": "create"}},
      {"parallel": [
        {"id": "reserve", "action": {"actor": "stock", "type": "reserve"}},
        {"id": "fraud", "action": {"actor": "risk", "type": "check"}}]},
      {"id": "charge", "action": {"actor": "pay", "type": "charge"}}]})",
                  error);
  INFO(error);
  REQUIRE(def);
  REQUIRE(def->steps.size() == 4);
  CHECK(def->steps[1].group == 1);
  CHECK(def->steps[2].group == 1);
  CHECK(def->steps[3].group == 2);
  CHECK(check_groups(*def).empty());
  auto stored = encode_saga_definition(*def);
  CHECK(stored.at("steps").at(1).at("parallel").as_array().size() == 2);
  std::string why;
  auto back = decode_saga_definition("order", stored, why);
  REQUIRE(back);
  CHECK(encode_saga_definition(*back) == stored);
  CHECK(back->steps[2].group == 1);
}

TEST_CASE("a bad saga definition names the JSON path of what is wrong",
          "[saga]") {
  const char* path = "node.json: $.actors[0].options.definitions.order";
  std::pair<const char*, std::string> cases[] = {
    {R"({})", ".steps: required key is missing"},
    {R"({"steps": [{"id": "a/b", "action": {"actor": "x", "type": "t"}}]})",
     ".steps[0].id: expected a step id of 1 to 64 bytes without '/'"},
    {R"({"steps": [{"id": "a", "action": {"actor": "x", "type": "t"}},
                   {"id": "a", "action": {"actor": "x", "type": "t"}}]})",
     ".steps[1].id: the step id 'a' is used by an earlier step"},
    {R"({"steps": [{"id": "a", "action": {"type": "t"}}]})",
     ".steps[0].action.actor: required key is missing"},
    {R"({"steps": [{"id": "a", "action": {"actor": "x", "type": "t"},
                    "timeout_ms": 0}]})",
     ".steps[0].timeout_ms"},
    {R"({"steps": [{"id": "a", "action": {"actor": "x", "type": "t"},
                    "retry": {"tries": 2}}]})",
     ".steps[0].retry.tries: unknown key"},
    {R"({"steps": [{"parallel": [{"id": "a", "action": {"actor": "x",
                                                     "type": "t"}}]}]})",
     ".steps[0].parallel: expected at least 2 steps to run in parallel"},
    {R"({"steps": [{"parallel": [{"id": "a", "action": {"actor": "x",
                                                     "type": "t"}},
                                 {"id": "b"}]}]})",
     ".steps[0].parallel[1].action: required key is missing"},
    {R"({"steps": [{"parallel": [], "id": "a"}]})",
     ".steps[0].id: unknown key"},
  };
  for (const auto& [json, expected] : cases) {
    INFO(json);
    std::string error;
    CHECK_FALSE(read(json, error));
    CHECK_THAT(error, Catch::Contains(path + expected));
  }
}

TEST_CASE("the seed's execute_saga message becomes a definition of its own, "
          "its names routed to actors",
          "[saga]") {
  std::map<std::string, std::string> routes{{"create_order", "orders"},
                                            {"cancel_order", "orders"},
                                            {"charge", "payment"},
                                            {"refund", "payment"}};
  auto body = boost::json::parse(R"({"type": "execute_saga", "saga": {
    "saga_id": "order-7", "steps": [
      {"step_id": "s1", "action_name": "create_order",
       "compensate_name": "cancel_order", "action_data": {"total": 12000},
       "compensate_data": {"order": 7}},
      {"step_id": "s2", "action_name": "charge", "compensate_name": "refund",
       "max_retries": 1, "timeout": 10}]}})");
  std::string why;
  auto saga = read_execute_saga(body, routes, why);
  INFO(why);
  REQUIRE(saga);
  CHECK(saga->saga_id == "order-7");
  REQUIRE(saga->definition.steps.size() == 2);
  const auto& s1 = saga->definition.steps[0];
  CHECK(s1.action.actor == "orders");
  CHECK(s1.action.type == "create_order");
  CHECK(s1.action.body == boost::json::parse(R"({"total": 12000})"));
  CHECK(s1.compensation->body == boost::json::parse(R"({"order": 7})"));
  // The seed's defaults: 3 retries backing off 2, 4, 8 s; 300 s timeout.
  CHECK(s1.retry.max == 3);
  CHECK(s1.retry.backoff_ms == 2000);
  CHECK(s1.timeout_ms == 300000);
  const auto& s2 = saga->definition.steps[1];
  CHECK(s2.retry.max == 1);
  CHECK(s2.timeout_ms == 10000);
  CHECK(s2.action.body == boost::json::object{});

  auto unrouted = boost::json::parse(R"({"saga": {"saga_id": "x",
    "steps": [{"step_id": "s1", "action_name": "teleport",
               "compensate_name": "cancel_order"}]}})");
  CHECK_FALSE(read_execute_saga(unrouted, routes, why));
  CHECK_THAT(why, Catch::Contains("$.saga.steps[0].action_name: no route "
                                  "for 'teleport'"));
  CHECK_FALSE(
    read_execute_saga(boost::json::parse(R"({"saga": {}})"), routes, why));
  CHECK_THAT(why, Catch::Contains("$.saga.saga_id"));
}
