// A sharded event-sourced aggregate on the three-node RabbitMQ cluster
// (issue 13): the event store's shards owned by three warren nodes, through
// kill -9 of two of them, every command's event recorded once, each
// shard's positions without gaps, and every node's file the same store;
// and a sharded projection of a store there, every node's file holding the
// whole read model.

#include "cluster_support.hpp"
#include "projection_support.hpp"
#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/shard.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr uint32_t shards = 6;

// What a node's file holds of the store: per shard, its events in
// position order.
struct stored_event {
  int64_t position = 0;
  std::string stream;
  int64_t version = 0;
  std::string id;
  int64_t amount = 0;
};

std::map<uint32_t, std::vector<stored_event>>
store_in(const test::temp_dir& dir, const std::string& actor) {
  std::map<uint32_t, std::vector<stored_event>> out;
  auto file = test::open_store(dir);
  for (uint32_t s = 0; s < shards; ++s)
    REQUIRE_FALSE(file->read_sql(
      "SELECT position, stream, version, event_id, json_extract(data, "
      "'$.amount') FROM warren_events WHERE store = ?1 ORDER BY position",
      {shard_name(actor, s)}, [&](const sql_row& row) -> caf::error {
        out[s].push_back({row.integer(0), std::string{row.text(1)},
                          row.integer(2), std::string{row.text(3)},
                          row.integer(4)});
        return caf::none;
      }));
  return out;
}

std::size_t events_in(const std::map<uint32_t, std::vector<stored_event>>& m) {
  std::size_t n = 0;
  for (const auto& [shard, events] : m)
    n += events.size();
  return n;
}

outgoing_message deposit(const std::string& actor, int i) {
  return test::to_actor(
    actor, actor + "-d" + std::to_string(i), "deposit",
    json::serialize(json::object{{"account", "a" + std::to_string(i % 10)},
                                 {"amount", 1 + i % 7}}));
}

} // namespace

TEST_CASE("a sharded aggregate on three nodes of the three-broker cluster: "
          "through kill -9 of two nodes every command's event is recorded "
          "once, each shard's positions have no gaps, and every node's file "
          "holds the same store",
          "[cluster][eventstore][shards]") {
  test::test_cluster cluster;
  auto actor = test::unique_name("cl-accounts");
  test::sharded_queues queues{cluster, {{actor, shards}}};
  test::node_group group{
    3, [&](const test::temp_dir& dir, std::size_t n) {
      auto cfg = test::cluster_node_config(cluster, dir, n);
      cfg["actors"] = json::array{
        {{"name", actor},
         {"kind", "test.account"},
         {"shards", shards},
         {"options", {{"key_field", "account"}, {"snapshot_every", 10}}}}};
      return cfg;
    }};
  auto publisher = cluster.client(3);
  int sent = 0;
  auto send = [&](int count) {
    test::send_confirmed(*publisher, sent, count,
                         [&](int i) { return deposit(actor, i); });
  };
  test::kill_two_in_turn(group, send);
  send(50);

  // What the store must hold: one "deposited" per command, its id derived
  // from the command's, and each account's sum.
  std::set<std::string> expected_ids;
  std::map<std::string, int64_t> expected_sums;
  for (int i = 0; i < sent; ++i) {
    expected_ids.insert(actor + "-d" + std::to_string(i) + "#e0");
    expected_sums["a" + std::to_string(i % 10)] += 1 + i % 7;
  }
  auto logs = group.logs();
  std::map<uint32_t, std::vector<stored_event>> first_file;
  for (std::size_t n = 0; n < 3; ++n) {
    INFO("node " << n + 1);
    std::map<uint32_t, std::vector<stored_event>> got;
    test::eventually(
      [&] {
        got = store_in(group.dir(n), actor);
        return events_in(got) >= expected_ids.size();
      },
      60s);
    INFO(logs);
    REQUIRE(events_in(got) == expected_ids.size());
    std::set<std::string> ids;
    std::map<std::string, int64_t> sums;
    for (const auto& [shard, events] : got) {
      std::map<std::string, int64_t> versions;
      for (std::size_t k = 0; k < events.size(); ++k) {
        const auto& e = events[k];
        CHECK(e.position == static_cast<int64_t>(k + 1));
        CHECK(shard_of(e.stream, shards) == shard);
        CHECK(e.version == ++versions[e.stream]);
        ids.insert(e.id);
        sums[e.stream] += e.amount;
      }
    }
    CHECK(ids == expected_ids);
    CHECK(sums == expected_sums);
    // Each stream's latest snapshot is its balance at its version.
    auto file = test::open_store(group.dir(n));
    int snapshots = 0;
    REQUIRE_FALSE(file->read_sql(
      "SELECT s.stream, s.version, json_extract(s.data, '$.balance'), "
      "(SELECT sum(json_extract(e.data, '$.amount')) FROM warren_events e "
      "WHERE e.store = s.store AND e.stream = s.stream AND e.version <= "
      "s.version) FROM warren_event_snapshots s WHERE s.store LIKE ?1",
      {actor + ".s%"}, [&](const sql_row& row) -> caf::error {
        INFO(row.text(0) << " at version " << row.integer(1));
        CHECK(row.integer(2) == row.integer(3));
        ++snapshots;
        return caf::none;
      }));
    CHECK(snapshots == 10);
    if (n == 0)
      first_file = got;
    else
      for (uint32_t s = 0; s < shards; ++s) {
        INFO("shard " << s);
        REQUIRE(got[s].size() == first_file[s].size());
        for (std::size_t k = 0; k < got[s].size(); ++k)
          CHECK(got[s][k].id == first_file[s][k].id);
      }
  }
  CHECK_THAT(logs, Catch::Contains("taken over in epoch"));
  for (auto& node : group.nodes())
    CHECK(node->running());
}

TEST_CASE("a sharded projection on the three-broker cluster: through kill -9 "
          "of two nodes in turn every node's file holds the whole model, "
          "equal to the deposits, and queries answer it",
          "[cluster][projection][shards]") {
  test::test_cluster cluster;
  auto store = test::unique_name("cl-ledger");
  auto proj = test::unique_name("cl-balances");
  auto events = test::unique_name("cl-ledger-events");
  test::sharded_queues queues{cluster, {{store, shards}, {proj, shards}}};
  test::node_group group{
    3, [&](const test::temp_dir& dir, std::size_t n) {
      auto cfg = test::cluster_node_config(cluster, dir, n);
      cfg["topology"] = json::object{
        {"exchanges", json::array{{{"name", events}, {"type", "topic"}}}},
        {"bindings",
         json::array{
           {{"exchange", events}, {"queue", proj}, {"routing_key", "#"}}}}};
      cfg["actors"] =
        json::array{{{"name", store},
                     {"kind", "event_store"},
                     {"shards", shards},
                     {"options", {{"publish", {{"exchange", events}}}}}},
                    {{"name", proj},
                     {"kind", "projection"},
                     {"shards", shards},
                     {"options", test::balances_options(store, shards)}}};
      return cfg;
    }};
  auto publisher = cluster.client(3);
  int sent = 0;
  auto send = [&](int count) {
    test::send_confirmed(*publisher, sent, count, [&](int i) {
      return test::to_actor(
        store, store + "-d" + std::to_string(i), "event_store.append",
        json::serialize(json::object{
          {"stream", "acct-" + std::to_string(i % 10)},
          {"events", json::array{{{"type", "Deposited"},
                                  {"data", {{"amount", 1 + i % 7}}}}}}}));
    });
  };
  test::kill_two_in_turn(group, send);
  send(50);
  test::balances expected;
  for (int i = 0; i < sent; ++i) {
    auto& b = expected["acct-" + std::to_string(i % 10)];
    b.total += 1 + i % 7;
    ++b.deposits;
  }
  auto logs = group.logs();
  for (std::size_t n = 0; n < 3; ++n) {
    INFO("node " << n + 1);
    test::file_model m;
    test::eventually(
      [&] {
        m = test::model_in(group.dir(n), proj, shards);
        return m.rows == expected;
      },
      90s);
    INFO(logs);
    CHECK(m.rows == expected);
    CHECK(m.objects == m.catalog);
    CHECK(m.generations.size() == shards);
  }
  // Asked through any broker, answered by a shard's owner over the union.
  std::string uris;
  for (std::size_t i = 1; i <= cluster.size(); ++i)
    uris += (uris.empty() ? "" : ",") + cluster.uri(i);
  auto r = test::warren({"call", "-u", uris, "--timeout", "15000", proj, "-t",
                         "projection.query", R"({"query": "balances"})"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(test::balances_of(json::parse(r.out).at("rows")) == expected);
}
