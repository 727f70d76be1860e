// Stateful actors end to end: effectively-once counters over a real SQLite
// file and a real broker; duplicates, failures, restarts, and kill -9 at
// every step of the per-message path.
//
// The kill-point matrix runs 2 runs per point by default; set
// WARREN_TEST_FULL=1 for 20 runs per point.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string db_of(const test::temp_dir& dir) {
  return dir.file("state") + "/warren.db";
}

// Publishes increments with ids `<prefix>-<i>` for i in [from, to), to
// counter "c<i % counters>".
void publish_increments(const std::string& actor, const std::string& prefix,
                        int from, int to, int counters) {
  std::vector<std::string> ids;
  for (int i = from; i < to; ++i)
    ids.push_back(prefix + "-" + std::to_string(i));
  test::publish_bulk(
    bridges::actors_exchange, actor, "increment", ids, 50, [&](std::size_t k) {
      auto i = from + static_cast<int>(k);
      return R"({"counter":"c)" + std::to_string(i % counters) + R"(","by":1})";
    });
}

void check_integrity(const std::string& db) {
  runtime::store_settings settings;
  settings.path = db;
  settings.read_only = true;
  auto store = runtime::checkpoint_store::open(settings);
  REQUIRE(store);
  CHECK_FALSE((*store)->integrity_check());
}

} // namespace

TEST_CASE("a stateful actor applies each message once: a duplicate is acked "
          "without being applied, and what it sends reaches downstream once "
          "per message under a stable id",
          "[broker][stateful]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("counter");
  auto sink = broker.queue("counted");
  auto records = dir.file("counted.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name, sink),
                              test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  auto prefix = test::unique_name("inc");
  publish_increments(name, prefix, 0, 100, 5);
  // The same 100 ids again: redeliveries as a broker or a client would make.
  publish_increments(name, prefix, 0, 100, 5);
  auto lines = test::wait_for_records(records, 100);
  CHECK(broker.wait_for_count(name, 0) == 0);
  std::set<std::string> ids;
  std::set<std::string> causes;
  for (const auto& line : lines) {
    ids.insert(line.message_id);
    causes.insert(std::string{line.body.at("cause").as_string()});
  }
  CHECK(ids.size() == 100);
  CHECK(causes.size() == 100);
  // Stable ids: derived from the message that caused them.
  CHECK(ids.count(prefix + "-7/" + name + "/0") == 1);
  node.stop();
  auto c = test::counter_counts(db_of(dir), name);
  REQUIRE(c.size() == 5);
  for (const auto& [counter, n] : c) {
    INFO(counter);
    CHECK(n == 20);
  }
  auto list = test::warren({"state", "list", "--db", db_of(dir)});
  INFO("warren state list: " << list.out << list.err);
  CHECK(list.out.find(name + " keys=5 inbox=100 outbox=0") !=
        std::string::npos);
  check_integrity(db_of(dir));
}

TEST_CASE("a failed message leaves the state as it was, state survives a "
          "restart of the node and a restart by the supervisor",
          "[broker][stateful]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("counter-restart");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  {
    test::node_process node{dir, cfg};
    publish_increments(name, test::unique_name("a"), 0, 10, 1);
    CHECK(
      test::eventually([&] { return test::get_count(name, "c0") == 10; }, 20s));
    REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                          "-t", "fail", R"({"counter":"c0"})"})
              .exit_code == 0);
    broker.wait_for_count(warren::dead_letter_queue_name(name), 1);
    CHECK(test::get_count(name, "c0") == 10);
  }
  // A new process reads what the last one committed.
  test::node_process node{dir, cfg};
  CHECK(test::get_count(name, "c0") == 10);
  // The supervisor restarts the instance; the new one reloads the state, and
  // what the crashed one changed in memory (+1000) is gone.
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "crash", R"({"counter":"c0"})"})
            .exit_code == 0);
  CHECK(test::eventually(
    [&] { return node.err().find("exited (abnormal") != std::string::npos; },
    10s));
  publish_increments(name, test::unique_name("b"), 0, 5, 1);
  CHECK(
    test::eventually([&] { return test::get_count(name, "c0") == 15; }, 20s));
  node.stop();
  check_integrity(db_of(dir));
}

namespace {

struct kill_run_result {
  bool killed = false;
};

// One run: a node killed at `point` the `nth` time it passes it while
// applying 200 increments (plus 20 duplicates) over 10 counters; then a
// clean node finishes the work. The counters send what they counted to a
// second stateful counter ("totals", in the same node), which sends on to a
// record actor. Checks effectively-once state upstream, effectively-once
// state downstream (its inbox drops the outbox's republished copies by their
// stable ids), and one recorded effect per increment.
kill_run_result kill_run(const std::string& point, int nth) {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("killed");
  auto totals = broker.queue("killed-totals");
  auto sink = broker.queue("killed-out");
  auto records = dir.file("counted.jsonl");
  auto cfg = test::node_config(dir);
  // Small batches, so that a run passes every point many times.
  auto actor = test::counter_actor(name, totals);
  actor["commit"] = json::object{{"max_batch", 8}};
  actor["prefetch"] = 20;
  auto downstream = test::counter_actor(totals, sink);
  downstream["commit"] = json::object{{"max_batch", 8}};
  cfg["actors"] =
    json::array{actor, downstream, test::record_actor(sink, records)};
  kill_run_result result;
  auto prefix = test::unique_name("k");
  {
    test::node_process doomed{
      dir, cfg, {"WARREN_KILL_POINT=" + point + ":" + std::to_string(nth)}};
    publish_increments(name, prefix, 0, 200, 10);
    publish_increments(name, prefix, 180, 200, 10); // duplicates
    // Killed, or done with everything (a point not reached that often).
    test::eventually(
      [&] {
        return !doomed.running() || (broker.count(name) == 0 &&
                                     test::read_records(records).size() >= 200);
      },
      30s);
    int code = doomed.stop();
    result.killed = code == -1;
  }
  test::node_process clean{dir, cfg};
  std::set<std::string> causes;
  std::set<std::string> ids;
  test::eventually(
    [&] {
      causes.clear();
      ids.clear();
      for (const auto& line : test::read_records(records)) {
        ids.insert(line.message_id);
        causes.insert(std::string{line.body.at("cause").as_string()});
      }
      return causes.size() >= 200 && broker.count(name) == 0 &&
             broker.count(totals) == 0;
    },
    30s);
  clean.stop();
  INFO("kill point " << point << ":" << nth
                     << (result.killed ? " (killed)" : " (not reached)"));
  CHECK(causes.size() == 200);
  CHECK(ids.size() == 200); // one stable id per increment
  for (const auto& actor_name : {name, totals}) {
    auto c = test::counter_counts(db_of(dir), actor_name);
    CHECK(c.size() == 10);
    for (const auto& [counter, n] : c) {
      INFO(actor_name << " " << counter);
      CHECK(n == 20);
    }
  }
  check_integrity(db_of(dir));
  return result;
}

} // namespace

TEST_CASE("kill -9 at each step of the per-message path: after restart every "
          "counter equals its unique messages, and downstream gets each "
          "effect once after de-duplication",
          "[broker][stateful][kill]") {
  const char* full = std::getenv("WARREN_TEST_FULL");
  int runs = full != nullptr && std::string{full} == "1" ? 20 : 2;
  // How often a run passes each point, roughly: per message for the first
  // three, per batch of 8 for the commit, per multiple-ack for the acks, per
  // outbox message for the publish.
  const std::vector<std::pair<std::string, int>> points = {
    {"after_receive", 150},     {"after_state_write", 150},
    {"after_outbox_write", 20}, {"after_commit", 20},
    {"before_ack", 20},         {"after_ack", 20},
    {"during_publish", 150},
  };
  for (const auto& [point, reach] : points) {
    int killed = 0;
    for (int run = 0; run < runs; ++run) {
      // Spread the kills over the run.
      int nth = 1 + (run * 7919 + 13) % reach;
      if (kill_run(point, nth).killed)
        ++killed;
    }
    std::cerr << "kill point " << point << ": killed in " << killed << " of "
              << runs << " runs\n";
    CHECK(killed > 0);
  }
}

namespace {

// A small tmpfs over `path`, unmounted at the end. Needs root (CI and the
// test script run as root).
class small_tmpfs {
 public:
  explicit small_tmpfs(std::string path) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
    auto cmd = "mount -t tmpfs -o size=1m tmpfs '" + path_ + "'";
    mounted_ = std::system(cmd.c_str()) == 0;
  }
  ~small_tmpfs() {
    if (mounted_)
      std::system(("umount -l '" + path_ + "'").c_str());
  }
  bool mounted() const noexcept { return mounted_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

// Fills the file system of `path` with `path`/filler until it is full.
void fill_disk(const std::string& file) {
  std::ofstream out{file, std::ios::binary};
  std::string block(4096, 'f');
  while (out.write(block.data(), static_cast<std::streamsize>(block.size())))
    out.flush();
}

} // namespace

TEST_CASE("a full disk under the store: nothing is acked, the node says why, "
          "and it carries on when space returns",
          "[broker][stateful]") {
  test::temp_dir dir;
  small_tmpfs disk{dir.file("state")};
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (not root?): the full-disk test did not "
         "run");
    return;
  }
  test::broker_scratch broker;
  auto name = broker.queue("counter-full");
  auto sink = broker.queue("counter-full-out");
  auto records = dir.file("counted.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name, sink),
                              test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  publish_increments(name, test::unique_name("before"), 0, 10, 1);
  test::wait_for_records(records, 10);
  auto filler = dir.file("state") + "/filler";
  fill_disk(filler);
  publish_increments(name, test::unique_name("during"), 0, 50, 1);
  REQUIRE(test::eventually(
    [&] {
      return node.err().find("the checkpoint store failed, nothing is acked") !=
             std::string::npos;
    },
    20s));
  // Nothing of the 50 took effect downstream; they wait unacked.
  CHECK(test::read_records(records).size() == 10);
  CHECK(node.err().find("database or disk is full") != std::string::npos);
  std::filesystem::remove(filler);
  auto lines = test::wait_for_records(records, 60, 30s);
  CHECK(lines.size() == 60);
  CHECK(test::eventually(
    [&] {
      return node.err().find("the checkpoint store works again") !=
             std::string::npos;
    },
    10s));
  node.stop();
  auto c = test::counter_counts(db_of(dir), name);
  CHECK(c["c0"] == 60);
  check_integrity(db_of(dir));
}

TEST_CASE("a node whose database is not a warren database refuses to start "
          "with exit code 8, naming the file, and leaves the file alone",
          "[broker][stateful]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("counter-baddb");
  std::filesystem::create_directories(dir.file("state"));
  test::write_file(db_of(dir), "not a database\n");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  auto config_path = dir.file("node.json");
  test::write_file(config_path, json::serialize(cfg));
  auto r = test::warren({"run", config_path});
  CHECK(r.exit_code == 8);
  CHECK(r.err.find(db_of(dir) + ": ") != std::string::npos);
  CHECK(r.err.find("not a warren database, or damaged") != std::string::npos);
  CHECK(test::read_file(db_of(dir)) == "not a database\n");
  auto show = test::warren({"state", "list", "--db", db_of(dir)});
  CHECK(show.exit_code == 8);
}

TEST_CASE("warren state reads a running node's database",
          "[broker][stateful]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("counter-live");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  test::node_process node{dir, cfg};
  publish_increments(name, test::unique_name("live"), 0, 30, 3);
  CHECK(test::eventually(
    [&] {
      auto c = test::counter_counts(db_of(dir), name);
      return c.size() == 3 && c["c0"] == 10 && c["c1"] == 10 && c["c2"] == 10;
    },
    20s));
  auto keys = test::warren({"state", "list", "--db", db_of(dir), name});
  CHECK(keys.out == "c0 version=10\nc1 version=10\nc2 version=10\n");
  CHECK(node.running());
}
