// A sharded projection (README.md, "Sharded projections"; issue 13) on the
// test broker: shard i of the projection keeps shard i of a sharded event
// store in tables of its own, made and dropped through the replicated
// catalog `warren_schema`, so that every node's file holds every shard's
// read model; queries answered over the union of the shards; through kill -9
// of the owner and a rebuild asked of the whole projection.

#include "projection_support.hpp"
#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/shard.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cctype>
#include <csignal>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
using test::balances;
using test::file_model;
namespace json = boost::json;

namespace {

constexpr uint32_t shards = 3;

struct sharded_model {
  test::broker_scratch broker;
  std::string store = broker.queue("sp-store");
  std::string proj = broker.queue("sp-balances");
  std::string exchange = broker.exchange("sp-events");
  balances expected;

  sharded_model() {
    for (const auto& actor : {store, proj}) {
      for (uint32_t i = 0; i < shards; ++i)
        broker.track_queue(shard_name(actor, i));
      broker.track_queue(actor + ".log");
    }
  }

  json::object config(const test::temp_dir& dir) const {
    auto cfg = test::node_config(dir);
    // The live feed: the store's exchange into the projection's queue (its
    // routers send each event to the shard of the store's shard).
    cfg["topology"] = json::object{
      {"exchanges", json::array{{{"name", exchange}, {"type", "topic"}}}},
      {"bindings",
       json::array{
         {{"exchange", exchange}, {"queue", proj}, {"routing_key", "#"}}}}};
    cfg["actors"] =
      json::array{{{"name", store},
                   {"kind", "event_store"},
                   {"shards", shards},
                   {"options", {{"publish", {{"exchange", exchange}}}}}},
                  {{"name", proj},
                   {"kind", "projection"},
                   {"shards", shards},
                   {"options", test::balances_options(store, shards)}}};
    return cfg;
  }

  // Appends [from, to) without waiting for replies (ids "<store>-a<i>": a
  // copy sent again is appended once).
  void append(int from, int to, bool count = true) {
    std::vector<std::string> ids;
    for (int i = from; i < to; ++i) {
      ids.push_back(store + "-a" + std::to_string(i));
      if (count) {
        auto& b = expected["acct-" + std::to_string(i % 12)];
        b.total += 1 + i % 5;
        ++b.deposits;
      }
    }
    test::publish_bulk(
      bridges::actors_exchange, store, "event_store.append", ids, 50,
      [&](std::size_t k) {
        auto i = from + static_cast<int>(k);
        return json::serialize(json::object{
          {"stream", "acct-" + std::to_string(i % 12)},
          {"events", json::array{{{"type", "Deposited"},
                                  {"data", {{"amount", 1 + i % 5}}}}}}});
      });
  }

  int64_t deposits() const {
    int64_t n = 0;
    for (const auto& [a, b] : expected)
      n += b.deposits;
    return n;
  }

  // What a query through the cluster answers (empty when it fails).
  balances queried() const {
    auto r = test::call_actor(proj, "projection.query",
                              json::object{{"query", "balances"}});
    return r.exit_code == 0 ? test::balances_of(r.body.at("rows")) : balances{};
  }

  json::object status() const {
    auto r = test::call_actor(proj, "projection.status", json::object{});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.body.as_object();
  }
};

} // namespace

TEST_CASE("a sharded projection on two nodes: every node's file holds "
          "every shard's tables through the catalog, queries answer over "
          "the shards, through kill -9 of the owner and a rebuild",
          "[broker][projection][shards]") {
  sharded_model sys;
  test::temp_dir first_dir;
  test::temp_dir second_dir;
  auto first =
    std::make_unique<test::node_process>(first_dir, sys.config(first_dir));
  sys.append(0, 120);
  balances seen;
  CHECK(test::eventually(
    [&] {
      seen = sys.queried();
      return seen == sys.expected;
    },
    60s));
  INFO(first->err());
  REQUIRE(seen == sys.expected);

  // A second node: a standby of every shard, its file made from the
  // changelogs, tables included.
  test::node_process second{second_dir, sys.config(second_dir)};
  file_model standby;
  CHECK(test::eventually(
    [&] {
      standby = test::model_in(second_dir, sys.proj, shards);
      return standby.rows == sys.expected;
    },
    60s));
  INFO(second.err());
  CHECK(standby.rows == sys.expected);
  CHECK(standby.objects == standby.catalog);
  CHECK(standby.objects.size() == 3 * shards); // two tables and an index

  // The owner dies under load (30 copies of earlier appends among them);
  // the standby takes every shard over with the model it already has.
  REQUIRE(::kill(first->pid(), SIGKILL) == 0);
  first->stop();
  first.reset();
  sys.append(120, 240);
  sys.append(90, 120, false);
  CHECK(test::eventually(
    [&] {
      seen = sys.queried();
      return seen == sys.expected;
    },
    90s));
  INFO(second.err());
  REQUIRE(seen == sys.expected);
  auto counts = test::call_actor(sys.proj, "projection.query",
                                 json::object{{"query", "per_type"}});
  REQUIRE(counts.exit_code == 0);
  INFO(json::serialize(counts.body));
  REQUIRE(counts.body.at("rows").as_array().size() == 1);
  CHECK(counts.body.at("rows").at(0).at("n") == sys.deposits());

  // Read-your-writes: the append's shard and position.
  auto appended = test::call_actor(
    sys.store, "event_store.append",
    json::object{{"stream", "acct-new"},
                 {"events", json::array{{{"type", "Deposited"},
                                         {"data", {{"amount", 5}}}}}}});
  REQUIRE(appended.exit_code == 0);
  sys.expected["acct-new"] = {5, 1};
  test::call_reply answer;
  CHECK(test::eventually(
    [&] {
      answer = test::call_actor(
        sys.proj, "projection.query",
        json::object{{"query", "by_account"},
                     {"params", {{"a", "acct-new"}}},
                     {"min_position", appended.body.at("last_position")},
                     {"shard", appended.body.at("shard")}});
      return answer.exit_code == 0;
    },
    20s));
  INFO(json::serialize(answer.body));
  REQUIRE(answer.body.at("rows").as_array().size() == 1);
  CHECK(answer.body.at("rows").at(0).at("total") == 5);

  // The first node back, then a rebuild asked of the whole projection:
  // every shard's generation moves on, the old tables go from both files.
  first =
    std::make_unique<test::node_process>(first_dir, sys.config(first_dir));
  auto r = test::warren(
    {"projection", "rebuild", "-u", test::broker_uri(), sys.proj, "--wait"},
    120s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto status = sys.status();
  INFO(json::serialize(status));
  for (const auto& s : status.at("shards").as_array()) {
    CHECK(s.at("generation") == 2);
    CHECK(s.at("rebuilding") == false);
  }
  CHECK(sys.queried() == sys.expected);
  for (const auto* dir : {&first_dir, &second_dir}) {
    file_model m;
    CHECK(test::eventually(
      [&] {
        m = test::model_in(*dir, sys.proj, shards);
        return m.rows == sys.expected && m.objects == m.catalog &&
               m.objects.size() == 3 * shards;
      },
      60s));
    CHECK(m.rows == sys.expected);
    CHECK(m.objects == m.catalog);
    for (const auto& name : m.objects)
      CHECK(name.find("_g1_") == std::string::npos);
    for (const auto& [shard, g] : m.generations)
      CHECK(g == 2);
  }
}
