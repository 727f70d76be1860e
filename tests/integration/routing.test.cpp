// Exchanges declared from the node config route as RabbitMQ promises:
// fanout to every bound queue, topic by pattern, headers by x-match.

#include "support.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object exchange_decl(const std::string& name, const char* type) {
  return {{"name", name}, {"type", type}};
}

json::object queue(const std::string& name) {
  return {{"name", name}};
}

json::object binding(const std::string& exchange, const std::string& queue,
                     const std::string& routing_key = {}) {
  return {
    {"exchange", exchange}, {"queue", queue}, {"routing_key", routing_key}};
}

// `warren send --exchange` with extra arguments; returns the exit code.
test::command_result publish(const std::string& exchange,
                             const std::vector<std::string>& extra,
                             const std::string& body) {
  std::vector<std::string> args{"send", "-u", test::broker_uri(), "-e",
                                exchange};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(body);
  return test::warren(args);
}

} // namespace

TEST_CASE("a fanout exchange delivers one message to all three bound "
          "subscribers",
          "[broker][routing]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto fanout = broker.exchange("fanout");
  std::vector<std::string> names;
  json::array actors;
  json::array bindings;
  for (int i = 0; i < 3; ++i) {
    names.push_back(broker.queue("sub" + std::to_string(i)));
    actors.push_back(
      test::record_actor(names.back(), dir.file(names.back() + ".jsonl")));
    bindings.push_back(binding(fanout, names.back()));
  }
  auto cfg = test::node_config(dir);
  cfg["topology"] =
    json::object{{"exchanges", json::array{exchange_decl(fanout, "fanout")}},
                 {"bindings", bindings}};
  cfg["actors"] = actors;
  test::node_process node{dir, cfg};
  auto res = publish(fanout, {"-t", "news", "--message-id", "fan-1"},
                     R"({"headline":"everyone gets this"})");
  INFO("stderr: " << res.err);
  REQUIRE(res.exit_code == 0);
  for (const auto& name : names) {
    INFO("subscriber " << name);
    auto lines = test::wait_for_records(dir.file(name + ".jsonl"), 1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].message_id == "fan-1");
    CHECK(lines[0].type == "news");
    CHECK(lines[0].body == json::parse(R"({"headline":"everyone gets this"})"));
  }
}

TEST_CASE("a topic exchange routes by pattern and a message no pattern "
          "matches is returned as unroutable",
          "[broker][routing]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto topic = broker.exchange("topic");
  auto eu = broker.queue("eu");      // orders.*.eu
  auto all = broker.queue("orders"); // orders.#
  auto cfg = test::node_config(dir);
  cfg["topology"] =
    json::object{{"exchanges", json::array{exchange_decl(topic, "topic")}},
                 {"queues", json::array{queue(eu), queue(all)}},
                 {"bindings", json::array{binding(topic, eu, "orders.*.eu"),
                                          binding(topic, all, "orders.#")}}};
  test::node_process node{dir, cfg};

  auto to_both = publish(topic, {"-k", "orders.created.eu"}, R"({"n":1})");
  REQUIRE(to_both.exit_code == 0);
  auto to_all = publish(topic, {"-k", "orders.created.us"}, R"({"n":2})");
  REQUIRE(to_all.exit_code == 0);
  auto deep = publish(topic, {"-k", "orders.created.eu.late"}, R"({"n":3})");
  REQUIRE(deep.exit_code == 0);
  auto nowhere = publish(topic, {"-k", "payments.created.eu"}, R"({"n":4})");
  INFO("stderr: " << nowhere.err);
  CHECK(nowhere.exit_code == 1);
  CHECK(nowhere.err.find("no queue took") != std::string::npos);

  auto eu_got = broker.wait_and_receive(eu, 1);
  CHECK(eu_got[0].raw_body == R"({"n":1})");
  CHECK(eu_got[0].routing_key == "orders.created.eu");
  auto all_got = broker.wait_and_receive(all, 3);
  CHECK(all_got[0].raw_body == R"({"n":1})");
  CHECK(all_got[1].raw_body == R"({"n":2})");
  CHECK(all_got[2].raw_body == R"({"n":3})");
  CHECK(broker.count(eu) == 0);
  CHECK(broker.count(all) == 0);
}

TEST_CASE("a headers exchange routes by x-match all and any",
          "[broker][routing]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto headers = broker.exchange("headers");
  auto all = broker.queue("all");
  auto any = broker.queue("any");
  auto cfg = test::node_config(dir);
  auto match = [](const char* how) {
    return json::object{{"x-match", how}, {"region", "eu"}, {"tier", 1}};
  };
  cfg["topology"] = json::object{
    {"exchanges", json::array{exchange_decl(headers, "headers")}},
    {"queues", json::array{queue(all), queue(any)}},
    {"bindings", json::array{json::object{{"exchange", headers},
                                          {"queue", all},
                                          {"arguments", match("all")}},
                             json::object{{"exchange", headers},
                                          {"queue", any},
                                          {"arguments", match("any")}}}}};
  test::node_process node{dir, cfg};

  // Integer header values stay integers (`-H tier=1`), so they match the
  // integer in the binding.
  REQUIRE(publish(headers, {"-H", "region=eu", "-H", "tier=1"}, R"({"n":1})")
            .exit_code == 0);
  REQUIRE(publish(headers, {"-H", "region=eu", "-H", "tier=2"}, R"({"n":2})")
            .exit_code == 0);
  REQUIRE(publish(headers, {"-H", "region=us", "-H", "tier=1"}, R"({"n":3})")
            .exit_code == 0);
  auto none =
    publish(headers, {"-H", "region=us", "-H", "tier=2"}, R"({"n":4})");
  CHECK(none.exit_code == 1);
  auto no_headers = publish(headers, {}, R"({"n":5})");
  CHECK(no_headers.exit_code == 1);

  auto all_got = broker.wait_and_receive(all, 1);
  CHECK(all_got[0].raw_body == R"({"n":1})");
  auto any_got = broker.wait_and_receive(any, 3);
  CHECK(any_got[0].raw_body == R"({"n":1})");
  CHECK(any_got[1].raw_body == R"({"n":2})");
  CHECK(any_got[2].raw_body == R"({"n":3})");
  CHECK(broker.count(all) == 0);
  CHECK(broker.count(any) == 0);
}
