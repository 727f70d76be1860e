// Batched envelopes end to end (warren/core/batch.hpp): entries applied and
// de-duplicated one by one in a stateful actor's store, failures
// dead-lettered entry by entry, malformed batches dead-lettered whole, and
// `warren send --batch`; against the private broker and real SQLite files.

#include "warren/core/batch.hpp"

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A JSON-lines file of `n` increments of counter `name` by 1.
std::string increments_file(const test::temp_dir& dir, const std::string& name,
                            int n) {
  auto path = dir.file("events-" + name + ".jsonl");
  std::ofstream out{path};
  for (int i = 0; i < n; ++i)
    out << R"({"counter": ")" << name << R"(", "by": 1})"
        << "\n";
  return path;
}

// A batch of `entries` (JSON text) to actor `actor`, published as it is.
outgoing_message batch_message(const std::string& actor, const std::string& id,
                               const std::string& entries) {
  outgoing_message msg;
  msg.exchange = bridges::actors_exchange;
  msg.routing_key = actor;
  msg.mandatory = true;
  msg.properties.message_id = id;
  msg.properties.type = "increment";
  set_field(msg.properties.headers, header::batch, std::string{"yes"});
  msg.body = entries;
  return msg;
}

} // namespace

TEST_CASE("the entries of batched envelopes are applied once each, and the "
          "same batches sent again apply nothing",
          "[broker][batch]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("batched");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  test::node_process node{dir, cfg};
  auto events = increments_file(dir, "a", 100);
  auto send = [&](const std::string& id, const std::string& file) {
    auto r =
      test::warren({"send", "-u", test::broker_uri(), "--actor", name, "--type",
                    "increment", "--batch", "40", "--message-id", id, file});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  // 100 events in batches of 40, 40 and 20.
  CHECK(send("b-1", events) == "b-1\nb-1-1\nb-1-2\n");
  CHECK(
    test::eventually([&] { return test::get_count(name, "a") == 100; }, 20s));
  // The same batches again (a producer retrying): every entry is a
  // duplicate. A new batch behind them shows they were all handled.
  send("b-1", events);
  send("b-2", increments_file(dir, "a-once", 1));
  CHECK(test::eventually([&] { return test::get_count(name, "a-once") == 1; },
                         20s));
  CHECK(test::get_count(name, "a") == 100);
}

TEST_CASE("a batch entry that fails is dead-lettered alone, as a single "
          "message with its own id, and the other entries are applied",
          "[broker][batch]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("batched");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  test::node_process node{dir, cfg};
  broker.publish(batch_message(name, "mixed-1", R"([
    {"body": {"counter": "c", "by": 2}},
    {"id": "bad-1", "type": "fail", "body": {"counter": "c"}},
    {"id": "good-2", "body": {"counter": "c", "by": 3}}])"));
  auto letters = broker.wait_and_receive(name + ".dlq", 1);
  REQUIRE(letters.size() == 1);
  const auto& letter = letters[0];
  CHECK(letter.properties.message_id == "bad-1");
  CHECK(letter.properties.type == "fail");
  CHECK_FALSE(is_batch(letter.properties));
  CHECK(json::parse(letter.raw_body) == json::parse(R"({"counter": "c"})"));
  CHECK_THAT(test::header_string(letter, header::error),
             Catch::Contains("failure requested by the test"));
  // The trace of the batch goes along with each entry.
  CHECK(test::header_string(letter, header::trace) == "mixed-1");
  CHECK(test::eventually([&] { return test::get_count(name, "c") == 5; }, 20s));
  // The batch itself was acked: nothing comes back.
  CHECK(broker.count(name) == 0);
}

TEST_CASE("a malformed batch is dead-lettered whole with the JSON path of "
          "the bad entry, and nothing of it is applied",
          "[broker][batch]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("batched");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  test::node_process node{dir, cfg};
  broker.publish(batch_message(name, "dup-ids", R"([
    {"id": "x", "body": {"counter": "d", "by": 1}},
    {"id": "x", "body": {"counter": "d", "by": 1}}])"));
  broker.publish(batch_message(name, "not-array", R"({"counter": "d"})"));
  auto letters = broker.wait_and_receive(name + ".dlq", 2);
  REQUIRE(letters.size() == 2);
  CHECK(letters[0].properties.message_id == "dup-ids");
  CHECK(is_batch(letters[0].properties));
  CHECK_THAT(test::header_string(letters[0], header::error),
             Catch::Contains("$[1].id"));
  CHECK(test::header_string(letters[0], header::error_code) ==
        "validation_failed");
  CHECK(letters[1].properties.message_id == "not-array");
  CHECK_THAT(test::header_string(letters[1], header::error),
             Catch::Contains("JSON array"));
  // Nothing was applied: the counter has no state.
  CHECK(test::get_count(name, "d") == 0);
}

TEST_CASE("a stateless actor handles each entry of a batch as a message of "
          "its own",
          "[broker][batch]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("batched");
  auto cfg = test::node_config(dir);
  auto path = dir.file("records.jsonl");
  cfg["actors"] = json::array{test::record_actor(name, path)};
  test::node_process node{dir, cfg};
  broker.publish(batch_message(name, "s-1", R"([
    {"body": 1}, {"id": "own", "type": "other", "body": {"k": "v"}},
    {"body": "three"}])"));
  auto lines = test::wait_for_records(path, 3);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].message_id == "s-1#0");
  CHECK(lines[0].type == "increment");
  CHECK(lines[0].body == json::value(1));
  CHECK(lines[1].message_id == "own");
  CHECK(lines[1].type == "other");
  CHECK(lines[2].message_id == "s-1#2");
  CHECK(lines[2].body == json::value("three"));
}

TEST_CASE("warren send --batch refuses a file with a line that is not JSON, "
          "naming the line, and sends nothing",
          "[broker][batch]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("batched");
  auto path = dir.file("bad.jsonl");
  std::ofstream{path} << "{\"a\": 1}\n{oops\n";
  auto r = test::warren(
    {"send", "-u", test::broker_uri(), "--actor", name, "--batch", "10", path});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains(path + ":2: not valid JSON"));
  // No message id printed: nothing was published.
  CHECK(r.out.empty());
}
