// What JSON can carry of AMQP's values (pure).

#include "warren/core/text.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <limits>

using namespace warren;

TEST_CASE("UTF-8 validation accepts well-formed text and refuses the rest",
          "[text]") {
  CHECK(is_utf8(""));
  CHECK(is_utf8("plain ascii"));
  CHECK(is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x87"));
  CHECK(is_utf8(std::string{"nul\0inside", 10}));
  CHECK_FALSE(is_utf8("\xff"));
  CHECK_FALSE(is_utf8("\xc3"));             // truncated
  CHECK_FALSE(is_utf8("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(is_utf8("\xe0\x80\xaf"));     // overlong
  CHECK_FALSE(is_utf8("\xed\xa0\x80"));     // a surrogate
  CHECK_FALSE(is_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  CHECK_FALSE(is_utf8("\xe2\x82"));         // truncated at the end
}

TEST_CASE(
  "log text shows bytes that are not UTF-8 as backslash-x and two hex digits",
  "[text]") {
  CHECK(escape_non_utf8("id-\xff\xc3\xa9") == "id-\\xff\xc3\xa9");
  CHECK(escape_non_utf8("plain") == "plain");
}

TEST_CASE("hex round-trips any bytes and refuses what is not hex", "[text]") {
  std::string bytes{"\0\x01\xff\x7f", 4};
  CHECK(to_hex(bytes) == "0001ff7f");
  CHECK(from_hex(to_hex(bytes)) == bytes);
  CHECK(from_hex("0G") == std::nullopt);
  CHECK(from_hex("abc") == std::nullopt);
}

TEST_CASE("what JSON text cannot carry is found with its JSON path", "[text]") {
  CHECK(unwritable_json(boost::json::parse(R"({"a":[1,2.5,{"b":"c"}]})")) ==
        std::nullopt);
  CHECK(unwritable_json(boost::json::parse(R"({"a":[1,{"b":1e400}]})")) ==
        "a number out of the range of a double at $.a[1].b");
  boost::json::value v = {{"x", std::numeric_limits<double>::quiet_NaN()}};
  CHECK(unwritable_json(v) == "a number out of the range of a double at $.x");
  CHECK(unwritable_json(boost::json::parse("-1e999")).has_value());
  boost::json::value bytes = {{"id", boost::json::string{"\xff"}}};
  CHECK(unwritable_json(bytes) == "a string that is not UTF-8 at $.id");
  CHECK(unwritable_json(bytes, false) == std::nullopt);
  boost::json::value key = {{"\xfe", 1}};
  CHECK(unwritable_json(key) == "a key that is not UTF-8 at $.\\xfe");
}
