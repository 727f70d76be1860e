// The stream operators sharded on the three-node RabbitMQ cluster (issue
// 13): a window actor and a saga actor, their shards owned by three warren
// nodes, two of them killed with kill -9 in turn under load; every
// window's result exact, every saga completed with each step applied once.

#include "cluster_support.hpp"
#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/shard.hpp"
#include "window_readings.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr uint32_t shards = 4;

// Reading `i` of 400: device d<i % 8> at 1000 + 10 i ms, temperature i.
outgoing_message reading(const std::string& actor, int i) {
  return test::to_actor(
    actor, actor + "-r" + std::to_string(i), "reading",
    json::serialize(json::object{{"device", "d" + std::to_string(i % 8)},
                                 {"ts", 1000 + i * 10},
                                 {"temp", i}}));
}

} // namespace

TEST_CASE("a sharded window on three nodes of the three-broker cluster: "
          "through kill -9 of two nodes in turn under load, every sliding "
          "window's result is exact and none is late",
          "[cluster][window][shards]") {
  test::test_cluster cluster;
  auto actor = test::unique_name("cl-win");
  auto results = test::unique_name("cl-win-results");
  auto late = test::unique_name("cl-win-late");
  test::sharded_queues queues{cluster, {{actor, shards}}};
  test::node_group group{
    3, [&](const test::temp_dir& dir, std::size_t n) {
      auto cfg = test::cluster_node_config(cluster, dir, n);
      cfg["topology"] = json::object{
        {"queues", json::array{{{"name", results}}, {{"name", late}}}}};
      // Sliding windows of 2 s every 1 s; routers on three nodes may swap
      // events of different keys on their way to a shard, hence the
      // out-of-orderness allowed.
      json::object options{
        {"key", "device"},
        {"time", {{"field", "ts"}, {"format", "epoch_ms"}}},
        {"window",
         {{"type", "sliding"}, {"size_ms", 2000}, {"slide_ms", 1000}}},
        {"max_out_of_orderness_ms", 2000},
        {"idle_timeout_ms", 500},
        {"values", {{"temp", json::array{"count", "sum"}}}},
        {"output", {{"exchange", ""}, {"routing_key", results}}},
        {"late_output", {{"exchange", ""}, {"routing_key", late}}}};
      cfg["actors"] = json::array{{{"name", actor},
                                   {"kind", "window"},
                                   {"shards", shards},
                                   {"options", std::move(options)}}};
      return cfg;
    }};
  auto client = cluster.client(3);
  int sent = 0;
  // 400 readings in all: 150, 100, 100 and the last 50 around the faults.
  auto send = [&](int count) {
    test::send_confirmed(*client, sent, std::min(count, 400 - sent),
                         [&](int i) { return reading(actor, i); });
  };
  test::kill_two_in_turn(group, send);
  REQUIRE(sent == 400);

  // Windows [0, 2000) .. [4000, 6000) of each of 8 devices: 40 results,
  // each once by id (a copy sent again after a takeover is the same).
  std::map<std::string, json::object> by_id;
  test::eventually(
    [&] {
      auto got = client->receive(results, 100, 300ms, true);
      REQUIRE(got);
      for (const auto& r : *got) {
        auto body = json::parse(r.raw_body).as_object();
        auto [it, fresh] = by_id.emplace(r.properties.message_id, body);
        CHECK(it->second == body);
        (void)fresh;
      }
      return by_id.size() >= 40;
    },
    90s);
  INFO(group.logs());
  REQUIRE(by_id.size() == 40);
  for (const auto& [id, body] : by_id) {
    INFO(id << ": " << json::serialize(body));
    test::check_sliding_result(body);
  }
  auto lates = client->receive(late, 10, 300ms, true);
  REQUIRE(lates);
  CHECK(lates->empty());
  CHECK_THAT(group.logs(), Catch::Contains("taken over in epoch"));
  for (auto& node : group.nodes())
    CHECK(node->running());
  for (const auto& q : {results, late})
    client->delete_queue(q);
}

TEST_CASE("a sharded saga actor on three nodes of the three-broker cluster: "
          "through kill -9 of two nodes in turn while sagas run, every saga "
          "completes and each step is applied once",
          "[cluster][saga][shards]") {
  test::test_cluster cluster;
  auto sagas = test::unique_name("cl-sagas");
  test::sharded_queues queues{cluster, {{sagas, 3}}};
  auto orders = test::unique_name("cl-orders");
  auto payment = test::unique_name("cl-payment");
  auto events = test::unique_name("cl-saga-events");
  auto feed = test::unique_name("cl-saga-feed");
  auto on_cluster = [&](const test::temp_dir& dir, std::size_t n) {
    auto cfg = test::cluster_node_config(cluster, dir, n);
    cfg["topology"] = json::object{
      {"exchanges", json::array{{{"name", events}, {"type", "topic"}}}},
      {"queues", json::array{{{"name", feed}}}},
      {"bindings",
       json::array{
         {{"exchange", events}, {"queue", feed}, {"routing_key", "#"}}}}};
    return cfg;
  };
  // The participants on a node of their own, which stays.
  test::temp_dir steps_dir;
  auto records = steps_dir.file("applied.jsonl");
  auto steps_cfg = on_cluster(steps_dir, 2);
  steps_cfg["actors"] = json::array{
    {{"name", orders}, {"kind", "test.step"}, {"options", {{"path", records}}}},
    {{"name", payment},
     {"kind", "test.step"},
     {"options", {{"path", records}}}}};
  test::node_process steps_node{steps_dir, steps_cfg};
  // A step's timeout well past a takeover: every saga completes.
  auto step = [&](const char* id, const std::string& actor, const char* action,
                  const char* undo) {
    return json::object{{"id", id},
                        {"action", {{"actor", actor}, {"type", action}}},
                        {"compensation", {{"actor", actor}, {"type", undo}}},
                        {"timeout_ms", 60000}};
  };
  json::object definition{
    {"steps",
     json::array{step("create", orders, "create_order", "cancel_order"),
                 step("charge", payment, "charge_payment", "refund_payment")}}};
  test::node_group group{
    3, [&](const test::temp_dir& dir, std::size_t n) {
      auto cfg = on_cluster(dir, n);
      cfg["actors"] = json::array{
        {{"name", sagas},
         {"kind", "saga"},
         {"shards", 3},
         {"options",
          {{"definitions", {{"order", definition}}},
           {"lifecycle",
            {{"exchange", events}, {"events", json::array{"completed"}}}}}}}};
      return cfg;
    }};
  auto client = cluster.client(3);
  int sent = 0;
  // 120 sagas: 45, 30, 30 and the last 15 around the faults.
  auto send = [&](int count) {
    test::send_confirmed(
      *client, sent, std::min(count * 3 / 10, 120 - sent), [&](int i) {
        return test::to_actor(
          sagas, sagas + "-start-" + std::to_string(i), "saga.start",
          json::serialize(json::object{{"saga", "order"},
                                       {"saga_id", "o-" + std::to_string(i)}}));
      });
  };
  test::kill_two_in_turn(group, send);
  REQUIRE(sent == 120);

  // Every saga completed (its event published once by id), and each
  // step's action applied once: create_order and charge_payment per saga.
  std::map<std::string, std::string> completed;
  test::eventually(
    [&] {
      auto got = client->receive(feed, 200, 300ms, true);
      REQUIRE(got);
      for (const auto& e : *got)
        completed[e.properties.message_id] =
          std::string{e.body.at("saga_id").as_string()};
      return completed.size() >= 120;
    },
    120s);
  INFO(group.logs());
  std::set<std::string> done;
  for (const auto& [id, saga] : completed)
    done.insert(saga);
  CHECK(completed.size() == 120);
  CHECK(done.size() == 120);
  std::multiset<std::string> applied;
  for (const auto& line : test::read_records(records))
    applied.insert(std::string{line.body.at("type").as_string()} + " " +
                   std::string{line.body.at("key").as_string()});
  std::multiset<std::string> expected;
  for (int i = 0; i < 120; ++i) {
    auto saga = "o-" + std::to_string(i);
    expected.insert("create_order " + saga + "/create/a");
    expected.insert("charge_payment " + saga + "/charge/a");
  }
  CHECK(applied == expected);
  CHECK_THAT(group.logs(), Catch::Contains("taken over in epoch"));
  for (auto& node : group.nodes())
    CHECK(node->running());
  steps_node.stop();
  for (const auto& q :
       {orders, orders + ".dlq", payment, payment + ".dlq", feed})
    client->delete_queue(q);
}
