// Foreign AMQP clients talk to warren actors: Python's pika calls a service
// with its own reply queue, and amqp-tools' amqp-publish feeds a subscriber
// a message with nothing but a body.

#include "support.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

TEST_CASE("a pika client calls an echo service with its own reply queue and "
          "correlation id",
          "[broker][interop]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto echo = broker.queue("echo");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    json::object{{"name", echo}, {"kind", "service"}, {"handler", "echo"}}};
  test::node_process node{dir, cfg};
  auto request = R"({"from":"pika","list":[1,"two",3.5]})";
  auto res = test::run_command({"/usr/bin/python3",
                                test::source_file("pika_rpc_client.py"),
                                test::broker_uri(), echo, request, "interop"});
  INFO("stdout: " << res.out << "\nstderr: " << res.err);
  REQUIRE(res.exit_code == 0);
  auto reply = json::parse(res.out);
  CHECK(reply.at("body") == json::parse(request));
  CHECK(reply.at("correlation_id") == reply.at("sent_correlation_id"));
  CHECK(reply.at("type") == "interop");
}

TEST_CASE("a message from amqp-publish is handled by a record subscriber",
          "[broker][interop]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("sink");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(actor, records)};
  test::node_process node{dir, cfg};
  // amqp-tools reads a URL ending in '/' as the empty vhost, not "/".
  auto url = test::broker_uri();
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  auto res = test::run_command({"/usr/bin/amqp-publish", "--url", url, "-e",
                                "warren.actors", "-r", actor, "-p", "-b",
                                R"({"from":"amqp-tools"})"});
  INFO("stderr: " << res.err);
  REQUIRE(res.exit_code == 0);
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].body == json::parse(R"({"from":"amqp-tools"})"));
  // No message_id on the wire: warren gives the delivery one of its own.
  CHECK(lines[0].message_id.rfind("anon-", 0) == 0);
  CHECK(lines[0].type.empty());
  CHECK(broker.count(actor + ".dlq") == 0);
}
