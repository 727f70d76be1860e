// A node's life: messages wait in the broker while it is down, and several
// instances of one actor share its queue.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::vector<std::string> numbered_ids(const std::string& prefix,
                                      std::size_t n) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i)
    ids.push_back(prefix + "-" + std::to_string(i));
  return ids;
}

} // namespace

TEST_CASE("messages sent while the node is down are handled when it starts "
          "again",
          "[broker][lifecycle]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("later");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(actor, records)};
  {
    // The first run declares the queue and its binding, then stops.
    test::node_process first{dir, cfg};
    CHECK(first.stop() == 0);
  }
  auto ids = numbered_ids(test::unique_name("later"), 200);
  test::publish_bulk(bridges::actors_exchange, actor, "later", ids);
  CHECK(broker.count(actor) == 200);
  test::node_process second{dir, cfg};
  auto lines = test::wait_for_records(records, 200);
  std::set<std::string> seen;
  for (const auto& line : lines)
    seen.insert(line.message_id);
  CHECK(seen == std::set<std::string>(ids.begin(), ids.end()));
  CHECK(second.stop() == 0);
  CHECK(broker.count(actor) == 0);
}

TEST_CASE("three instances of one actor share its queue and handle each "
          "message once",
          "[broker][lifecycle]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto actor = broker.queue("shared");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::record_actor(actor, records, 3)};
  test::node_process node{dir, cfg};
  auto ids = numbered_ids(test::unique_name("shared"), 1000);
  test::publish_bulk(bridges::actors_exchange, actor, "shared", ids);
  auto lines = test::wait_for_records(records, 1000);
  CHECK(node.stop() == 0);
  lines = test::read_records(records);
  std::set<std::string> seen;
  for (const auto& line : lines)
    seen.insert(line.message_id);
  CHECK(lines.size() == 1000);
  CHECK(seen == std::set<std::string>(ids.begin(), ids.end()));
  CHECK(broker.count(actor) == 0);
  CHECK(broker.count(actor + ".dlq") == 0);
}
