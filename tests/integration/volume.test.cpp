// Many persistent messages through one subscriber: each handled exactly
// once, all acked, none dead-lettered.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

TEST_CASE("10,000 persistent messages through a subscriber are each handled "
          "exactly once and all acked",
          "[broker][volume]") {
  constexpr std::size_t total = 10000;
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("bulk");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(actor, records)};
  test::node_process node{dir, cfg};

  std::vector<std::string> ids;
  ids.reserve(total);
  auto prefix = test::unique_name("bulk");
  for (std::size_t i = 0; i < total; ++i)
    ids.push_back(prefix + "-" + std::to_string(i));
  auto start = std::chrono::steady_clock::now();
  test::publish_bulk(bridges::actors_exchange, actor, "bulk.item", ids);
  auto published = std::chrono::steady_clock::now();
  auto lines = test::wait_for_records(records, total, 120s);
  auto handled = std::chrono::steady_clock::now();
  using ms = std::chrono::milliseconds;
  std::cerr << "volume: published " << total << " in "
            << std::chrono::duration_cast<ms>(published - start).count()
            << " ms, all handled after "
            << std::chrono::duration_cast<ms>(handled - start).count()
            << " ms\n";

  // Stop first: deliveries still unacked go back to the queue on close, so
  // an empty queue afterwards means every message was acked.
  CHECK(node.stop() == 0);
  lines = test::read_records(records);
  std::map<std::string, int> seen;
  std::size_t redelivered = 0;
  for (const auto& line : lines) {
    ++seen[line.message_id];
    if (line.redelivered)
      ++redelivered;
  }
  std::vector<std::string> duplicates;
  for (const auto& [id, n] : seen)
    if (n > 1)
      duplicates.push_back(id + " x" + std::to_string(n));
  std::vector<std::string> missing;
  for (const auto& id : ids)
    if (seen.count(id) == 0)
      missing.push_back(id);
  INFO("duplicates: " << duplicates.size() << ", first: "
                      << (duplicates.empty() ? "-" : duplicates.front()));
  INFO("missing: " << missing.size()
                   << ", first: " << (missing.empty() ? "-" : missing.front()));
  CHECK(lines.size() == total);
  CHECK(seen.size() == total);
  CHECK(duplicates.empty());
  CHECK(missing.empty());
  CHECK(redelivered == 0);
  CHECK(broker.count(actor) == 0);
  CHECK(broker.count(actor + ".dlq") == 0);
}

TEST_CASE("10,000 malformed messages mixed with 10,000 good ones: every "
          "malformed one is dead-lettered on its first attempt with a reason, "
          "every good one is handled, and the node keeps running",
          "[broker][volume][retry]") {
  constexpr std::size_t total = 20000; // even: good, odd: malformed
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("mixed");
  broker.track_queue(actor + ".retry.1");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  auto spec = test::record_actor(actor, records);
  // Retries are configured, and malformed bodies must skip them.
  spec["retry"] =
    json::object{{"immediate", 2}, {"delays_ms", json::array{1000}}};
  cfg["actors"] = json::array{spec};
  test::node_process node{dir, cfg};

  auto prefix = test::unique_name("mixed");
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < total; ++i)
    ids.push_back(prefix + "-" + std::to_string(i));
  test::publish_bulk(bridges::actors_exchange, actor, "mixed.item", ids, 100,
                     [](std::size_t i) {
                       return i % 2 == 0 ? "{\"seq\":" + std::to_string(i) + "}"
                                         : "{not json " + std::to_string(i);
                     });
  auto dlq = warren::dead_letter_queue_name(actor);
  test::wait_for_records(records, total / 2, 120s);
  REQUIRE(broker.wait_for_count(dlq, total / 2, 120s) == total / 2);
  CHECK(node.stop() == 0); // still running, and stops cleanly

  std::set<std::string> handled;
  for (const auto& line : test::read_records(records))
    CHECK(handled.insert(line.message_id).second); // no duplicates
  std::set<std::string> good, bad;
  for (std::size_t i = 0; i < total; ++i)
    (i % 2 == 0 ? good : bad).insert(ids[i]);
  CHECK(handled == good);

  auto letters = broker.receive(dlq, total);
  std::set<std::string> dead;
  std::size_t wrong = 0;
  for (const auto& env : letters) {
    dead.insert(env.properties.message_id);
    auto* attempts =
      warren::find_field(env.properties.headers, warren::header::attempts);
    if (test::header_string(env, warren::header::error_code) !=
          "malformed_body" ||
        test::header_string(env, warren::header::error).empty() ||
        attempts == nullptr || std::get<int64_t>(*attempts) != 1)
      ++wrong;
  }
  CHECK(dead == bad);
  CHECK(wrong == 0);
  CHECK(broker.count(actor) == 0);
  CHECK(broker.count(actor + ".retry.1") == 0);
}
