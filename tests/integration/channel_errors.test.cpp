// Channel errors are not lost connections (issue 9, item 3), through a
// running node against the private broker: a handler's publish to an
// exchange that does not exist (404) or that its user may not write to
// (403) fails that message alone, permanently (dead-lettered with the
// reason); the channel comes back, everything else in flight goes through,
// and the node never reconnects.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/dead_letter.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <set>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object publisher_actor(const std::string& name) {
  return {
    {"name", name}, {"kind", "subscriber"}, {"handler", "test.publisher"}};
}

// Sends `n` messages to `actor`: every third to `bad_exchange`, the others
// through the default exchange to queue `sink`.
void send_mixed(const std::string& actor, const std::string& bad_exchange,
                const std::string& sink, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i)
    ids.push_back(test::unique_name("mixed"));
  test::publish_bulk("warren.actors", actor, "note", ids, 50,
                     [&](std::size_t i) {
                       json::object body{{"seq", i}};
                       if (i % 3 == 0)
                         body["exchange"] = bad_exchange, body["key"] = "x";
                       else
                         body["exchange"] = "", body["key"] = sink;
                       return json::serialize(body);
                     });
}

// The distinct messages the sink recorded: a publish in doubt when a
// channel closed may arrive twice (at least once), under its stable id.
std::size_t distinct_records(const std::string& records, std::size_t n) {
  std::set<std::string> ids;
  test::eventually(
    [&] {
      ids.clear();
      for (const auto& line : test::read_records(records))
        ids.insert(line.message_id);
      return ids.size() >= n;
    },
    20s);
  return ids.size();
}

void check_never_reconnected(const test::node_process& node) {
  INFO(node.err());
  CHECK(node.err().find("lost its connection") == std::string::npos);
  CHECK(node.err().find("connected again") == std::string::npos);
}

} // namespace

TEST_CASE("a handler's publish to an exchange that does not exist "
          "dead-letters that message as not_found, the rest goes through and "
          "the node never reconnects",
          "[broker][channel_errors]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("pub404");
  auto sink = broker.queue("pub404-sink");
  auto records = dir.file("records.jsonl");
  auto missing = test::unique_name("no-such-exchange");
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{publisher_actor(name), test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  send_mixed(name, missing, sink, 30);
  auto dead = broker.wait_and_receive(dead_letter_queue_name(name), 10);
  for (const auto& msg : dead) {
    CHECK(test::header_string(msg, header::error_code) == "not_found");
    CHECK_THAT(test::header_string(msg, header::error),
               Catch::Contains(missing));
  }
  CHECK(distinct_records(records, 20) == 20);
  CHECK(broker.wait_for_count(name, 0) == 0);
  check_never_reconnected(node);
}

TEST_CASE("a handler's publish to an exchange its user may not write to "
          "dead-letters that message as access_refused, the rest goes "
          "through and the node never reconnects",
          "[broker][channel_errors]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("pub403");
  auto sink = broker.queue("pub403-sink");
  auto records = dir.file("records.jsonl");
  // An exchange that exists, which the node's user may not publish to.
  auto forbidden = broker.exchange("forbidden");
  bridges::topology topo;
  bridges::exchange_spec exchange;
  exchange.name = forbidden;
  exchange.type = bridges::exchange_type::fanout;
  topo.exchanges.push_back(exchange);
  REQUIRE_FALSE(broker.client().declare(topo));
  test::broker_user account;
  REQUIRE(
    test::broker_script("set-permissions",
                        {account.user, ".*", "^(?!.*forbidden).*", ".*"}) == 0);
  auto cfg = test::node_config(dir);
  cfg["broker"] = json::object{{"uri", account.uri()}};
  cfg["actors"] =
    json::array{publisher_actor(name), test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  send_mixed(name, forbidden, sink, 30);
  auto dead = broker.wait_and_receive(dead_letter_queue_name(name), 10);
  for (const auto& msg : dead)
    CHECK(test::header_string(msg, header::error_code) == "access_refused");
  CHECK(distinct_records(records, 20) == 20);
  CHECK(broker.wait_for_count(name, 0) == 0);
  check_never_reconnected(node);
}

TEST_CASE("a queue declared with arguments inequivalent to the broker's stops "
          "the node at start with the broker's reason, not a reconnect loop",
          "[broker][channel_errors]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("inequivalent");
  bridges::topology existing;
  bridges::queue_spec classic;
  classic.name = name;
  classic.dead_letter_queue = false;
  existing.queues.push_back(classic);
  REQUIRE_FALSE(broker.client().declare(existing));
  auto cfg = test::node_config(dir);
  cfg["topology"] = json::object{
    {"queues", json::array{json::object{{"name", name}, {"type", "quorum"}}}}};
  cfg["actors"] = json::array{json::object{{"name", name}, {"kind", "log"}}};
  test::node_process node{dir, cfg, {}, test::node_process::until::started};
  CHECK(node.wait_for_exit(20s) != 0);
  CHECK_THAT(node.err(), Catch::Contains("406 PRECONDITION_FAILED"));
  CHECK_THAT(node.err(), Catch::Contains(name));
}
