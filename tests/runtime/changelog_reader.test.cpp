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

} // namespace

TEST_CASE("a changelog reader applies the accepted batches into its file, "
          "fences a zombie's, keeps what they owe until flushed, and resumes "
          "after the last record it applied",
          "[broker][changelog]") {
  auto dir = scratch("reader");
  auto owner = open_store(dir + "/owner.db");
  auto db = dir + "/standby.db";
  auto client = bridges::blocking_client::connect(test::broker_settings());
  REQUIRE(client);
  auto stream = test::unique("bt-bank.log");
  auto topo = test::declare_stream(**client, stream);
  auto publish = [&](const changelog_record& r) {
    auto m = to_message(r, stream);
    REQUIRE_FALSE((*client)->publish(m, 10s));
    return m.properties.message_id;
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
    store_settings s;
    s.path = db;
    auto reader = std::make_shared<changelog_reader>("bank", s, state);
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
  (*client)->delete_queue(stream);
}
