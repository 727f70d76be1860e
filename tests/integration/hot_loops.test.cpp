// No hot loops (issue 9, item 5), against the private broker and a real
// SQLite file: a transient failure backs off and counts as an attempt; one
// broken key does not wedge the others; a raw kind that keeps answering
// `retry` gets its message back at a slow pace, not in a tight loop.

#include "support.hpp"
#include "warren/core/dead_letter.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <string>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

void send(const std::string& actor, const std::string& type,
          const std::string& body) {
  auto r = test::warren(
    {"send", "-u", test::broker_uri(), "--actor", actor, "-t", type, body});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// Overwrites the stored state of `key` with text that is not JSON, as a
// damaged page or a faulty tool might.
void damage_state(const std::string& db_path, const std::string& key) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  auto sql =
    "UPDATE actor_state SET state = '{not json' WHERE key = '" + key + "'";
  CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  CHECK(sqlite3_changes(db) == 1);
  sqlite3_close(db);
}

} // namespace

TEST_CASE("a key whose stored state cannot be read fails its messages through "
          "the retry policy, backing off, while the other keys go on",
          "[broker][hot_loops]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("broken-key");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    json::object{{"name", name},
                 {"kind", "test.counter"},
                 {"retry", json::object{{"immediate", 2}}},
                 {"options", json::object{{"key_field", "counter"}}}}};
  {
    test::node_process node{dir, cfg};
    send(name, "increment", R"({"counter":"broken","by":1})");
    send(name, "increment", R"({"counter":"good","by":1})");
    CHECK(test::eventually([&] { return test::get_count(name, "good") == 1; },
                           10s));
  }
  damage_state(dir.file("state") + "/warren.db", "broken");
  test::node_process node{dir, cfg};
  for (int i = 0; i < 3; ++i) {
    send(name, "increment", R"({"counter":"broken","by":1})");
    send(name, "increment", R"({"counter":"good","by":1})");
  }
  auto dead = broker.wait_and_receive(dead_letter_queue_name(name), 3);
  for (const auto& msg : dead) {
    CHECK(test::header_string(msg, header::error_code) == "store_failed");
    CHECK_THAT(test::header_string(msg, header::error),
               Catch::Contains("key 'broken'"));
    const auto* attempts = find_field(msg.properties.headers, header::attempts);
    REQUIRE(attempts != nullptr);
    CHECK(std::get<int64_t>(*attempts) == 3);
  }
  CHECK(test::get_count(name, "good") == 4);
  // Each failed attempt waited before the next: 100 ms, then 200 ms.
  CHECK_THAT(node.err(), Catch::Contains("retrying in 100 ms"));
  CHECK_THAT(node.err(), Catch::Contains("retrying in 200 ms"));
}

TEST_CASE("a raw kind that keeps answering retry gets its message back at a "
          "slow pace, never in a tight loop",
          "[broker][hot_loops]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("raw-again");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{json::object{{"name", name},
                             {"kind", "test.raw"},
                             {"options", json::object{{"path", records}}}}};
  test::node_process node{dir, cfg};
  send(name, "again", R"({"n": 1})");
  test::wait_for_records(records, 2);
  std::this_thread::sleep_for(3s);
  // 100 ms, then 1.6 s per return: a handful of deliveries, where a
  // requeue at once would have made thousands.
  auto seen = test::read_records(records).size();
  CHECK(seen >= 2);
  CHECK(seen <= 6);
}

TEST_CASE("a dead letter whose dead-letter queue is gone goes back to its "
          "queue after a pause, never in a tight loop, and is not lost",
          "[broker][hot_loops]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("dlq-gone");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{json::object{
    {"name", name}, {"kind", "subscriber"}, {"handler", "test.faulty"}}};
  test::node_process node{dir, cfg};
  REQUIRE_FALSE(broker.client().delete_queue(dead_letter_queue_name(name)));
  send(name, "fail", R"({"n": 1})");
  std::this_thread::sleep_for(3500ms);
  std::size_t returns = 0;
  for (auto at = node.err().find("goes back to"); at != std::string::npos;
       at = node.err().find("goes back to", at + 1))
    ++returns;
  // About one a second, where a requeue at once would have made thousands.
  CHECK(returns >= 2);
  CHECK(returns <= 5);
  CHECK_THAT(node.err(), Catch::Contains("NO_ROUTE"));
}
