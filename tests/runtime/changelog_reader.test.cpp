// A node's reader of a sharded actor's changelog against the real test
// broker's stream and a real SQLite file: it applies what the rule accepts,
// fences a zombie's batches, keeps what accepted batches owe until they are
// flushed, and resumes where it stopped.

#include "cluster/changelog_reader.hpp"

#include "bridges/broker_env.hpp"
#include "warren/bridges/client.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

using namespace warren;
using namespace warren::runtime;
using namespace warren::runtime::cluster;
using namespace std::chrono_literals;

namespace {

std::string scratch(const std::string& name) {
  auto dir = std::filesystem::path{WARREN_BINARY_DIR} / "test-scratch" /
             "changelog-reader" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::unique_ptr<checkpoint_store> open_store(const std::string& path) {
  store_settings s;
  s.path = path;
  auto store = checkpoint_store::open(s);
  if (!store)
    FAIL(describe(store.error()));
  return std::move(*store);
}

// The owner's side: a unit for shard bank.s0 as a changeset, its own file
// brought up to date as the reader would.
std::string changes(checkpoint_store& owner, const std::string& message,
                    int64_t version, int64_t balance) {
  unit_of_work u{"bank.s0"};
  u.applied(message);
  u.put_state(
    {"alice", version, R"({"balance":)" + std::to_string(balance) + "}"});
  auto cs = owner.capture_changeset(u);
  REQUIRE(cs);
  REQUIRE(owner.apply_changeset(*cs));
  return *cs;
}

changelog_record claim(const std::string& node) {
  changelog_record r;
  r.kind = record_kind::claim;
  r.shard = 0;
  r.node = node;
  r.incarnation = node + "-1";
  r.sequence = 1;
  return r;
}

changelog_record batch(int64_t epoch, uint64_t sequence, std::string cs) {
  changelog_record r;
  r.kind = record_kind::batch;
  r.shard = 0;
  r.node = "a";
  r.incarnation = "a-1";
  r.epoch = epoch;
  r.sequence = sequence;
  r.changeset = std::move(cs);
  return r;
}

int64_t balance_of(const std::string& db) {
  auto store = open_store(db);
  auto state = store->load("bank.s0", "alice");
  REQUIRE(state);
  REQUIRE(*state);
  auto text = (*state)->state;
  return std::stoll(text.substr(text.find(':') + 1));
}

int64_t owed(const std::string& db) {
  auto store = open_store(db);
  int64_t n = -1;
  REQUIRE_FALSE(store->read_sql("SELECT count(*) FROM local_changelog_outbox",
                                {}, [&](const sql_row& row) -> caf::error {
                                  n = row.integer(0);
                                  return caf::none;
                                }));
  return n;
}

// A stream bounded at `max_bytes` in segments of `segment_bytes`, as a node
// declares a changelog.
bridges::topology declare_bounded_stream(bridges::blocking_client& client,
                                         const std::string& name,
                                         int64_t max_bytes,
                                         int64_t segment_bytes) {
  bridges::topology topo;
  bridges::queue_spec q;
  q.name = name;
  q.type = bridges::queue_type::stream;
  q.max_length_bytes = max_bytes;
  q.stream_max_segment_size_bytes = segment_bytes;
  topo.queues.push_back(q);
  REQUIRE_FALSE(client.declare(topo));
  return topo;
}

// A stream of the test's own on the test broker (bounded as a node
// declares a changelog when `max_bytes` is not 0) with a client, deleted
// when the test ends.
struct test_stream {
  explicit test_stream(const std::string& prefix, int64_t max_bytes = 0,
                       int64_t segment_bytes = 0)
    : name{test::unique(prefix)} {
    auto connected = bridges::blocking_client::connect(test::broker_settings());
    REQUIRE(connected);
    client = std::move(*connected);
    topo = max_bytes > 0
             ? declare_bounded_stream(*client, name, max_bytes, segment_bytes)
             : test::declare_stream(*client, name);
  }

  ~test_stream() { client->delete_queue(name); }

  test_stream(const test_stream&) = delete;
  test_stream& operator=(const test_stream&) = delete;

  // Publishes `r` with a confirm; its message id.
  std::string publish(const changelog_record& r) {
    auto m = to_message(r, name);
    REQUIRE_FALSE(client->publish(m, 10s));
    return m.properties.message_id;
  }

  std::string name;
  std::unique_ptr<bridges::blocking_client> client;
  bridges::topology topo;
};

// A reader of `stream` ("bank"'s changelog) into the file `db`, as a node
// runs one.
bridges::consumer_actor start_reader(caf::actor_system& sys,
                                     const bridges::topology& topo,
                                     const std::string& stream,
                                     const std::string& db,
                                     std::shared_ptr<changelog_state> state,
                                     snapshot_settings snapshots = {}) {
  store_settings s;
  s.path = db;
  auto reader = std::make_shared<changelog_reader>("bank", s, std::move(state),
                                                   256, std::move(snapshots));
  bridges::consumer_config cc;
  cc.broker = test::broker_settings();
  cc.topo = topo;
  cc.queue = stream;
  cc.prefetch = 50;
  cc.handler = reader;
  cc.actor_name = "bank.log";
  cc.consume_arguments = [reader] {
    return reader->consume_arguments();
  };
  return bridges::spawn_consumer(sys, cc);
}

} // namespace

TEST_CASE("a changelog reader applies the accepted batches into its file, "
          "fences a zombie's, keeps what they owe until flushed, and resumes "
          "after the last record it applied",
          "[broker][changelog]") {
  auto dir = scratch("reader");
  auto owner = open_store(dir + "/owner.db");
  auto db = dir + "/standby.db";
  test_stream log{"bt-bank.log"};
  auto publish = [&](const changelog_record& r) {
    return log.publish(r);
  };

  changelog_record count;
  count.kind = record_kind::shards;
  count.shards = 2;
  publish(count);      // 0
  publish(claim("a")); // 1: epoch 1
  auto first = batch(1, 1, changes(*owner, "m-1", 1, 5));
  outgoing_message sent;
  sent.exchange = "warren.actors";
  sent.routing_key = "ledger";
  sent.properties.message_id = "m-1/bank/0";
  sent.body = "{}";
  first.outbox.push_back(sent);
  auto accepted_id = publish(first); // 2
  publish(first);                    // 3: a copy (a retried publish)
  publish(claim("b"));               // 4: epoch 4; a is a zombie now
  // a's next batch, made before it saw b's claim.
  auto stray = open_store(dir + "/zombie.db");
  changes(*stray, "m-1", 1, 5);
  auto fenced_id = publish(batch(1, 2, changes(*stray, "m-9", 2, 1000))); // 5
  auto second_id = publish(batch(4, 1, changes(*owner, "m-2", 2, 9)));    // 6

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto start = [&](std::shared_ptr<changelog_state> state) {
    return start_reader(sys, log.topo, log.name, db, std::move(state));
  };
  auto state = std::make_shared<changelog_state>();
  for (const auto& id : {accepted_id, fenced_id, second_id})
    state->expect(id);
  auto reader = start(state);
  REQUIRE(test::wait_until([&] { return state->next_offset() == 7; }, 15s));
  auto a = state->take(accepted_id);
  REQUIRE(a);
  CHECK(a->outcome == verdict::accepted);
  CHECK(a->offset == 2);
  auto f = state->take(fenced_id);
  REQUIRE(f);
  CHECK(f->outcome == verdict::fenced);
  auto s2 = state->take(second_id);
  REQUIRE(s2);
  CHECK(s2->outcome == verdict::accepted);
  CHECK(state->shards() == 2);
  CHECK(state->shard(0).epoch == 4);
  CHECK(state->shard(0).node == "b");
  CHECK(state->shard(0).sequence == 1);
  CHECK(balance_of(db) == 9);
  {
    auto store = open_store(db);
    CHECK(*store->seen("bank.s0", "m-1"));
    CHECK(*store->seen("bank.s0", "m-2"));
    CHECK_FALSE(*store->seen("bank.s0", "m-9"));
  }
  CHECK(owed(db) == 1);

  changelog_record flushed = claim("a");
  flushed.kind = record_kind::flushed;
  flushed.upto = 2;
  publish(flushed); // 7
  REQUIRE(test::wait_until([&] { return state->next_offset() == 8; }, 15s));
  CHECK(owed(db) == 0);
  CHECK(state->shard(0).flushed == 2);

  // Stopped, then started again on its file: it goes on at offset 8.
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  std::this_thread::sleep_for(300ms);
  auto third_id = publish(batch(4, 2, changes(*owner, "m-3", 3, 12))); // 8
  auto resumed = std::make_shared<changelog_state>();
  resumed->expect(third_id);
  auto again = start(resumed);
  REQUIRE(test::wait_until([&] { return resumed->next_offset() == 9; }, 15s));
  auto t = resumed->take(third_id);
  REQUIRE(t);
  CHECK(t->outcome == verdict::accepted);
  CHECK(balance_of(db) == 12);
  CHECK(resumed->shard(0).epoch == 4);
  caf::anon_send_exit(again, caf::exit_reason::user_shutdown);
}

namespace {

// A unit of actor "bank" (as a sharded actor's rows are named) whose state
// is padded so that records fill the stream's segments quickly.
std::string padded_changes(checkpoint_store& owner, const std::string& message,
                           int64_t version) {
  unit_of_work u{"bank"};
  u.applied(message);
  u.put_state({"alice", version,
               R"({"balance":)" + std::to_string(version) + R"(,"pad":")" +
                 std::string(2000, 'x') + R"("})"});
  auto cs = owner.capture_changeset(u);
  REQUIRE(cs);
  REQUIRE(owner.apply_changeset(*cs));
  return *cs;
}

int64_t bank_version(const std::string& db) {
  auto store = open_store(db);
  auto state = store->load("bank", "alice");
  REQUIRE(state);
  return *state ? (*state)->version : -1;
}

// The first offset still in `stream`.
int64_t first_offset(bridges::blocking_client& client,
                     const std::string& stream) {
  auto got =
    client.receive(stream, 1, 5s, true,
                   field_table{{"x-stream-offset", std::string{"first"}}});
  if (!got || got->empty())
    return -1;
  const auto* offset =
    find_field(got->front().properties.headers, "x-stream-offset");
  return offset != nullptr ? std::get<int64_t>(*offset) : -1;
}

} // namespace

TEST_CASE("a reader whose file is behind a stream retention cut applies "
          "nothing until a complete snapshot it can go on from, loads it, "
          "reads on from its offset, and then judges every record as the "
          "snapshot's writer does",
          "[broker][changelog][snapshot]") {
  auto dir = scratch("snapshot");
  auto owner = open_store(dir + "/owner.db");
  test_stream log{"bt-snap.log", 256 * 1024, 16 * 1024};
  auto& stream = log.name;
  auto publish = [&](const changelog_record& r) {
    return log.publish(r);
  };

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  // Every reader ends with the test, also when a REQUIRE fails (the actor
  // system waits for its actors).
  struct stopper {
    std::vector<bridges::consumer_actor> started;
    ~stopper() {
      for (const auto& a : started)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  } readers;
  auto start = [&](const std::string& db,
                   std::shared_ptr<changelog_state> state,
                   snapshot_settings snapshots) {
    readers.started.push_back(start_reader(
      sys, log.topo, stream, db, std::move(state), std::move(snapshots)));
    return readers.started.back();
  };

  changelog_record count;
  count.kind = record_kind::shards;
  count.shards = 1;
  publish(count);      // 0
  publish(claim("a")); // 1: epoch 1, a owns shard 0

  // A reader that never writes snapshots, on a file behind the cut: it
  // applies nothing at all (not the records after the cut).
  int64_t version = 0;
  for (int i = 0; i < 150; ++i, ++version)
    publish(batch(
      1, static_cast<uint64_t>(version + 1),
      padded_changes(*owner, "m-" + std::to_string(version), version + 1)));
  REQUIRE(test::wait_until(
    [&] { return first_offset(*log.client, stream) > 0; }, 20s));
  auto lost_db = dir + "/lost.db";
  auto lost_state = std::make_shared<changelog_state>();
  auto lost = start(lost_db, lost_state, {});
  std::this_thread::sleep_for(2s);
  CHECK(lost_state->next_offset() == 0);
  CHECK(bank_version(lost_db) == -1);

  // The claimant of shard 0 (node a, run a-1) writes snapshots. Its file
  // is current (here: made so from the owner's rows, with the bookkeeping
  // of a reader that applied records 0..151).
  snapshot_settings writes;
  writes.node = "a";
  writes.incarnation = "a-1";
  writes.every_bytes = 16 * 1024;
  writes.chunk_bytes = 1024; // several chunks per snapshot
  writes.stream = stream;
  auto writer_db = dir + "/writer.db";
  {
    auto writer = open_store(writer_db);
    REQUIRE_FALSE(writer->setup(
      "CREATE TABLE IF NOT EXISTS local_changelog (actor TEXT PRIMARY KEY, "
      "next_offset INTEGER NOT NULL, shards INTEGER NOT NULL, views TEXT NOT "
      "NULL)"));
    auto rows = owner->snapshot_rows("bank");
    REQUIRE(rows);
    REQUIRE_FALSE(writer->replace_rows("bank", *rows));
    REQUIRE(writer->apply_changeset(
      "", {sql_group::of(
            "INSERT INTO local_changelog (actor, next_offset, shards, views) "
            "VALUES ('bank', 152, 1, ?1)",
            {std::string{R"([{"epoch":1,"node":"a","incarnation":"a-1",)"
                         R"("claim":1,"sequence":150,"flushed":-1}])"}})}));
  }
  auto writer_state = std::make_shared<changelog_state>();
  auto writer = start(writer_db, writer_state, writes);
  // More batches: the writer applies them and writes snapshots between.
  for (int i = 0; i < 40; ++i, ++version)
    publish(batch(
      1, static_cast<uint64_t>(version + 1),
      padded_changes(*owner, "m-" + std::to_string(version), version + 1)));
  REQUIRE(
    test::wait_until([&] { return bank_version(writer_db) == 190; }, 20s));

  // The lost reader found a snapshot, loaded it and ended its consumer; on
  // a restart it reads on from the snapshot's offset.
  REQUIRE(
    test::wait_until([&] { return lost_state->next_offset() > 152; }, 20s));
  auto loaded_at = lost_state->next_offset();
  CHECK(lost_state->shard(0).epoch == 1);
  std::this_thread::sleep_for(500ms);
  caf::anon_send_exit(lost, caf::exit_reason::user_shutdown);
  auto again_state = std::make_shared<changelog_state>();
  auto again = start(lost_db, again_state, {});
  REQUIRE(test::wait_until([&] { return bank_version(lost_db) == 190; }, 20s));
  // The file may be at 190 before the restarted reader has started (the
  // lost one got there): its state tells when it has.
  test::wait_until(
    [&] {
      return again_state->next_offset() >= loaded_at &&
             again_state->shard(0).sequence == 190;
    },
    20s);
  CHECK(again_state->next_offset() >= loaded_at);
  CHECK(again_state->shard(0).sequence == 190);

  // The rule goes on as everyone's: the next batch counts, a copy of an
  // older one is a duplicate, b's claim fences a.
  auto next = batch(1, 191, padded_changes(*owner, "m-190", 191));
  auto copy = batch(1, 190, padded_changes(*owner, "m-189", 190));
  auto zombie = batch(1, 192, padded_changes(*owner, "m-191", 192));
  auto next_id = to_message(next, stream).properties.message_id;
  auto copy_id = to_message(copy, stream).properties.message_id;
  auto zombie_id = to_message(zombie, stream).properties.message_id;
  for (const auto& id : {next_id, copy_id, zombie_id}) {
    again_state->expect(id);
    writer_state->expect(id);
  }
  publish(next);
  publish(copy);
  publish(claim("b"));
  publish(zombie);
  for (auto* state : {again_state.get(), writer_state.get()}) {
    auto n = state->take(next_id, 15s);
    REQUIRE(n);
    CHECK(n->outcome == verdict::accepted);
    auto c = state->take(copy_id, 15s);
    REQUIRE(c);
    CHECK(c->outcome == verdict::duplicate);
    auto z = state->take(zombie_id, 15s);
    REQUIRE(z);
    CHECK(z->outcome == verdict::fenced);
  }
  CHECK(bank_version(lost_db) == 191);
  CHECK(bank_version(writer_db) == 191);
  CHECK(again_state->shard(0).node == "b");
  {
    auto store = open_store(lost_db);
    CHECK(*store->seen("bank", "m-190"));
    CHECK(*store->seen("bank", "m-175"));
    // From before the writer's file was made current: in its snapshot too.
    CHECK(*store->seen("bank", "m-3"));
  }
  caf::anon_send_exit(again, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
}

TEST_CASE("a changelog reader takes a quiet stream for its end only once "
          "records came since it subscribed, so a reader started at the end "
          "of a quiet stream has no known lag until records come",
          "[broker][changelog]") {
  auto dir = scratch("caught-up");
  auto db = dir + "/standby.db";
  test_stream log{"bt-bank.log"};
  changelog_record count;
  count.kind = record_kind::shards;
  count.shards = 2;
  log.publish(count);      // 0
  log.publish(claim("a")); // 1

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto lag_of = [](const changelog_state& state) {
    return state.status().read().lag_seconds;
  };
  // It read both, then the stream was quiet: at its end.
  auto first = std::make_shared<changelog_state>(
    std::make_shared<member_status>("bank", 2));
  auto reader = start_reader(sys, log.topo, log.name, db, first);
  REQUIRE(test::wait_until(
    [&] { return first->next_offset() == 2 && lag_of(*first) == 0.0; }, 15s));
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  std::this_thread::sleep_for(300ms);

  // Started again at the end, it hears nothing: a quiet stream, or a
  // connection that is gone and not known to be yet (a partition), or a
  // consumer the broker does not deliver to. It does not say it is caught
  // up (placement would give its node shards).
  auto second = std::make_shared<changelog_state>(
    std::make_shared<member_status>("bank", 2));
  auto again = start_reader(sys, log.topo, log.name, db, second);
  REQUIRE(test::wait_until([&] { return second->next_offset() == 2; }, 15s));
  std::this_thread::sleep_for(1s); // several quiet polls (200 ms each)
  CHECK_FALSE(lag_of(*second));
  // A record comes, then quiet: caught up.
  log.publish(claim("b")); // 2
  CHECK(test::wait_until(
    [&] { return second->next_offset() == 3 && lag_of(*second) == 0.0; }, 15s));
  caf::anon_send_exit(again, caf::exit_reason::user_shutdown);
}
