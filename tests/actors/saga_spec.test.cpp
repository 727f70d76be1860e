// Sagas defined in C++ (warren/actors/saga.hpp): a spec becomes the
// machine's definition, its branches see the saga, and a bad spec is
// refused at registration, naming what is wrong.

#include "saga/saga_spec.hpp"

#include "warren/runtime/registry.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren;
using namespace warren::actors;

namespace {

saga_step_spec step(const char* id, bool undo = true) {
  saga_step_spec s;
  s.id = id;
  s.action = {std::string{id} + "-svc", id, nullptr};
  if (undo)
    s.compensation = saga_command_spec{std::string{id} + "-svc",
                                       std::string{"undo-"} + id, nullptr};
  return s;
}

std::string refusal(const std::vector<saga_spec>& specs) {
  try {
    definitions_of(specs);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

} // namespace

TEST_CASE("a C++ saga spec becomes a definition with groups, retries and "
          "branches that see the saga's data and results",
          "[saga]") {
  saga_spec order{"order"};
  auto charge = step("charge");
  charge.retries = 1;
  charge.timeout = std::chrono::milliseconds{500};
  order.step(step("create"))
    .parallel({step("reserve"), step("fraud", false)})
    .step(charge)
    .branch_after("create",
                  [](const saga_view& saga) {
                    // Digital goods need no stock.
                    if (saga.data().at("digital").as_bool())
                      return saga_choice::go_to("charge");
                    CHECK(saga.result("create") != nullptr);
                    CHECK(saga.result("charge") == nullptr);
                    return saga_choice::next();
                  })
    .compensation_retry(7, std::chrono::milliseconds{50});
  auto defs = definitions_of({order});
  REQUIRE(defs.size() == 1);
  const auto& def = defs[0];
  REQUIRE(def.steps.size() == 4);
  CHECK(def.steps[2].group == 1);
  CHECK_FALSE(def.steps[2].compensation);
  CHECK(def.steps[3].timeout_ms == 500);
  CHECK(def.steps[3].retry.max == 1);
  CHECK(def.compensation_retry.max == 7);
  CHECK(check_groups(def).empty());
  REQUIRE(def.branches.count(0) == 1);

  for (bool digital : {true, false}) {
    auto data = boost::json::parse(digital ? R"({"digital": true})"
                                           : R"({"digital": false})");
    saga_instance inst;
    inst.saga_id = "s1";
    start_saga(def, inst, 0);
    auto e = on_reply(def, inst, {"s1/create/a/1", true, 1, {}, {}}, 10, &data);
    std::vector<std::string> sent;
    for (const auto& c : e.commands)
      sent.push_back(c.id);
    CHECK(sent == (digital ? std::vector<std::string>{"s1/charge/a/1"}
                           : std::vector<std::string>{"s1/reserve/a/1",
                                                      "s1/fraud/a/1"}));
  }
}

TEST_CASE("a bad C++ saga spec is refused, naming what is wrong", "[saga]") {
  CHECK_THAT(refusal({saga_spec{"o"}.step(step("a/b"))}),
             Catch::Contains("saga definition 'o': step 'a/b': expected a "
                             "step id"));
  CHECK_THAT(refusal({saga_spec{"o"}.step(step("a")).step(step("a"))}),
             Catch::Contains("step id 'a' is used twice"));
  CHECK_THAT(refusal({saga_spec{"o"}.parallel({})}),
             Catch::Contains("group 0 has no steps"));
  CHECK_THAT(refusal({saga_spec{"o"}.step(step("a")).branch_after(
               "b", [](const saga_view&) { return saga_choice::next(); })}),
             Catch::Contains("a branch after 'b', which is no step"));
  CHECK_THAT(refusal({saga_spec{"o"}.step(step("a")), saga_spec{"o"}}),
             Catch::Contains("saga definition 'o': defined twice"));
  auto no_actor = step("a");
  no_actor.action.actor.clear();
  CHECK_THAT(refusal({saga_spec{"o"}.step(no_actor)}),
             Catch::Contains("an action needs an actor and a type"));
  registry kinds;
  CHECK_THROWS_AS(
    add_saga_kind(kinds, "shop.sagas",
                  {saga_spec{"o"}.step(step("a")).step(step("a"))}),
    std::invalid_argument);
  add_saga_kind(kinds, "shop.sagas", {saga_spec{"o"}.step(step("a"))});
  REQUIRE(kinds.describe("shop.sagas") != nullptr);
  CHECK(kinds.describe("shop.sagas")->stateful());
}
