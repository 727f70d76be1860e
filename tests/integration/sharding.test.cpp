// Sharded stateful actors (README.md, "Clustering"; issue 13) on the test
// broker: keys spread over shard queues each owned by one node at a time,
// every committed unit going through the actor's changelog, every node's
// file a copy of the shards' state, a takeover when the owner dies.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/shard.hpp"
#include "warren/metrics/http_get.hpp"
#include "warren/runtime/membership.hpp"

#include <atomic>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A node config with a sharded counter `actor` of `shards` shards.
json::object sharded_node(const test::temp_dir& dir, const std::string& actor,
                          uint32_t shards) {
  auto cfg = test::node_config(dir);
  auto counter = test::counter_actor(actor);
  counter["shards"] = shards;
  cfg["actors"] = json::array{counter};
  return cfg;
}

void publish_increments(const std::string& actor, int from, int to) {
  std::vector<std::string> ids;
  for (int i = from; i < to; ++i)
    ids.push_back(actor + "-m" + std::to_string(i));
  test::publish_bulk(
    bridges::actors_exchange, actor, "increment", ids, 50, [&](std::size_t k) {
      auto i = from + static_cast<int>(k);
      return R"({"counter":"c)" + std::to_string(i % 20) + R"(","by":1})";
    });
}

int64_t total(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [key, count] : counts)
    n += count;
  return n;
}

std::map<std::string, int64_t> expected_counts(int messages) {
  std::map<std::string, int64_t> out;
  for (int i = 0; i < messages; ++i)
    ++out["c" + std::to_string(i % 20)];
  return out;
}

// Deletes `actor`'s shard queues and changelog with the test's broker
// scratch.
void track_sharded(test::broker_scratch& broker, const std::string& actor,
                   uint32_t shards) {
  for (uint32_t i = 0; i < shards; ++i)
    broker.track_queue(shard_name(actor, i));
  broker.track_queue(actor + ".log");
}

std::string db_of(const test::temp_dir& dir) {
  return dir.file("state") + "/warren.db";
}

// Whether `node` logged that it took every one of `shards` over.
bool took_every_shard(const test::node_process& node, uint32_t shards) {
  auto log = node.err();
  for (uint32_t i = 0; i < shards; ++i)
    if (log.find("shard " + std::to_string(i) + ": taken over") ==
        std::string::npos)
      return false;
  return true;
}

} // namespace

TEST_CASE("a sharded counter counts every message once through its shards, "
          "a standby node's file follows the changelog, and when the owner "
          "is killed the standby takes every shard over and goes on",
          "[broker][shards]") {
  test::broker_scratch broker;
  auto actor = broker.queue("sh-counter");
  const uint32_t shards = 4;
  track_sharded(broker, actor, shards);
  test::temp_dir first_dir;
  test::temp_dir second_dir;
  auto first_cfg = sharded_node(first_dir, actor, shards);
  auto second_cfg = sharded_node(second_dir, actor, shards);
  auto first = std::make_unique<test::node_process>(first_dir, first_cfg);

  publish_increments(actor, 0, 200);
  std::map<std::string, int64_t> counts;
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(first_dir), actor);
      return total(counts) >= 200;
    },
    30s);
  CHECK(counts == expected_counts(200));

  // A second node: a standby of every shard, its file rebuilt from the
  // changelog.
  test::node_process second{second_dir, second_cfg};
  test::eventually(
    [&] {
      return test::counter_counts(db_of(second_dir), actor) ==
             expected_counts(200);
    },
    30s);
  CHECK(test::counter_counts(db_of(second_dir), actor) == expected_counts(200));

  // The owner dies; the broker activates the standby's consumers, which
  // claim the shards and go on from the state the changelog gave them.
  REQUIRE(::kill(first->pid(), SIGKILL) == 0);
  first->stop();
  first.reset();
  publish_increments(actor, 200, 400);
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(second_dir), actor);
      return total(counts) >= 400;
    },
    60s);
  CHECK(counts == expected_counts(400));
  INFO(second.err());
  CHECK_THAT(second.err(), Catch::Contains("taken over in epoch"));
  CHECK(broker.count(actor) == 0);
  for (uint32_t i = 0; i < shards; ++i)
    CHECK(broker.count(shard_name(actor, i)) == 0);
}

TEST_CASE("a shard owner killed at each point of its path through the "
          "changelog (a record published and not read back, a batch "
          "accepted and not acked, a takeover half done) loses no message "
          "and applies none twice",
          "[broker][shards][kill]") {
  // Point -> which pass kills: records, batches and claims each pass it.
  const std::vector<std::pair<std::string, int>> points = {
    {"before_readback", 12},
    {"after_acceptance", 6},
    {"before_ack", 6},
    // The first takeover: a second node started at once may be given the
    // other shards (rebalancing) before the first node claims them.
    {"during_takeover", 1}};
  for (const auto& [point, nth] : points) {
    DYNAMIC_SECTION(point) {
      test::broker_scratch broker;
      auto actor = broker.queue("sh-kill");
      const uint32_t shards = 3;
      track_sharded(broker, actor, shards);
      test::temp_dir first_dir;
      test::temp_dir second_dir;
      auto first = std::make_unique<test::node_process>(
        first_dir, sharded_node(first_dir, actor, shards),
        std::vector<std::string>{"WARREN_KILL_POINT=" + point + ":" +
                                 std::to_string(nth)});
      // The first node owns the shards (its probes) before the second
      // starts, except when it dies taking them over.
      if (point != "during_takeover")
        test::eventually([&] { return took_every_shard(*first, shards); }, 20s);
      test::node_process second{second_dir,
                                sharded_node(second_dir, actor, shards)};
      publish_increments(actor, 0, 300);
      bool died = test::eventually([&] { return !first->running(); }, 30s);
      INFO(first->err());
      CHECK(died);
      std::map<std::string, int64_t> counts;
      test::eventually(
        [&] {
          counts = test::counter_counts(db_of(second_dir), actor);
          return total(counts) >= 300;
        },
        60s);
      INFO(second.err());
      CHECK(counts == expected_counts(300));
    }
  }
}

TEST_CASE("a warren actor's messages to a sharded actor: straight to the key's "
          "shard queue, its routers see none of them",
          "[broker][shards]") {
  test::broker_scratch broker;
  auto source = broker.queue("sh-source");
  auto ledger = broker.queue("sh-ledger");
  const uint32_t shards = 4;
  track_sharded(broker, ledger, shards);
  test::temp_dir dir;
  auto cfg = test::node_config(dir);
  auto book = test::counter_actor(ledger);
  book["shards"] = shards;
  cfg["actors"] = json::array{test::counter_actor(source, ledger), book};
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  test::node_process node{dir, cfg};
  publish_increments(source, 0, 200);
  std::map<std::string, int64_t> counts;
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(dir), ledger);
      return total(counts) >= 200;
    },
    30s);
  CHECK(counts == expected_counts(200));
  auto port = node.metrics_port();
  // The ledger's router consumes its own queue: nothing came that way.
  CHECK(test::metric_sample(port, "warren_messages_received_total",
                            {"actor=\"" + ledger + "\""}) == 0);
  double at_shards = 0;
  for (uint32_t i = 0; i < shards; ++i)
    at_shards +=
      test::metric_sample(port, "warren_messages_handled_total",
                          {"actor=\"" + shard_name(ledger, i) + "\""});
  CHECK(at_shards == 200);
}

TEST_CASE("a node stopped while its shard owners have units in hand: its "
          "changelog reader reads on until they are done, none is killed, "
          "and every message counts once",
          "[broker][shards][stop]") {
  test::broker_scratch broker;
  auto actor = broker.queue("sh-stop");
  const uint32_t shards = 4;
  track_sharded(broker, actor, shards);
  test::temp_dir dir;
  auto cfg = sharded_node(dir, actor, shards);
  auto node = std::make_unique<test::node_process>(dir, cfg);
  const int messages = 20000;
  std::atomic<bool> published{false};
  std::thread publisher{[&] {
    publish_increments(actor, 0, messages);
    published = true;
  }};
  // Stopped under load: each owner has a unit out with the changelog,
  // waiting for its verdict, which only the reader gives.
  test::eventually(
    [&] { return total(test::counter_counts(db_of(dir), actor)) > 0; }, 30s);
  auto counted_at_stop = total(test::counter_counts(db_of(dir), actor));
  INFO("counted when the stop began: " << counted_at_stop);
  auto stopped = node->stop();
  publisher.join();
  CHECK(stopped == 0);
  CHECK(counted_at_stop < messages);
  auto log = node->err();
  INFO(log);
  // A reader paused with the rest would leave the owners waiting for
  // their verdicts until their shutdown time: killed.
  CHECK_THAT(log, !Catch::Contains("killed"));
  CHECK_THAT(log, !Catch::Contains("reading the changelog again"));
  CHECK_THAT(log, !Catch::Contains("did not show record"));
  // What the stop left in the shard queues counts at the next start.
  node = std::make_unique<test::node_process>(dir, cfg);
  std::map<std::string, int64_t> counts;
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(dir), actor);
      return total(counts) >= messages;
    },
    60s);
  CHECK(counts == expected_counts(messages));
}

TEST_CASE("a node with two sharded actors reads the cluster's "
          "announcements with one consumer",
          "[broker][shards][membership]") {
  test::broker_scratch broker;
  auto first = broker.queue("sh-one");
  auto second = broker.queue("sh-two");
  track_sharded(broker, first, 2);
  track_sharded(broker, second, 3);
  test::temp_dir dir;
  auto cfg = test::node_config(dir);
  auto a = test::counter_actor(first);
  a["shards"] = 2;
  auto b = test::counter_actor(second);
  b["shards"] = 3;
  cfg["actors"] = json::array{a, b};
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  test::node_process node{dir, cfg};
  auto body = metrics::http_get({"127.0.0.1", node.metrics_port(), "/metrics"});
  REQUIRE(body);
  // One series per consumer (labelled with its child's id): which queue it
  // reads. (A stream's declare-ok counts no consumers.)
  std::size_t readers = 0;
  std::istringstream lines{*body};
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("warren_actor_queue_info{", 0) == 0 &&
        line.find("queue=\"" + std::string{runtime::membership::stream_name} +
                  "\"") != std::string::npos)
      ++readers;
  INFO(*body);
  CHECK(readers == 1);
}

TEST_CASE("a node stopped gracefully hands its shards to a standby in "
          "order: no unit of its own is fenced, and each key's messages are "
          "applied in the order they were published",
          "[broker][shards][stop]") {
  test::broker_scratch broker;
  auto actor = broker.queue("sh-order");
  const uint32_t shards = 4;
  track_sharded(broker, actor, shards);
  test::temp_dir first_dir;
  test::temp_dir second_dir;
  // No rebalancing: the first node keeps every shard until it stops.
  auto config_of = [&](const test::temp_dir& dir) {
    auto cfg = sharded_node(dir, actor, shards);
    cfg["cluster"] = json::object{{"rebalance", false}};
    return cfg;
  };
  auto first =
    std::make_unique<test::node_process>(first_dir, config_of(first_dir));
  test::eventually([&] { return took_every_shard(*first, shards); }, 20s);
  test::node_process second{second_dir, config_of(second_dir)};

  // Each key's messages numbered in the order they are published, straight
  // to the key's shard queue (the order a sender can rely on).
  const int keys = 40;
  const int messages = 20000;
  std::vector<std::string> ids;
  for (int i = 0; i < messages; ++i)
    ids.push_back(actor + "-m" + std::to_string(i));
  auto key_of = [&](std::size_t i) {
    return "k" + std::to_string(i % keys);
  };
  std::thread publisher{[&] {
    test::publish_bulk(
      "", "", "sequenced", ids, 50,
      [&](std::size_t i) {
        return R"({"counter":")" + key_of(i) + R"(","seq":)" +
               std::to_string(i / keys + 1) + "}";
      },
      [&](std::size_t i) {
        return shard_name(actor, shard_of(key_of(i), shards));
      });
  }};
  // Stopped under load, units in hand, deliveries prefetched.
  test::eventually(
    [&] { return total(test::counter_counts(db_of(first_dir), actor)) > 0; },
    30s);
  auto stopped = first->stop();
  CHECK(stopped == 0);
  auto first_log = first->err();
  publisher.join();

  std::map<std::string, int64_t> counts;
  test::eventually(
    [&] {
      counts = test::counter_counts(db_of(second_dir), actor);
      return total(counts) >= messages;
    },
    60s);
  INFO("the stopped node: " << first_log);
  INFO("the standby: " << second.err());
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < messages; ++i)
    ++expected[key_of(static_cast<std::size_t>(i))];
  CHECK(counts == expected);
  // A standby activated while the owner still finished its units would
  // claim the shards and fence them; the deliveries the owner gave back
  // would then come after newer ones.
  CHECK_THAT(first_log, !Catch::Contains("was fenced"));
  CHECK_THAT(second.err(), Catch::Contains("taken over in epoch"));
  auto store = test::open_store(second_dir);
  int64_t rows = 0;
  int64_t reordered = -1;
  REQUIRE_FALSE(store->read_sql(
    "SELECT count(*), sum(json_extract(state, '$.reordered')) FROM "
    "actor_state WHERE actor = ?1 AND json_extract(state, '$.seq') > 0",
    {actor}, [&](const sql_row& row) -> caf::error {
      rows = row.integer(0);
      reordered = row.integer(1);
      return caf::none;
    }));
  CHECK(rows == keys);
  CHECK(reordered == 0);
}

namespace {

// The first offset still in `stream` (retention drops the oldest segments).
int64_t first_offset(test::broker_scratch& broker, const std::string& stream) {
  auto got = broker.client().receive(
    stream, 1, 5s, true,
    field_table{{"x-stream-offset", std::string{"first"}}});
  REQUIRE(got);
  REQUIRE_FALSE(got->empty());
  const auto* offset =
    find_field(got->front().properties.headers, "x-stream-offset");
  REQUIRE(offset != nullptr);
  return std::get<int64_t>(*offset);
}

// Where a node's file is in the changelog of `actor`.
int64_t file_position(const test::temp_dir& dir, const std::string& actor) {
  auto store = test::open_store(dir);
  int64_t position = -1;
  REQUIRE_FALSE(
    store->read_sql("SELECT next_offset FROM local_changelog WHERE actor = ?1",
                    {actor}, [&](const sql_row& row) -> caf::error {
                      position = row.integer(0);
                      return caf::none;
                    }));
  return position;
}

// Every key's count of counter `actor` in a node's file (`warren state show`
// lists at most 1000 keys).
std::map<std::string, int64_t> all_counts(const test::temp_dir& dir,
                                          const std::string& actor) {
  std::map<std::string, int64_t> out;
  auto store = test::open_store(dir);
  REQUIRE_FALSE(store->read_sql(
    "SELECT key, json_extract(state, '$.count') FROM actor_state WHERE "
    "actor = ?1",
    {actor}, [&](const sql_row& row) -> caf::error {
      out[std::string{row.text(0)}] = row.integer(1);
      return caf::none;
    }));
  return out;
}

} // namespace

TEST_CASE("with the changelog bounded, a node that joins after retention "
          "dropped its start and one down longer than the retention start "
          "from a snapshot and count exactly, and take the shards over when "
          "the owner is killed",
          "[broker][shards][snapshot]") {
  test::broker_scratch broker;
  auto actor = broker.queue("sh-snap");
  const uint32_t shards = 4;
  track_sharded(broker, actor, shards);
  // 1 MiB of changelog in 128 KiB segments, a snapshot every 64 KiB.
  auto bounded = [&](const test::temp_dir& dir) {
    auto cfg = sharded_node(dir, actor, shards);
    cfg["cluster"] = json::object{{"changelog_max_bytes", 1024 * 1024},
                                  {"changelog_snapshot_bytes", 64 * 1024}};
    return cfg;
  };
  test::temp_dir owner_dir;
  test::temp_dir away_dir;
  test::temp_dir joined_dir;
  auto owner =
    std::make_unique<test::node_process>(owner_dir, bounded(owner_dir));
  auto away = std::make_unique<test::node_process>(away_dir, bounded(away_dir));
  const int early = 500;
  publish_increments(actor, 0, early);
  test::eventually(
    [&] {
      return test::counter_counts(db_of(away_dir), actor) ==
             expected_counts(early);
    },
    60s);
  REQUIRE(test::counter_counts(db_of(away_dir), actor) ==
          expected_counts(early));
  // A standby stops; the changelog goes on past its retention.
  away->stop();
  auto away_at = file_position(away_dir, actor);
  const int messages = 10000;
  publish_increments(actor, early, messages);
  test::eventually(
    [&] {
      return total(test::counter_counts(db_of(owner_dir), actor)) >= messages;
    },
    120s);
  REQUIRE(test::counter_counts(db_of(owner_dir), actor) ==
          expected_counts(messages));
  INFO(owner->err());
  CHECK_THAT(owner->err(), Catch::Contains("snapshot as of offset"));
  auto first = first_offset(broker, actor + ".log");
  CHECK(first > away_at);
  CHECK(first > 0);

  // A new node and the one that was away: both start from a snapshot.
  test::node_process joined{joined_dir, bounded(joined_dir)};
  away = std::make_unique<test::node_process>(away_dir, bounded(away_dir));
  for (const auto* dir : {&joined_dir, &away_dir})
    test::eventually(
      [&] {
        return test::counter_counts(db_of(*dir), actor) ==
               expected_counts(messages);
      },
      60s);
  INFO(joined.err());
  INFO(away->err());
  CHECK(test::counter_counts(db_of(joined_dir), actor) ==
        expected_counts(messages));
  CHECK(test::counter_counts(db_of(away_dir), actor) ==
        expected_counts(messages));
  CHECK_THAT(joined.err(), Catch::Contains("this node's file starts from a "
                                           "snapshot"));
  CHECK_THAT(joined.err(), Catch::Contains("loaded the snapshot as of offset"));
  CHECK_THAT(away->err(), Catch::Contains("it starts again from a snapshot"));
  CHECK_THAT(away->err(), Catch::Contains("loaded the snapshot as of offset"));

  // The owner dies: the others take its shards over from the state the
  // snapshots gave them, and go on counting exactly.
  REQUIRE(::kill(owner->pid(), SIGKILL) == 0);
  owner->stop();
  owner.reset();
  publish_increments(actor, messages, messages + 1000);
  for (const auto* dir : {&joined_dir, &away_dir})
    test::eventually(
      [&] {
        return total(test::counter_counts(db_of(*dir), actor)) >=
               messages + 1000;
      },
      90s);
  CHECK(test::counter_counts(db_of(joined_dir), actor) ==
        expected_counts(messages + 1000));
  CHECK(test::counter_counts(db_of(away_dir), actor) ==
        expected_counts(messages + 1000));
  CHECK((joined.err().find("taken over in epoch") != std::string::npos ||
         away->err().find("taken over in epoch") != std::string::npos));
  CHECK(broker.count(actor) == 0);
  for (uint32_t i = 0; i < shards; ++i)
    CHECK(broker.count(shard_name(actor, i)) == 0);
}

// Not run by default (the figures in README.md, "Retention and snapshots"):
//   build/tests/warren-integration-test "[snapshot-bench]"
TEST_CASE("bench: a new node's catch-up on a changelog of 10k keys, from "
          "the start and from a snapshot",
          "[.][broker][snapshot-bench]") {
  test::broker_scratch broker;
  const uint32_t shards = 4;
  const int keys = 10000;
  const int messages = 100000;
  auto whole = broker.queue("sh-whole");
  auto bounded = broker.queue("sh-bounded");
  for (const auto& actor : {whole, bounded}) {
    track_sharded(broker, actor, shards);
  }
  // Both write a snapshot every 2 MiB (at least the last one's size);
  // `bounded` keeps 40 MiB of changelog (the inbox's 100k ids make a
  // snapshot about 7 MB), `whole` all of it (its stream declared first with
  // 1 GiB: the node keeps that).
  auto config = [&](const test::temp_dir& dir,
                    std::vector<std::string> actors) {
    auto cfg = test::node_config(dir);
    json::array list;
    for (const auto& name : actors) {
      auto counter = test::counter_actor(name);
      counter["shards"] = shards;
      list.push_back(counter);
    }
    cfg["actors"] = list;
    cfg["cluster"] =
      json::object{{"changelog_max_bytes", 40 * 1024 * 1024},
                   {"changelog_snapshot_bytes", 2 * 1024 * 1024}};
    return cfg;
  };
  {
    bridges::topology topo;
    bridges::queue_spec q;
    q.name = whole + ".log";
    q.type = bridges::queue_type::stream;
    q.max_length_bytes = int64_t{1} << 30;
    topo.queues.push_back(q);
    REQUIRE_FALSE(broker.client().declare(topo));
  }
  test::temp_dir owner_dir;
  test::node_process owner{owner_dir, config(owner_dir, {whole, bounded})};
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < messages; ++i)
    ++expected["k" + std::to_string(i % keys)];
  for (const auto& actor : {whole, bounded}) {
    std::vector<std::string> ids;
    for (int i = 0; i < messages; ++i)
      ids.push_back(actor + "-m" + std::to_string(i));
    test::publish_bulk(bridges::actors_exchange, actor, "increment", ids, 200,
                       [&](std::size_t k) {
                         return R"({"counter":"k)" + std::to_string(k % keys) +
                                R"(","by":1})";
                       });
  }
  auto exists = [](const test::temp_dir& dir) {
    return std::filesystem::exists(db_of(dir));
  };
  for (const auto& actor : {whole, bounded}) {
    auto at = file_position(owner_dir, actor);
    for (int quiet = 0; quiet < 3;) {
      std::this_thread::sleep_for(2s);
      auto now = file_position(owner_dir, actor);
      quiet = now == at ? quiet + 1 : 0;
      at = now;
    }
    auto counts = all_counts(owner_dir, actor);
    auto log = owner.err();
    INFO(actor << ": " << total(counts) << " counted; the owner's log ends: "
               << log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
    REQUIRE(counts == expected);
    WARN(actor << ".log: ends at offset " << at << ", begins at "
               << first_offset(broker, actor + ".log"));
  }
  for (const auto& actor : {whole, bounded}) {
    auto end = file_position(owner_dir, actor);
    test::temp_dir dir;
    auto started = std::chrono::steady_clock::now();
    test::node_process fresh{dir, config(dir, {actor})};
    while (!exists(dir) || file_position(dir, actor) < end) {
      REQUIRE(std::chrono::steady_clock::now() - started < 300s);
      std::this_thread::sleep_for(20ms);
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
    CHECK(all_counts(dir, actor) == expected);
    WARN(actor << ": a new node's file at the end of the changelog "
               << took.count() << " ms after the node's start");
    auto log = fresh.err();
    for (const auto* what : {"loaded the snapshot", "starts from a snapshot"})
      if (auto at = log.find(what); at != std::string::npos)
        WARN(log.substr(log.rfind('\n', at) + 1,
                        log.find('\n', at) - log.rfind('\n', at) - 1));
  }
  auto log = owner.err();
  for (std::size_t at = log.find("snapshot as of offset");
       at != std::string::npos; at = log.find("snapshot as of offset", at + 1))
    WARN(log.substr(log.rfind('\n', at) + 1,
                    log.find('\n', at) - log.rfind('\n', at) - 1));
}
