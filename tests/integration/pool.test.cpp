// Worker pools (kind worker_pool) on a real broker: scaling by load up and
// back down, several nodes sharing one pool, priorities from the queue, and
// the check that refuses a pool of a stateful kind.

#include "support.hpp"

#include <arpa/inet.h>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A worker_pool of test.faulty workers that record to `records`.
json::object pool_actor(const std::string& name, const std::string& records,
                        json::object options) {
  options["worker"] = json::object{{"path", records}};
  return {{"name", name},
          {"kind", "worker_pool"},
          {"handler", "test.faulty"},
          {"prefetch", 1},
          {"options", options}};
}

// A "slow" message for test.faulty: `ms` of work, then a record line.
void publish_slow(test::broker_scratch& broker, const std::string& queue,
                  const std::string& id, int ms, const std::string& started,
                  std::optional<uint8_t> priority = std::nullopt) {
  outgoing_message msg;
  msg.routing_key = queue;
  msg.properties.message_id = id;
  msg.properties.type = "slow";
  msg.properties.delivery_mode = 2;
  msg.properties.priority = priority;
  msg.body = json::serialize(json::object{{"started", started}, {"ms", ms}});
  broker.publish(msg);
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

// GET /metrics of a node (HTTP/1.0: the server closes after the answer).
std::string scrape(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string text;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
    if (::send(fd, request.data(), request.size(), 0) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
        text.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return text;
}

// The value of the sample `name` whose labels include `label`, if any.
std::optional<double> sample_of(const std::string& scraped,
                                const std::string& name,
                                const std::string& label) {
  std::istringstream lines{scraped};
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + "{", 0) == 0 && line.find(label) != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return std::nullopt;
}

} // namespace

TEST_CASE("a worker pool grows under a burst, handles every message once, "
          "and shrinks back to min_workers when idle",
          "[broker][pool]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("pool");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  cfg["actors"] = json::array{pool_actor(name, records,
                                         {{"min_workers", 2},
                                          {"max_workers", 5},
                                          {"scale_up_depth_per_worker", 1},
                                          {"scale_up_after_ms", 300},
                                          {"cooldown_ms", 300},
                                          {"scale_down_idle_ms", 1500},
                                          {"check_interval_ms", 100}})};
  test::node_process node{dir, cfg};
  REQUIRE(test::eventually([&] { return broker.consumers(name) == 2; }, 10s));
  constexpr int burst = 60;
  for (int i = 0; i < burst; ++i)
    publish_slow(broker, name, "job-" + std::to_string(i), 100,
                 dir.file("started"));
  // Under the backlog the pool adds workers (each a consumer of the queue).
  uint32_t most = 0;
  test::eventually(
    [&] {
      most = std::max(most, broker.consumers(name));
      return most > 2;
    },
    20s);
  INFO("node stderr: " << node.err());
  CHECK(most > 2);
  CHECK(most <= 5);
  auto lines = test::wait_for_records(records, burst, 60s);
  std::set<std::string> ids;
  for (const auto& l : lines)
    ids.insert(l.message_id);
  CHECK(ids.size() == static_cast<std::size_t>(burst));
  CHECK(lines.size() == static_cast<std::size_t>(burst)); // none twice
  // Idle again: back to min_workers, each removed worker drained.
  CHECK(test::eventually([&] { return broker.consumers(name) == 2; }, 30s));
  // A worker's consumer is gone from the broker as its drain begins; its
  // "drained and ended" comes once it has settled and closed: wait for the
  // last one too, not only the first.
  CHECK(test::eventually(
    [&] {
      auto log = node.err();
      return log.find("to 2 worker(s)") != std::string::npos &&
             count_of(log, "drained and ended") > 0 &&
             count_of(log, "pool: scaling down") ==
               count_of(log, "drained and ended");
    },
    10s));
  auto log = node.err();
  CHECK(log.find("pool: scaling up from 2 to 3 worker(s)") !=
        std::string::npos);
  CHECK(count_of(log, "pool: scaling down") ==
        count_of(log, "drained and ended"));
  CHECK(broker.count(name) == 0);
  CHECK(broker.count(name + ".dlq") == 0);
  CHECK(test::read_records(records).size() == static_cast<std::size_t>(burst));
  // The metrics say the same: back at 2 workers, after decisions both ways.
  auto metrics = scrape(node.metrics_port());
  auto actor = "actor=\"" + name + "\"";
  INFO(metrics);
  CHECK(sample_of(metrics, "warren_pool_workers", actor) == 2.0);
  CHECK(sample_of(metrics, "warren_pool_scale_total", "direction=\"up\"") >=
        1.0);
  CHECK(sample_of(metrics, "warren_pool_scale_total", "direction=\"down\"") >=
        1.0);
  CHECK(sample_of(metrics, "warren_pool_scale_total", "direction=\"up\"") ==
        sample_of(metrics, "warren_pool_scale_total", "direction=\"down\""));
}

TEST_CASE("three nodes running the same pool share its queue: every message "
          "is handled exactly once",
          "[broker][pool]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("shared");
  std::vector<std::string> files;
  std::vector<std::unique_ptr<test::node_process>> nodes;
  for (int n = 0; n < 3; ++n) {
    files.push_back(dir.file("node" + std::to_string(n) + ".jsonl"));
    auto cfg = test::node_config(dir);
    cfg["actors"] = json::array{
      json::object{{"name", name},
                   {"kind", "worker_pool"},
                   {"handler", "record"},
                   {"prefetch", 1},
                   {"options", json::object{{"min_workers", 1},
                                            {"max_workers", 3},
                                            {"scale_up_after_ms", 200},
                                            {"cooldown_ms", 200},
                                            {"scale_down_idle_ms", 1000},
                                            {"check_interval_ms", 100},
                                            {"worker", json::object{
                                                         {"path", files.back()},
                                                       }}}}}};
    nodes.push_back(std::make_unique<test::node_process>(dir, cfg));
  }
  REQUIRE(test::eventually([&] { return broker.consumers(name) >= 3; }, 10s));
  constexpr std::size_t total = 600;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < total; ++i)
    ids.push_back("shared-" + std::to_string(i));
  test::publish_bulk("", name, "job", ids);
  std::map<std::string, int> seen;
  std::vector<std::size_t> per_node(3, 0);
  REQUIRE(test::eventually(
    [&] {
      std::size_t sum = 0;
      for (const auto& f : files)
        sum += test::read_records(f).size();
      return sum >= total;
    },
    60s));
  // A little longer: a duplicate would come after the last first copy.
  std::this_thread::sleep_for(1s);
  for (std::size_t n = 0; n < files.size(); ++n) {
    auto lines = test::read_records(files[n]);
    per_node[n] = lines.size();
    for (const auto& l : lines)
      ++seen[l.message_id];
  }
  CHECK(seen.size() == total);
  for (const auto& [id, times] : seen) {
    INFO(id);
    CHECK(times == 1);
  }
  for (std::size_t n = 0; n < per_node.size(); ++n) {
    INFO("node " << n << " handled " << per_node[n]);
    CHECK(per_node[n] > 0);
  }
  CHECK(broker.count(name) == 0);
}

TEST_CASE("with prefetch 1 a high-priority message overtakes the backlog of "
          "a pool's priority queue",
          "[broker][pool]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("prio");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["topology"] = json::object{
    {"queues",
     json::array{json::object{{"name", name}, {"max_priority", 10}}}}};
  // One worker (min = max): the order is the broker's, not a race.
  cfg["actors"] = json::array{
    pool_actor(name, records, {{"min_workers", 1}, {"max_workers", 1}})};
  test::node_process node{dir, cfg};
  constexpr int backlog = 10;
  for (int i = 0; i < backlog; ++i)
    publish_slow(broker, name, "low-" + std::to_string(i), 150,
                 dir.file("started"), 0);
  publish_slow(broker, name, "high", 150, dir.file("started"), 9);
  auto lines = test::wait_for_records(records, backlog + 1, 30s);
  std::size_t position = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i].message_id == "high")
      position = i;
  INFO("the high-priority message was handled as number " << position + 1);
  // At most the delivery in hand and the one prefetched before it arrived
  // go first; without priorities it would be last (number 11).
  CHECK(position <= 2);
}

TEST_CASE("warren check refuses a worker pool of a stateful kind and a pool "
          "with instances, naming the JSON path",
          "[pool][config]") {
  test::temp_dir dir;
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{json::object{{"name", "counts"},
                             {"kind", "worker_pool"},
                             {"handler", "test.counter"},
                             {"options", json::object{{"min_workers", 2}}}}};
  auto file = dir.file("pool.json");
  test::write_file(file, json::serialize(cfg));
  auto res = test::warren({"check", file});
  INFO("stdout: " << res.out << "\nstderr: " << res.err);
  CHECK(res.exit_code == 3);
  CHECK(res.err.find(file + ": $.actors[0].handler: the stateful kind "
                            "'test.counter' cannot be pooled") !=
        std::string::npos);
  cfg["actors"].as_array()[0].as_object()["handler"] = "echo";
  cfg["actors"].as_array()[0].as_object()["instances"] = 2;
  test::write_file(file, json::serialize(cfg));
  res = test::warren({"check", file});
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 3);
  CHECK(res.err.find(file + ": $.actors[0].instances: a worker pool sizes "
                            "itself") != std::string::npos);
}
