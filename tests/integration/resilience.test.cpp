// What a running node does when the world changes under it: its queue is
// deleted, a service never answers, it is told to stop with work in flight.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <sys/stat.h>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object actor(const std::string& name, const std::string& kind,
                   const std::string& handler, json::object options) {
  return {{"name", name},
          {"kind", kind},
          {"handler", handler},
          {"options", std::move(options)}};
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

} // namespace

TEST_CASE("a subscriber whose queue is deleted under it declares the queue "
          "again and resumes consuming",
          "[broker][resilience]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("deleted");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(name, records)};
  test::node_process node{dir, cfg};
  REQUIRE_FALSE(broker.client().delete_queue(name));
  // The broker cancels the consumer (consumer_cancel_notify); the node
  // reconnects, declares its topology again and consumes. Until then a
  // mandatory send to the actor finds no queue.
  bool sent = test::eventually(
    [&] {
      return test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                           "-t", "after", R"({"n": 1})"})
               .exit_code == 0;
    },
    15s);
  REQUIRE(sent);
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines.front().type == "after");
  CHECK(node.err().find("cancelled the consumer") != std::string::npos);
  CHECK(node.stop() == 0);
}

TEST_CASE("a call to a service that never answers times out with exit code 5",
          "[broker][resilience]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  // A subscriber takes the request and does not reply.
  auto name = broker.queue("silent");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(name, dir.file("r.jsonl"))};
  test::node_process node{dir, cfg};
  auto res = test::warren({"call", "-u", test::broker_uri(), "--timeout", "700",
                           name, R"({"q": 1})"});
  CHECK(res.exit_code == 5);
  CHECK(res.err.find("no reply within 700 ms") != std::string::npos);
  CHECK(node.stop() == 0);
}

TEST_CASE("a graceful stop lets the delivery in flight finish and acks it "
          "before the node exits",
          "[broker][resilience]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("inflight");
  auto records = dir.file("records.jsonl");
  auto started = dir.file("started");
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{actor(name, "subscriber", "test.faulty", {{"path", records}})};
  test::node_process node{dir, cfg};
  json::object body{{"started", started}, {"ms", 1500}};
  auto sent = test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                            "-t", "slow", json::serialize(body)});
  REQUIRE(sent.exit_code == 0);
  REQUIRE(test::eventually([&] { return file_exists(started); }, 10s));
  // SIGINT while the handler is still working.
  CHECK(node.stop() == 0);
  auto lines = test::read_records(records);
  REQUIRE(lines.size() == 1);
  CHECK(lines.front().type == "slow");
  // Acked, not left for redelivery.
  CHECK(broker.count(name) == 0);
  CHECK(broker.count(warren::dead_letter_queue_name(name)) == 0);
}

TEST_CASE("an idle node keeps its connections alive by servicing heartbeats",
          "[broker][resilience]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("idle");
  auto cfg = test::node_config(dir);
  // With a 1 s heartbeat the broker closes a connection that stays silent
  // for about 2 s; the node sits idle for 5. rabbitmq-c sends heartbeats only
  // from inside its calls, so this fails if a connection owner stops reading
  // its socket while idle (the broker's heartbeats wake it to answer).
  cfg["broker"].as_object()["heartbeat_seconds"] = 1;
  cfg["actors"] = json::array{
    json::object{{"name", name}, {"kind", "service"}, {"handler", "echo"}}};
  test::node_process node{dir, cfg};
  std::this_thread::sleep_for(5s);
  auto res = test::warren({"call", "-u", test::broker_uri(), "--timeout",
                           "2000", name, R"({"still": "here"})"});
  CHECK(res.exit_code == 0);
  CHECK(res.out == "{\"still\":\"here\"}\n");
  // No connection was lost and reopened meanwhile.
  CHECK(node.err().find("lost its connection") == std::string::npos);
  CHECK(node.err().find("heartbeat") == std::string::npos);
  CHECK(node.stop() == 0);
}

TEST_CASE("a second signal forces the node out at once, and the message in "
          "flight stays in the broker",
          "[broker][resilience]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("forced");
  auto records = dir.file("records.jsonl");
  auto started = dir.file("started");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{json::object{{"name", name},
                                           {"kind", "subscriber"},
                                           {"handler", "test.faulty"},
                                           {"options", {{"path", records}}}}};
  test::node_process node{dir, cfg};
  json::object body{{"started", started}, {"ms", 8000}};
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "slow", json::serialize(body)})
            .exit_code == 0);
  REQUIRE(test::eventually([&] { return file_exists(started); }, 10s));
  auto signalled = std::chrono::steady_clock::now();
  CHECK(node.force_stop() == 130);
  // Out long before the 8 s of work would have ended.
  CHECK(std::chrono::steady_clock::now() - signalled < 5s);
  CHECK(test::read_records(records).empty());
  // Unacked, so the broker has it back for the next node.
  CHECK(broker.wait_for_count(name, 1, 10s) == 1);
}
