// What a running node does when the world changes under it: its queue is
// deleted, a service never answers, it is told to stop with work in flight.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <string>

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
  cfg["actors"] = json::array{
    actor(name, "subscriber", "record", {{"path", records}})};
  test::node_process node{dir, cfg};
  REQUIRE_FALSE(broker.client().delete_queue(name));
  // The broker cancels the consumer (consumer_cancel_notify); the node
  // reconnects, declares its topology again and consumes. Until then a
  // mandatory send to the actor finds no queue.
  bool sent = test::eventually(
    [&] {
      return test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                           "-t", "after", R"({"n": 1})"})
               .exit_code
             == 0;
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
  cfg["actors"] = json::array{
    actor(name, "subscriber", "record", {{"path", dir.file("r.jsonl")}})};
  test::node_process node{dir, cfg};
  auto res = test::warren({"call", "-u", test::broker_uri(), "--timeout",
                           "700", name, R"({"q": 1})"});
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
  cfg["actors"] = json::array{
    actor(name, "subscriber", "test.faulty", {{"path", records}})};
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
  CHECK(broker.count(bridges::dead_letter_queue_name(name)) == 0);
}
