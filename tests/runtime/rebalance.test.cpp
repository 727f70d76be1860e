// Rebalancing (README.md, "Rebalancing"): where shards are placed over the
// live, caught-up nodes, and when a node hands a shard over or leaves one
// to another node (pure: no broker).

#include "cluster/member_view.hpp"
#include "cluster/rebalancer.hpp"
#include "warren/runtime/membership.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>

using namespace warren;
using namespace warren::runtime;
using namespace warren::runtime::membership;
using namespace std::chrono_literals;

namespace {

std::map<std::string, int> per_node(const std::vector<std::string>& placed) {
  std::map<std::string, int> out;
  for (const auto& n : placed)
    ++out[n];
  return out;
}

// A node running `accounts` with `shards` shards, heard at `at_ms`, its
// reader at `position`.
announcement member(const std::string& name, int64_t at_ms,
                    int64_t position = 100, uint32_t shards = 6) {
  announcement a;
  a.node = name;
  a.incarnation = name + "-run";
  a.at_ms = at_ms;
  a.interval_ms = 2000;
  actor_report r;
  r.actor = "accounts";
  r.shards = shards;
  r.position = position;
  a.actors.push_back(std::move(r));
  return a;
}

} // namespace

TEST_CASE("placement gives every node shards / nodes shards or one more, "
          "the same on every call",
          "[rebalance]") {
  for (uint32_t shards : {1u, 3u, 6u, 7u, 64u}) {
    for (std::size_t count = 1; count <= 5; ++count) {
      std::vector<std::string> nodes;
      for (std::size_t n = 0; n < count; ++n)
        nodes.push_back("node-" + std::to_string(n));
      auto placed = place_shards("accounts", shards, nodes);
      REQUIRE(placed.size() == shards);
      auto counts = per_node(placed);
      INFO(shards << " shards over " << count << " nodes");
      for (const auto& n : nodes) {
        auto c = counts.count(n) ? counts[n] : 0;
        CHECK(c >= static_cast<int>(shards / count));
        CHECK(c <= static_cast<int>((shards + count - 1) / count));
      }
      CHECK(place_shards("accounts", shards, nodes) == placed);
    }
  }
  CHECK(place_shards("accounts", 4, {}).empty());
}

TEST_CASE("a node joining takes shards from the others and moves few "
          "besides, leaving again gives the same placement back",
          "[rebalance]") {
  std::vector<std::string> three{"a", "b", "c"};
  std::vector<std::string> four{"a", "b", "c", "d"};
  auto before = place_shards("accounts", 64, three);
  auto after = place_shards("accounts", 64, four);
  int moved = 0;
  int to_newcomer = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i])
      continue;
    ++moved;
    if (after[i] == "d")
      ++to_newcomer;
  }
  CHECK(to_newcomer == 16);
  // Every shard the newcomer took moved; a few more shift to even the
  // others out, far from a reshuffle (about 48 of 64 would move).
  CHECK(moved <= 24);
  CHECK(place_shards("accounts", 64, three) == before);
  // Actors are placed independently of each other.
  CHECK(place_shards("ledger", 64, three) != before);
}

TEST_CASE("candidates are the live nodes running the actor with the same "
          "shard count and a reader caught up",
          "[rebalance]") {
  std::vector<announcement> heard{member("a", 9'000, 5000),
                                  member("b", 9'000, 4950),
                                  // Replaying: far behind, and its last record
                                  // applied long after it was published.
                                  member("c", 9'000, 10),
                                  // Configured otherwise: it refuses to own.
                                  member("d", 9'000, 5000, 8),
                                  // Silent past three intervals.
                                  member("e", 1'000, 5000)};
  heard[2].actors[0].lag_seconds = 600;
  auto st = summarize(heard, 10'000);
  CHECK(shard_candidates(st, "accounts", 6) ==
        std::vector<std::string>{"a", "b"});
  // A reader far behind in records but applying fresh records is caught up
  // (under load, positions are announced at different moments).
  heard[2].actors[0].lag_seconds = 0.05;
  CHECK(shard_candidates(summarize(heard, 10'000), "accounts", 6) ==
        std::vector<std::string>{"a", "b", "c"});
  CHECK(shard_candidates(st, "ledger", 6).empty());
  // A few hundred records behind with no record applied yet: a node that
  // just started reading.
  heard[2].actors[0].position = 4500;
  heard[2].actors[0].lag_seconds.reset();
  CHECK(shard_candidates(summarize(heard, 10'000), "accounts", 6) ==
        std::vector<std::string>{"a", "b"});
}

TEST_CASE("the member view keeps each node's newest announcement",
          "[rebalance]") {
  cluster::member_view view;
  CHECK_FALSE(view.knows("a"));
  view.heard(member("a", 9'000, 50));
  view.heard(member("a", 8'000, 10)); // a replayed, older word
  view.heard(member("b", 9'500, 50));
  CHECK(view.knows("a"));
  auto st = view.status(10'000);
  REQUIRE(st.nodes.size() == 2);
  CHECK(st.nodes[0].last_heard_ms == 9'000);
  CHECK(st.actors.at(0).readers.at(0).position == 50);
  // Nodes silent for over an hour are forgotten.
  view.heard(member("b", 9'500 + 3'700'000, 60));
  CHECK_FALSE(view.knows("a"));
}

namespace {

// A view of nodes a, b and c (and `more`), all caught up, heard now.
std::shared_ptr<cluster::member_view>
view_of(const std::vector<std::string>& nodes) {
  auto view = std::make_shared<cluster::member_view>();
  for (const auto& n : nodes)
    view->heard(member(n, runtime::now_ms(), 100));
  return view;
}

// The first shard placement gives to `node` among `nodes`, and one it does
// not.
std::pair<uint32_t, uint32_t> shards_of(const std::string& node,
                                        const std::vector<std::string>& nodes) {
  auto placed = place_shards("accounts", 6, nodes);
  uint32_t mine = 6;
  uint32_t other = 6;
  for (uint32_t i = 0; i < 6; ++i)
    (placed[i] == node ? mine : other) =
      std::min(placed[i] == node ? mine : other, i);
  return {mine, other};
}

} // namespace

TEST_CASE("a standby made active leaves a shard to the node placement gives "
          "it to, once per epoch of the shard, and never to the node that "
          "let it go",
          "[rebalance]") {
  std::vector<std::string> nodes{"a", "b", "c"};
  auto view = view_of(nodes);
  cluster::rebalancer r{"a", "accounts", 6, view, {true, 5s}};
  auto [mine, other] = shards_of("a", nodes);
  auto placed = place_shards("accounts", 6, nodes);
  CHECK(r.yield_to(mine, "b", 7).empty());
  // Its placed node let it go (died or is leaving): taken, not left.
  CHECK(r.yield_to(other, placed[other], 7).empty());
  CHECK(r.yield_to(other, "nobody", 7) == placed[other]);
  // Back again with no claim made meanwhile: the placed node did not take
  // it; taken now.
  CHECK(r.yield_to(other, "nobody", 7).empty());
  // Claimed since (a new epoch): left to the placed node again.
  CHECK(r.yield_to(other, "nobody", 12) == placed[other]);
  cluster::rebalancer off{"a", "accounts", 6, view, {false, 5s}};
  CHECK(off.yield_to(other, "nobody", 7).empty());
  // A view that has not heard its own node places nothing.
  cluster::rebalancer young{"z", "accounts", 6, view, {true, 5s}};
  CHECK(young.target(0).empty());
  CHECK(young.yield_to(0, "nobody", 7).empty());
}

TEST_CASE("an owner hands a shard over after holding it, one at a time, and "
          "holds longer when handovers come back",
          "[rebalance]") {
  std::vector<std::string> nodes{"a", "b", "c"};
  auto view = view_of(nodes);
  auto placed = place_shards("accounts", 6, nodes);
  cluster::rebalancer r{"a", "accounts", 6, view, {true, 5s}};
  auto [mine, other] = shards_of("a", nodes);
  uint32_t other2 = 6;
  for (uint32_t i = 0; i < 6; ++i)
    if (placed[i] != "a" && i != other)
      other2 = i;
  REQUIRE(other2 < 6);
  auto t0 = std::chrono::steady_clock::now();
  r.took_over(mine, t0);
  r.took_over(other, t0);
  r.took_over(other2, t0);
  CHECK(r.hand_over_to(mine, t0 + 60s).empty());
  CHECK(r.hand_over_to(other, t0 + 1s).empty()); // held for 5 s first
  CHECK(r.hand_over_to(other, t0 + 6s) == placed[other]);
  // One at a time.
  CHECK(r.hand_over_to(other2, t0 + 6s).empty());
  r.released(other);
  CHECK(r.hand_over_to(other2, t0 + 6s) == placed[other2]);
  r.released(other2);
  // The handover came back within half a minute: held twice as long.
  r.took_over(other, t0 + 8s);
  CHECK(r.hand_over_to(other, t0 + 14s).empty());
  CHECK(r.hand_over_to(other, t0 + 19s) == placed[other]);
  r.released(other);
  // Came back again: four times the hold.
  r.took_over(other, t0 + 20s);
  CHECK(r.hand_over_to(other, t0 + 35s).empty());
  CHECK(r.hand_over_to(other, t0 + 41s) == placed[other]);
}
