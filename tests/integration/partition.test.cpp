// A node cut off from the brokers by a network partition, then healed
// (issue 13; README.md, "Clustering"): the oracle of cluster.test.cpp, a
// sharded counter whose every increment sends one to a sharded ledger, on
// three nodes of the three-broker cluster, one of them in a network
// namespace whose link to the brokers is blackholed (netns_support.hpp) for
// well past the heartbeat, under a steady load.

#include "cluster_support.hpp"
#include "netns_support.hpp"
#include "support.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// The partition lasts this long: six heartbeat intervals (2 s), three times
// what the brokers wait before they drop the node's connections.
constexpr auto cut_for = 12s;

// Shard -> epoch of the shards of the first actor in `status` that `node`
// owns.
std::map<int64_t, int64_t> owned_by(const json::object& status,
                                    const std::string& node) {
  std::map<int64_t, int64_t> out;
  for (const auto& [shard, owner] : test::owners_in(status))
    if (owner.first == node)
      out[shard] = owner.second;
  return out;
}

// Whether `status` shows `node` as live (false when it is not shown).
bool live(const json::object& status, const std::string& node) {
  const auto* n = test::node_in(status, node);
  return n != nullptr && n->at("live").as_bool();
}

// Whether each of the `shards` shards in `status` has an owner other than
// `cut` and each shard `cut` owned (`had`) is owned in a newer epoch than it
// had it in. (A status read while the broker is slow may miss the latest
// announcements and show no owners: that is not a takeover.)
bool taken_from(const json::object& status, std::size_t shards,
                const std::string& cut, const std::map<int64_t, int64_t>& had) {
  auto owners = test::owners_in(status);
  if (owners.size() != shards)
    return false;
  for (const auto& [shard, owner] : owners) {
    if (owner.first.empty() || owner.first == cut)
      return false;
    auto was = had.find(shard);
    if (was != had.end() && owner.second <= was->second)
      return false;
  }
  return true;
}

// Seconds from `since` (`test::now_time_ms`) to the first "taken over" of
// `shard` logged after it in `logs`; nothing when there is none.
std::optional<double> taken_over_after(const std::string& logs,
                                       const std::string& actor,
                                       std::optional<int64_t> shard,
                                       int64_t since) {
  for (const auto& e : test::shard_events(logs, actor))
    if (!e.handover && test::at_or_after(e.at, since) &&
        (!shard || e.shard == *shard))
      return test::seconds_between(since, e.at);
  return std::nullopt;
}

// The oracle through a partition of the node that owns shards of both
// actors (all of them without rebalancing, its share with it): it is cut
// off for `cut_for` under load, the others take its shards over in newer
// epochs, it is healed and comes back (with rebalancing, taking a share
// again; without, as a standby), and every count is exact in every node's
// file, the cut node's too.
// With `downing`, the others close the cut node's connections through the
// management API once they have not heard it for 2 s (README.md, "Downing").
void partition_and_heal(bool rebalance, bool downing) {
  if (auto missing = test::network_namespace_unavailable(); !missing.empty()) {
    WARN("SKIPPED: a network partition needs " << missing);
    return;
  }
  test::test_cluster cluster;
  std::vector<std::string> broker_uris;
  for (std::size_t i = 1; i <= cluster.size(); ++i)
    broker_uris.push_back(cluster.uri(i));
  test::network_namespace netns{broker_uris};
  auto accounts = test::unique_name("pt-acct");
  auto ledger = test::unique_name("pt-ledger");
  test::sharded_queues queues{cluster, {{accounts, 6}, {ledger, 3}}};
  const std::vector<std::string> actors{accounts, ledger};
  // The oracle's shard counts.
  const std::map<std::string, std::size_t> shards_of{{accounts, 6},
                                                     {ledger, 3}};
  // Node 0, in the namespace, reaches the brokers through the forwarders;
  // it is started later, alone.
  test::node_group group{
    3,
    [&](const test::temp_dir& dir, std::size_t n) {
      auto cfg = test::oracle_node_config(
        cluster, dir, n, accounts, ledger,
        json::object{{"announce_interval_ms", 500},
                     {"rebalance", rebalance},
                     {"rebalance_hold_ms", 1000},
                     {"down_after_ms", downing ? 2000 : 0}});
      if (n == 0) {
        json::array reached;
        for (const auto& uri : cfg["broker"].at("uris").as_array())
          reached.emplace_back(netns.reach(std::string{uri.as_string()}));
        cfg["broker"].as_object()["uris"] = std::move(reached);
      }
      return cfg;
    },
    0};
  auto& nodes = group.nodes();
  const auto names = group.names();
  const auto& cut_node = names[0];
  auto only_cut_node = [&](const json::object& status,
                           const std::string& actor) -> bool {
    return test::spread_of(status) ==
           std::map<std::string, int>{
             {cut_node, static_cast<int>(shards_of.at(actor))}};
  };
  // Where the shards are while nothing fails: all on the first node to
  // start without rebalancing, evenly spread with it.
  auto placed = [&](const json::object& status,
                    const std::string& actor) -> bool {
    if (!rebalance)
      return only_cut_node(status, actor);
    return test::even(test::spread_of(status), names,
                      static_cast<int>(shards_of.at(actor)) / 3);
  };

  // It starts first and owns every shard; the others join.
  group.start(0, netns.command_prefix());
  // Waits until `wanted` holds of each actor's status, or `timeout`
  // passed; the last reading of a phase that did not end so is reported.
  auto each_actor =
    [&](const char* phase,
        const std::function<bool(const json::object&, const std::string&)>&
          wanted,
        std::chrono::seconds timeout) {
      bool all = true;
      for (const auto& actor : actors) {
        std::string shown;
        auto done = test::wait_for_status(
          cluster, actor,
          [&](const json::object& status) {
            shown = test::describe_spread(test::spread_of(status));
            return wanted(status, actor);
          },
          timeout);
        INFO(actor << " " << phase << ": " << shown);
        CHECK(done);
        all = all && done;
      }
      return all;
    };
  bool alone = each_actor("started alone", only_cut_node, 30s);
  INFO("the node in the namespace said:\n" << nodes[0]->err());
  REQUIRE(alone);
  for (std::size_t n = 1; n < 3; ++n)
    group.start(n);

  test::steady_load load{cluster, accounts};
  auto load_started = std::chrono::steady_clock::now();
  // With rebalancing, the cut node keeps its share only: 2 of 6, 1 of 3.
  std::map<std::string, std::map<int64_t, int64_t>> had;
  REQUIRE(each_actor(
    "before the cut",
    [&](const json::object& status, const std::string& actor) {
      had[actor] = owned_by(status, cut_node);
      return placed(status, actor) && !had[actor].empty();
    },
    60s));

  // The cut: the brokers stop hearing from the node, and it from them.
  netns.cut();
  auto cut_at = test::now_time_ms();
  auto cut_started = std::chrono::steady_clock::now();
  each_actor(
    "during the cut",
    [&](const json::object& status, const std::string& actor) {
      return !live(status, cut_node) &&
             taken_from(status, shards_of.at(actor), cut_node, had[actor]);
    },
    60s);
  std::this_thread::sleep_until(cut_started + cut_for);
  netns.heal();
  auto heal_at = test::now_time_ms();
  auto healed = std::chrono::steady_clock::now();

  // Back: live, and (with rebalancing) owning its share again in newer
  // epochs; nobody shows a shard it lost. Its connections come back at
  // their next attempt (a connect times out after 5 s, back-off up to 2 s)
  // and its readers catch up on the cut's records before placement gives
  // it anything: the spread settled within 32 s of the heal in our runs.
  each_actor(
    "after the heal",
    [&](const json::object& status, const std::string& actor) {
      if (!live(status, cut_node) || !test::no_stale_owners(status))
        return false;
      auto now = owned_by(status, cut_node);
      for (const auto& [shard, epoch] : now) {
        auto was = had[actor].find(shard);
        if (was != had[actor].end() && epoch <= was->second)
          return false;
      }
      if (!rebalance)
        return now.empty() &&
               taken_from(status, shards_of.at(actor), cut_node, had[actor]);
      return placed(status, actor);
    },
    90s);
  auto settled =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - healed)
      .count();
  std::this_thread::sleep_for(3s);
  int sent = load.stop();
  auto loaded_for = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - load_started)
                      .count();

  auto logs = test::expect_exact(group.dirs(), nodes, accounts, ledger, sent);
  // The cut node noticed through missed heartbeats (nothing was refused
  // or reset), its owners gave their shards up, its connections came back.
  auto cut_log = nodes[0]->err();
  INFO(cut_log);
  CHECK_THAT(cut_log,
             Catch::Contains("lost its connection: heartbeat timeout") &&
               Catch::Contains("connected again to"));
  CHECK_THAT(cut_log, Catch::Contains("it gives the shard up"));

  // How long the shards were without a live owner: from the cut until the
  // last of the cut node's shards was taken over elsewhere; and from the
  // heal until it took one again.
  std::string others_logs = nodes[1]->err() + nodes[2]->err();
  // Downing: the first node in name order of the two that still heard each
  // other closed the cut node's connections.
  if (downing)
    CHECK_THAT(others_logs, Catch::Contains("downed node " + cut_node));
  double takeover = 0;
  bool all_taken = true;
  for (const auto& actor : actors)
    for (const auto& [shard, epoch] : had[actor]) {
      auto took = taken_over_after(others_logs, actor, shard, cut_at);
      INFO(actor << " shard " << shard);
      CHECK(took);
      all_taken = all_taken && took;
      takeover = std::max(takeover, took.value_or(0));
    }
  std::optional<double> retake;
  for (const auto& actor : actors)
    if (auto took = taken_over_after(cut_log, actor, std::nullopt, heal_at))
      retake = retake ? std::min(*retake, *took) : *took;
  if (rebalance)
    CHECK(retake);
  else
    CHECK_FALSE(retake);
  // The longest a shard handed over (by placement) after the heal waited
  // for its next owner's claim.
  double worst_handover = 0;
  for (const auto& actor : actors)
    for (auto pause : test::handover_pauses(logs, actor, heal_at))
      worst_handover = std::max(worst_handover, pause);
  if (std::getenv("WARREN_TEST_SHOW_LOGS") != nullptr) {
    std::cerr << "partition (rebalancing " << (rebalance ? "on" : "off")
              << ", downing " << (downing ? "on" : "off")
              << "): the cut node's last shard taken over "
              << (all_taken ? takeover : -1) << " s after the cut; ";
    if (retake)
      std::cerr << "it took a shard again " << *retake << " s after the heal";
    else
      std::cerr << "it took no shard again";
    std::cerr << ", the status settled " << settled
              << " s after the heal; the longest handover since "
              << worst_handover << " s; " << sent << " messages in "
              << loaded_for << " s\n";
  }
  for (const auto& actor : actors) {
    auto st = test::cluster_status(cluster.uri(3), actor);
    INFO(st.text);
    CHECK(test::no_stale_owners(st.status));
  }
}

} // namespace

// (Catch indents a long name's lines after its first ": ", which must
// come early: past the 77th character its console reporter throws.)
TEST_CASE("a network partition with rebalancing: a node cut off from the "
          "brokers past its heartbeat, downed by the others, loses its shards "
          "to them in newer epochs and takes its share again once healed, "
          "every count exact and every ledger effect applied once on every "
          "node",
          "[cluster][partition]") {
  partition_and_heal(true, true);
}

TEST_CASE("a network partition without rebalancing: a node cut off from the "
          "brokers past its heartbeat loses every shard to the others and "
          "comes back as a standby once healed, every count exact and every "
          "ledger effect applied once on every node",
          "[cluster][partition]") {
  partition_and_heal(false, false);
}
