// Broker flow control (issue 9, item 9), against the private broker: while a
// memory alarm blocks publishing, the node publishes nothing and does not
// spin, and a node asked to stop exits within its shutdown timeout, leaving
// its unacked work in the broker. The alarm blocks the whole broker: tests
// running beside this one wait meanwhile.

#include "support.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// Raises the broker's memory alarm; clears it however the test ends.
class memory_alarm {
 public:
  memory_alarm() { REQUIRE(test::broker_script("memory-alarm", {"on"}) == 0); }
  ~memory_alarm() { clear(); }
  void clear() {
    if (raised_)
      test::broker_script("memory-alarm", {"off"});
    raised_ = false;
  }

 private:
  bool raised_ = true;
};

// CPU seconds (user and system) process `pid` has used so far.
double cpu_seconds(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  // Fields after the command name (in parentheses, which may hold spaces).
  std::istringstream fields{text.substr(text.rfind(')') + 2)};
  std::string field;
  unsigned long utime = 0;
  unsigned long stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14)
      utime = std::stoul(field);
    if (i == 15) {
      stime = std::stoul(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

} // namespace

TEST_CASE("while the broker blocks publishing the node publishes nothing and "
          "does not spin, and a stop exits within the shutdown timeout with "
          "its unacked work left in the broker",
          "[broker][flow]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("blocked");
  auto sink = broker.queue("blocked-sink");
  auto records = dir.file("records.jsonl");
  // The work is in the queue before the alarm (publishing stops with it).
  bridges::topology topo;
  bridges::queue_spec q;
  q.name = name;
  topo.queues.push_back(q);
  REQUIRE_FALSE(broker.client().declare(topo));
  constexpr int n = 30;
  for (int i = 0; i < n; ++i)
    broker.publish_to_queue(name, R"({"n":)" + std::to_string(i) + "}");
  memory_alarm alarm;
  auto cfg = test::node_config(dir);
  cfg["shutdown"] = json::object{{"timeout_ms", 3000}};
  cfg["actors"] =
    json::array{json::object{{"name", name},
                             {"kind", "subscriber"},
                             {"handler", "test.forwarder"},
                             {"prefetch", 10},
                             {"options", json::object{{"send_to", sink}}}},
                test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  std::this_thread::sleep_for(1s);
  auto cpu_before = cpu_seconds(node.pid());
  std::this_thread::sleep_for(2s);
  auto cpu_used = cpu_seconds(node.pid()) - cpu_before;
  INFO(node.err());
  CHECK_THAT(node.err(), Catch::Contains("blocked the connection"));
  // Waiting, not spinning: well under a tenth of a core.
  CHECK(cpu_used < 0.2);
  CHECK(test::read_records(records).empty());
  auto asked = std::chrono::steady_clock::now();
  CHECK(node.stop() == 0); // stopped, not cut short by the watchdog
  auto took = std::chrono::steady_clock::now() - asked;
  CHECK(took < 3000ms + 1000ms);
  alarm.clear();
  // Nothing was acked, nothing lost: all of it is back in the queue.
  CHECK(broker.wait_for_count(name, n, 20s) == static_cast<uint32_t>(n));
}
