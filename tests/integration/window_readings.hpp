#pragma once

// The readings the sharded window tests send (window.test.cpp on the test
// broker, cluster_streams.test.cpp on the cluster): reading i of 400 is
// device d<i % 8> at 1000 + 10 i ms with temperature i; and what a sliding
// window of 2 s over them must say.

#include <boost/json/object.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

namespace warren::test {

/// Checks a window result `body` ({"start", "key": {"device"}, "count",
/// "fields": {"temp": {"sum"}}}) against the readings in its 2 s.
inline void check_sliding_result(const boost::json::object& body) {
  auto start = body.at("start").as_int64();
  auto device =
    std::stoi(std::string{body.at("key").at("device").as_string()}.substr(1));
  int64_t expected = 0;
  double sum = 0;
  for (int i = device; i < 400; i += 8) {
    auto t = 1000 + i * 10;
    if (t >= start && t < start + 2000) {
      ++expected;
      sum += i;
    }
  }
  CHECK(body.at("count").as_int64() == expected);
  CHECK(body.at("fields").at("temp").at("sum").as_double() == Approx(sum));
}

} // namespace warren::test
