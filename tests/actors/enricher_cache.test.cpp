// The enricher's lookup cache: bounded LRU, time to live for records and for
// misses, and the hit/miss counts the hit-rate metrics come from. Time is
// stepped by hand.

#include "pipeline/lookup_cache.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren::actors;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

lookup_cache::settings make_settings(std::size_t max_entries,
                                     std::chrono::milliseconds ttl,
                                     std::chrono::milliseconds negative_ttl) {
  lookup_cache::settings s;
  s.max_entries = max_entries;
  s.ttl = ttl;
  s.negative_ttl = negative_ttl;
  return s;
}

} // namespace

TEST_CASE("a cached record is a hit until its ttl passes", "[enricher]") {
  lookup_cache cache{make_settings(10, 1000ms, 0ms)};
  lookup_cache::clock::time_point t0{};
  CHECK(cache.find("d1", t0) == nullptr);
  cache.put("d1", json::parse(R"({"city":"Lyon"})"), t0);
  const auto* hit = cache.find("d1", t0 + 999ms);
  REQUIRE(hit != nullptr);
  CHECK(hit->found);
  CHECK(hit->record.at("city") == "Lyon");
  CHECK(cache.find("d1", t0 + 1000ms) == nullptr); // Expired, and dropped.
  CHECK(cache.size() == 0);
  CHECK(cache.hits() == 1);
  CHECK(cache.misses() == 2);
}

TEST_CASE("misses are cached only with a negative ttl of their own",
          "[enricher]") {
  lookup_cache::clock::time_point t0{};
  SECTION("negative_ttl 0: a miss is not remembered") {
    lookup_cache cache{make_settings(10, 1000ms, 0ms)};
    cache.put("ghost", std::nullopt, t0);
    CHECK(cache.size() == 0);
    CHECK(cache.find("ghost", t0) == nullptr);
  }
  SECTION("negative_ttl 100 ms: a miss is a hit for 100 ms") {
    lookup_cache cache{make_settings(10, 1000ms, 100ms)};
    cache.put("ghost", std::nullopt, t0);
    const auto* hit = cache.find("ghost", t0 + 99ms);
    REQUIRE(hit != nullptr);
    CHECK_FALSE(hit->found);
    CHECK(cache.find("ghost", t0 + 100ms) == nullptr);
  }
  SECTION("an uncached answer removes an older entry of its key") {
    lookup_cache cache{make_settings(10, 1000ms, 0ms)};
    cache.put("d1", json::value(1), t0);
    cache.put("d1", std::nullopt, t0 + 1ms);
    CHECK(cache.find("d1", t0 + 2ms) == nullptr);
  }
}

TEST_CASE("the cache holds max_entries and evicts the least recently used",
          "[enricher]") {
  lookup_cache cache{make_settings(3, 60000ms, 0ms)};
  lookup_cache::clock::time_point t{};
  CHECK(cache.put("a", json::value(1), t) == 0);
  CHECK(cache.put("b", json::value(2), t) == 0);
  CHECK(cache.put("c", json::value(3), t) == 0);
  REQUIRE(cache.find("a", t) != nullptr);        // a is now the most recent.
  CHECK(cache.put("d", json::value(4), t) == 1); // b goes.
  CHECK(cache.size() == 3);
  CHECK(cache.evictions() == 1);
  CHECK(cache.find("b", t) == nullptr);
  CHECK(cache.find("a", t) != nullptr);
  CHECK(cache.find("c", t) != nullptr);
  CHECK(cache.find("d", t) != nullptr);
  // Replacing a key neither grows the cache nor evicts.
  CHECK(cache.put("c", json::value(30), t) == 0);
  CHECK(cache.size() == 3);
  CHECK(cache.find("c", t)->record == 30);

  SECTION("many keys never take more than max_entries") {
    for (int i = 0; i < 1000; ++i)
      cache.put("k" + std::to_string(i), json::value(i), t);
    CHECK(cache.size() == 3);
    CHECK(cache.evictions() == 1001);
  }
}

TEST_CASE("a hit rate follows from hits and misses: 9 of 10 lookups of one "
          "key",
          "[enricher]") {
  lookup_cache cache{make_settings(100, 60000ms, 0ms)};
  lookup_cache::clock::time_point t{};
  for (int i = 0; i < 10; ++i)
    if (cache.find("d1", t) == nullptr)
      cache.put("d1", json::value("record"), t);
  CHECK(cache.hits() == 9);
  CHECK(cache.misses() == 1);
}

TEST_CASE("max_entries 0 disables the cache", "[enricher]") {
  lookup_cache cache{make_settings(0, 60000ms, 60000ms)};
  lookup_cache::clock::time_point t{};
  CHECK(cache.put("a", json::value(1), t) == 0);
  CHECK(cache.size() == 0);
  CHECK(cache.find("a", t) == nullptr);
}
