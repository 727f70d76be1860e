// The retry policy end to end: immediate retries, the retry ladder, the
// dead-letter queue after the last attempt, and no retries for permanent
// failures.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/runtime/dispatch/retry_policy.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object failing_actor(const std::string& name, const std::string& path,
                           json::object retry) {
  return {{"name", name},
          {"kind", "subscriber"},
          {"handler", "test.faulty"},
          {"retry", std::move(retry)},
          {"options", json::object{{"path", path}}}};
}

} // namespace

TEST_CASE("a handler that always fails gets the configured attempts, with the "
          "ladder's delays, then the message is dead-lettered with the reason",
          "[broker][retry]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("retried");
  for (uint32_t step = 1; step <= 2; ++step)
    broker.track_queue(runtime::retry_queue_name(name, step));
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  // 1 + 1 immediate + 2 delayed = 4 attempts.
  cfg["actors"] = json::array{failing_actor(
    name, records, {{"immediate", 1}, {"delays_ms", json::array{400, 800}}})};
  test::node_process node{dir, cfg};
  auto sent_at = std::chrono::steady_clock::now();
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "always-fails", R"({"n": 1})"})
            .exit_code == 0);
  // While the failing message waits on the ladder, others keep flowing.
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "ok", R"({"n": 2})"})
            .exit_code == 0);
  auto dlq = warren::dead_letter_queue_name(name);
  auto letters = broker.wait_and_receive(dlq, 1, 20s);
  auto elapsed = std::chrono::steady_clock::now() - sent_at;
  REQUIRE(letters.size() == 1);
  const auto& letter = letters.front();
  CHECK(test::header_string(letter, warren::header::error_code) ==
        "handler_failed");
  CHECK(
    test::header_string(letter, warren::header::error).find("always-fails") !=
    std::string::npos);
  auto* attempts =
    warren::find_field(letter.properties.headers, warren::header::attempts);
  REQUIRE(attempts != nullptr);
  CHECK(std::get<int64_t>(*attempts) == 4);
  CHECK(test::header_string(letter, warren::header::original_exchange) ==
        bridges::actors_exchange);
  CHECK(test::header_string(letter, warren::header::original_routing_key) ==
        name);
  // Both ladder delays were waited out.
  CHECK(elapsed >= 1200ms);
  // Each attempt ran once, numbered 1 to 4; the good message was handled
  // while the failing one was parked.
  auto lines = test::read_records(records);
  std::vector<int64_t> seen;
  bool ok_seen = false;
  for (const auto& line : lines) {
    if (line.type == "always-fails")
      seen.push_back(line.body.at("attempt").as_int64());
    if (line.type == "ok")
      ok_seen = true;
  }
  CHECK(seen == std::vector<int64_t>{1, 2, 3, 4});
  CHECK(ok_seen);
  CHECK(lines.front().type == "always-fails");
  CHECK(lines.back().type == "always-fails"); // the ok one came in between
  CHECK(node.stop() == 0);
}

TEST_CASE("a permanent failure skips the retries and is dead-lettered on its "
          "first attempt",
          "[broker][retry]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("permanent");
  broker.track_queue(runtime::retry_queue_name(name, 1));
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    json::object{{"name", name},
                 {"kind", "subscriber"},
                 {"handler", "test.strict"},
                 {"retry", json::object{{"immediate", 3},
                                        {"delays_ms", json::array{500}}}}}};
  test::node_process node{dir, cfg};
  // test.strict takes {"a": int}; a string is a validation failure.
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "strict", R"({"a": "not a number"})"})
            .exit_code == 0);
  auto letters =
    broker.wait_and_receive(warren::dead_letter_queue_name(name), 1, 10s);
  REQUIRE(letters.size() == 1);
  CHECK(test::header_string(letters.front(), warren::header::error_code) ==
        "validation_failed");
  auto* attempts = warren::find_field(letters.front().properties.headers,
                                      warren::header::attempts);
  REQUIRE(attempts != nullptr);
  CHECK(std::get<int64_t>(*attempts) == 1);
  CHECK(node.err().find("retrying") == std::string::npos);
  CHECK(node.stop() == 0);
}
