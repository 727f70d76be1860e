// Input from any client, against the private broker and real SQLite files:
// ids that are not UTF-8, numbers JSON cannot carry, and a node killed while
// such a message is in its outbox and state.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/dead_letter.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

TEST_CASE("a node killed with kill -9 while ids that are not UTF-8 are in its "
          "outbox and state starts again without help, and nothing is "
          "applied twice",
          "[broker][odd_input][kill]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("bytes");
  auto totals = broker.queue("bytes-totals");
  auto cfg = test::node_config(dir);
  cfg["actors"] =
    json::array{test::counter_actor(name, totals), test::counter_actor(totals)};
  constexpr int n = 20;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i)
    ids.push_back(test::unique_name("id") + "\xff\xfe\xc0\xaf" +
                  std::to_string(i));
  {
    // Killed once the first batch is committed: its outbox rows (their ids
    // derived from these) and states are in the file, unpublished.
    test::node_process doomed{dir, cfg, {"WARREN_KILL_POINT=after_commit:1"}};
    test::publish_bulk(bridges::actors_exchange, name, "increment", ids, n,
                       [](std::size_t) { return R"({"counter":"c","by":1})"; });
    REQUIRE(doomed.wait_for_exit(30s) == -1);
  }
  test::node_process clean{dir, cfg};
  CHECK(test::eventually(
    [&] {
      return broker.count(name) == 0 && test::get_count(totals, "c") >= n;
    },
    20s));
  CHECK(test::get_count(name, "c") == n);
  CHECK(test::get_count(totals, "c") == n);
  auto show = test::warren(
    {"state", "show", "--db", dir.file("state") + "/warren.db", name});
  CHECK(show.exit_code == 0);
}

TEST_CASE("a body number out of a double's range is dead-lettered at "
          "admission with its path, and the node goes on",
          "[broker][odd_input]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("huge-number");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  test::node_process node{dir, cfg};
  // `warren send` refuses it unless told to send it as it is.
  auto refused =
    test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                  "increment", R"({"counter":"c","by":1e400})"});
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.err, Catch::Contains("$.by"));
  REQUIRE(
    test::warren({"send", "-u", test::broker_uri(), "--actor", name, "--raw",
                  "-t", "increment", R"({"counter":"c","by":1e400})"})
      .exit_code == 0);
  auto dead = broker.wait_and_receive(dead_letter_queue_name(name), 1);
  CHECK(test::header_string(dead[0], header::error_code) == "malformed_body");
  CHECK_THAT(test::header_string(dead[0], header::error),
             Catch::Contains("$.by"));
  CHECK(test::get_count(name, "c") == 0);
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr long asan_overhead_mib = 128;
#else
constexpr long asan_overhead_mib = 0;
#endif

// The peak resident memory of process `pid` so far, in KiB (VmHWM).
long peak_rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

} // namespace

TEST_CASE("bodies over limits.max_body_bytes are never held in memory: they "
          "reach the .dlq intact, unread, and the node's peak memory stays "
          "under its bound",
          "[broker][odd_input]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("huge");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["limits"] = json::object{{"max_body_bytes", 1024 * 1024}};
  auto actor = test::record_actor(name, records);
  actor["prefetch"] = 10;
  cfg["actors"] = json::array{actor};
  test::node_process node{dir, cfg};
  constexpr std::size_t huge = 32 * 1024 * 1024;
  constexpr int n = 6;
  std::vector<std::string> ids;
  for (int i = 0; i < 2 * n; ++i)
    ids.push_back(test::unique_name("size"));
  // Every other message is huge (a JSON string of 32 MiB).
  test::publish_bulk(bridges::actors_exchange, name, "note", ids, 4,
                     [&](std::size_t i) {
                       return i % 2 == 0 ? "\"" + std::string(huge, 'x') + "\""
                                         : R"({"small":true})";
                     });
  CHECK(test::wait_for_records(records, n).size() == n);
  auto dead = broker.wait_and_receive(dead_letter_queue_name(name), n, 30s);
  for (const auto& msg : dead) {
    CHECK(msg.raw_body.size() == huge + 2); // intact
    CHECK(test::header_string(msg, "x-first-death-reason") == "rejected");
  }
  // The bound: what the process needs anyway plus prefetch × max body
  // (10 MiB); a held 32 MiB body (and its copy) would be far above it.
  // AddressSanitizer (WARREN_SANITIZE) adds about 130 MiB to an idle node.
  auto peak = peak_rss_kib(node.pid());
  INFO("peak RSS " << peak << " KiB");
  CHECK(peak > 0);
  CHECK(peak < (64 + asan_overhead_mib) * 1024);
  CHECK_THAT(node.err(), Catch::Contains("exceeds the limit"));
}
