// Bad input and failing handlers: each message lands in `<queue>.dlq` with
// the reason and warren's headers, and the node keeps serving the next one.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object subscriber(const std::string& name, const std::string& handler,
                        const std::string& record_path) {
  return {{"name", name},
          {"kind", "subscriber"},
          {"handler", handler},
          {"options", json::object{{"path", record_path}}}};
}

test::command_result send(const std::string& actor,
                          std::vector<std::string> extra,
                          const std::string& body) {
  std::vector<std::string> args{"send", "-u", test::broker_uri(), "--actor",
                                actor};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(body);
  return test::warren(args);
}

// Checks the headers every warren dead letter carries.
void check_dead_letter(const warren::envelope& letter, const std::string& actor,
                       const std::string& code,
                       const std::string& reason_part) {
  using namespace bridges;
  INFO("dead letter of " << actor << ": " << letter.raw_body);
  CHECK(test::header_string(letter, header::error_code) == code);
  auto reason = test::header_string(letter, header::error);
  CHECK_FALSE(reason.empty());
  CHECK(reason.find(reason_part) != std::string::npos);
  CHECK(test::header_string(letter, header::actor) == actor);
  CHECK(test::header_string(letter, header::original_exchange) ==
        actors_exchange);
  CHECK(test::header_string(letter, header::original_routing_key) == actor);
}

} // namespace

TEST_CASE("a body that is not JSON is dead-lettered as malformed_body and the "
          "node keeps serving",
          "[broker][dead-letter]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("sink");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{subscriber(actor, "record", records)};
  test::node_process node{dir, cfg};
  const std::string garbage = "{\"unterminated\": [1, 2";
  auto sent = send(actor, {"--raw", "--message-id", "bad-1"}, garbage);
  INFO("stderr: " << sent.err);
  REQUIRE(sent.exit_code == 0);
  auto letters = broker.wait_and_receive(actor + ".dlq", 1);
  check_dead_letter(letters[0], actor, "malformed_body", "JSON");
  CHECK(letters[0].raw_body == garbage); // byte for byte
  CHECK(letters[0].properties.message_id == "bad-1");

  auto good = send(actor, {"--message-id", "good-1"}, R"({"fine":true})");
  REQUIRE(good.exit_code == 0);
  auto lines = test::wait_for_records(records, 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].message_id == "good-1");
  CHECK(lines[0].body == json::parse(R"({"fine":true})"));
  CHECK(node.stop() == 0);
  CHECK(broker.count(actor) == 0);
  CHECK(broker.count(actor + ".dlq") == 0);
}

TEST_CASE("a message type the actor has no handler for is dead-lettered as "
          "unknown_type and the node keeps serving",
          "[broker][dead-letter]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("strict");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{subscriber(actor, "test.strict", records)};
  test::node_process node{dir, cfg};
  auto sent = send(actor, {"-t", "no.such.type"}, R"({"a":1})");
  REQUIRE(sent.exit_code == 0);
  auto letters = broker.wait_and_receive(actor + ".dlq", 1);
  check_dead_letter(letters[0], actor, "unknown_type", "no.such.type");
  CHECK(letters[0].properties.type == "no.such.type");

  auto good = send(actor, {"-t", "strict"}, R"({"a":2})");
  REQUIRE(good.exit_code == 0);
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].type == "strict");
  CHECK(lines[0].body == json::parse(R"({"a":2})"));
}

TEST_CASE("a body that does not fit the handler's message type is "
          "dead-lettered as validation_failed",
          "[broker][dead-letter]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("strict");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{subscriber(actor, "test.strict", records)};
  test::node_process node{dir, cfg};
  REQUIRE(send(actor, {"-t", "strict"}, R"({"a":"one"})").exit_code == 0);
  REQUIRE(send(actor, {"-t", "strict"}, R"([1,2,3])").exit_code == 0);
  auto letters = broker.wait_and_receive(actor + ".dlq", 2);
  for (const auto& letter : letters)
    check_dead_letter(letter, actor, "validation_failed", "");
  REQUIRE(send(actor, {"-t", "strict"}, R"({"a":3})").exit_code == 0);
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].body == json::parse(R"({"a":3})"));
}

TEST_CASE("a throwing handler's message is dead-lettered as handler_failed "
          "with the exception text and the node keeps serving",
          "[broker][dead-letter]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("faulty");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{subscriber(actor, "test.faulty", records)};
  test::node_process node{dir, cfg};
  REQUIRE(send(actor, {"-t", "boom", "--message-id", "boom-1"}, R"({"n":1})")
            .exit_code == 0);
  REQUIRE(send(actor, {"-t", "fail"}, R"({"n":2})").exit_code == 0);
  auto letters = broker.wait_and_receive(actor + ".dlq", 2);
  // One consumer handles them in order, and each is dead-lettered in turn.
  check_dead_letter(letters[0], actor, "handler_failed",
                    "boom requested by the test");
  CHECK(letters[0].properties.message_id == "boom-1");
  check_dead_letter(letters[1], actor, "handler_failed",
                    "failure requested by the test");

  for (int i = 0; i < 3; ++i)
    REQUIRE(send(actor, {"-t", "ok"}, R"({"i":)" + std::to_string(i) + "}")
              .exit_code == 0);
  auto lines = test::wait_for_records(records, 3);
  CHECK(lines.size() == 3);
  CHECK(node.stop() == 0);
  CHECK(broker.count(actor) == 0);
  CHECK(broker.count(actor + ".dlq") == 0);
}

TEST_CASE("an actor's context send to an actor that does not exist "
          "dead-letters the message as unroutable",
          "[broker][dead-letter][context]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("fwd");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{json::object{
    {"name", actor},
    {"kind", "subscriber"},
    {"handler", "test.forwarder"},
    {"options", json::object{{"send_to", test::unique_name("it-nosuch")}}}}};
  test::node_process node{dir, cfg};
  REQUIRE(send(actor, {}, R"({"lost":false})").exit_code == 0);
  auto letters = broker.wait_and_receive(actor + ".dlq", 1);
  check_dead_letter(letters[0], actor, "unroutable", "no queue took");
}

TEST_CASE("an actor's context send reaches the named actor",
          "[broker][context]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto front = broker.queue("fwd");
  auto sink = broker.queue("sink");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{json::object{{"name", front},
                             {"kind", "subscriber"},
                             {"handler", "test.forwarder"},
                             {"options", json::object{{"send_to", sink}}}},
                subscriber(sink, "record", records)};
  test::node_process node{dir, cfg};
  REQUIRE(send(front, {"-t", "relay"}, R"({"hop":1})").exit_code == 0);
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].type == "relay");
  CHECK(lines[0].body == json::parse(R"({"hop":1})"));
  CHECK(broker.count(front + ".dlq") == 0);
}
