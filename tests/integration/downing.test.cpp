// Downing (README.md, "Downing"; issue 13): a node that hangs has its
// shards taken over once the others stop hearing it, through the broker's
// management API, not after the broker's own heartbeat timeout. Against the
// three-broker cluster scripts/test.sh starts (its members serve the
// management API on their AMQP port + 10000).

#include "cluster_support.hpp"
#include "support.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <string>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

TEST_CASE("downing: a node paused under load loses its shards once the "
          "others stop hearing it, long before the broker's heartbeat "
          "timeout, and resumed it drops its work: every count exact, every "
          "ledger effect once",
          "[cluster][downing]") {
  test::test_cluster cluster;
  auto accounts = test::unique_name("dn-acct");
  auto ledger = test::unique_name("dn-ledger");
  test::sharded_queues queues{cluster, {{accounts, 6}, {ledger, 3}}};
  // Heartbeat 30 s: the brokers would drop a paused node's connections 60
  // to 90 s after its last byte. Downing after 2 s of silence must move its
  // shards well before that.
  test::node_group group{3, [&](const test::temp_dir& dir, std::size_t n) {
                           auto cfg = test::oracle_node_config(
                             cluster, dir, n, accounts, ledger,
                             json::object{{"announce_interval_ms", 500},
                                          {"rebalance_hold_ms", 1000},
                                          {"down_after_ms", 2000}});
                           cfg["broker"].as_object()["heartbeat_seconds"] = 30;
                           return cfg;
                         }};
  auto& nodes = group.nodes();
  test::steady_load load{cluster, accounts};

  std::map<int64_t, std::pair<std::string, int64_t>> before;
  auto spread_out = test::wait_for_status(
    cluster, accounts,
    [&](const json::object& status) {
      before = test::owners_in(status);
      return test::even(test::spread_of(status), group.names(), 2);
    },
    60s);
  REQUIRE(spread_out);

  // The second node in name order pauses; the first downs it.
  auto names = group.names();
  std::sort(names.begin(), names.end());
  auto index_of = [&](const std::string& name) {
    std::size_t i = 0;
    while (group.name(i) != name)
      ++i;
    return i;
  };
  auto paused = names[1];
  auto& zombie = *nodes[index_of(paused)];
  auto& downer = *nodes[index_of(names[0])];
  auto paused_at = test::now_time_ms();
  REQUIRE(::kill(zombie.pid(), SIGSTOP) == 0);
  std::string last_status;
  auto taken = test::wait_for_status(
    cluster, accounts,
    [&](const json::object& status) {
      last_status = json::serialize(status);
      const auto* silent = test::node_in(status, paused);
      if (silent == nullptr || silent->at("live").as_bool())
        return false;
      auto owners = test::owners_in(status);
      if (owners.size() != before.size())
        return false;
      // Its shards claimed anew (newer epochs), the others kept.
      for (const auto& [shard, owner] : owners)
        if (owner.first.empty() || owner.first == paused ||
            (before[shard].first == paused &&
             owner.second <= before[shard].second))
          return false;
      return true;
    },
    20s);
  REQUIRE(::kill(zombie.pid(), SIGCONT) == 0);
  INFO("the status last read: " << last_status);
  CHECK(taken);
  // The first node said why, and when.
  auto downer_log = downer.err();
  auto said = downer_log.find("downed node " + paused);
  CHECK(said != std::string::npos);
  double downed_after = -1;
  if (said != std::string::npos) {
    auto line = downer_log.rfind('\n', said);
    downed_after = test::seconds_between(
      paused_at, test::log_time_ms(downer_log.substr(
                   line == std::string::npos ? 0 : line + 1)));
  }

  // Back, it is heard again and may be given shards anew (newer epochs).
  auto back = test::wait_for_status(
    cluster, accounts,
    [&](const json::object& status) {
      const auto* resumed = test::node_in(status, paused);
      return resumed != nullptr && resumed->at("live").as_bool() &&
             test::no_stale_owners(status);
    },
    60s);
  CHECK(back);
  std::this_thread::sleep_for(1s);
  int sent = load.stop();

  auto logs = test::expect_exact(group.dirs(), nodes, accounts, ledger, sent);
  INFO(logs);
  std::cerr << "downing: paused node downed " << downed_after
            << " s after SIGSTOP, every shard owned elsewhere (status) after "
            << (taken ? *taken : -1)
            << " s (heartbeat 30 s, down_after 2 s, announce 0.5 s); " << sent
            << " messages\n";
  CHECK_THAT(logs, Catch::Contains("taken over in epoch"));
}
