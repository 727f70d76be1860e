// Queue arguments from the node config take effect at the broker: message
// TTL with a dead-letter exchange, and priorities.

#include "support.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

TEST_CASE("a message that outlives the queue's TTL is dead-lettered to the "
          "dead-letter exchange's queue",
          "[broker][queues]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto dlx = broker.exchange("dlx");
  auto waiting = broker.queue("ttl");
  auto expired = broker.queue("expired");
  auto cfg = test::node_config(dir);
  cfg["topology"] = json::object{
    {"exchanges", json::array{json::object{{"name", dlx}, {"type", "direct"}}}},
    {"queues", json::array{json::object{{"name", waiting},
                                        {"message_ttl_ms", 300},
                                        {"dead_letter_exchange", dlx},
                                        {"dead_letter_routing_key", "expired"}},
                           json::object{{"name", expired}}}},
    {"bindings",
     json::array{json::object{
       {"exchange", dlx}, {"queue", expired}, {"routing_key", "expired"}}}}};
  // The node only declares the topology: nothing consumes these queues.
  test::node_process node{dir, cfg};

  broker.publish_to_queue(waiting, R"({"perishable":true})");
  auto letters = broker.wait_and_receive(expired, 1, 10s);
  CHECK(letters[0].raw_body == R"({"perishable":true})");
  CHECK(letters[0].exchange == dlx);
  CHECK(letters[0].routing_key == "expired");
  CHECK(test::header_string(letters[0], "x-first-death-reason") == "expired");
  CHECK(test::header_string(letters[0], "x-first-death-queue") == waiting);
  CHECK(broker.count(waiting) == 0);
}

TEST_CASE("a priority queue delivers higher priorities first",
          "[broker][queues]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto prio = broker.queue("prio");
  auto cfg = test::node_config(dir);
  cfg["topology"] = json::object{
    {"queues",
     json::array{json::object{{"name", prio}, {"max_priority", 10}}}}};
  test::node_process node{dir, cfg};

  // Published while nothing consumes: low ones first, then high, then none.
  for (int i = 0; i < 3; ++i)
    broker.publish_to_queue(prio, R"({"low":)" + std::to_string(i) + "}", 1);
  for (int i = 0; i < 3; ++i)
    broker.publish_to_queue(prio, R"({"high":)" + std::to_string(i) + "}", 9);
  broker.publish_to_queue(prio, R"({"none":0})");
  auto got = broker.wait_and_receive(prio, 7);
  std::vector<std::string> order;
  for (const auto& env : got)
    order.push_back(env.raw_body);
  std::vector<std::string> expected{
    R"({"high":0})", R"({"high":1})", R"({"high":2})", R"({"low":0})",
    R"({"low":1})",  R"({"low":2})",  R"({"none":0})"};
  CHECK(order == expected);
  CHECK(got[0].properties.priority == std::optional<uint8_t>{9});
}
