// Stream operators end to end (warren/runtime/stream_operator.hpp), with the
// test plugin's `test.tally` (a sum per key in memory, one row per key):
// rows committed with the inbox, restored at start, exact after kill -9 at
// the store's kill points, ticks publishing with ids of their own; against
// the private broker and real SQLite files.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/batch.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object tally_actor(const std::string& name,
                         json::object options = json::object{}) {
  return json::object{{"name", name},
                      {"kind", "test.tally"},
                      {"options", std::move(options)},
                      {"commit", json::object{{"max_batch", 8}}},
                      {"prefetch", 20}};
}

// Adds 1 to key "k<i % keys>" for i in [from, to), ids "<prefix>-<i>".
void publish_adds(const std::string& actor, const std::string& prefix, int from,
                  int to, int keys) {
  std::vector<std::string> ids;
  for (int i = from; i < to; ++i)
    ids.push_back(prefix + "-" + std::to_string(i));
  test::publish_bulk(
    bridges::actors_exchange, actor, "add", ids, 50, [&](std::size_t k) {
      auto i = from + static_cast<int>(k);
      return R"({"key":"k)" + std::to_string(i % keys) + R"(","by":1})";
    });
}

// The reply of tally's "get" for `key`.
json::object get(const std::string& actor, const std::string& key) {
  auto r = test::warren({"call", "-u", test::broker_uri(), "--timeout", "15000",
                         actor, "-t", "get", R"({"key":")" + key + R"("})"});
  INFO("warren call: " << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

int64_t sum_of(const std::string& actor, const std::string& key) {
  return get(actor, key).at("sum").as_int64();
}

// A batch of adds to key "k<i % keys>" by 1 for i in [from, to), without
// ids of their own unless `with_ids` ("<id>-e<i>"); `by` overrides the
// amount of some of them.
outgoing_message add_batch(const std::string& actor, const std::string& id,
                           int from, int to, int keys, bool with_ids = false,
                           const std::map<int, int>& by = {}) {
  std::vector<batch_entry> entries;
  for (int i = from; i < to; ++i) {
    batch_entry entry;
    if (with_ids)
      entry.id = id + "-e" + std::to_string(i);
    auto amount = by.count(i) > 0 ? by.at(i) : 1;
    entry.body =
      json::object{{"key", "k" + std::to_string(i % keys)}, {"by", amount}};
    entries.push_back(std::move(entry));
  }
  outgoing_message msg;
  msg.exchange = bridges::actors_exchange;
  msg.routing_key = actor;
  msg.mandatory = true;
  msg.properties.message_id = id;
  msg.properties.type = "add";
  msg.body = encode_batch(entries, msg.properties);
  return msg;
}

int64_t total_of(const std::string& actor, int keys) {
  int64_t total = 0;
  for (int k = 0; k < keys; ++k)
    total += sum_of(actor, "k" + std::to_string(k));
  return total;
}

// Kills a tally node at each kill point of the commit path (at its third
// pass) while `publish` sends 200 adds over keys k0..k9 (and some of them
// again), restarts it, and checks that every add counted once, in its
// memory and rows and in its SQL table.
void kill_at_every_point(
  const std::function<void(const std::string& actor, const std::string& prefix,
                           test::broker_scratch& broker)>& publish) {
  for (const char* point : test::commit_kill_points) {
    DYNAMIC_SECTION(point) {
      test::temp_dir dir;
      test::broker_scratch broker;
      auto name = broker.queue("tally");
      auto cfg = test::node_config(dir);
      // Each add is also a row of the tally's own table (a strict SQL group
      // in the unit of work): a second apply would break its primary key.
      cfg["actors"] =
        json::array{tally_actor(name, json::object{{"sql", true}})};
      auto node =
        test::killed_then_restarted(dir, cfg, broker, name, point, [&] {
          publish(name, test::unique_name("k"), broker);
        });
      CHECK(total_of(name, 10) == 200);
      auto table = get(name, "k0");
      CHECK(table.at("rows").as_int64() == 200);
      CHECK(table.at("amount").as_int64() == 200);
      // The restarted instance was told of its commits.
      CHECK(table.at("commits").as_int64() > 0);
    }
  }
}

} // namespace

TEST_CASE("a stream operator's memory is rebuilt from the rows it "
          "committed, and a failed message leaves it as it was",
          "[broker][operator]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("tally");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{tally_actor(name)};
  {
    test::node_process node{dir, cfg};
    publish_adds(name, test::unique_name("a"), 0, 30, 3);
    CHECK(test::eventually([&] { return sum_of(name, "k2") == 10; }, 20s));
    REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                          "-t", "add", R"({"key":"k2","by":-5})"})
              .exit_code == 0);
    broker.wait_for_count(name + ".dlq", 1);
    CHECK(sum_of(name, "k2") == 10);
  }
  test::node_process node{dir, cfg};
  CHECK(total_of(name, 3) == 30);
}

TEST_CASE("a stream operator killed at any point of its commit neither "
          "loses a message nor applies one twice",
          "[broker][operator][kill]") {
  kill_at_every_point([](const std::string& name, const std::string& prefix,
                         test::broker_scratch&) {
    publish_adds(name, prefix, 0, 200, 10);
    publish_adds(name, prefix, 150, 200, 10); // duplicates
  });
}

TEST_CASE("a stream operator's ticks publish with the ids it gives, commit "
          "what they changed, and a restart does not publish again",
          "[broker][operator]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("tally");
  auto totals = broker.queue("tally-totals");
  bridges::queue_spec spec;
  spec.name = totals;
  REQUIRE_FALSE(broker.client().declare(bridges::topology{{}, {spec}, {}}));
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    tally_actor(name, json::object{{"tick_ms", 100}, {"tick_queue", totals}})};
  {
    test::node_process node{dir, cfg};
    publish_adds(name, test::unique_name("a"), 0, 20, 2);
    auto ticks = broker.wait_and_receive(totals, 1, 20s);
    REQUIRE_FALSE(ticks.empty());
    // Wait until the last tick saw all 20.
    CHECK(test::eventually(
      [&] {
        for (const auto& t : broker.receive(totals, 10, 300ms))
          ticks.push_back(t);
        return !ticks.empty() &&
               ticks.back().properties.message_id == "total-20";
      },
      20s));
    CHECK(json::parse(ticks.back().raw_body).at("total").as_int64() == 20);
  }
  // The tick that published total-20 committed `ticked`: nothing new to say.
  test::node_process node{dir, cfg};
  CHECK(broker.receive(totals, 10, 1500ms).empty());
  // A request of its own: the reply would come back to the actor's queue.
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "ask", "--message-id", "a-1", R"({"key":"k0"})"})
            .exit_code == 0);
  auto asked = broker.wait_and_receive(totals, 1, 20s);
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].properties.message_id == "q-a-1");
  CHECK(asked[0].properties.reply_to == name);
  CHECK(asked[0].properties.correlation_id == "c-a-1");
}

TEST_CASE("a stream operator takes a batch whole: its entries without ids "
          "share one inbox record, each is applied once, and the same batch "
          "again applies nothing",
          "[broker][operator][batch]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("tally");
  auto cfg = test::node_config(dir);
  // Commits of 8 messages at most: a batch of 50 still commits whole.
  cfg["actors"] = json::array{tally_actor(name)};
  test::node_process node{dir, cfg};
  auto b1 = test::unique_name("b1");
  auto b2 = test::unique_name("b2");
  broker.publish(add_batch(name, b1, 0, 50, 5));
  broker.publish(add_batch(name, b2, 0, 30, 5, true));
  // Sent again (a producer retrying), and one entry of b2 sent alone.
  broker.publish(add_batch(name, b1, 0, 50, 5));
  broker.publish(add_batch(name, b2, 0, 30, 5, true));
  REQUIRE(
    test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                  "add", "--message-id", b2 + "-e3", R"({"key":"k0","by":1})"})
      .exit_code == 0);
  // A last new message: once it is applied, everything before it is.
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "add", R"({"key":"z","by":1})"})
            .exit_code == 0);
  CHECK(test::eventually([&] { return sum_of(name, "z") == 1; }, 20s));
  CHECK(total_of(name, 5) == 80);
  auto store = test::open_store(dir);
  CHECK(*store->applied_in_batch(name, b1) ==
        std::vector<std::string>{b1 + "#*"});
  // Entries with ids of their own are recorded one by one, each by its id.
  CHECK(store->applied_in_batch(name, b2)->empty());
  for (int i = 0; i < 30; ++i)
    CHECK(*store->seen(name, b2 + "-e" + std::to_string(i)));
  CHECK(broker.count(name) == 0);
}

TEST_CASE("an entry of a batch taken whole that fails is dead-lettered "
          "alone, the others are recorded one by one, and the batch sent "
          "again applies none of them twice",
          "[broker][operator][batch]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("tally");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{tally_actor(name)};
  test::node_process node{dir, cfg};
  auto id = test::unique_name("f");
  // Ten adds to k0; the fifth, a negative amount, fails for good.
  auto batch = add_batch(name, id, 0, 10, 1, false, {{4, -5}});
  broker.publish(batch);
  auto letters = broker.wait_and_receive(name + ".dlq", 1);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].properties.message_id == id + "#4");
  CHECK_FALSE(is_batch(letters[0].properties));
  CHECK(json::parse(letters[0].raw_body) ==
        json::parse(R"({"key":"k0","by":-5})"));
  CHECK(test::header_string(letters[0], header::trace) == id);
  CHECK(test::eventually([&] { return sum_of(name, "k0") == 9; }, 20s));
  {
    auto applied = test::open_store(dir)->applied_in_batch(name, id);
    REQUIRE(applied);
    CHECK(applied->size() == 9);
    CHECK(std::find(applied->begin(), applied->end(), id + "#*") ==
          applied->end());
    CHECK(std::find(applied->begin(), applied->end(), id + "#4") ==
          applied->end());
  }
  // Again: the nine are duplicates, the fifth fails again.
  broker.publish(batch);
  letters = broker.wait_and_receive(name + ".dlq", 1);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].properties.message_id == id + "#4");
  CHECK(sum_of(name, "k0") == 9);
  CHECK(broker.count(name) == 0);
}

TEST_CASE("a stream operator taking batches whole, killed at any point of "
          "its commit, neither loses an entry nor applies one twice",
          "[broker][operator][batch][kill]") {
  kill_at_every_point([](const std::string& name, const std::string& prefix,
                         test::broker_scratch& broker) {
    // Batches of 10: even ones without entry ids, odd ones with.
    auto publish = [&](int from, int to) {
      for (int b = from; b < to; ++b)
        broker.publish(add_batch(name, prefix + "-" + std::to_string(b), b * 10,
                                 b * 10 + 10, 10, b % 2 == 1));
    };
    publish(0, 20);
    publish(15, 20); // duplicates
  });
}
