// The router (first and all matches, otherwise, unroutable, templated keys)
// and the filter (drop_when, keep_when), through a recording context, and
// their options errors.

#include "pipeline/filter.hpp"
#include "pipeline/router.hpp"
#include "pipeline/routing.hpp"
#include "pipeline_support.hpp"
#include "warren/metrics/registry.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using actors::filter;
using actors::router;
using test::recording_context;
namespace json = boost::json;

namespace {

const char* routes = R"(
  "routes": [
    {"name": "hot", "when": {"field": "t", "gt": 30},
     "output": {"exchange": "alerts", "routing_key": "hot.{device_id}"}},
    {"name": "metric", "when": {"field": "kind", "eq": "metric"},
     "output": {"actor": "aggregate", "type": "metric"}}
  ])";

std::string router_options(const std::string& extra) {
  return "{" + std::string{routes} + extra + "}";
}

} // namespace

TEST_CASE("router sends a message to the first route that takes it",
          "[pipeline][router]") {
  test::stage_under_test<router> stage{router_options("")};
  recording_context both{"reading"};
  REQUIRE(
    stage.handle(both, R"({"t": 35, "kind": "metric", "device_id": "d7"})")
      .is_ok());
  REQUIRE(both.sent.size() == 1);
  CHECK(both.sent[0].how == "publish");
  CHECK(both.sent[0].to == "alerts");
  CHECK(both.sent[0].routing_key == "hot.d7");
  CHECK(both.sent[0].type == "reading");
  recording_context second{"reading"};
  REQUIRE(stage.handle(second, R"({"t": 20, "kind": "metric"})").is_ok());
  REQUIRE(second.sent.size() == 1);
  CHECK(second.sent[0].to == "aggregate");
  CHECK(second.sent[0].type == "metric");
  CHECK(second.sent[0].body == json::parse(R"({"t": 20, "kind": "metric"})"));
}

TEST_CASE("router in mode all sends a message to every route that takes it",
          "[pipeline][router]") {
  test::stage_under_test<router> stage{router_options(R"(, "mode": "all")")};
  recording_context ctx{"reading"};
  REQUIRE(stage.handle(ctx, R"({"t": 35, "kind": "metric", "device_id": 7})")
            .is_ok());
  REQUIRE(ctx.sent.size() == 2);
  CHECK(ctx.sent[0].routing_key == "hot.7");
  CHECK(ctx.sent[1].to == "aggregate");
}

TEST_CASE("router with no matching route dead-letters the message, and "
          "otherwise takes it when given",
          "[pipeline][router]") {
  test::stage_under_test<router> strict{router_options("")};
  recording_context lost{"reading"};
  auto failed = strict.handle(lost, R"({"t": 20, "kind": "log"})");
  CHECK(lost.sent.empty());
  CHECK_FALSE(failed.is_ok());
  CHECK(failed.permanent());
  CHECK(failed.code() == errc::unroutable);
  CHECK(failed.reason() == "no route takes the message and the router has "
                           "no \"otherwise\" output");

  test::stage_under_test<router> lenient{
    router_options(R"(, "otherwise": {"actor": "archive"})")};
  recording_context kept{"reading"};
  REQUIRE(lenient.handle(kept, R"({"t": 20, "kind": "log"})").is_ok());
  REQUIRE(kept.sent.size() == 1);
  CHECK(kept.sent[0].to == "archive");
}

TEST_CASE("router fails a message whose routing key cannot be made, naming "
          "the route and the field",
          "[pipeline][router]") {
  test::stage_under_test<router> stage{router_options("")};
  recording_context ctx{"reading"};
  auto failed = stage.handle(ctx, R"({"t": 35})");
  CHECK(failed.permanent());
  CHECK(failed.code() == errc::validation_failed);
  CHECK(failed.reason() == "route \"hot\": cannot make the routing key "
                           "'hot.{device_id}': field 'device_id' is missing");
}

TEST_CASE("routing table names routes by index when they have no name",
          "[pipeline][router]") {
  config::config_reader reader{"node.json"};
  auto options = json::parse(R"({"routes": [
      {"when": {"field": "a", "exists": true}, "output": {"actor": "x"}},
      {"name": "b", "when": {"field": "b", "exists": true}, "output": {"actor": "y"}}]})");
  config::object_reader obj{reader, options.as_object(), "$.options"};
  auto table = actors::routing_table::read(obj);
  REQUIRE(table);
  CHECK(table->routes()[0].name == "0");
  CHECK(table->routes()[1].name == "b");
  CHECK_FALSE(table->all_matches());
  CHECK_FALSE(table->otherwise());
  std::vector<std::size_t> matched{9};
  table->select(json::parse(R"({"b": 1})"), matched);
  CHECK(matched == std::vector<std::size_t>{1});
  table->select(json::parse(R"({})"), matched);
  CHECK(matched.empty());
}

TEST_CASE("router options errors name the JSON path", "[pipeline][router]") {
  using test::options_error;
  CHECK(options_error<router>("{}") ==
        "$.actors[0].options.routes: required key is missing");
  CHECK(options_error<router>(R"({"routes": []})") ==
        "$.actors[0].options.routes: expected 1 to 1000 routes, found 0");
  CHECK(options_error<router>(R"({"routes": [{"output": {"actor": "x"}}]})") ==
        "$.actors[0].options.routes[0].when: required key is missing");
  CHECK(options_error<router>(
          R"({"routes": [{"when": {"field": "a", "exists": true}}]})") ==
        "$.actors[0].options.routes[0].output: required key is missing");
  CHECK(options_error<router>(
          R"({"routes": [{"when": {"field": "a", "exists": true},
                          "output": {"exchange": "e", "routing_key": "k.{a"}}]})") ==
        "$.actors[0].options.routes[0].output.routing_key: the field opened "
        "at offset 2 is not closed with '}'");
  CHECK(
    options_error<router>(
      R"({"mode": "any", "routes": [{"when": {"field": "a", "exists": true}, "output": {"actor": "x"}}]})") ==
    "$.actors[0].options.mode: expected one of \"first\", \"all\", found "
    "\"any\"");
  CHECK(
    options_error<router>(
      R"({"routes": [{"name": "r", "when": {"field": "a", "exists": true}, "output": {"actor": "x"}},
                         {"name": "r", "when": {"field": "a", "exists": true}, "output": {"actor": "y"}}]})") ==
    "$.actors[0].options.routes[1].name: route name \"r\" is used twice");
  CHECK(
    options_error<router>(
      R"({"routes": [{"when": {"field": "a", "exists": true}, "output": {"actor": "x"}}],
              "otherwise": {"queue": "q"}})") ==
    "$.actors[0].options.otherwise.queue: unknown key (expected one of: "
    "actor, exchange, routing_key, type)");
  CHECK(
    options_error<router>(
      R"({"routes": [{"when": {"field": "a", "exists": true}, "output": {"actor": "x"}, "to": 1}]})") ==
    "$.actors[0].options.routes[0].to: unknown key (expected one of: "
    "name, when, output)");
}

TEST_CASE("filter drops what drop_when picks and sends the rest on",
          "[pipeline][filter]") {
  test::stage_under_test<filter> stage{
    R"({"drop_when": {"field": "t", "lt": -50}, "output": {"actor": "next"}})"};
  recording_context dropped{"reading"};
  // A dropped message is done: ok, and nothing sent.
  CHECK(stage.handle(dropped, R"({"t": -60})").is_ok());
  CHECK(dropped.sent.empty());
  recording_context kept{"reading"};
  CHECK(stage.handle(kept, R"({"t": 20})").is_ok());
  REQUIRE(kept.sent.size() == 1);
  CHECK(kept.sent[0].to == "next");
  // A missing field is not "lt -50": kept.
  recording_context missing{"reading"};
  CHECK(stage.handle(missing, R"({})").is_ok());
  CHECK(missing.sent.size() == 1);
}

TEST_CASE("filter with keep_when drops what it does not pick",
          "[pipeline][filter]") {
  test::stage_under_test<filter> stage{
    R"({"keep_when": {"field": "kind", "in": ["a", "b"]},
        "output": {"exchange": "out", "routing_key": "k.{kind}"}})"};
  recording_context kept{"x"};
  CHECK(stage.handle(kept, R"({"kind": "b"})").is_ok());
  REQUIRE(kept.sent.size() == 1);
  CHECK(kept.sent[0].routing_key == "k.b");
  recording_context dropped{"x"};
  CHECK(stage.handle(dropped, R"({"kind": "c"})").is_ok());
  CHECK(dropped.sent.empty());
}

TEST_CASE("filter options errors name the JSON path", "[pipeline][filter]") {
  using test::options_error;
  CHECK(options_error<filter>(R"({"output": {"actor": "x"}})") ==
        "$.actors[0].options: expected either \"drop_when\" or \"keep_when\" "
        "(a predicate)");
  CHECK(
    options_error<filter>(
      R"({"drop_when": {"field": "a", "exists": true}, "keep_when": {"field": "a", "exists": true}, "output": {"actor": "x"}})") ==
    "$.actors[0].options: expected either \"drop_when\" or \"keep_when\" "
    "(a predicate)");
  CHECK(
    options_error<filter>(
      R"({"drop_when": {"field": "a", "lt": null}, "output": {"actor": "x"}})") ==
    "$.actors[0].options.drop_when.lt: expected a number or a string, "
    "found null");
  CHECK(
    options_error<filter>(R"({"drop_when": {"field": "a", "exists": true}})") ==
    "$.actors[0].options.output: required key is missing");
}

namespace {

// The value of the sample `name{labels}` in a scrape, or -1.
double sample(metrics::registry& reg, const std::string& name_and_labels) {
  auto text = reg.scrape();
  auto at = text.find("\n" + name_and_labels + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + name_and_labels.size() + 2));
}

} // namespace

TEST_CASE("router and filter count per route, unroutable, dropped and "
          "passed messages",
          "[pipeline][router][filter]") {
  metrics::registry reg{"n1"};
  test::stage_under_test<router> routes_stage{router_options(""), {}, &reg};
  for (const char* body :
       {R"({"t": 35, "device_id": "d"})", R"({"t": 1, "kind": "metric"})",
        R"({"t": 1, "kind": "metric"})", R"({"t": 1})"}) {
    recording_context ctx{"reading"};
    routes_stage.handle(ctx, body);
  }
  CHECK(
    sample(
      reg,
      R"(warren_router_routed_total{actor="stage",node="n1",route="hot"})") ==
    1);
  CHECK(
    sample(
      reg,
      R"(warren_router_routed_total{actor="stage",node="n1",route="metric"})") ==
    2);
  CHECK(sample(reg, R"(warren_router_passed_total{actor="stage",node="n1"})") ==
        3);
  CHECK(
    sample(
      reg,
      R"(warren_router_failed_total{actor="stage",node="n1",reason="unroutable"})") ==
    1);

  metrics::registry filter_reg{"n1"};
  test::stage_under_test<filter> filter_stage{
    R"({"drop_when": {"field": "t", "lt": 0}, "output": {"actor": "next"}})",
    {},
    &filter_reg};
  for (const char* body : {R"({"t": -1})", R"({"t": -2})", R"({"t": 3})"}) {
    recording_context ctx;
    filter_stage.handle(ctx, body);
  }
  CHECK(sample(filter_reg,
               R"(warren_filter_dropped_total{actor="stage",node="n1"})") == 2);
  CHECK(sample(filter_reg,
               R"(warren_filter_passed_total{actor="stage",node="n1"})") == 1);
}
