// The pipeline's shared pieces: field paths into bodies, routing-key
// templates, and stage outputs (where a stage sends what it made).

#include "pipeline/field_path.hpp"
#include "pipeline/key_template.hpp"
#include "pipeline/stage_output.hpp"
#include "pipeline_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using actors::field_path;
using actors::key_template;
using actors::stage_output;
namespace json = boost::json;

namespace {

field_path path(const char* text) {
  auto p = field_path::parse(text);
  REQUIRE(p);
  return *p;
}

std::string render(const char* tmpl, const std::string& body) {
  std::string why;
  auto t = key_template::parse(tmpl, why);
  INFO(why);
  REQUIRE(t);
  std::string out;
  if (!t->render(json::parse(body), out, why))
    return "error: " + why;
  return out;
}

std::string template_error(const char* tmpl) {
  std::string why;
  CHECK_FALSE(key_template::parse(tmpl, why));
  return why;
}

std::optional<stage_output> output(const std::string& text,
                                   std::string* error = nullptr) {
  config::config_reader reader{"node.json"};
  auto options = json::parse(R"({"output": )" + text + "}");
  config::object_reader obj{reader, options.as_object(), "$.options"};
  auto out = stage_output::read(obj, "output");
  if (error != nullptr)
    *error = reader.ok() ? "" : describe(reader.error());
  return out;
}

} // namespace

TEST_CASE("field paths find, make and erase values in objects and arrays",
          "[pipeline][paths]") {
  auto body = json::parse(R"({"a": {"b": [10, {"c": 3}]}, "x.y": 1})");
  CHECK(*path("a.b.0").find(body) == json::value(10));
  CHECK(*path("a.b.1.c").find(body) == json::value(3));
  CHECK(path("a.b.2").find(body) == nullptr);
  CHECK(path("a.b.x").find(body) == nullptr);
  CHECK(path("a.b.-1").find(body) == nullptr);
  // A key with a dot cannot be named.
  CHECK(path("x.y").find(body) == nullptr);
  CHECK_FALSE(field_path::parse(""));
  CHECK_FALSE(field_path::parse(".a"));
  CHECK_FALSE(field_path::parse("a..b"));
  CHECK_FALSE(field_path::parse("a."));
  CHECK(path("a.b.1.c").segments().size() == 4);
  CHECK(path("a.b").text() == "a.b");

  auto* made = path("n.m.k").make(body);
  REQUIRE(made != nullptr);
  *made = 5;
  CHECK(body.at("n").at("m").at("k") == json::value(5));
  // Blocked by a non-object: nullptr, unless replacing.
  CHECK(path("a.b.z").make(body) == nullptr); // b is an array
  body.as_object()["s"] = "text";
  CHECK(path("s.t").make(body) == nullptr);
  CHECK(path("s.t").make(body, true) != nullptr);
  CHECK(body.at("s").is_object());
  json::value array = json::array{1};
  CHECK(path("a").make(array) == nullptr);

  CHECK(path("a.b.0").erase(body));
  CHECK(body.at("a").at("b").as_array().size() == 1);
  CHECK_FALSE(path("a.b.5").erase(body));
  CHECK(path("n").erase(body));
  CHECK_FALSE(path("n").erase(body));
}

TEST_CASE("key templates render fields into routing keys",
          "[pipeline][paths]") {
  CHECK(render("metrics.device.{device_id}", R"({"device_id": "d7"})") ==
        "metrics.device.d7");
  CHECK(
    render("{a}.{b}.{c}.{d}", R"({"a": 1, "b": 2.5, "c": true, "d": -3})") ==
    "1.2.5E0.true.-3");
  CHECK(render("alerts.{location.city}", R"({"location": {"city": "Oslo"}})") ==
        "alerts.Oslo");
  CHECK(render("{{literal}}.{a}", R"({"a": "x"})") == "{literal}.x");
  CHECK(render("constant", "{}") == "constant");
  CHECK(render("k.{a}", "{}") == "error: field 'a' is missing");
  CHECK(render("k.{a}", R"({"a": null})") == "error: field 'a' is null");
  CHECK(render("k.{a}", R"({"a": {}})") ==
        "error: field 'a' is not a string, number or boolean");
  CHECK(render("{a}", R"({"a": ")" + std::string(300, 'x') + "\"}") ==
        "error: the key rendered from '{a}' is 300 bytes, more than 255");
  CHECK(template_error("k.{a") ==
        "the field opened at offset 2 is not closed with '}'");
  CHECK(template_error("k.}") ==
        "a '}' at offset 2 closes no field (write '}}' for a literal brace)");
  CHECK(template_error("k.{}") ==
        "'{}' does not name a field (a dotted path such as {device_id} or "
        "{location.city})");
  std::string why;
  CHECK(key_template::parse("abc", why)->constant());
  CHECK_FALSE(key_template::parse("a{b}", why)->constant());
}

TEST_CASE("stage outputs send to an actor or publish with a templated key, "
          "and fail a message whose key cannot be made",
          "[pipeline][paths]") {
  auto to_actor = output(R"({"actor": "enrich"})");
  REQUIRE(to_actor);
  CHECK(to_actor->describe() == "actor 'enrich'");
  test::recording_context ctx{"reading"};
  CHECK(to_actor->emit(ctx, json::parse(R"({"v": 1})")).is_ok());
  REQUIRE(ctx.sent.size() == 1);
  CHECK(ctx.sent[0].how == "actor");
  CHECK(ctx.sent[0].to == "enrich");
  CHECK(ctx.sent[0].type == "reading");

  auto published = output(
    R"({"exchange": "metrics", "routing_key": "device.{id}", "type": "clean"})");
  REQUIRE(published);
  CHECK(published->describe() == "exchange 'metrics' with key 'device.{id}'");
  CHECK(published->emit(ctx, json::parse(R"({"id": "d1"})")).is_ok());
  REQUIRE(ctx.sent.size() == 2);
  CHECK(ctx.sent[1].how == "publish");
  CHECK(ctx.sent[1].to == "metrics");
  CHECK(ctx.sent[1].routing_key == "device.d1");
  CHECK(ctx.sent[1].type == "clean");
  auto failed = published->emit(ctx, json::parse("{}"));
  CHECK(failed.permanent());
  CHECK(failed.code() == errc::validation_failed);
  CHECK(failed.reason() ==
        "cannot make the routing key 'device.{id}': field 'id' is missing");
  CHECK(ctx.sent.size() == 2);
  // The default exchange takes a key too.
  CHECK(output(R"({"exchange": "", "routing_key": "q"})"));
}

TEST_CASE("stage output options errors name the JSON path",
          "[pipeline][paths]") {
  std::string error;
  CHECK_FALSE(output(R"({})", &error));
  CHECK(error == "node.json: $.options.output: expected either \"actor\" (an "
                 "actor's name) or \"exchange\" with \"routing_key\"");
  CHECK_FALSE(output(R"({"actor": "a", "exchange": "e"})", &error));
  CHECK(error == "node.json: $.options.output: expected either \"actor\" (an "
                 "actor's name) or \"exchange\" with \"routing_key\"");
  CHECK_FALSE(output(R"({"actor": "a", "routing_key": "k"})", &error));
  CHECK(error == "node.json: $.options.output.routing_key: a routing key goes "
                 "with \"exchange\", not with \"actor\"");
  CHECK_FALSE(output(R"({"exchange": "e"})", &error));
  CHECK(error == "node.json: $.options.output.routing_key: required key is "
                 "missing");
  CHECK_FALSE(output(R"({"actor": ""})", &error));
  CHECK(error ==
        "node.json: $.options.output.actor: expected a non-empty string, "
        "found \"\"");
  CHECK_FALSE(output(R"("enrich")", &error));
  CHECK(error ==
        "node.json: $.options.output: expected an object, found \"enrich\"");
  CHECK_FALSE(output(R"({"actor": "a", "typ": "x"})", &error));
  CHECK(error == "node.json: $.options.output.typ: unknown key (expected one "
                 "of: actor, exchange, routing_key, type)");
}

TEST_CASE("a stage output resolves to the exchange and routing key a "
          "message goes to",
          "[pipeline][paths]") {
  stage_output::target where;
  std::string why;
  auto to_actor = output(R"({"actor": "enrich", "type": "t"})");
  REQUIRE(to_actor);
  REQUIRE(to_actor->resolve(json::parse("{}"), where, why));
  CHECK(where.exchange == "warren.actors");
  CHECK(where.routing_key == "enrich");
  CHECK(to_actor->type() == "t");
  auto published =
    output(R"({"exchange": "metrics", "routing_key": "device.{id}"})");
  REQUIRE(published);
  REQUIRE(published->resolve(json::parse(R"({"id": 7})"), where, why));
  CHECK(where.exchange == "metrics");
  CHECK(where.routing_key == "device.7");
  CHECK(published->type().empty());
  CHECK_FALSE(published->resolve(json::parse("{}"), where, why));
  CHECK(why ==
        "cannot make the routing key 'device.{id}': field 'id' is missing");
}
