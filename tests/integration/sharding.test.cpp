// Sharded stateful actors (README.md, "Clustering"; issue 13) on the test
// broker: keys spread over shard queues each owned by one node at a time,
// every committed unit going through the actor's changelog, every node's
// file a copy of the shards' state, a takeover when the owner dies.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/shard.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A node config with a sharded counter `actor` of `shards` shards.
json::object sharded_node(const test::temp_dir& dir, const std::string& actor,
                          uint32_t shards) {
  auto cfg = test::node_config(dir);
  auto counter = test::counter_actor(actor);
  counter["shards"] = shards;
  cfg["actors"] = json::array{counter};
  return cfg;
}

void publish_increments(const std::string& actor, int from, int to) {
  std::vector<std::string> ids;
  for (int i = from; i < to; ++i)
    ids.push_back(actor + "-m" + std::to_string(i));
  test::publish_bulk(
    bridges::actors_exchange, actor, "increment", ids, 50, [&](std::size_t k) {
      auto i = from + static_cast<int>(k);
      return R"({"counter":"c)" + std::to_string(i % 20) + R"(","by":1})";
    });
}

int64_t total(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [key, count] : counts)
    n += count;
  return n;
}

std::map<std::string, int64_t> expected_counts(int messages) {
  std::map<std::string, int64_t> out;
  for (int i = 0; i < messages; ++i)
    ++out["c" + std::to_string(i % 20)];
  return out;
}

std::string db_of(const test::temp_dir& dir) {
  return dir.file("state") + "/warren.db";
}

} // namespace

TEST_CASE("a sharded counter counts every message once through its shards, "
          "a standby node's file follows the changelog, and when the owner "
          "is killed the standby takes every shard over and goes on",
          "[broker][shards]") {
  test::broker_scratch broker;
  auto actor = broker.queue("sh-counter");
  const uint32_t shards = 4;
  for (uint32_t i = 0; i < shards; ++i)
    broker.track_queue(shard_name(actor, i));
  broker.track_queue(actor + ".log");
  test::temp_dir first_dir;
  test::temp_dir second_dir;
  auto first_cfg = sharded_node(first_dir, actor, shards);
  auto second_cfg = sharded_node(second_dir, actor, shards);
  auto first = std::make_unique<test::node_process>(first_dir, first_cfg);

  publish_increments(actor, 0, 200);
  std::map<std::string, int64_t> counts;
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(first_dir), actor);
      return total(counts) >= 200;
    },
    30s);
  CHECK(counts == expected_counts(200));

  // A second node: a standby of every shard, its file rebuilt from the
  // changelog.
  test::node_process second{second_dir, second_cfg};
  test::eventually(
    [&] {
      return test::counter_counts(db_of(second_dir), actor) ==
             expected_counts(200);
    },
    30s);
  CHECK(test::counter_counts(db_of(second_dir), actor) == expected_counts(200));

  // The owner dies; the broker activates the standby's consumers, which
  // claim the shards and go on from the state the changelog gave them.
  REQUIRE(::kill(first->pid(), SIGKILL) == 0);
  first->stop();
  first.reset();
  publish_increments(actor, 200, 400);
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(second_dir), actor);
      return total(counts) >= 400;
    },
    60s);
  CHECK(counts == expected_counts(400));
  INFO(second.err());
  CHECK_THAT(second.err(), Catch::Contains("taken over in epoch"));
  CHECK(broker.count(actor) == 0);
  for (uint32_t i = 0; i < shards; ++i)
    CHECK(broker.count(shard_name(actor, i)) == 0);
}

TEST_CASE("a shard owner killed at each point of its path through the "
          "changelog (a record published and not read back, a batch "
          "accepted and not acked, a takeover half done) loses no message "
          "and applies none twice",
          "[broker][shards][kill]") {
  // Point -> which pass kills: records, batches and claims each pass it.
  const std::vector<std::pair<std::string, int>> points = {
    {"before_readback", 12},
    {"after_acceptance", 6},
    {"before_ack", 6},
    // The first takeover: a second node started at once may be given the
    // other shards (rebalancing) before the first node claims them.
    {"during_takeover", 1}};
  for (const auto& [point, nth] : points) {
    DYNAMIC_SECTION(point) {
      test::broker_scratch broker;
      auto actor = broker.queue("sh-kill");
      const uint32_t shards = 3;
      for (uint32_t i = 0; i < shards; ++i)
        broker.track_queue(shard_name(actor, i));
      broker.track_queue(actor + ".log");
      test::temp_dir first_dir;
      test::temp_dir second_dir;
      auto first = std::make_unique<test::node_process>(
        first_dir, sharded_node(first_dir, actor, shards),
        std::vector<std::string>{"WARREN_KILL_POINT=" + point + ":" +
                                 std::to_string(nth)});
      // The first node owns the shards (its probes) before the second
      // starts, except when it dies taking them over.
      if (point != "during_takeover")
        test::eventually(
          [&] {
            return first->err().find("shard 2: taken over") !=
                     std::string::npos &&
                   first->err().find("shard 1: taken over") !=
                     std::string::npos &&
                   first->err().find("shard 0: taken over") !=
                     std::string::npos;
          },
          20s);
      test::node_process second{second_dir,
                                sharded_node(second_dir, actor, shards)};
      publish_increments(actor, 0, 300);
      bool died = test::eventually([&] { return !first->running(); }, 30s);
      INFO(first->err());
      CHECK(died);
      std::map<std::string, int64_t> counts;
      test::eventually(
        [&] {
          counts = test::counter_counts(db_of(second_dir), actor);
          return total(counts) >= 300;
        },
        60s);
      INFO(second.err());
      CHECK(counts == expected_counts(300));
    }
  }
}

TEST_CASE("a warren actor's messages to a sharded actor go straight to the "
          "key's shard queue: its routers see none of them",
          "[broker][shards]") {
  test::broker_scratch broker;
  auto source = broker.queue("sh-source");
  auto ledger = broker.queue("sh-ledger");
  const uint32_t shards = 4;
  for (uint32_t i = 0; i < shards; ++i)
    broker.track_queue(shard_name(ledger, i));
  broker.track_queue(ledger + ".log");
  test::temp_dir dir;
  auto cfg = test::node_config(dir);
  auto book = test::counter_actor(ledger);
  book["shards"] = shards;
  cfg["actors"] = json::array{test::counter_actor(source, ledger), book};
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  test::node_process node{dir, cfg};
  publish_increments(source, 0, 200);
  std::map<std::string, int64_t> counts;
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(dir), ledger);
      return total(counts) >= 200;
    },
    30s);
  CHECK(counts == expected_counts(200));
  auto port = node.metrics_port();
  // The ledger's router consumes its own queue: nothing came that way.
  CHECK(test::metric_sample(port, "warren_messages_received_total",
                            {"actor=\"" + ledger + "\""}) == 0);
  double at_shards = 0;
  for (uint32_t i = 0; i < shards; ++i)
    at_shards +=
      test::metric_sample(port, "warren_messages_handled_total",
                          {"actor=\"" + shard_name(ledger, i) + "\""});
  CHECK(at_shards == 200);
}
