// Against the three-node RabbitMQ cluster scripts/test.sh starts: the broker
// script's cluster commands, and a node that fails over between the
// cluster's brokers (DESIGN.md §6; issue 13).

#include "cluster_support.hpp"
#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <algorithm>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
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

outgoing_message increment(const std::string& actor, int i) {
  outgoing_message m;
  m.exchange = bridges::actors_exchange;
  m.routing_key = actor;
  m.properties.message_id = actor + "-" + std::to_string(i);
  m.properties.type = "increment";
  m.body = R"({"counter":"c)" + std::to_string(i % 10) + R"(","by":1})";
  return m;
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
    test::publish_until_confirmed(*publisher, increment(actor, i));
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

namespace {

// Every key's count of stateful counter `actor` in a node's file.
std::map<std::string, int64_t> counts_in(const test::temp_dir& dir,
                                         const std::string& actor) {
  return test::counter_counts(dir.file("state") + "/warren.db", actor);
}

int64_t sum(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [key, count] : counts)
    n += count;
  return n;
}

// Node `n` (from 0) of the oracle: on the cluster from its broker n % 3 + 1
// on (heartbeat 2 s), running `accounts` (6 shards), a counter whose every
// increment sends one to `ledger` (3 shards).
json::object oracle_node_config(const test::test_cluster& cluster,
                                const test::temp_dir& dir, std::size_t n,
                                const std::string& accounts,
                                const std::string& ledger) {
  auto cfg = test::node_config(dir);
  cfg["broker"] = json::object{{"uris", cluster.uris_from(n % 3 + 1)},
                               {"heartbeat_seconds", 2}};
  auto acct = test::counter_actor(accounts, ledger);
  acct["shards"] = 6;
  auto book = test::counter_actor(ledger);
  book["shards"] = 3;
  cfg["actors"] = json::array{acct, book};
  return cfg;
}

// The oracle's verdict: `sent` increments of keys c0..c9 (i % 10) went to
// `accounts`, which forwards each to `ledger`; every node's file in `files`
// converges to exactly those counts in both (each is a copy of every
// shard), and every node in `nodes` still runs. Returns their logs.
std::string
expect_exact(const std::vector<const test::temp_dir*>& files,
             std::vector<std::unique_ptr<test::node_process>>& nodes,
             const std::string& accounts, const std::string& ledger, int sent) {
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < sent; ++i)
    ++expected["c" + std::to_string(i % 10)];
  for (std::size_t n = 0; n < files.size(); ++n) {
    INFO("node " << n + 1);
    std::map<std::string, int64_t> acct_counts;
    std::map<std::string, int64_t> ledger_counts;
    test::eventually(
      [&] {
        acct_counts = counts_in(*files[n], accounts);
        ledger_counts = counts_in(*files[n], ledger);
        return sum(acct_counts) >= sent && sum(ledger_counts) >= sent;
      },
      60s);
    INFO("accounts counted " << sum(acct_counts) << ", ledger "
                             << sum(ledger_counts) << " of " << sent);
    if (sum(acct_counts) < sent || sum(ledger_counts) < sent) {
      // What the nodes said, for the failure's report.
      std::string said;
      for (auto& node : nodes)
        said += node->err();
      UNSCOPED_INFO(said);
    }
    CHECK(acct_counts == expected);
    CHECK(ledger_counts == expected);
  }
  std::string logs;
  for (auto& node : nodes)
    logs += node->err();
  INFO(logs);
  if (std::getenv("WARREN_TEST_SHOW_LOGS") != nullptr)
    std::cerr << logs;
  for (auto& node : nodes)
    CHECK(node->running());
  return logs;
}

} // namespace

TEST_CASE("three nodes on the three-broker cluster share a sharded counter "
          "and its sharded ledger: through kill -9 of two nodes, a node "
          "paused past its heartbeat and resumed, and kill -9 of a broker, "
          "every count is exact, every ledger effect is applied once, and "
          "every node's file holds the same state",
          "[cluster][shards]") {
  test::test_cluster cluster;
  auto accounts = test::unique_name("cl-acct");
  auto ledger = test::unique_name("cl-ledger");
  test::node_group group{3, [&](const test::temp_dir& dir, std::size_t n) {
                           return oracle_node_config(cluster, dir, n, accounts,
                                                     ledger);
                         }};
  auto& nodes = group.nodes();

  auto publisher = cluster.client(3);
  int sent = 0;
  auto send = [&](int count) {
    test::send_confirmed(*publisher, sent, count,
                         [&](int i) { return increment(accounts, i); });
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

  auto logs = expect_exact(group.dirs(), nodes, accounts, ledger, sent);
  CHECK_THAT(logs, Catch::Contains("taken over in epoch"));
}

namespace {

// How many of `actor`'s shards each node owns, as `warren cluster status`
// tells it ("" for shards without an owner).
std::map<std::string, int> shards_per_node(const test::test_cluster& cluster,
                                           const std::string& actor) {
  std::map<std::string, int> out;
  auto st = test::cluster_status(cluster.uri(3), actor);
  if (st.status.empty())
    return out;
  for (const auto& [shard, owner] : test::owners_in(st.status))
    ++out[owner.first];
  return out;
}

// Whether `spread` has exactly `nodes` owning `low` or `low + 1` shards
// each, and no shard without an owner.
bool even(const std::map<std::string, int>& spread,
          const std::vector<std::string>& nodes, int low) {
  if (spread.count("") > 0 || spread.size() != nodes.size())
    return false;
  for (const auto& n : nodes) {
    auto found = spread.find(n);
    if (found == spread.end() || found->second < low || found->second > low + 1)
      return false;
  }
  return true;
}

// Milliseconds into the day of a log line's timestamp
// ("2026-12-02T09:51:29.322Z ..."), or -1.
int64_t log_time_ms(const std::string& line) {
  int h = 0;
  int m = 0;
  int sec = 0;
  int ms = 0;
  if (line.size() < 24 ||
      std::sscanf(line.c_str() + 11, "%d:%d:%d.%d", &h, &m, &sec, &ms) != 4)
    return -1;
  return ((h * 60 + m) * 60 + sec) * 1000 + ms;
}

// For each handover of one of `actor`'s shards in `logs` (every node's),
// the seconds until a node said it took that shard over: how long the
// shard had no owner.
std::vector<double> handover_pauses(const std::string& logs,
                                    const std::string& actor) {
  struct event {
    int64_t at;
    std::string shard;
    bool handover;
  };
  std::vector<event> events;
  std::istringstream in{logs};
  for (std::string line; std::getline(in, line);) {
    auto scope = line.find("/" + actor + ": shard ");
    if (scope == std::string::npos)
      continue;
    auto shard_at = scope + actor.size() + 9;
    auto shard = line.substr(shard_at, line.find(':', shard_at) - shard_at);
    bool handover = line.find("handing it over") != std::string::npos;
    if (handover || line.find("taken over in epoch") != std::string::npos)
      events.push_back({log_time_ms(line), shard, handover});
  }
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& b) { return a.at < b.at; });
  std::vector<double> out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (!events[i].handover)
      continue;
    for (std::size_t j = i + 1; j < events.size(); ++j)
      if (!events[j].handover && events[j].shard == events[i].shard) {
        out.push_back(static_cast<double>(events[j].at - events[i].at) /
                      1000.0);
        break;
      }
  }
  return out;
}

std::string describe_spread(const std::map<std::string, int>& spread) {
  std::string out;
  for (const auto& [node, count] : spread)
    out += (node.empty() ? std::string{"(none)"} : node) + ": " +
           std::to_string(count) + "  ";
  return out;
}

} // namespace

TEST_CASE("rebalancing under load: three nodes spread a sharded actor's "
          "shards evenly, a fourth node joining takes its share and leaving "
          "gives it back, every count is exact and every ledger effect is "
          "applied once",
          "[cluster][shards][rebalance]") {
  test::test_cluster cluster;
  auto accounts = test::unique_name("rb-acct");
  auto ledger = test::unique_name("rb-ledger");
  std::vector<std::unique_ptr<test::temp_dir>> dirs;
  std::vector<json::object> cfgs;
  std::vector<std::string> names;
  for (std::size_t n = 0; n < 4; ++n) {
    dirs.push_back(std::make_unique<test::temp_dir>());
    auto cfg = oracle_node_config(cluster, *dirs.back(), n, accounts, ledger);
    cfg["cluster"] =
      json::object{{"announce_interval_ms", 500}, {"rebalance_hold_ms", 1000}};
    names.emplace_back(cfg["node"].as_string());
    cfgs.push_back(std::move(cfg));
  }
  std::vector<std::unique_ptr<test::node_process>> nodes;
  for (std::size_t n = 0; n < 3; ++n)
    nodes.push_back(std::make_unique<test::node_process>(*dirs[n], cfgs[n]));
  std::this_thread::sleep_for(3s);

  // The load: a publisher of its own, about 300 increments a second, all
  // through the rebalancing (its thread asserts nothing: it counts).
  std::atomic<bool> stop_sending{false};
  std::atomic<int> sent{0};
  std::atomic<int> unconfirmed{0};
  std::thread sender{[&] {
    auto client = cluster.client(3);
    while (!stop_sending) {
      auto m = increment(accounts, sent);
      bool confirmed = false;
      for (int attempt = 0; attempt < 40 && !confirmed; ++attempt) {
        confirmed = !client->publish(m, 10s);
        if (!confirmed)
          std::this_thread::sleep_for(500ms);
      }
      if (!confirmed) {
        ++unconfirmed;
        break;
      }
      ++sent;
      std::this_thread::sleep_for(2ms);
    }
  }};
  // However the test ends, the sender stops first.
  struct stop_at_exit {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~stop_at_exit() {
      stop = true;
      if (thread.joinable())
        thread.join();
    }
  } stop_sender{stop_sending, sender};
  // Waits until the shards of `accounts` are spread as `wanted` says, or
  // `timeout` passed; how long it took.
  std::map<std::string, int> spread;
  auto wait_until = [&](const std::function<bool()>& wanted,
                        std::chrono::seconds timeout) {
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < timeout) {
      spread = shards_per_node(cluster, accounts);
      if (wanted())
        return std::optional<double>{std::chrono::duration<double>(
                                       std::chrono::steady_clock::now() - start)
                                       .count()};
      std::this_thread::sleep_for(200ms);
    }
    return std::optional<double>{};
  };
  std::vector<std::string> three{names[0], names[1], names[2]};
  std::vector<std::string> four = names;

  // The first node to start took every shard; the others get their share.
  auto spread_out = wait_until([&] { return even(spread, three, 2); },
                               std::chrono::seconds{60});
  INFO("three nodes: " << describe_spread(spread));
  CHECK(spread_out);

  auto newcomer = std::make_unique<test::node_process>(*dirs[3], cfgs[3]);
  auto joined =
    wait_until([&] { return even(spread, four, 1); }, std::chrono::seconds{60});
  INFO("a fourth node joined: " << describe_spread(spread));
  CHECK(joined);

  newcomer->stop();
  auto left = wait_until([&] { return even(spread, three, 2); },
                         std::chrono::seconds{60});
  INFO("the fourth node left: " << describe_spread(spread));
  CHECK(left);
  std::this_thread::sleep_for(1s);
  stop_sending = true;
  sender.join();
  REQUIRE(unconfirmed == 0);

  std::vector<const test::temp_dir*> files;
  for (std::size_t n = 0; n < 3; ++n)
    files.push_back(dirs[n].get());
  auto logs = expect_exact(files, nodes, accounts, ledger, sent);
  if (std::getenv("WARREN_TEST_SHOW_LOGS") != nullptr)
    std::cerr << newcomer->err();
  logs += newcomer->err();
  INFO(logs);
  auto pauses = handover_pauses(logs, accounts);
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
