// Reading bodies and states into described structs as a tolerant reader
// does (pure).

#include "warren/core/json_convert.hpp"

#include <boost/describe/class.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value_from.hpp>
#include <catch2/catch.hpp>

using namespace warren;
namespace json = boost::json;

namespace shapes {

struct line {
  std::string sku;
  int64_t quantity = 1;
};
BOOST_DESCRIBE_STRUCT(line, (), (sku, quantity))

struct order {
  std::string id;
  std::vector<line> lines;
  std::optional<std::string> note;
  std::map<std::string, line> by_sku;
  double discount = 0.5;
};
BOOST_DESCRIBE_STRUCT(order, (), (id, lines, note, by_sku, discount))

// A type with a conversion of its own: used as it is.
struct celsius {
  double degrees = 0;
};
BOOST_DESCRIBE_STRUCT(celsius, (), (degrees))
celsius tag_invoke(json::value_to_tag<celsius>, const json::value& v) {
  return celsius{v.as_double()};
}

struct reading {
  celsius temperature;
};
BOOST_DESCRIBE_STRUCT(reading, (), (temperature))

} // namespace shapes

TEST_CASE("a described struct reads a body with fields it does not know and "
          "without fields it has, at any depth",
          "[json][convert]") {
  std::string error;
  auto v = json::parse(R"({"id": "o-1", "client_version": 7,
    "lines": [{"sku": "a", "quantity": 3, "colour": "red"}, {"sku": "b"}],
    "by_sku": {"c": {"sku": "c"}}})");
  // Boost.JSON's own conversion refuses both.
  CHECK_FALSE(json::try_value_to<shapes::order>(v).has_value());
  auto o = json_to<shapes::order>(v, error);
  REQUIRE(o);
  CHECK(error.empty());
  CHECK(o->id == "o-1");
  REQUIRE(o->lines.size() == 2);
  CHECK(o->lines[0].sku == "a");
  CHECK(o->lines[0].quantity == 3);
  CHECK(o->lines[1].sku == "b");
  CHECK(o->lines[1].quantity == 1); // the member's default
  CHECK_FALSE(o->note);
  CHECK(o->by_sku.at("c").quantity == 1);
  CHECK(o->discount == 0.5);
}

TEST_CASE("what a described struct writes it reads back the same",
          "[json][convert]") {
  shapes::order o{"o-2", {{"x", 2}}, std::string{"gift"}, {{"y", {"y", 5}}}, 0};
  std::string error;
  auto back = json_to<shapes::order>(json::value_from(o), error);
  REQUIRE(back);
  CHECK(back->id == "o-2");
  CHECK(back->lines.at(0).quantity == 2);
  CHECK(back->note == std::optional<std::string>{"gift"});
  CHECK(back->by_sku.at("y").quantity == 5);
  CHECK(back->discount == 0);
}

TEST_CASE("a value of the wrong kind fails, naming where and what",
          "[json][convert]") {
  std::string error;
  CHECK_FALSE(json_to<shapes::order>(
    json::parse(R"({"lines": [{"sku": "a"}, {"quantity": "two"}]})"), error));
  CHECK(error.rfind("at /lines/1/quantity: ", 0) == 0);
  CHECK(error.find("(found a string)") != std::string::npos);

  CHECK_FALSE(json_to<shapes::order>(json::parse(R"([1, 2])"), error));
  CHECK(error == "the value: expected an object, found an array");

  CHECK_FALSE(
    json_to<shapes::order>(json::parse(R"({"lines": {"sku": "a"}})"), error));
  CHECK(error == "at /lines: expected an array, found an object");

  CHECK_FALSE(json_to<shapes::order>(
    json::parse(R"({"by_sku": {"a/b~c": {"quantity": null}}})"), error));
  CHECK(error.rfind("at /by_sku/a~1b~0c/quantity: ", 0) == 0);
  CHECK(error.find("(found null)") != std::string::npos);

  // null empties an optional; a member that is not optional wants a value.
  CHECK(json_to<shapes::order>(json::parse(R"({"note": null})"), error));
  CHECK_FALSE(json_to<shapes::order>(json::parse(R"({"id": null})"), error));
  CHECK(error.rfind("at /id: ", 0) == 0);
}

TEST_CASE("a type with a conversion of its own is converted by it",
          "[json][convert]") {
  std::string error;
  auto r = json_to<shapes::reading>(
    json::parse(R"({"temperature": 21.5, "unit": "C"})"), error);
  REQUIRE(r);
  CHECK(r->temperature.degrees == 21.5);
}
