// The event store kind end to end (actors/src/eventstore/event_store.hpp):
// appends with expected versions, conflicts and idempotent repeats
// answered, reads of a stream and of the whole store, and the events
// published once each; against the private broker and a real SQLite file.

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

test::call_reply call(const std::string& actor, const std::string& type,
                      const json::value& body) {
  return test::call_actor(actor, type, body);
}

json::object append_ok(const std::string& actor, const json::value& body) {
  auto r = call(actor, "event_store.append", body);
  INFO("warren call: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.body.as_object();
}

// Append number `i` to `stream`: event ev-<i>-a, and ev-<i>-b when i is
// even.
std::string append_body(std::size_t i, const std::string& stream) {
  json::array events{{{"event_id", "ev-" + std::to_string(i) + "-a"},
                      {"type", "A"},
                      {"data", i}}};
  if (i % 2 == 0)
    events.push_back({{"event_id", "ev-" + std::to_string(i) + "-b"},
                      {"type", "B"},
                      {"data", i}});
  return json::serialize(
    json::object{{"stream", stream}, {"events", std::move(events)}});
}

json::array versions(const json::value& reply, const char* field) {
  json::array out;
  for (const auto& e : reply.at("events").as_array())
    out.push_back(e.at(field));
  return out;
}

} // namespace

TEST_CASE("an event store appends with expected versions, answers conflicts "
          "and repeated appends, reads streams and the whole store in order, "
          "and publishes each event once",
          "[broker][eventstore]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("events");
  auto exchange = test::unique_name("order-events");
  auto feed = broker.queue("feed");
  auto cfg = test::node_config(dir);
  cfg["topology"] = json::object{
    {"exchanges", json::array{{{"name", exchange}, {"type", "topic"}}}},
    {"queues", json::array{{{"name", feed}}}},
    {"bindings",
     json::array{
       {{"exchange", exchange}, {"queue", feed}, {"routing_key", "#"}}}}};
  cfg["actors"] = json::array{json::object{
    {"name", name},
    {"kind", "event_store"},
    {"options",
     {{"publish", {{"exchange", exchange}, {"routing_key", "order.{type}"}}},
      {"max_read_count", 2}}}}};
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  test::node_process node{dir, cfg};

  auto created = json::parse(R"({"stream": "order-1",
    "expected_version": "no_stream", "events": [
      {"event_id": "e-1", "type": "OrderCreated", "data": {"total": 120.5}},
      {"event_id": "e-2", "type": "ItemAdded", "data": {"sku": "a"},
       "metadata": {"by": "test"}}]})");
  auto first = append_ok(name, created);
  CHECK(first.at("first_version") == 1);
  CHECK(first.at("last_version") == 2);
  CHECK(first.at("first_position") == 1);
  CHECK(first.at("last_position") == 2);
  CHECK(first.at("idempotent") == false);
  auto other = append_ok(name, json::parse(R"({"stream": "order-2",
    "events": [{"event_id": "e-3", "type": "OrderCreated", "data": {}}]})"));
  CHECK(other.at("first_position") == 3);

  // The same append again (a client retrying): the original versions and
  // positions, nothing written twice.
  auto again = append_ok(name, created);
  CHECK(again.at("idempotent") == true);
  CHECK(again.at("first_position") == 1);
  CHECK(again.at("last_version") == 2);

  // A stale expected version, and ids already used in another stream.
  auto stale = call(name, "event_store.append", json::parse(R"({
    "stream": "order-1", "expected_version": 1,
    "events": [{"type": "OrderPaid", "data": {}}]})"));
  CHECK(stale.exit_code == 6);
  const auto& conflict = stale.body.at("error");
  CHECK(conflict.at("code") == "wrong_expected_version");
  CHECK(conflict.at("message") == "stream order-1 is at version 2, expected 1");
  CHECK(conflict.at("actual") == 2);
  CHECK(conflict.at("expected") == "1");
  auto reused = call(name, "event_store.append", json::parse(R"({
    "stream": "order-3", "events": [
      {"event_id": "e-1", "type": "OrderCreated", "data": {}}]})"));
  CHECK(reused.exit_code == 6);
  CHECK(reused.body.at("error").at("code") == "idempotency_conflict");
  auto paid = append_ok(name, json::parse(R"({"stream": "order-1",
    "expected_version": 2, "events": [{"type": "OrderPaid", "data": {}}]})"));
  CHECK(paid.at("first_position") == 4);
  CHECK(paid.at("first_version") == 3);

  // Reads are queries: answered without an inbox record (or a commit).
  auto inbox_before = *test::open_store(dir)->inbox_size(name);
  // Reads, bounded to 2 events per reply (max_read_count).
  auto forward = call(name, "event_store.read_stream",
                      json::parse(R"({"stream": "order-1"})"));
  REQUIRE(forward.exit_code == 0);
  CHECK(versions(forward.body, "version") == json::array{1, 2});
  CHECK(forward.body.at("next") == 3);
  CHECK(forward.body.at("end") == false);
  CHECK(forward.body.at("events").at(1).at("metadata") ==
        json::parse(R"({"by": "test"})"));
  CHECK(forward.body.at("events").at(0).at("data") ==
        json::parse(R"({"total": 120.5})"));
  auto rest = call(name, "event_store.read_stream",
                   json::parse(R"({"stream": "order-1", "from": 3})"));
  CHECK(versions(rest.body, "type") == json::array{"OrderPaid"});
  CHECK(rest.body.at("end") == true);
  auto backward =
    call(name, "event_store.read_stream", json::parse(R"({"stream": "order-1",
                         "direction": "backward", "count": 1})"));
  CHECK(versions(backward.body, "version") == json::array{3});
  auto all = call(name, "event_store.read_all", json::parse(R"({"from": 2})"));
  CHECK(versions(all.body, "position") == json::array{2, 3});
  CHECK(all.body.at("next") == 4);

  CHECK(*test::open_store(dir)->inbox_size(name) == inbox_before);

  // Published once each, in position order, with their event ids.
  auto published = broker.wait_and_receive(feed, 4);
  REQUIRE(published.size() == 4);
  CHECK(published[0].properties.message_id == "e-1");
  CHECK(published[0].routing_key == "order.OrderCreated");
  CHECK(published[2].properties.message_id == "e-3");
  CHECK(json::parse(published[3].raw_body).at("position") == 4);
  CHECK(broker.receive(feed, 10, 500ms).empty());

  // Snapshots: saved with the unit, loaded back, only moving forward, and
  // never past the stream.
  CHECK(call(name, "event_store.load_snapshot",
             json::parse(R"({"stream": "order-1"})"))
          .body.at("version") == 0);
  auto snap = call(name, "event_store.save_snapshot", json::parse(R"({
    "stream": "order-1", "version": 2, "type": "Order", "data": {"n": 2}})"));
  REQUIRE(snap.exit_code == 0);
  CHECK(call(name, "event_store.save_snapshot", json::parse(R"({
    "stream": "order-1", "version": 1, "type": "Order", "data": {"n": 1}})"))
          .exit_code == 0);
  auto past = call(name, "event_store.save_snapshot", json::parse(R"({
    "stream": "order-1", "version": 9, "type": "Order", "data": {}})"));
  CHECK(past.body.at("error").at("code") == "wrong_expected_version");
  auto loaded = call(name, "event_store.load_snapshot",
                     json::parse(R"({"stream": "order-1"})"));
  CHECK(loaded.body.at("version") == 2);
  CHECK(loaded.body.at("type") == "Order");
  CHECK(loaded.body.at("data") == json::parse(R"({"n": 2})"));

  // Counted: three appends written (four events), one repeat, one of
  // each conflict.
  auto port = node.metrics_port();
  auto who = "actor=\"" + name + "\"";
  CHECK(test::metric_sample(port, "warren_eventstore_appends_total", {who}) ==
        3);
  CHECK(test::metric_sample(port, "warren_eventstore_events_total", {who}) ==
        4);
  CHECK(test::metric_sample(port, "warren_eventstore_idempotent_appends_total",
                            {who}) == 1);
  CHECK(test::metric_sample(port, "warren_eventstore_conflicts_total",
                            {who, "reason=\"wrong_expected_version\""}) == 1);
  CHECK(test::metric_sample(port, "warren_eventstore_conflicts_total",
                            {who, "reason=\"idempotency_conflict\""}) == 1);
  CHECK(test::metric_sample(port, "warren_eventstore_head_position", {who}) ==
        4);

  // A malformed request is dead-lettered, and its caller told why.
  auto bad = call(name, "event_store.append",
                  json::parse(R"({"stream": "order-1", "events": []})"));
  CHECK(bad.exit_code == 6);
  CHECK(bad.body.at("error").at("code") == "validation_failed");
  CHECK_THAT(std::string{bad.body.at("error").at("message").as_string()},
             Catch::Contains("events: expected a non-empty array"));
  CHECK(broker.wait_for_count(name + ".dlq", 1) == 1);
  CHECK(node.stop() == 0);

  // What it committed is there after a restart, and numbering goes on.
  test::node_process restarted{dir, cfg};
  auto next = append_ok(name, json::parse(R"({"stream": "order-2",
    "expected_version": 1, "events": [{"type": "OrderShipped", "data": {}}]})"));
  CHECK(next.at("first_position") == 5);
  CHECK(next.at("first_version") == 2);
}

TEST_CASE("of appends racing with one expected version exactly one wins, "
          "the others are told the stream moved",
          "[broker][eventstore]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("events");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{{{"name", name}, {"kind", "event_store"}}};
  test::node_process node{dir, cfg};
  std::vector<test::call_reply> results(8);
  std::vector<std::thread> callers;
  for (std::size_t i = 0; i < results.size(); ++i) {
    json::object event{
      {"event_id", "r-" + std::to_string(i)}, {"type", "Won"}, {"data", i}};
    json::object append{{"stream", "race"},
                        {"expected_version", "no_stream"},
                        {"events", json::array{event}}};
    callers.emplace_back([&results, &name, i, append] {
      results[i] = call(name, "event_store.append", append);
    });
  }
  for (auto& t : callers)
    t.join();
  int won = 0;
  for (const auto& r : results) {
    INFO(r.err);
    if (r.exit_code == 0) {
      ++won;
      CHECK(r.body.at("first_version") == 1);
    } else {
      CHECK(r.exit_code == 6);
      CHECK(r.body.at("error").at("code") == "wrong_expected_version");
    }
  }
  CHECK(won == 1);
  auto stream =
    call(name, "event_store.read_stream", json::parse(R"({"stream": "race"})"));
  CHECK(stream.body.at("events").as_array().size() == 1);
}

TEST_CASE("an event store killed at any point of its commit keeps positions "
          "without gaps and every event once",
          "[broker][eventstore][kill]") {
  for (const char* point : test::commit_kill_points) {
    DYNAMIC_SECTION(point) {
      test::temp_dir dir;
      test::broker_scratch broker;
      auto name = broker.queue("events");
      auto cfg = test::node_config(dir);
      cfg["actors"] = json::array{{{"name", name},
                                   {"kind", "event_store"},
                                   {"commit", {{"max_batch", 8}}},
                                   {"prefetch", 20}}};
      // 150 appends of 1 or 2 events to 10 streams, ids of their own; the
      // last 30 sent twice (a producer retrying).
      std::vector<std::string> ids;
      for (int i = 0; i < 150; ++i)
        ids.push_back("append-" + std::to_string(i));
      for (int i = 120; i < 150; ++i)
        ids.push_back("append-" + std::to_string(i));
      auto body_of = [&](std::size_t k) {
        auto i = k < 150 ? k : k - 30;
        return append_body(i, "s-" + std::to_string(i % 10));
      };
      auto node =
        test::killed_then_restarted(dir, cfg, broker, name, point, [&] {
          test::publish_bulk(bridges::actors_exchange, name,
                             "event_store.append", ids, 50, body_of);
        });
      // 150 appends, every other one of two events: 225 events, numbered
      // 1..225, each id once.
      auto all = call(name, "event_store.read_all",
                      json::parse(R"({"from": 1, "count": 1000})"));
      REQUIRE(all.exit_code == 0);
      const auto& events = all.body.at("events").as_array();
      CHECK(events.size() == 225);
      std::set<std::string> seen;
      for (std::size_t i = 0; i < events.size(); ++i) {
        CHECK(events[i].at("position") == static_cast<int64_t>(i + 1));
        seen.insert(std::string{events[i].at("event_id").as_string()});
      }
      CHECK(seen.size() == events.size());
    }
  }
}

namespace {

// Each shard's events in a node's file: shard -> event ids by position
// (read while the node runs; the file is WAL).
std::map<uint32_t, std::vector<std::string>>
events_by_shard(const test::temp_dir& dir, const std::string& store,
                uint32_t shards) {
  std::map<uint32_t, std::vector<std::string>> out;
  auto file = test::open_store(dir);
  for (uint32_t s = 0; s < shards; ++s)
    REQUIRE_FALSE(file->read_sql(
      "SELECT event_id FROM warren_events WHERE store = ?1 ORDER BY position",
      {shard_name(store, s)}, [&](const sql_row& row) -> caf::error {
        out[s].emplace_back(row.text(0));
        return caf::none;
      }));
  return out;
}

std::size_t count_all(const std::map<uint32_t, std::vector<std::string>>& m) {
  std::size_t n = 0;
  for (const auto& [shard, ids] : m)
    n += ids.size();
  return n;
}

} // namespace

TEST_CASE("a sharded event store on two nodes numbers each shard's events "
          "without gaps, and after kill -9 of the owner the other node takes "
          "its shards over and every append lands once",
          "[broker][eventstore][shards]") {
  test::broker_scratch broker;
  auto name = broker.queue("sh-events");
  const uint32_t shards = 3;
  for (uint32_t i = 0; i < shards; ++i)
    broker.track_queue(shard_name(name, i));
  broker.track_queue(name + ".log");
  test::temp_dir first_dir;
  test::temp_dir second_dir;
  auto config = [&](const test::temp_dir& dir) {
    auto cfg = test::node_config(dir);
    cfg["actors"] = json::array{{{"name", name},
                                 {"kind", "event_store"},
                                 {"shards", shards},
                                 {"commit", {{"max_batch", 8}}},
                                 {"prefetch", 20}}};
    return cfg;
  };
  // 300 appends of 1 or 2 events to 12 streams, each with ids of its own;
  // appends 120..149 are sent again after the kill (a producer retrying).
  auto stream_of = [](std::size_t i) {
    return "order-" + std::to_string(i % 12);
  };
  auto body_of = [&](std::size_t i) {
    return append_body(i, stream_of(i));
  };
  auto publish = [&](std::size_t from, std::size_t to) {
    std::vector<std::string> ids;
    for (auto i = from; i < to; ++i)
      ids.push_back(name + "-append-" + std::to_string(i));
    test::publish_bulk(bridges::actors_exchange, name, "event_store.append",
                       ids, 50,
                       [&](std::size_t k) { return body_of(from + k); });
  };
  std::map<uint32_t, std::size_t> expected;
  std::size_t expected_total = 0;
  for (std::size_t i = 0; i < 300; ++i) {
    auto n = i % 2 == 0 ? 2U : 1U;
    expected[shard_of(stream_of(i), shards)] += n;
    expected_total += n;
  }

  auto first =
    std::make_unique<test::node_process>(first_dir, config(first_dir));
  auto taken = [](const std::string& log) {
    return test::occurrences(log, "taken over in epoch");
  };
  REQUIRE(test::eventually([&] { return taken(first->err()) == shards; }, 20s));
  test::node_process second{second_dir, config(second_dir)};
  publish(0, 150);
  // The standby's file follows: some of the events are there.
  REQUIRE(test::eventually(
    [&] { return count_all(events_by_shard(second_dir, name, shards)) >= 60; },
    30s));
  test::kill_hard(*first);
  first.reset();
  publish(120, 300);

  std::map<uint32_t, std::vector<std::string>> got;
  test::eventually(
    [&] {
      got = events_by_shard(second_dir, name, shards);
      return count_all(got) >= expected_total;
    },
    60s);
  INFO(second.err());
  CHECK(taken(second.err()) == shards);
  CHECK(count_all(got) == expected_total);
  std::set<std::string> all_ids;
  for (uint32_t s = 0; s < shards; ++s) {
    INFO("shard " << s);
    CHECK(got[s].size() == expected[s]);
    all_ids.insert(got[s].begin(), got[s].end());
    // Read through the store as a client would: the shard's events,
    // numbered 1..n without gaps, each stream's versions 1..k in order.
    auto read =
      call(name, "event_store.read_all",
           json::object{{"shard", static_cast<int64_t>(s)}, {"count", 1000}});
    INFO(read.err);
    REQUIRE(read.exit_code == 0);
    CHECK(read.body.at("shard") == static_cast<int64_t>(s));
    CHECK(read.body.at("head") == static_cast<int64_t>(expected[s]));
    const auto& events = read.body.at("events").as_array();
    REQUIRE(events.size() == expected[s]);
    std::map<std::string, int64_t> versions;
    for (std::size_t k = 0; k < events.size(); ++k) {
      CHECK(events[k].at("position") == static_cast<int64_t>(k + 1));
      auto stream = std::string{events[k].at("stream").as_string()};
      CHECK(shard_of(stream, shards) == s);
      CHECK(events[k].at("version") == ++versions[stream]);
    }
  }
  CHECK(all_ids.size() == expected_total);
  // Streams are answered from any shard's owner; read_all needs a shard.
  auto stream = call(name, "event_store.read_stream",
                     json::object{{"stream", "order-3"}, {"count", 1000}});
  REQUIRE(stream.exit_code == 0);
  // Appends 3, 15, .., 291: one event each.
  CHECK(stream.body.at("events").as_array().size() == 25);
  auto unsharded_read = call(name, "event_store.read_all", json::object{});
  CHECK(unsharded_read.exit_code == 6);
  CHECK_THAT(json::serialize(unsharded_read.body),
             Catch::Contains("shard: expected the shard to read"));
  // An append published straight to another shard's queue is refused with
  // the reason, not written where its stream does not live.
  auto home = shard_of("order-5", shards);
  auto wrong = shard_name(name, (home + 1) % shards);
  outgoing_message stray;
  stray.routing_key = wrong;
  stray.properties.type = "event_store.append";
  stray.properties.message_id = name + "-stray";
  stray.body = R"({"stream": "order-5", "events": [{"type": "A", "data": 0}]})";
  broker.publish(stray);
  auto dead = broker.wait_and_receive(wrong + ".dlq", 1, 30s);
  CHECK_THAT(test::header_string(dead.front(), "x-warren-error"),
             Catch::Contains("belongs to shard " + std::to_string(home)));
  CHECK(count_all(events_by_shard(second_dir, name, shards)) == expected_total);
}
