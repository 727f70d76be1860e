// Stream operators end to end (warren/runtime/stream_operator.hpp), with the
// test plugin's `test.tally` (a sum per key in memory, one row per key):
// rows committed with the inbox, restored at start, exact after kill -9 at
// the store's kill points, ticks publishing with ids of their own; against
// the private broker and real SQLite files.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object tally_actor(const std::string& name,
                         json::object options = json::object{}) {
  return json::object{{"name", name},
                      {"kind", "test.tally"},
                      {"options", std::move(options)},
                      {"commit", json::object{{"max_batch", 8}}},
                      {"prefetch", 20}};
}

// Adds 1 to key "k<i % keys>" for i in [from, to), ids "<prefix>-<i>".
void publish_adds(const std::string& actor, const std::string& prefix, int from,
                  int to, int keys) {
  std::vector<std::string> ids;
  for (int i = from; i < to; ++i)
    ids.push_back(prefix + "-" + std::to_string(i));
  test::publish_bulk(
    bridges::actors_exchange, actor, "add", ids, 50, [&](std::size_t k) {
      auto i = from + static_cast<int>(k);
      return R"({"key":"k)" + std::to_string(i % keys) + R"(","by":1})";
    });
}

int64_t sum_of(const std::string& actor, const std::string& key) {
  auto r = test::warren({"call", "-u", test::broker_uri(), "--timeout", "15000",
                         actor, "-t", "get", R"({"key":")" + key + R"("})"});
  INFO("warren call: " << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).at("sum").as_int64();
}

int64_t total_of(const std::string& actor, int keys) {
  int64_t total = 0;
  for (int k = 0; k < keys; ++k)
    total += sum_of(actor, "k" + std::to_string(k));
  return total;
}

} // namespace

TEST_CASE("a stream operator's memory is rebuilt from the rows it "
          "committed, and a failed message leaves it as it was",
          "[broker][operator]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("tally");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{tally_actor(name)};
  {
    test::node_process node{dir, cfg};
    publish_adds(name, test::unique_name("a"), 0, 30, 3);
    CHECK(test::eventually([&] { return sum_of(name, "k2") == 10; }, 20s));
    REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                          "-t", "add", R"({"key":"k2","by":-5})"})
              .exit_code == 0);
    broker.wait_for_count(name + ".dlq", 1);
    CHECK(sum_of(name, "k2") == 10);
  }
  test::node_process node{dir, cfg};
  CHECK(total_of(name, 3) == 30);
}

TEST_CASE("a stream operator killed at any point of its commit neither "
          "loses a message nor applies one twice",
          "[broker][operator][kill]") {
  for (const char* point :
       {"after_receive", "after_state_write", "after_commit", "before_ack"}) {
    DYNAMIC_SECTION(point) {
      test::temp_dir dir;
      test::broker_scratch broker;
      auto name = broker.queue("tally");
      auto cfg = test::node_config(dir);
      cfg["actors"] = json::array{tally_actor(name)};
      auto prefix = test::unique_name("k");
      bool killed = false;
      {
        test::node_process doomed{
          dir, cfg, {std::string{"WARREN_KILL_POINT="} + point + ":3"}};
        publish_adds(name, prefix, 0, 200, 10);
        publish_adds(name, prefix, 150, 200, 10); // duplicates
        test::eventually(
          [&] { return !doomed.running() || broker.count(name) == 0; }, 30s);
        killed = doomed.stop() == -1;
      }
      test::node_process clean{dir, cfg};
      CHECK(test::eventually([&] { return broker.count(name) == 0; }, 30s));
      INFO(point);
      // Every point is passed many times by 250 messages in batches of 8.
      CHECK(killed);
      CHECK(total_of(name, 10) == 200);
    }
  }
}

TEST_CASE("a stream operator's ticks publish with the ids it gives, commit "
          "what they changed, and a restart does not publish again",
          "[broker][operator]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("tally");
  auto totals = broker.queue("tally-totals");
  bridges::queue_spec spec;
  spec.name = totals;
  REQUIRE_FALSE(broker.client().declare(bridges::topology{{}, {spec}, {}}));
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    tally_actor(name, json::object{{"tick_ms", 100}, {"tick_queue", totals}})};
  {
    test::node_process node{dir, cfg};
    publish_adds(name, test::unique_name("a"), 0, 20, 2);
    auto ticks = broker.wait_and_receive(totals, 1, 20s);
    REQUIRE_FALSE(ticks.empty());
    // Wait until the last tick saw all 20.
    CHECK(test::eventually(
      [&] {
        for (const auto& t : broker.receive(totals, 10, 300ms))
          ticks.push_back(t);
        return !ticks.empty() &&
               ticks.back().properties.message_id == "total-20";
      },
      20s));
    CHECK(json::parse(ticks.back().raw_body).at("total").as_int64() == 20);
  }
  // The tick that published total-20 committed `ticked`: nothing new to say.
  test::node_process node{dir, cfg};
  CHECK(broker.receive(totals, 10, 1500ms).empty());
}
