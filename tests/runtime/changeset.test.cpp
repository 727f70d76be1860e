// A unit's changes captured as an SQLite changeset and written into another
// node's file (how a shard's state travels through its changelog), on real
// SQLite files.

#include "warren/core/errc.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <sqlite3.h>
#include <string>

using namespace warren;
using namespace warren::runtime;

namespace {

std::string scratch(const std::string& name) {
  auto dir = std::filesystem::path{WARREN_BINARY_DIR} / "test-scratch" /
             "changeset" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// A node's file with a kind's own table (an event store's, say) and a
// node's bookkeeping table.
std::unique_ptr<checkpoint_store> open_node(const std::string& path) {
  store_settings s;
  s.path = path;
  auto store = checkpoint_store::open(s);
  if (!store)
    FAIL(describe(store.error()));
  REQUIRE_FALSE((*store)->setup(
    "CREATE TABLE IF NOT EXISTS events (stream TEXT NOT NULL, version "
    "INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (stream, version))"));
  REQUIRE_FALSE((*store)->setup("CREATE TABLE IF NOT EXISTS local_position "
                                "(actor TEXT PRIMARY KEY, position INTEGER "
                                "NOT NULL)"));
  return std::move(*store);
}

// Every row of the tables a changeset carries, plus the outbox's count and
// the bookkeeping table, as text (inbox times left out: they are the
// writer's clock).
std::string dump(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  std::string out;
  for (const char* sql :
       {"SELECT actor, key, version, state FROM actor_state ORDER BY 1, 2",
        "SELECT actor, message_id FROM inbox ORDER BY 1, 2",
        "SELECT actor, name, hex(data) FROM operator_rows ORDER BY 1, 2",
        "SELECT stream, version, data FROM events ORDER BY 1, 2",
        "SELECT count(*) FROM outbox",
        "SELECT actor, position FROM local_position ORDER BY 1"}) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK);
    out += std::string{sql} + "\n";
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        auto* text = sqlite3_column_text(stmt, c);
        out += text ? reinterpret_cast<const char*>(text) : "NULL";
        out += '|';
      }
      out += '\n';
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

sql_group append(const std::string& stream, int64_t version,
                 const std::string& data) {
  return sql_group::of(
    "INSERT INTO events (stream, version, data) VALUES (?1, ?2, ?3)",
    {stream, version, data});
}

outgoing_message sent(const std::string& id) {
  outgoing_message m;
  m.exchange = "warren.actors";
  m.routing_key = "ledger";
  m.properties.message_id = id;
  m.body = "{}";
  return m;
}

// A unit of shard "bank.s3" touching every replicated table and the outbox.
unit_of_work first_unit() {
  unit_of_work u{"bank.s3"};
  u.applied("m-1");
  u.applied("m-2");
  u.put_state({"alice", 1, R"({"balance":5})"});
  u.put_state({"bob", 1, R"({"balance":7})"});
  u.put_row("watermark", std::string{"\x00\x01\xff", 3});
  u.execute(append("alice", 1, R"({"deposited":5})"));
  u.send(sent("m-1/bank/0"));
  return u;
}

// The next unit: an update, a row erased, another event.
unit_of_work second_unit() {
  unit_of_work u{"bank.s3"};
  u.applied("m-3");
  u.put_state({"alice", 2, R"({"balance":9})"});
  u.erase_row("watermark");
  u.execute(append("alice", 2, R"({"deposited":4})"));
  return u;
}

} // namespace

TEST_CASE("a unit captured as a changeset leaves its own file untouched, and "
          "written into another file gives it the rows a commit of the unit "
          "writes, without the outbox",
          "[store][changeset]") {
  auto dir = scratch("equal");
  auto owner = open_node(dir + "/owner.db");
  auto standby = open_node(dir + "/standby.db");
  auto committed = open_node(dir + "/committed.db");
  auto before = dump(dir + "/owner.db");

  auto u1 = first_unit();
  auto changes1 = owner->capture_changeset(u1);
  REQUIRE(changes1);
  CHECK_FALSE(changes1->empty());
  CHECK(dump(dir + "/owner.db") == before);

  auto report = standby->apply_changeset(*changes1);
  REQUIRE(report);
  CHECK(report->replaced == 0);
  CHECK(report->missing == 0);
  auto c1 = first_unit();
  REQUIRE_FALSE(committed->commit(c1));
  auto expected = dump(dir + "/committed.db");
  // The committed file has the outbox row the changeset leaves out.
  auto outbox_line = expected.find("SELECT count(*) FROM outbox\n1|");
  REQUIRE(outbox_line != std::string::npos);
  expected.replace(outbox_line,
                   std::string{"SELECT count(*) FROM outbox\n1|"}.size(),
                   "SELECT count(*) FROM outbox\n0|");
  CHECK(dump(dir + "/standby.db") == expected);

  // The owner writes its own changeset as the standby does, then the next.
  REQUIRE(owner->apply_changeset(*changes1));
  auto u2 = second_unit();
  auto changes2 = owner->capture_changeset(u2);
  REQUIRE(changes2);
  REQUIRE(owner->apply_changeset(*changes2));
  REQUIRE(standby->apply_changeset(*changes2));
  auto c2 = second_unit();
  REQUIRE_FALSE(committed->commit(c2));
  CHECK(dump(dir + "/owner.db") == dump(dir + "/standby.db"));
  auto state = dump(dir + "/standby.db");
  CHECK(state.find(R"(bank.s3|alice|2|{"balance":9}|)") != std::string::npos);
  CHECK(state.find("watermark") == std::string::npos);
  CHECK(state.find(R"(alice|2|{"deposited":4}|)") != std::string::npos);
  CHECK(state.find("bank.s3|m-3|") != std::string::npos);
}

TEST_CASE("a copy that diverged converges to the changeset's rows, and the "
          "conflicts are counted",
          "[store][changeset]") {
  auto dir = scratch("diverged");
  auto owner = open_node(dir + "/owner.db");
  auto standby = open_node(dir + "/standby.db");
  auto u1 = first_unit();
  auto changes1 = owner->capture_changeset(u1);
  REQUIRE(changes1);
  REQUIRE(owner->apply_changeset(*changes1));
  // The standby's alice differs from the owner's, and it lacks bob.
  unit_of_work stray{"bank.s3"};
  stray.put_state({"alice", 1, R"({"balance":1000})"});
  REQUIRE_FALSE(standby->commit(stray));

  auto u2 = second_unit();
  auto changes2 = owner->capture_changeset(u2);
  REQUIRE(changes2);
  auto report = standby->apply_changeset(*changes2);
  REQUIRE(report);
  CHECK(report->replaced == 1);
  // The row "watermark" the second unit erases was never there.
  CHECK(report->missing == 1);
  auto state = dump(dir + "/standby.db");
  CHECK(state.find(R"(bank.s3|alice|2|{"balance":9}|)") != std::string::npos);
}

TEST_CASE("a node's bookkeeping commits with the changeset it applies and is "
          "never part of one, a failure leaves nothing",
          "[store][changeset]") {
  auto dir = scratch("local");
  auto owner = open_node(dir + "/owner.db");
  auto standby = open_node(dir + "/standby.db");
  auto u1 = first_unit();
  u1.execute(sql_group::of(
    "INSERT INTO local_position (actor, position) VALUES (?1, ?2)",
    {std::string{"bank.s3"}, int64_t{41}}));
  auto changes = owner->capture_changeset(u1);
  REQUIRE(changes);

  std::vector<sql_group> position{sql_group::of(
    "INSERT OR REPLACE INTO local_position (actor, position) VALUES (?1, ?2)",
    {std::string{"bank.s3"}, int64_t{7}})};
  REQUIRE(standby->apply_changeset(*changes, position));
  auto state = dump(dir + "/standby.db");
  CHECK(state.find("bank.s3|7|") != std::string::npos);
  CHECK(state.find("bank.s3|41|") == std::string::npos);

  auto dir2 = scratch("local-failed");
  auto other = open_node(dir2 + "/other.db");
  auto before = dump(dir2 + "/other.db");
  std::vector<sql_group> broken{
    sql_group::of("INSERT INTO no_such_table VALUES (1)", {})};
  auto failed = other->apply_changeset(*changes, broken);
  REQUIRE_FALSE(failed);
  CHECK(code_of(failed.error()) == errc::store_failed);
  CHECK(dump(dir2 + "/other.db") == before);
}

TEST_CASE("a snapshot holds every row of one actor, its node's bookkeeping "
          "included, and loading it replaces that actor's rows in another "
          "file and leaves the other actors' alone",
          "[store][changeset][snapshot]") {
  auto dir = scratch("snapshot");
  auto writer = open_node(dir + "/writer.db");
  auto behind = open_node(dir + "/behind.db");
  // The writer's file: two units of bank.s3 and its bookkeeping, another
  // actor's rows, and an outbox row (never part of a snapshot).
  auto u1 = first_unit();
  REQUIRE_FALSE(writer->commit(u1));
  auto u2 = second_unit();
  u2.execute(sql_group::of(
    "INSERT INTO local_position (actor, position) VALUES (?1, ?2)",
    {std::string{"bank.s3"}, int64_t{41}}));
  REQUIRE_FALSE(writer->commit(u2));
  unit_of_work other{"ledger"};
  other.applied("l-1");
  other.put_state({"carol", 3, R"({"n":1})"});
  REQUIRE_FALSE(writer->commit(other));

  // The file behind: stale rows of bank.s3 (some the writer no longer has)
  // and rows of an actor the snapshot does not touch.
  unit_of_work stale{"bank.s3"};
  stale.applied("m-0");
  stale.put_state({"zed", 9, R"({"balance":1})"});
  stale.put_row("watermark", std::string{"old"});
  stale.execute(sql_group::of(
    "INSERT INTO local_position (actor, position) VALUES (?1, ?2)",
    {std::string{"bank.s3"}, int64_t{3}}));
  REQUIRE_FALSE(behind->commit(stale));
  unit_of_work kept{"audit"};
  kept.applied("a-1");
  kept.put_state({"dave", 1, R"({"seen":true})"});
  REQUIRE_FALSE(behind->commit(kept));

  auto snapshot = writer->snapshot_rows("bank.s3");
  REQUIRE(snapshot);
  CHECK_FALSE(snapshot->empty());
  REQUIRE_FALSE(behind->replace_rows("bank.s3", *snapshot));
  auto loaded = dump(dir + "/behind.db");
  INFO(loaded);
  CHECK(loaded.find(R"(bank.s3|alice|2|{"balance":9}|)") != std::string::npos);
  CHECK(loaded.find(R"(bank.s3|bob|1|{"balance":7}|)") != std::string::npos);
  CHECK(loaded.find("bank.s3|m-1|") != std::string::npos);
  CHECK(loaded.find("bank.s3|m-3|") != std::string::npos);
  CHECK(loaded.find("bank.s3|41|") != std::string::npos);
  // What only the stale file had of bank.s3 is gone.
  CHECK(loaded.find("zed") == std::string::npos);
  CHECK(loaded.find("bank.s3|m-0|") == std::string::npos);
  CHECK(loaded.find("bank.s3|watermark") == std::string::npos);
  CHECK(loaded.find("bank.s3|3|") == std::string::npos);
  // Other actors: the writer's are not in the snapshot, the file's stay.
  CHECK(loaded.find("carol") == std::string::npos);
  CHECK(loaded.find(R"(audit|dave|1|{"seen":true}|)") != std::string::npos);
  CHECK(loaded.find("audit|a-1|") != std::string::npos);
  // The outbox travels with the changelog's records, not in snapshots.
  CHECK(loaded.find("SELECT count(*) FROM outbox\n0|") != std::string::npos);
  // `events` has no actor (or store) column: a kind that keeps such a table
  // cannot be sharded, and a snapshot leaves it alone.
  CHECK(loaded.find("alice|1|{\"deposited\":5}") == std::string::npos);

  // Loaded into an empty file, and a snapshot of that loaded into a third:
  // the same rows.
  auto fresh = open_node(dir + "/fresh.db");
  REQUIRE_FALSE(fresh->replace_rows("bank.s3", *snapshot));
  auto again = fresh->snapshot_rows("bank.s3");
  REQUIRE(again);
  auto third = open_node(dir + "/third.db");
  REQUIRE_FALSE(third->replace_rows("bank.s3", *again));
  CHECK(dump(dir + "/third.db") == dump(dir + "/fresh.db"));
  CHECK(dump(dir + "/fresh.db").find(R"(bank.s3|alice|2|{"balance":9}|)") !=
        std::string::npos);
}

TEST_CASE("a snapshot takes the rows a store column gives to the actor or "
          "to one of its shards, and no other actor's",
          "[store][changeset][snapshot]") {
  auto dir = scratch("snapshot-store-column");
  auto writer = open_node(dir + "/writer.db");
  auto behind = open_node(dir + "/behind.db");
  const char* create =
    "CREATE TABLE IF NOT EXISTS kind_events (store TEXT NOT NULL, position "
    "INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (store, position))";
  REQUIRE_FALSE(writer->setup(create));
  REQUIRE_FALSE(behind->setup(create));
  auto insert = [](const std::string& store, int64_t position,
                   const std::string& data) {
    return sql_group::of(
      "INSERT INTO kind_events (store, position, data) VALUES (?1, ?2, ?3)",
      {store, position, data});
  };
  unit_of_work u{"bank"};
  for (const char* store :
       {"bank", "bank.s0", "bank.s12", "bank.sx", "bank.s", "banker"})
    u.execute(insert(store, 1, std::string{"new "} + store));
  REQUIRE_FALSE(writer->commit(u));
  unit_of_work stale{"bank"};
  for (const char* store : {"bank.s0", "bank.s7", "bank.sx", "banker"})
    stale.execute(insert(store, 2, std::string{"old "} + store));
  REQUIRE_FALSE(behind->commit(stale));

  auto snapshot = writer->snapshot_rows("bank");
  REQUIRE(snapshot);
  REQUIRE_FALSE(behind->replace_rows("bank", *snapshot));
  std::set<std::string> rows;
  REQUIRE_FALSE(behind->read_sql(
    "SELECT store || '/' || position || '/' || data FROM kind_events", {},
    [&](const sql_row& row) -> caf::error {
      rows.emplace(row.text(0));
      return caf::none;
    }));
  // bank's and its shards' rows are the writer's; the others the file's.
  CHECK(rows ==
        std::set<std::string>{"bank/1/new bank", "bank.s0/1/new bank.s0",
                              "bank.s12/1/new bank.s12",
                              "bank.sx/2/old bank.sx", "banker/2/old banker"});
}

TEST_CASE("a snapshot of an actor without rows is empty and loading it "
          "deletes that actor's rows",
          "[store][changeset][snapshot]") {
  auto dir = scratch("snapshot-empty");
  auto writer = open_node(dir + "/writer.db");
  auto behind = open_node(dir + "/behind.db");
  auto u1 = first_unit();
  REQUIRE_FALSE(behind->commit(u1));
  auto snapshot = writer->snapshot_rows("bank.s3");
  REQUIRE(snapshot);
  CHECK(snapshot->empty());
  REQUIRE_FALSE(behind->replace_rows("bank.s3", *snapshot));
  auto loaded = dump(dir + "/behind.db");
  INFO(loaded);
  CHECK(loaded.find("bank.s3|") == std::string::npos);
}

// Not run by default (the figures in README.md, "Retention and snapshots"):
//   build/tests/warren-runtime-test "[snapshot-bench]" -s
TEST_CASE("bench: a snapshot of 10k keys, written and loaded",
          "[.][store][snapshot-bench]") {
  auto dir = scratch("snapshot-bench");
  for (int inbox_per_key : {1, 6}) {
    auto writer = open_node(dir + "/writer-" + std::to_string(inbox_per_key));
    // A counter's rows: 10k keys, and as many inbox ids per key.
    for (int unit = 0; unit < 100; ++unit) {
      unit_of_work u{"accounts"};
      for (int k = unit * 100; k < (unit + 1) * 100; ++k) {
        auto key = "k" + std::to_string(k);
        for (int m = 0; m < inbox_per_key; ++m)
          u.applied("accounts-m" + std::to_string(k * inbox_per_key + m));
        u.put_state({key, 1, R"({"count":)" + std::to_string(k) + "}"});
      }
      REQUIRE_FALSE(writer->commit(u));
    }
    using clock = std::chrono::steady_clock;
    auto ms = [](clock::duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    auto t0 = clock::now();
    auto rows = writer->snapshot_rows("accounts");
    auto t1 = clock::now();
    REQUIRE(rows);
    auto fresh = open_node(dir + "/fresh-" + std::to_string(inbox_per_key));
    auto t2 = clock::now();
    REQUIRE_FALSE(fresh->replace_rows("accounts", *rows));
    auto t3 = clock::now();
    WARN("10000 keys, " << 10000 * inbox_per_key << " inbox ids: snapshot "
                        << rows->size() << " bytes, read in " << ms(t1 - t0)
                        << " ms, loaded in " << ms(t3 - t2) << " ms");
  }
}
