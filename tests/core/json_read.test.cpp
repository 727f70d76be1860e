// Reading JSON with every number read exactly (pure).

#include "warren/core/json_read.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace warren;

namespace {

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

} // namespace

TEST_CASE("every finite double written as JSON reads back to the same bits",
          "[json]") {
  // Boost.JSON 1.81's own parser gets about one in ten of these wrong by
  // one unit in the last place, and far more of the arbitrary bit patterns.
  std::mt19937_64 random{20261201};
  std::uniform_real_distribution<double> decimal{0, 1e6};
  int wrong = 0;
  for (int i = 0; i < 20000; ++i) {
    double d = decimal(random);
    if (i % 2 == 1) {
      auto bits = random();
      std::memcpy(&d, &bits, sizeof d);
      if (!std::isfinite(d))
        continue;
    }
    auto text = boost::json::serialize(boost::json::value(d));
    boost::json::error_code ec;
    auto back = read_json(text, ec);
    if (ec || !back.is_double() || !same_bits(back.get_double(), d))
      ++wrong;
  }
  CHECK(wrong == 0);
  boost::json::error_code ec;
  // The value the outbox fuzzer found (Boost.JSON reads ...1087E-308).
  auto v = read_json("[9.583658482725107E-308, 0.1, -2.5e+3, 1E2]", ec);
  REQUIRE_FALSE(ec);
  CHECK(same_bits(v.at(0).get_double(), 0x1.13a7d7901ff6p-1020));
  CHECK(v.at(1).get_double() == 0.1);
  CHECK(v.at(2).get_double() == -2500.0);
  CHECK(v.at(3).get_double() == 100.0);
}

TEST_CASE("JSON is read as by Boost.JSON apart from doubles", "[json]") {
  boost::json::error_code ec;
  auto v = read_json(R"({"a":[1,-2,18446744073709551615,true,null,"x\u00e9"],)"
                     R"("b":{"c":"long string over the small buffer size"}})",
                     ec);
  REQUIRE_FALSE(ec);
  CHECK(boost::json::serialize(v) ==
        R"({"a":[1,-2,18446744073709551615,true,null,"x)"
        "\xc3\xa9"
        R"("],"b":{"c":"long string over the small buffer size"}})");
  CHECK(v.at("a").at(1).is_int64());
  CHECK(v.at("a").at(2).is_uint64());
}

TEST_CASE("bad JSON is an error, as with Boost.JSON", "[json]") {
  for (const char* text : {"", "{", "[1,]", "{\"a\":1} x", "nul", "\"\xff\""}) {
    boost::json::error_code ec;
    (void)read_json(text, ec);
    CHECK(ec);
  }
  // Invalid UTF-8 is read when asked for (stored states may hold any bytes).
  boost::json::parse_options any_bytes;
  any_bytes.allow_invalid_utf8 = true;
  boost::json::error_code ec;
  auto v = read_json("\"\xff\"", ec, any_bytes);
  REQUIRE_FALSE(ec);
  CHECK(v.get_string() == "\xff");
}

TEST_CASE("numbers beyond a double's range are infinity or zero", "[json]") {
  boost::json::error_code ec;
  auto v = read_json("[1e400, -1e400, 1e-400]", ec);
  REQUIRE_FALSE(ec);
  CHECK(v.at(0).get_double() == std::numeric_limits<double>::infinity());
  CHECK(v.at(1).get_double() == -std::numeric_limits<double>::infinity());
  CHECK(v.at(2).get_double() == 0.0);
}
