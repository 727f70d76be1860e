// Against the three-node RabbitMQ cluster scripts/test.sh starts: the broker
// script's cluster commands, and a node that fails over between the
// cluster's brokers (DESIGN.md §6; issue 13).

#include "cluster_support.hpp"
#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// "127.0.0.1:<port>" of an amqp:// URI, as the node's log lines show it.
std::string host_port(const std::string& uri) {
  auto at = uri.find('@');
  auto slash = uri.find('/', at);
  return uri.substr(at + 1, slash - at - 1);
}

} // namespace

TEST_CASE("the broker script's cluster: three members in one cluster, a "
          "quorum queue declared on one holds what another takes in, and a "
          "killed member leaves the cluster's running set and rejoins it",
          "[cluster]") {
  test::test_cluster cluster;
  CHECK(cluster.running(1) == std::set<std::size_t>{1, 2, 3});

  auto name = test::unique_name("cl-queue");
  {
    auto first = cluster.client(1);
    bridges::topology topo;
    bridges::queue_spec q;
    q.name = name;
    q.type = bridges::queue_type::quorum;
    q.dead_letter_queue = false;
    topo.queues.push_back(q);
    REQUIRE_FALSE(first->declare(topo));
  }
  {
    auto third = cluster.client(3);
    outgoing_message m;
    m.routing_key = name;
    m.properties.message_id = "m-1";
    m.body = R"({"n":1})";
    REQUIRE_FALSE(third->publish(m, 10s));
    auto count = third->message_count(name);
    REQUIRE(count);
    CHECK(*count == 1);
  }

  cluster.kill(2);
  test::eventually([&] { return cluster.running(1).count(2) == 0; }, 30s);
  CHECK(cluster.running(3) == std::set<std::size_t>{1, 3});
  {
    // The queue's replicas on 1 and 3 are a majority: it still answers.
    auto first = cluster.client(1);
    auto count = first->message_count(name);
    REQUIRE(count);
    CHECK(*count == 1);
  }
  cluster.start(2);
  CHECK(cluster.running(2) == std::set<std::size_t>{1, 2, 3});
  auto err = cluster.client(2)->delete_queue(name);
  INFO(describe(err));
  CHECK_FALSE(err);
}

TEST_CASE("a node given the cluster's URIs fails over to another broker when "
          "the one it uses is killed, and its stateful actor on a quorum "
          "queue still counts every message once",
          "[cluster]") {
  test::test_cluster cluster;
  test::temp_dir dir;
  auto actor = test::unique_name("cl-counter");
  auto cfg = test::node_config(dir);
  cfg["broker"] = json::object{{"uris", cluster.uris()}};
  cfg["topology"] = json::object{
    {"queues", json::array{json::object{{"name", actor}, {"type", "quorum"}}}}};
  cfg["actors"] = json::array{test::counter_actor(actor)};
  test::node_process node{dir, cfg};
  // A queue declared less than ~2 s before a broker dies can vanish with
  // it (Mnesia buffers metadata writes).
  std::this_thread::sleep_for(3s);

  // The publisher uses the member that stays up.
  auto publisher = cluster.client(3);
  const int total = 300;
  for (int i = 0; i < total; ++i) {
    // The node connects to the first URI it is given: member 1.
    if (i == total / 3)
      cluster.kill(1);
    test::publish_until_confirmed(*publisher, test::increment(actor, i));
    std::this_thread::sleep_for(2ms);
  }

  auto db = dir.file("state") + "/warren.db";
  std::map<std::string, int64_t> counts;
  test::eventually(
    [&] {
      counts = test::counter_counts(db, actor);
      int64_t sum = 0;
      for (const auto& [key, n] : counts)
        sum += n;
      return sum >= total;
    },
    60s);
  std::map<std::string, int64_t> expected;
  for (int k = 0; k < 10; ++k)
    expected["c" + std::to_string(k)] = total / 10;
  CHECK(counts == expected);
  CHECK(node.running());
  INFO(node.err());
  CHECK_THAT(node.err(), Catch::Contains("lost its connection"));
  bool moved =
    node.err().find("connected again to") != std::string::npos &&
    (node.err().find(host_port(cluster.uri(2))) != std::string::npos ||
     node.err().find(host_port(cluster.uri(3))) != std::string::npos);
  CHECK(moved);
  auto left = publisher->message_count(actor);
  REQUIRE(left);
  CHECK(*left == 0);
  node.stop();
  // A quorum queue's delete times out while one of its members is down.
  cluster.start(1);
  for (const auto& queue : {actor, actor + ".dlq"}) {
    auto err = publisher->delete_queue(queue);
    INFO(queue << ": " << describe(err));
    CHECK_FALSE(err);
  }
}

TEST_CASE(
  "the oracle on three brokers and three nodes: a sharded counter and its "
  "sharded ledger, through kill -9 of two nodes, a node paused past its "
  "heartbeat and resumed, and kill -9 of a broker, every count is exact, every "
  "ledger effect is applied once, and every node's file holds the same state",
  "[cluster][shards]") {
  test::test_cluster cluster;
  auto accounts = test::unique_name("cl-acct");
  auto ledger = test::unique_name("cl-ledger");
  test::sharded_queues queues{cluster, {{accounts, 6}, {ledger, 3}}};
  test::node_group group{3, [&](const test::temp_dir& dir, std::size_t n) {
                           return test::oracle_node_config(cluster, dir, n,
                                                           accounts, ledger);
                         }};
  auto& nodes = group.nodes();

  auto publisher = cluster.client(3);
  int sent = 0;
  auto send = [&](int count) {
    test::send_confirmed(*publisher, sent, count,
                         [&](int i) { return test::increment(accounts, i); });
  };
  test::kill_two_in_turn(group, send);
  // The third node hangs past its heartbeat timeout (the broker gives its
  // shards to the others) and wakes up: a zombie that must not act.
  ::kill(nodes[2]->pid(), SIGSTOP);
  send(60);
  std::this_thread::sleep_for(5s);
  ::kill(nodes[2]->pid(), SIGCONT);
  send(100);
  // A broker dies (the one node 1 started on, where the queues' leaders
  // were declared); the publisher's broker stays.
  cluster.kill(1);
  send(100);
  cluster.start(1);
  send(90);

  auto logs = test::expect_exact(group.dirs(), nodes, accounts, ledger, sent);
  CHECK_THAT(logs, Catch::Contains("taken over in epoch"));
}

TEST_CASE("rebalancing under load: three nodes spread a sharded actor's "
          "shards evenly, a fourth node joining takes its share and leaving "
          "gives it back, every count is exact and every ledger effect is "
          "applied once",
          "[cluster][shards][rebalance]") {
  test::test_cluster cluster;
  auto accounts = test::unique_name("rb-acct");
  auto ledger = test::unique_name("rb-ledger");
  test::sharded_queues queues{cluster, {{accounts, 6}, {ledger, 3}}};
  // Four nodes, three started; the fourth joins later.
  test::node_group group{4,
                         [&](const test::temp_dir& dir, std::size_t n) {
                           return test::oracle_node_config(
                             cluster, dir, n, accounts, ledger,
                             json::object{{"announce_interval_ms", 500},
                                          {"rebalance_hold_ms", 1000}});
                         },
                         3};
  auto& nodes = group.nodes();

  // The load, all through the rebalancing.
  test::steady_load load{cluster, accounts};
  // Waits until the shards of `accounts` are spread over `over` with `low`
  // or `low + 1` each; how long it took.
  std::map<std::string, int> spread;
  auto spread_evenly = [&](const std::vector<std::string>& over, int low) {
    return test::wait_for_status(
      cluster, accounts,
      [&](const json::object& status) {
        spread = test::spread_of(status);
        return test::even(spread, over, low);
      },
      60s);
  };
  auto three = group.names(3);
  auto four = group.names();

  // The first node to start took every shard; the others get their share.
  auto spread_out = spread_evenly(three, 2);
  INFO("three nodes: " << test::describe_spread(spread));
  CHECK(spread_out);

  group.start(3);
  auto joined = spread_evenly(four, 1);
  INFO("a fourth node joined: " << test::describe_spread(spread));
  CHECK(joined);

  // It leaves (and is set apart: the nodes that stay must still run).
  auto newcomer = std::move(nodes[3]);
  newcomer->stop();
  auto left = spread_evenly(three, 2);
  INFO("the fourth node left: " << test::describe_spread(spread));
  CHECK(left);
  std::this_thread::sleep_for(1s);
  int sent = load.stop();

  auto logs = test::expect_exact(group.dirs(3), nodes, accounts, ledger, sent);
  if (std::getenv("WARREN_TEST_SHOW_LOGS") != nullptr)
    std::cerr << newcomer->err();
  logs += newcomer->err();
  INFO(logs);
  auto pauses = test::handover_pauses(logs, accounts);
  double worst = 0;
  for (auto p : pauses)
    worst = std::max(worst, p);
  std::cerr << "rebalance: spread over three nodes in "
            << (spread_out ? *spread_out : -1) << " s, over four in "
            << (joined ? *joined : -1) << " s, back over three in "
            << (left ? *left : -1) << " s; " << pauses.size()
            << " handovers, the longest pause " << worst * 1000 << " ms; "
            << sent << " messages\n";
  CHECK_FALSE(pauses.empty());
  CHECK_THAT(logs, Catch::Contains("handing it over to node"));
  CHECK_THAT(newcomer->err(), Catch::Contains("taken over in epoch"));
}

TEST_CASE("a rolling restart under load: each of three nodes stopped "
          "gracefully and started again in turn, no owner's unit is fenced, "
          "every count is exact and every ledger effect is applied once",
          "[cluster][shards][rolling]") {
  test::test_cluster cluster;
  auto accounts = test::unique_name("rr-acct");
  auto ledger = test::unique_name("rr-ledger");
  test::sharded_queues queues{cluster, {{accounts, 6}, {ledger, 3}}};
  test::node_group group{3, [&](const test::temp_dir& dir, std::size_t n) {
                           return test::oracle_node_config(
                             cluster, dir, n, accounts, ledger,
                             json::object{{"announce_interval_ms", 500},
                                          {"rebalance_hold_ms", 1000}});
                         }};
  auto& nodes = group.nodes();
  test::steady_load load{cluster, accounts};
  std::map<std::string, int> spread;
  auto spread_evenly = [&] {
    return test::wait_for_status(
      cluster, accounts,
      [&](const json::object& status) {
        spread = test::spread_of(status);
        return test::even(spread, group.names(), 2);
      },
      60s);
  };
  CHECK(spread_evenly());
  // The logs of the runs that stopped (a restart replaces the process).
  std::string stopped_logs;
  for (std::size_t n = 0; n < 3; ++n) {
    auto exit_code = nodes[n]->stop();
    stopped_logs += nodes[n]->err();
    CHECK(exit_code == 0);
    group.start(n);
    auto spread_again = spread_evenly();
    INFO("node " << n << " restarted: " << test::describe_spread(spread));
    CHECK(spread_again);
  }
  std::this_thread::sleep_for(1s);
  int sent = load.stop();

  auto logs = test::expect_exact(group.dirs(), nodes, accounts, ledger, sent);
  logs += stopped_logs;
  INFO(logs);
  // A stopping owner whose consumer let the next one be activated while it
  // still finished a unit would see that unit fenced by the next claim.
  CHECK_THAT(logs, !Catch::Contains("was fenced"));
  CHECK_THAT(logs, Catch::Contains("taken over in epoch"));
  std::cerr << "rolling restart: " << sent << " messages, "
            << test::handover_pauses(logs, accounts).size() << " handovers\n";
}
