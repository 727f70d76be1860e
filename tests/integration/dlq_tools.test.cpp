// `warren dlq`: list, show, replay once the cause is fixed, purge; dead
// letters of dead letters, and the broker's own dead letters.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/dead_letter.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// Sends a message of `type` to `actor` with a known id.
void send(const std::string& actor, const std::string& type,
          const std::string& id, const std::string& body) {
  auto res = test::warren({"send", "-u", test::broker_uri(), "--actor", actor,
                           "-t", type, "--message-id", id, body});
  REQUIRE(res.exit_code == 0);
}

} // namespace

TEST_CASE("warren dlq lists and shows dead letters, and replays them to their "
          "route where they are processed once the cause is fixed",
          "[broker][dlq]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("dlq-tools");
  auto dlq = warren::dead_letter_queue_name(name);
  auto id1 = test::unique_name("first");
  auto id2 = test::unique_name("second");
  {
    // The cause: a handler that fails every "fail" message.
    auto cfg = test::node_config(dir);
    cfg["actors"] = json::array{json::object{
      {"name", name}, {"kind", "subscriber"}, {"handler", "test.faulty"}}};
    test::node_process broken{dir, cfg};
    send(name, "fail", id1, R"({"n": 1})");
    send(name, "fail", id2, R"({"n": 2})");
    REQUIRE(broker.wait_for_count(dlq, 2) == 2);
    CHECK(broken.stop() == 0);
  }
  auto list = test::warren({"dlq", "list", "-u", test::broker_uri(), name});
  CHECK(list.exit_code == 0);
  CHECK(list.out.find(id1 + " type=fail code=handler_failed attempts=1 route=" +
                      std::string{bridges::actors_exchange} + ":" + name) !=
        std::string::npos);
  CHECK(list.out.find(id2) != std::string::npos);
  CHECK(broker.count(dlq) == 2); // listing leaves them in place

  auto show = test::warren({"dlq", "show", "-u", test::broker_uri(), dlq, id2});
  REQUIRE(show.exit_code == 0);
  auto shown = json::parse(show.out).as_object();
  CHECK(shown.at("body").at("n").as_int64() == 2);
  CHECK(shown.at("headers").at("x-warren-error-code").as_string() ==
        "handler_failed");
  CHECK(test::warren({"dlq", "show", "-u", test::broker_uri(), dlq, "nosuch"})
          .exit_code == 1);

  // The cause fixed: the same actor now records what it gets.
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(name, records)};
  test::node_process fixed{dir, cfg};
  auto one = test::warren(
    {"dlq", "replay", "-u", test::broker_uri(), name, "--id", id1});
  CHECK(one.exit_code == 0);
  CHECK(one.out.find("replayed 1 message(s)") != std::string::npos);
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines.front().message_id == id1);
  CHECK(broker.count(dlq) == 1);
  auto rest =
    test::warren({"dlq", "replay", "-u", test::broker_uri(), name, "--all"});
  CHECK(rest.exit_code == 0);
  lines = test::wait_for_records(records, 2);
  CHECK(lines.back().message_id == id2);
  CHECK(broker.count(dlq) == 0);
  CHECK(fixed.stop() == 0);
}

TEST_CASE("warren dlq purge deletes dead letters only when confirmed",
          "[broker][dlq]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("dlq-purge");
  auto dlq = warren::dead_letter_queue_name(name);
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{json::object{
    {"name", name}, {"kind", "subscriber"}, {"handler", "test.faulty"}}};
  test::node_process node{dir, cfg};
  send(name, "fail", test::unique_name("p"), "{}");
  REQUIRE(broker.wait_for_count(dlq, 1) == 1);
  // Without a terminal to ask on, purge wants --force.
  auto refused = test::warren({"dlq", "purge", "-u", test::broker_uri(), name});
  CHECK(refused.exit_code == 2);
  CHECK(broker.count(dlq) == 1);
  auto purged =
    test::warren({"dlq", "purge", "-u", test::broker_uri(), name, "--force"});
  CHECK(purged.exit_code == 0);
  CHECK(purged.out.find("purged 1 message(s)") != std::string::npos);
  CHECK(broker.count(dlq) == 0);
  CHECK(node.stop() == 0);
}

TEST_CASE(
  "a dead letter rejected again: by an actor consuming the dead-letter queue, "
  "it does not loop, its copy keeps the first route, and replay sends it there",
  "[broker][dlq]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("first-route");
  auto dlq = warren::dead_letter_queue_name(name);
  auto dlq_of_dlq = warren::dead_letter_queue_name(dlq);
  broker.track_queue(dlq);
  auto id = test::unique_name("twice");
  {
    // The actor fails it; a second actor, consuming its dead-letter queue,
    // fails it again.
    auto cfg = test::node_config(dir);
    cfg["actors"] = json::array{
      json::object{
        {"name", name}, {"kind", "subscriber"}, {"handler", "test.faulty"}},
      json::object{{"name", test::unique_name("dlq-reader")},
                   {"queue", dlq},
                   {"kind", "subscriber"},
                   {"handler", "test.faulty"}}};
    test::node_process node{dir, cfg};
    send(name, "fail", id, R"({"n": 1})");
    REQUIRE(broker.wait_for_count(dlq_of_dlq, 1) == 1);
    std::this_thread::sleep_for(500ms);
    CHECK(broker.count(dlq) == 0);
    CHECK(broker.count(dlq_of_dlq) == 1);
  }
  auto list =
    test::warren({"dlq", "list", "-u", test::broker_uri(), dlq_of_dlq});
  INFO(list.out << list.err);
  CHECK(list.out.find(id + " type=fail code=handler_failed attempts=1 route=" +
                      std::string{bridges::actors_exchange} + ":" + name) !=
        std::string::npos);
  // Replayed, it goes where it was first sent: the first actor's queue.
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(name, records)};
  test::node_process fixed{dir, cfg};
  auto replay = test::warren(
    {"dlq", "replay", "-u", test::broker_uri(), dlq_of_dlq, "--all"});
  CHECK(replay.exit_code == 0);
  CHECK(test::wait_for_records(records, 1).front().message_id == id);
}

TEST_CASE("a message the broker dead-letters from a quorum queue (it expired) "
          "lands in the queue's .dlq, and replay sends it back to that queue",
          "[broker][dlq]") {
  test::broker_scratch broker;
  auto name = broker.queue("expiring");
  bridges::topology topo;
  bridges::queue_spec q;
  q.name = name;
  q.type = bridges::queue_type::quorum;
  topo.queues.push_back(q);
  REQUIRE_FALSE(broker.client().declare(topo));
  outgoing_message msg;
  msg.routing_key = name;
  msg.properties.message_id = test::unique_name("expires");
  msg.properties.expiration = "100";
  msg.body = R"({"n": 1})";
  broker.publish(msg);
  auto dlq = warren::dead_letter_queue_name(name);
  REQUIRE(broker.wait_for_count(dlq, 1) == 1);
  CHECK(broker.count(name) == 0);
  auto replay =
    test::warren({"dlq", "replay", "-u", test::broker_uri(), name, "--all"});
  INFO(replay.err);
  CHECK(replay.exit_code == 0);
  auto back = broker.wait_and_receive(name, 1);
  CHECK(back[0].properties.message_id == msg.properties.message_id);
  CHECK(broker.count(dlq) == 0);
}
