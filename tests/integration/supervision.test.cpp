// Supervision through a running node: actor instances that end are restarted
// as fresh objects by the supervisor the config puts them under, strategies
// act on the tree from the config, and a root that gives up stops the node
// with exit code 7, leaving what it did not ack in the broker.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/metrics/http_get.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <sstream>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object crashy_actor(const std::string& name, const std::string& path,
                          json::object extra = {}) {
  json::object actor{{"name", name},
                     {"kind", "test.crashy"},
                     {"options", json::object{{"path", path}}}};
  for (auto& [key, value] : extra)
    actor[key] = value;
  return actor;
}

// Calls `count` on a crashy actor: {"count": n, "incarnation": k}.
json::object count(const std::string& actor) {
  auto r = test::warren({"call", "-u", test::broker_uri(), "--timeout", "15000",
                         actor, "-t", "count", "{}"});
  INFO("warren call " << actor << ": " << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

void send(const std::string& actor, const std::string& type,
          const std::string& body = "{}") {
  auto r = test::warren(
    {"send", "-u", test::broker_uri(), "--actor", actor, "-t", type, body});
  INFO("warren send: " << r.err);
  REQUIRE(r.exit_code == 0);
}

int64_t field(const json::object& obj, const char* key) {
  return obj.at(key).as_int64();
}

} // namespace

TEST_CASE("an actor instance that throws actor_failure is restarted as a new "
          "object, and the message that ended it is retried by the new one",
          "[broker][supervision]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("crashy");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    crashy_actor(name, records, {{"retry", json::object{{"immediate", 1}}}})};
  test::node_process node{dir, cfg};
  CHECK(field(count(name), "count") == 1);
  auto before = count(name);
  CHECK(field(before, "count") == 2);
  CHECK(field(before, "incarnation") == 1);
  send(name, "crash-once");
  // Attempt 2 ran on the restarted instance.
  auto lines = test::wait_for_records(records, 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].type == "crash-once");
  CHECK(lines[0].body.at("attempt").as_int64() == 2);
  CHECK(lines[0].body.at("incarnation").as_int64() == 2);
  // The state in memory started over with the new object.
  auto after = count(name);
  CHECK(field(after, "count") == 1);
  CHECK(field(after, "incarnation") == 2);
  CHECK(node.err().find("exited (abnormal") != std::string::npos);
  CHECK(broker.count(warren::dead_letter_queue_name(name)) == 0);
}

TEST_CASE("the deliveries a failed instance had not handled go back to the "
          "broker and are each handled once by the restarted instance",
          "[broker][supervision]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("crashy-flow");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{crashy_actor(
    name, records,
    {{"prefetch", 50}, {"retry", json::object{{"immediate", 1}}}})};
  test::node_process node{dir, cfg};
  // 200 notes with a crash in the middle, published in one go so that many
  // are in the instance's prefetch window when it ends.
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i)
    ids.push_back(test::unique_name("note"));
  std::vector<std::string> first(ids.begin(), ids.begin() + 100);
  std::vector<std::string> second(ids.begin() + 100, ids.end());
  test::publish_bulk(bridges::actors_exchange, name, "note", first);
  test::publish_bulk(bridges::actors_exchange, name, "crash-once",
                     {test::unique_name("crash")});
  test::publish_bulk(bridges::actors_exchange, name, "note", second);
  auto lines = test::wait_for_records(records, 201, 30s);
  std::map<std::string, int> seen;
  for (const auto& line : lines)
    ++seen[line.message_id];
  for (const auto& id : ids) {
    INFO("note " << id);
    CHECK(seen[id] == 1);
  }
  CHECK(lines.size() == 201);
  CHECK(count(name).at("incarnation").as_int64() == 2);
}

TEST_CASE("when the root supervisor's restart intensity is exceeded the node "
          "stops consuming and exits with code 7, leaving messages in the "
          "broker",
          "[broker][supervision]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("crashy-fatal");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{crashy_actor(name, dir.file("records.jsonl"))};
  cfg["supervision"] = json::object{{"max_restarts", 1}, {"period_ms", 60000}};
  test::node_process node{dir, cfg};
  send(name, "crash");
  // The first failure is within the intensity: the instance comes back.
  CHECK(field(count(name), "incarnation") == 2);
  send(name, "crash");
  CHECK(node.wait_for_exit(20s) == 7);
  CHECK(node.err().find("more than 1 restart(s) in 60000 ms") !=
        std::string::npos);
  // Both crashing messages were dead-lettered (no retries configured) with
  // the reason; nothing consumes the queue any more.
  auto letters =
    broker.wait_and_receive(warren::dead_letter_queue_name(name), 2);
  for (const auto& letter : letters)
    CHECK(test::header_string(letter, warren::header::error_code) ==
          "actor_failed");
  CHECK(broker.consumers(name) == 0);
  for (int i = 0; i < 3; ++i)
    send(name, "note");
  CHECK(broker.count(name) == 3);
}

TEST_CASE("a nested rest_for_one supervisor from the config restarts the "
          "actors started after the failed one, and no other",
          "[broker][supervision]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto a = broker.queue("chain-a");
  auto b = broker.queue("chain-b");
  auto c = broker.queue("outside");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{crashy_actor(a, records), crashy_actor(b, records),
                crashy_actor(c, records)};
  cfg["supervision"] = json::object{
    {"children", json::array{json::object{
                   {"supervisor", "chain"},
                   {"strategy", "rest_for_one"},
                   {"children", json::array{json::object{{"actor", a}},
                                            json::object{{"actor", b}}}}}}}};
  test::node_process node{dir, cfg};
  for (const auto& actor : {a, b, c})
    CHECK(field(count(actor), "incarnation") == 1);
  send(a, "crash");
  CHECK(field(count(a), "incarnation") == 2);
  CHECK(field(count(b), "incarnation") == 2);
  // `c` kept its instance and its state.
  auto outside = count(c);
  CHECK(field(outside, "incarnation") == 1);
  CHECK(field(outside, "count") == 2);
}

TEST_CASE("an actor that stops itself normally is restarted when permanent "
          "and not when transient",
          "[broker][supervision]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto permanent = broker.queue("stop-permanent");
  auto transient = broker.queue("stop-transient");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{crashy_actor(permanent, records),
                              crashy_actor(transient, records)};
  cfg["supervision"] = json::object{
    {"children", json::array{json::object{{"actor", permanent}},
                             json::object{{"actor", transient},
                                          {"restart", "transient"}}}}};
  test::node_process node{dir, cfg};
  send(permanent, "stop");
  send(transient, "stop");
  CHECK(field(count(permanent), "incarnation") == 2);
  // Nobody consumes the transient actor's queue any more.
  CHECK(
    test::eventually([&] { return broker.consumers(transient) == 0; }, 10s));
  send(transient, "note");
  CHECK(broker.count(transient) == 1);
  CHECK(broker.consumers(permanent) == 1);
  CHECK(node.err().find("'" + transient + "' exited (normal)") !=
        std::string::npos);
}

TEST_CASE("a raw CAF actor that dies is restarted with its consumer, and the "
          "message it held comes back redelivered",
          "[broker][supervision]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("raw");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{json::object{{"name", name},
                             {"kind", "test.raw"},
                             {"options", json::object{{"path", records}}}}};
  test::node_process node{dir, cfg};
  send(name, "before", R"({"n": 1})");
  test::wait_for_records(records, 1);
  send(name, "die", R"({"n": 2})");
  send(name, "after", R"({"n": 3})");
  auto lines = test::wait_for_records(records, 3);
  REQUIRE(lines.size() == 3);
  std::map<std::string, bool> redelivered;
  for (const auto& line : lines)
    redelivered[line.type] = line.redelivered;
  REQUIRE(redelivered.count("die") == 1);
  CHECK(redelivered["die"]);
  CHECK(redelivered.count("after") == 1);
  CHECK(node.err().find("exited (abnormal") != std::string::npos);
}

namespace {

// The value of the sample `series` (name and labels as the node prints
// them) in a scrape of /metrics, or -1.
double sample_of(uint16_t port, const std::string& series) {
  auto text = warren::metrics::http_get({"127.0.0.1", port, "/metrics"});
  REQUIRE(text);
  std::istringstream lines{*text};
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

} // namespace

TEST_CASE("an actor's counters go on counting across its restart, and the "
          "supervisor counts the restart",
          "[broker][supervision][metrics]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("crashy-metrics");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  cfg["actors"] = json::array{
    crashy_actor(name, records, {{"retry", json::object{{"immediate", 1}}}})};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();
  auto node_label = std::string{cfg["node"].as_string()};
  auto of = [&](const std::string& metric) {
    return metric + "{actor=\"" + name + "\",node=\"" + node_label + "\"}";
  };
  auto restarts = "warren_supervisor_restarts_total{node=\"" + node_label +
                  "\",supervisor=\"root\"}";
  count(name);
  count(name);
  CHECK(sample_of(port, of("warren_messages_handled_total")) == 2);
  CHECK(sample_of(port, restarts) == 0);
  send(name, "crash-once");
  test::wait_for_records(records, 1);
  count(name);
  // One object gone, the counts go on: 2 counts, the crash (failed and
  // parked on the actor's queue for the new instance, then received again
  // and handled by it), 1 more count.
  CHECK(sample_of(port, of("warren_messages_received_total")) == 5);
  CHECK(sample_of(port, of("warren_messages_handled_total")) == 4);
  CHECK(sample_of(port, of("warren_messages_retried_total")) == 1);
  CHECK(sample_of(port, restarts) == 1);
  CHECK(sample_of(port, "warren_supervisor_children_alive{node=\"" +
                          node_label + "\",supervisor=\"root\"}") == 1);
}
