// Cluster membership on the three-broker cluster (README.md, "Clustering"):
// `warren cluster status` shows the truth while nodes own shards, after a
// node is killed, and after one stops.

#include "cluster_support.hpp"
#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <map>
#include <string>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// One increment for each of 40 keys (every shard of a few gets some).
void send_round(bridges::blocking_client& client, const std::string& actor,
                int round) {
  for (int k = 0; k < 40; ++k) {
    auto m = test::to_actor(
      actor, actor + "-" + std::to_string(round) + "-" + std::to_string(k),
      "increment", R"({"counter":"k)" + std::to_string(k) + R"(","by":1})");
    for (int attempt = 0;; ++attempt) {
      auto err = client.publish(m, 10s);
      if (!err)
        break;
      REQUIRE(attempt < 20);
      std::this_thread::sleep_for(500ms);
    }
  }
}

} // namespace

TEST_CASE("warren cluster status shows each node and each shard's owner as "
          "the nodes' logs do, after kill -9 of a node it shows it gone and "
          "its shards owned by the survivors in newer epochs, a node paused "
          "past its heartbeat is shown gone and then, resumed, live and "
          "owning nothing it was fenced out of",
          "[cluster][membership]") {
  test::test_cluster cluster;
  constexpr int shards = 4;
  auto actor = test::unique_name("mb-acct");
  test::sharded_queues queues{cluster, {{actor, shards}}};
  std::vector<std::unique_ptr<test::temp_dir>> dirs;
  std::vector<std::unique_ptr<test::node_process>> nodes;
  std::map<std::string, std::size_t> index_of;
  for (std::size_t n = 0; n < 3; ++n) {
    dirs.push_back(std::make_unique<test::temp_dir>());
    auto cfg = test::node_config(*dirs.back());
    cfg["broker"] = json::object{{"uris", cluster.uris_from(n + 1)},
                                 {"heartbeat_seconds", 2}};
    cfg["cluster"] = json::object{{"announce_interval_ms", 500}};
    cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
    auto acct = test::counter_actor(actor);
    acct["shards"] = shards;
    cfg["actors"] = json::array{acct};
    nodes.push_back(std::make_unique<test::node_process>(*dirs[n], cfg));
    index_of[nodes.back()->name()] = n;
  }
  auto client = cluster.client(3);
  send_round(*client, actor, 0);

  // Every shard owned by a live node, as its log says.
  test::status_reading st;
  auto all_owned = [&] {
    st = test::cluster_status(cluster.uri(3), actor);
    if (st.status.empty() || st.exit_code != 0)
      return false;
    int live = 0;
    for (const auto& n : st.status.at("nodes").as_array())
      live += n.at("live").as_bool() ? 1 : 0;
    auto owners = test::owners_in(st.status);
    if (live != 3 || owners.size() != shards)
      return false;
    for (const auto& [shard, owner] : owners)
      if (owner.first.empty())
        return false;
    return true;
  };
  bool owned = test::eventually(all_owned, 30s);
  INFO(st.text);
  REQUIRE(owned);
  auto before = test::owners_in(st.status);
  std::map<std::string, int> owned_by;
  for (const auto& [shard, owner] : before) {
    auto it = index_of.find(owner.first);
    REQUIRE(it != index_of.end());
    auto& node = *nodes[it->second];
    INFO("shard " << shard << " owner " << owner.first << " log:\n"
                  << node.err());
    CHECK_THAT(node.err(), Catch::Contains("shard " + std::to_string(shard) +
                                           ": taken over in epoch " +
                                           std::to_string(owner.second)));
    // Its metrics agree: it owns the shard in that epoch.
    auto shard_label = "shard=\"" + std::to_string(shard) + "\"";
    CHECK(test::metric_sample(node.metrics_port(), "warren_shard_owned",
                              {"actor=\"" + actor + "\"", shard_label}) == 1);
    CHECK(test::metric_sample(node.metrics_port(), "warren_shard_epoch",
                              {"actor=\"" + actor + "\"", shard_label}) ==
          static_cast<double>(owner.second));
    ++owned_by[owner.first];
  }
  // Each live node's reader is reported with its position.
  const auto& readers =
    st.status.at("actors").as_array()[0].at("readers").as_array();
  CHECK(readers.size() == 3);
  for (const auto& r : readers)
    CHECK(r.at("position").to_number<int64_t>() > 0);

  // The node that owns the most shards dies.
  std::string victim;
  for (const auto& [name, count] : owned_by)
    if (victim.empty() || count > owned_by[victim])
      victim = name;
  auto& dead = *nodes[index_of[victim]];
  ::kill(dead.pid(), SIGKILL);
  dead.stop();
  // Its shards get messages again: the survivors take them over.
  send_round(*client, actor, 1);
  auto taken_over = [&] {
    st = test::cluster_status(cluster.uri(3), actor);
    if (st.status.empty() || st.exit_code != 0)
      return false;
    const auto* gone = test::node_in(st.status, victim);
    if (gone == nullptr || gone->at("live").as_bool())
      return false;
    for (const auto& [shard, owner] : test::owners_in(st.status)) {
      if (owner.first.empty() || owner.first == victim)
        return false;
      if (before[shard].first == victim && owner.second <= before[shard].second)
        return false;
    }
    return true;
  };
  bool moved = test::eventually(taken_over, 40s);
  INFO(st.text);
  CHECK(moved);
  CHECK(st.status.at("stuck_shards").to_number<int64_t>() == 0);
  // The human table says the same.
  auto table =
    test::warren({"cluster", "status", "-u", cluster.uri(3), "--actor", actor});
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.out, Catch::Contains(victim) && Catch::Contains("gone"));

  // A survivor paused past its heartbeat (the zombie case): shown gone
  // while it is silent, its shards owned by the other in newer epochs;
  // resumed, it is live again and owns nothing it was fenced out of (what
  // rebalancing gives it back it claims anew) and announces nothing it
  // lost.
  auto owners_now = test::owners_in(st.status);
  std::map<std::string, int> now_owned_by;
  for (const auto& [shard, owner] : owners_now)
    ++now_owned_by[owner.first];
  std::string paused;
  std::string other;
  for (std::size_t n = 0; n < 3; ++n) {
    const auto& name = nodes[n]->name();
    if (name == victim)
      continue;
    if (paused.empty() || now_owned_by[name] > now_owned_by[paused]) {
      if (!paused.empty())
        other = paused;
      paused = name;
    } else {
      other = name;
    }
  }
  auto& zombie = *nodes[index_of[paused]];
  REQUIRE(::kill(zombie.pid(), SIGSTOP) == 0);
  send_round(*client, actor, 2);
  auto all_with_other = [&] {
    st = test::cluster_status(cluster.uri(3), actor);
    if (st.status.empty())
      return false;
    const auto* silent = test::node_in(st.status, paused);
    if (silent == nullptr || silent->at("live").as_bool())
      return false;
    for (const auto& [shard, owner] : test::owners_in(st.status)) {
      if (owner.first != other)
        return false;
      if (owners_now[shard].first == paused &&
          owner.second <= owners_now[shard].second)
        return false;
    }
    return true;
  };
  bool paused_shown = test::eventually(all_with_other, 40s);
  REQUIRE(::kill(zombie.pid(), SIGCONT) == 0);
  INFO(st.text);
  CHECK(paused_shown);
  auto owners_paused = test::owners_in(st.status);
  auto back_as_standby = [&] {
    st = test::cluster_status(cluster.uri(3), actor);
    if (st.status.empty())
      return false;
    const auto* resumed = test::node_in(st.status, paused);
    if (resumed == nullptr || !resumed->at("live").as_bool())
      return false;
    // Rebalancing may give it shards back: claimed anew (a newer epoch),
    // never one it was fenced out of, and nobody announces a shard lost.
    auto owners = test::owners_in(st.status);
    if (owners.size() != owners_paused.size())
      return false;
    for (const auto& [shard, owner] : owners) {
      if (owner.first != other && owner.first != paused)
        return false;
      if (owner.first == paused && owner.second <= owners_paused[shard].second)
        return false;
    }
    return test::no_stale_owners(st.status);
  };
  bool resumed_shown = test::eventually(back_as_standby, 30s);
  INFO(st.text);
  CHECK(resumed_shown);

  // A node that stops says so: it is shown as left (a node that dies
  // without a word is shown gone, never left).
  std::string leaver = other;
  CHECK(nodes[index_of[other]]->stop() == 0);
  auto shown_left = [&] {
    st = test::cluster_status(cluster.uri(3), actor);
    const auto* left = test::node_in(st.status, leaver);
    return left != nullptr && left->at("leaving").as_bool() &&
           !left->at("live").as_bool();
  };
  // Read again for a few seconds: the broker may take a moment to confirm
  // and show its last announcement on a loaded machine.
  bool left_shown = test::eventually(shown_left, 10s);
  INFO(st.text << "\nthe node that left said:\n"
               << nodes[index_of[other]]->err());
  CHECK(left_shown);
}
