// The projection kind end to end (actors/src/eventstore/projection.hpp): a
// read model in SQLite tables kept up to date with an event store, caught
// up from the store and fed live from its exchange, queried over RPC,
// rebuilt into a new generation and swapped, and resumed after kill -9
// without applying an event twice; against the private broker and a real
// SQLite file.

#include "support.hpp"
#include "warren/core/shard.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <iostream>
#include <map>
#include <string>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using reply = test::call_reply;

reply call(const std::string& actor, const std::string& type,
           const json::value& body) {
  return test::call_actor(actor, type, body);
}

// An order summary and a count of events per stream; @STORE@ and @LIVE@
// are filled in.
// clang-format off
const char* projection_options = R"json({
  "source": {"store": "@STORE@", "page": 2, "live": @LIVE@, "poll_ms": 200},
  "tables": {
    "orders": "CREATE TABLE {orders} (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, total REAL, updates INTEGER NOT NULL)",
    "per_stream": "CREATE TABLE {per_stream} (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)"},
  "indexes": ["CREATE INDEX {index} ON {orders} (status)"],
  "on": {
    "OrderCreated": [
      {"sql": "INSERT INTO {orders} VALUES (:id, 'created', :total, 1)",
       "params": {"id": "data.order_id", "total": "data.total"}},
      {"sql": "INSERT INTO {per_stream} VALUES (:s, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1",
       "params": {"s": "stream"}}],
    "OrderPaid": [
      {"sql": "UPDATE {orders} SET status = 'paid', updates = updates + 1 WHERE order_id = :id",
       "params": {"id": "data.order_id"}},
      {"sql": "INSERT INTO {per_stream} VALUES (:s, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1",
       "params": {"s": "stream"}}]},
  "queries": {
    "by_id": {"sql": "SELECT order_id, status, total, updates FROM {orders} WHERE order_id = :id"},
    "by_status": {"sql": "SELECT order_id FROM {orders} WHERE status = :status ORDER BY order_id"},
    "all": {"sql": "SELECT * FROM {orders} ORDER BY order_id"},
    "counts": {"sql": "SELECT stream, n FROM {per_stream} ORDER BY stream"}}})json";
// clang-format on

struct order_events {
  test::temp_dir dir;
  test::broker_scratch broker;
  std::string store = broker.queue("order-events");
  std::string summary = broker.queue("order-summary");
  std::string exchange = broker.exchange("order-events-x");
  bool with_projection = true;
  bool live = true;
  // Whether the topology binds the store's exchange to the projection's
  // queue (a live projection's feed).
  bool bound = true;
  // The store's shards (0: not sharded); the projection's source says the
  // same.
  uint32_t store_shards = 0;

  json::object config() const {
    auto cfg = test::node_config(dir);
    cfg["topology"] = json::object{
      {"exchanges", json::array{{{"name", exchange}, {"type", "topic"}}}}};
    // The live feed: the store's exchange into the projection's queue
    // (declared here too, so that it fills while the projection is not
    // running).
    cfg["topology"].as_object()["queues"] = json::array{{{"name", summary}}};
    if (bound)
      cfg["topology"].as_object()["bindings"] = json::array{
        {{"exchange", exchange}, {"queue", summary}, {"routing_key", "#"}}};
    json::array actors{
      json::object{{"name", store},
                   {"kind", "event_store"},
                   {"options", {{"publish", {{"exchange", exchange}}}}}}};
    if (store_shards > 0)
      actors[0].as_object()["shards"] = store_shards;
    if (with_projection) {
      auto options = std::string{projection_options};
      options.replace(options.find("@STORE@"), 7, store);
      options.replace(options.find("@LIVE@"), 6, live ? "true" : "false");
      auto parsed = json::parse(options);
      if (store_shards > 0)
        parsed.at("source").as_object()["shards"] = store_shards;
      actors.push_back(json::object{{"name", summary},
                                    {"kind", "projection"},
                                    {"options", std::move(parsed)}});
    }
    cfg["actors"] = actors;
    cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
    return cfg;
  }

  // The store's reply.
  json::object append(const std::string& order, const char* type,
                      double total = 0) {
    auto r = call(
      store, "event_store.append",
      json::object{
        {"stream", "order-" + order},
        {"events",
         json::array{{{"type", type},
                      {"data", {{"order_id", order}, {"total", total}}}}}}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.body.as_object();
  }

  json::object status() {
    auto r = call(summary, "projection.status", json::object{});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.body.as_object();
  }

  void wait_for_position(int64_t position, std::chrono::seconds timeout = 30s) {
    json::object last;
    bool reached = test::eventually(
      [&] {
        last = status();
        return last.at("position").as_int64() >= position &&
               last.at("rebuilding") == false;
      },
      timeout);
    INFO(json::serialize(last));
    REQUIRE(reached);
  }

  json::array rows(const char* query, json::object params = {}) {
    auto r = call(summary, "projection.query",
                  json::object{{"query", query}, {"params", params}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.body.at("rows").as_array();
  }
};

} // namespace

TEST_CASE("a projection catches up from its store, follows it live, answers "
          "queries, and skips an event whose SQL breaks a constraint",
          "[broker][projection]") {
  order_events sys;
  sys.with_projection = false;
  {
    test::node_process node{sys.dir, sys.config()};
    for (int i = 1; i <= 5; ++i)
      sys.append(std::to_string(i), "OrderCreated", 10.0 * i);
    sys.append("2", "OrderPaid");
  }
  sys.with_projection = true;
  test::node_process node{sys.dir, sys.config()};
  // Six events in pages of two from the store, and the same six from the
  // live feed that queued meanwhile: each applied once.
  sys.wait_for_position(6);
  CHECK(sys.rows("counts") == json::array{{{"stream", "order-1"}, {"n", 1}},
                                          {{"stream", "order-2"}, {"n", 2}},
                                          {{"stream", "order-3"}, {"n", 1}},
                                          {{"stream", "order-4"}, {"n", 1}},
                                          {{"stream", "order-5"}, {"n", 1}}});
  auto one = sys.rows("by_id", {{"id", "2"}});
  REQUIRE(one.size() == 1);
  CHECK(one[0].at("status") == "paid");
  CHECK(one[0].at("total") == 20.0);
  CHECK(one[0].at("updates") == 2);
  // Events read again (a late page, an event published twice under a new
  // id) apply nothing twice: the position says they are in.
  auto page = call(sys.store, "event_store.read_all", json::object{});
  REQUIRE(page.exit_code == 0);
  outgoing_message again;
  again.routing_key = sys.summary;
  again.properties.type = "event_store.events";
  again.properties.correlation_id = sys.summary + "/read/late/1";
  again.properties.message_id = "late-page";
  again.body = json::serialize(page.body);
  sys.broker.publish(again);
  outgoing_message twice;
  twice.routing_key = sys.summary;
  twice.properties.type = "OrderCreated";
  twice.properties.message_id = "published-twice";
  set_field(twice.properties.headers, "x-warren-position", int64_t{1});
  twice.body = json::serialize(page.body.at("events").at(0));
  sys.broker.publish(twice);
  // Live: appended now, published by the store, applied in order.
  sys.append("6", "OrderCreated", 60);
  sys.append("6", "OrderPaid");
  sys.append("1", "OrderCreated", 99); // order 1 exists: skipped
  sys.wait_for_position(9);
  CHECK(sys.rows("counts") == json::array{{{"stream", "order-1"}, {"n", 1}},
                                          {{"stream", "order-2"}, {"n", 2}},
                                          {{"stream", "order-3"}, {"n", 1}},
                                          {{"stream", "order-4"}, {"n", 1}},
                                          {{"stream", "order-5"}, {"n", 1}},
                                          {{"stream", "order-6"}, {"n", 2}}});
  auto paid = sys.rows("by_status", {{"status", "paid"}});
  CHECK(paid == json::array{{{"order_id", "2"}}, {{"order_id", "6"}}});
  CHECK(sys.rows("by_id", {{"id", "1"}})[0].at("total") == 10.0);
  CHECK(test::metric_sample(node.metrics_port(),
                            "warren_projection_skipped_total") == 1);
  CHECK(test::metric_sample(node.metrics_port(),
                            "warren_projection_position") == 9);
  CHECK(test::metric_sample(node.metrics_port(),
                            "warren_projection_lag_events") == 0);
  CHECK_THAT(node.err(), Catch::Contains("position 9 was skipped"));
  // Read-your-writes: a position not reached yet is answered `behind`.
  auto behind = call(sys.summary, "projection.query",
                     json::object{{"query", "all"}, {"min_position", 100}});
  CHECK(behind.exit_code == 6);
  CHECK(behind.body.at("error").at("code") == "behind");
  auto unknown =
    call(sys.summary, "projection.query", json::object{{"query", "nope"}});
  CHECK(unknown.body.at("error").at("code") == "unknown_query");
}

TEST_CASE("a live projection whose feed brings nothing still catches up: "
          "with no binding from the store's exchange to its queue, events "
          "appended after its start are read from the store once it has "
          "been quiet for poll_ms, and the likely cause is logged",
          "[broker][projection]") {
  order_events sys;
  sys.bound = false;
  test::node_process node{sys.dir, sys.config()};
  // The first event may come with the read every projection makes at its
  // start (its status answers before that read is answered), or with a
  // quiet check; once it is in, nothing but a quiet check reads the store.
  sys.wait_for_position(0);
  sys.append("1", "OrderCreated", 10.0);
  sys.wait_for_position(1, 15s);
  for (int i = 2; i <= 3; ++i)
    sys.append(std::to_string(i), "OrderCreated", 10.0 * i);
  sys.append("2", "OrderPaid");
  // poll_ms is 200: well within the wait, where the old projection stayed
  // behind for good.
  sys.wait_for_position(4, 15s);
  CHECK(sys.rows("by_status", {{"status", "paid"}}) ==
        json::array{{{"order_id", "2"}}});
  CHECK(sys.rows("counts").size() == 3);
  INFO(node.err());
  CHECK_THAT(node.err(),
             Catch::Contains("that the live feed had not brought") &&
               Catch::Contains("bound to the store's publish exchange"));
  // Each event once, as ever.
  CHECK(test::metric_sample(node.metrics_port(),
                            "warren_projection_position") == 4);
}

TEST_CASE("a projection rebuilt from zero equals the one built "
          "incrementally, and queries answer while it rebuilds",
          "[broker][projection]") {
  order_events sys;
  sys.live = false; // polled
  test::node_process node{sys.dir, sys.config()};
  for (int i = 1; i <= 12; ++i) {
    sys.append(std::to_string(i % 5), i <= 5 ? "OrderCreated" : "OrderPaid", i);
  }
  sys.wait_for_position(12);
  auto before = sys.rows("all");
  auto counts = sys.rows("counts");
  REQUIRE(before.size() == 5);
  auto r = test::warren(
    {"projection", "rebuild", "-u", test::broker_uri(), sys.summary, "--wait"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto status = sys.status();
  CHECK(status.at("generation") == 2);
  CHECK(status.at("position") == 12);
  CHECK(sys.rows("all") == before);
  CHECK(sys.rows("counts") == counts);
  // The old generation's tables are gone.
  auto store = test::open_store(sys.dir);
  int64_t tables = -1;
  REQUIRE_FALSE(store->read_sql(
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE "
    "'p_%_g1_%'",
    {}, [&](const sql_row& row) {
      tables = row.integer(0);
      return caf::error{};
    }));
  CHECK(tables == 0);
}

TEST_CASE("a rebuild is not ended by a late page: a store's reply to an "
          "earlier read, ending right after the rebuild starts, leaves the "
          "rebuild reading, and the rebuilt model is whole",
          "[broker][projection]") {
  order_events sys;
  test::node_process node{sys.dir, sys.config()};
  for (int i = 1; i <= 5; ++i)
    sys.append(std::to_string(i), "OrderCreated", 10.0 * i);
  sys.append("2", "OrderPaid");
  sys.wait_for_position(6);
  auto before = sys.rows("all");
  REQUIRE(before.size() == 5);
  // A rebuild, then at once the end of a page asked before it (an empty
  // last page): both in the projection's queue, in that order.
  outgoing_message rebuild;
  rebuild.routing_key = sys.summary;
  rebuild.properties.type = "projection.rebuild";
  rebuild.properties.message_id = "rebuild-1";
  rebuild.body = "{}";
  sys.broker.publish(rebuild);
  outgoing_message late;
  late.routing_key = sys.summary;
  late.properties.type = "event_store.events";
  late.properties.correlation_id = sys.summary + "/read/earlier/7";
  late.properties.message_id = "late-end";
  late.body = R"({"events": [], "head": 6, "end": true})";
  sys.broker.publish(late);
  // Generation 2 answers once it holds every event (it used to answer at
  // position 0, empty, and, live with no new event, stay so).
  json::object status;
  bool swapped = test::eventually(
    [&] {
      status = sys.status();
      return status.at("generation") == 2 && status.at("rebuilding") == false;
    },
    30s);
  INFO(json::serialize(status));
  REQUIRE(swapped);
  CHECK(status.at("position") == 6);
  CHECK(sys.rows("all") == before);
}

TEST_CASE("read-your-writes: a query with an append's position as "
          "min_position is answered behind or with the write, never without "
          "it",
          "[broker][projection]") {
  order_events sys;
  test::node_process node{sys.dir, sys.config()};
  auto& client = sys.broker.client();
  auto ask = [&](const std::string& actor, const char* type,
                 const json::object& body) {
    outgoing_message m;
    m.exchange = "warren.actors";
    m.routing_key = actor;
    m.properties.type = type;
    m.properties.message_id = test::unique_name("ryw");
    m.body = json::serialize(body);
    auto r = client.call(m, 15s);
    INFO(type << ": " << (r ? "" : describe(r.error())));
    REQUIRE(r);
    return r->body;
  };
  // Each query right after its append's reply, from this process (no CLI
  // start in between): the live event may still be in the unit the
  // projection is building when the query comes.
  int direct = 0;
  for (int i = 0; i < 60; ++i) {
    auto id = "ryw-" + std::to_string(i);
    auto appended = ask(
      sys.store, "event_store.append",
      json::object{
        {"stream", "order-" + id},
        {"events", json::array{{{"type", "OrderCreated"},
                                {"data", {{"order_id", id}, {"total", i}}}}}}});
    INFO(json::serialize(appended));
    REQUIRE(appended.as_object().contains("last_position"));
    auto position = appended.at("last_position").as_int64();
    for (int attempt = 0;; ++attempt) {
      auto answer = ask(sys.summary, "projection.query",
                        json::object{{"query", "by_id"},
                                     {"params", {{"id", id}}},
                                     {"min_position", position}});
      INFO(id << " at " << position << ": " << json::serialize(answer));
      if (answer.as_object().contains("error")) {
        REQUIRE(answer.at("error").at("code") == "behind");
        REQUIRE(attempt < 100);
        std::this_thread::sleep_for(20ms);
        continue;
      }
      CHECK(answer.at("position").as_int64() >= position);
      CHECK(answer.at("rows").as_array().size() == 1);
      direct += attempt == 0 ? 1 : 0;
      break;
    }
  }
  std::cerr << "read-your-writes: " << direct
            << " of 60 queries answered at the first try\n";
}

TEST_CASE("a projection killed at any commit point resumes without applying "
          "an event twice",
          "[broker][projection][kill]") {
  for (const auto* point : test::commit_kill_points) {
    DYNAMIC_SECTION("kill point " << point) {
      order_events sys;
      constexpr int n = 60;
      auto clean = test::killed_then_restarted(
        sys.dir, sys.config(), sys.broker, sys.store, point, [&] {
          for (int i = 0; i < n; ++i) {
            outgoing_message msg;
            msg.routing_key = sys.store;
            msg.properties.type = "event_store.append";
            msg.properties.message_id = "a-" + std::to_string(i);
            msg.body = json::serialize(json::object{
              {"stream", "order-" + std::to_string(i % 7)},
              {"events", json::array{{{"type", "OrderCreated"},
                                      {"data",
                                       {{"order_id", std::to_string(i)},
                                        {"total", i}}}}}}});
            sys.broker.publish(msg);
          }
        });
      sys.wait_for_position(n);
      int64_t total = 0;
      for (const auto& row : sys.rows("counts")) {
        auto stream = std::string{row.at("stream").as_string()};
        auto k = std::stoi(stream.substr(6));
        // Streams 0..6 get the events i with i % 7 == k.
        CHECK(row.at("n").as_int64() == (n - k + 6) / 7);
        total += row.at("n").as_int64();
      }
      CHECK(total == n);
      CHECK(sys.rows("all").size() == n);
    }
  }
}

TEST_CASE("a projection of a sharded event store follows each shard's "
          "positions: caught up by pages and live, read-your-writes by "
          "shard, rebuilt equal",
          "[broker][projection][shards]") {
  order_events sys;
  sys.store_shards = 3;
  for (uint32_t i = 0; i < sys.store_shards; ++i)
    sys.broker.track_queue(shard_name(sys.store, i));
  sys.broker.track_queue(sys.store + ".log");
  sys.with_projection = false;
  std::map<std::string, int64_t> expected;
  {
    test::node_process node{sys.dir, sys.config()};
    for (int i = 1; i <= 12; ++i) {
      sys.append(std::to_string(i), "OrderCreated", i);
      ++expected["order-" + std::to_string(i)];
    }
    for (int i = 1; i <= 4; ++i) {
      sys.append(std::to_string(i * 3), "OrderPaid");
      ++expected["order-" + std::to_string(i * 3)];
    }
  }
  sys.with_projection = true;
  test::node_process node{sys.dir, sys.config()};
  // 16 events over three shards, each shard's read in pages of two.
  sys.wait_for_position(16);
  auto counts = [&] {
    std::map<std::string, int64_t> out;
    for (const auto& row : sys.rows("counts"))
      out[std::string{row.at("stream").as_string()}] = row.at("n").as_int64();
    return out;
  };
  CHECK(counts() == expected);
  auto status = sys.status();
  INFO(json::serialize(status));
  const auto& shards = status.at("shards").as_array();
  REQUIRE(shards.size() == 3);
  std::map<uint32_t, int64_t> per_shard;
  for (const auto& [stream, n] : expected)
    per_shard[shard_of(stream, 3)] += n;
  for (uint32_t i = 0; i < 3; ++i) {
    CHECK(shards[i].at("position") == per_shard[i]);
    CHECK(shards[i].at("head") == per_shard[i]);
  }
  CHECK(status.at("lag_events") == 0);

  // Live, and read-your-writes: the append's shard and position.
  auto appended = sys.append("13", "OrderCreated", 13);
  ++expected["order-13"];
  REQUIRE(appended.at("shard") ==
          static_cast<int64_t>(shard_of("order-13", 3)));
  auto query = json::object{{"query", "by_id"},
                            {"params", {{"id", "13"}}},
                            {"min_position", appended.at("last_position")},
                            {"shard", appended.at("shard")}};
  reply seen;
  CHECK(test::eventually(
    [&] {
      seen = call(sys.summary, "projection.query", query);
      return seen.exit_code == 0;
    },
    20s));
  CHECK(seen.body.at("rows").as_array().size() == 1);
  // A position without its shard means nothing here.
  query.erase("shard");
  auto unsharded = call(sys.summary, "projection.query", query);
  CHECK(unsharded.exit_code == 6);
  CHECK_THAT(json::serialize(unsharded.body),
             Catch::Contains("give \\\"shard\\\" too"));
  sys.wait_for_position(17);
  CHECK(counts() == expected);

  // Rebuilt from every shard's start: the same model.
  auto before = sys.rows("all");
  auto r = test::warren(
    {"projection", "rebuild", "-u", test::broker_uri(), sys.summary, "--wait"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(sys.status().at("generation") == 2);
  CHECK(sys.status().at("position") == 17);
  CHECK(sys.rows("all") == before);
  CHECK(counts() == expected);
}
