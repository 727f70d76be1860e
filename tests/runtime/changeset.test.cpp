// A unit's changes captured as an SQLite changeset and written into another
// node's file (how a shard's state travels through its changelog), on real
// SQLite files.

// The session API reads the order of a changeset's rows.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1

#include "warren/core/errc.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <sqlite3.h>
#include <string>
#include <thread>
#include <vector>

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

// The rows `sql` gives in the file at `path`, as text.
std::string rows_of(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    std::string why = sqlite3_errmsg(db);
    sqlite3_close(db);
    FAIL(sql << ": " << why);
  }
  std::string out;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      auto* text = sqlite3_column_text(stmt, c);
      out += text ? reinterpret_cast<const char*>(text) : "NULL";
      out += '|';
    }
    out += '\n';
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Every row of the tables a changeset carries, plus the outbox's count and
// the bookkeeping table, as text (inbox times left out: they are the
// writer's clock).
std::string dump(const std::string& path) {
  std::string out;
  for (const char* sql :
       {"SELECT actor, key, version, state FROM actor_state ORDER BY 1, 2",
        "SELECT actor, message_id FROM inbox ORDER BY 1, 2",
        "SELECT actor, name, hex(data) FROM operator_rows ORDER BY 1, 2",
        "SELECT stream, version, data FROM events ORDER BY 1, 2",
        "SELECT count(*) FROM outbox",
        "SELECT actor, position FROM local_position ORDER BY 1"})
    out += std::string{sql} + "\n" + rows_of(path, sql);
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

// -- the schema catalog --

// The objects units created (`p_*`), with their SQL as SQLite keeps it.
std::string objects(const std::string& path) {
  return rows_of(path, "SELECT type, name, sql FROM sqlite_master WHERE "
                       "substr(name, 1, 2) = 'p_' ORDER BY name");
}

std::string catalog(const std::string& path) {
  return rows_of(path, "SELECT actor, name, type, sql FROM warren_schema "
                       "ORDER BY actor, name");
}

// Everything a failed apply must leave as it was: the schema, the catalog
// and the rows.
std::string whole(const std::string& path) {
  return rows_of(path, "SELECT type, name, sql FROM sqlite_master ORDER BY "
                       "name") +
         catalog(path) + dump(path);
}

const std::string shard = "proj.s0";
const std::string table_name = "p_proj_s0_g1_t";
const std::string table_sql = "CREATE TABLE p_proj_s0_g1_t (k TEXT PRIMARY "
                              "KEY, n INTEGER NOT NULL)";
const std::string index_name = "p_proj_s0_g1_index0";
const std::string index_sql =
  "CREATE INDEX p_proj_s0_g1_index0 ON p_proj_s0_g1_t (n)";

// An object and its catalog row, as a unit creates them.
sql_group create(const std::string& actor, const std::string& name,
                 const std::string& type, const std::string& sql) {
  sql_group g;
  g.statements.push_back({sql, {}});
  g.statements.push_back({"INSERT INTO warren_schema (actor, name, type, "
                          "sql) VALUES (?1, ?2, ?3, ?4)",
                          {actor, name, type, sql}});
  return g;
}

sql_group drop(const std::string& actor, const std::string& name,
               const std::string& type) {
  sql_group g;
  g.statements.push_back(
    {(type == "table" ? "DROP TABLE IF EXISTS " : "DROP INDEX IF EXISTS ") +
       name,
     {}});
  g.statements.push_back(
    {"DELETE FROM warren_schema WHERE actor = ?1 AND name = ?2",
     {actor, name}});
  return g;
}

// A catalog row alone, without running its SQL.
sql_group catalog_row(const std::string& actor, const std::string& name,
                      const std::string& type, const std::string& sql) {
  return sql_group::of("INSERT INTO warren_schema (actor, name, type, sql) "
                       "VALUES (?1, ?2, ?3, ?4)",
                       {actor, name, type, sql});
}

sql_group put(const std::string& table, const std::string& key, int64_t n) {
  return sql_group::of("INSERT INTO " + table + " VALUES (?1, ?2)", {key, n});
}

// The first unit of a projection's shard: its first generation's table and
// index, and two rows.
unit_of_work first_generation() {
  unit_of_work u{shard};
  u.execute(create(shard, table_name, "table", table_sql));
  u.execute(create(shard, index_name, "index", index_sql));
  u.execute(put(table_name, "a", 1));
  u.execute(put(table_name, "b", 2));
  return u;
}

// The names of the catalog rows in `changeset`, in its order.
std::vector<std::string> catalog_order(const std::string& changeset) {
  std::vector<std::string> out;
  sqlite3_changeset_iter* it = nullptr;
  REQUIRE(sqlite3changeset_start(&it, static_cast<int>(changeset.size()),
                                 const_cast<char*>(changeset.data())) ==
          SQLITE_OK);
  while (sqlite3changeset_next(it) == SQLITE_ROW) {
    const char* table = nullptr;
    int columns = 0;
    int op = 0;
    int indirect = 0;
    sqlite3changeset_op(it, &table, &columns, &op, &indirect);
    sqlite3_value* name = nullptr;
    if (std::string{table} == "warren_schema" &&
        sqlite3changeset_new(it, 1, &name) == SQLITE_OK && name != nullptr)
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_value_text(name)));
  }
  sqlite3changeset_finalize(it);
  return out;
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

TEST_CASE("a snapshot read after begin_read holds the rows as of that "
          "moment, on another thread, whatever the writer commits meanwhile",
          "[store][changeset][snapshot]") {
  auto dir = scratch("snapshot-pinned");
  auto writer = open_node(dir + "/writer.db");
  store_settings read_only;
  read_only.path = dir + "/writer.db";
  read_only.read_only = true;
  auto reader = checkpoint_store::open(read_only);
  REQUIRE(reader);
  unit_of_work before{"bank.s3"};
  before.applied("m-1");
  before.put_state({"alice", 1, R"({"balance":1})"});
  REQUIRE_FALSE(writer->commit(before));

  REQUIRE_FALSE((*reader)->begin_read());
  // Committed after the read began: not in the snapshot.
  unit_of_work after{"bank.s3"};
  after.applied("m-2");
  after.put_state({"alice", 2, R"({"balance":2})"});
  after.put_state({"bob", 1, R"({"balance":5})"});
  REQUIRE_FALSE(writer->commit(after));
  caf::expected<std::string> rows{std::string{}};
  std::thread other{[&] {
    rows = (*reader)->snapshot_rows("bank.s3");
  }};
  other.join();
  REQUIRE(rows);
  auto fresh = open_node(dir + "/fresh.db");
  REQUIRE_FALSE(fresh->replace_rows("bank.s3", *rows));
  auto loaded = dump(dir + "/fresh.db");
  INFO(loaded);
  CHECK(loaded.find(R"(bank.s3|alice|1|{"balance":1}|)") != std::string::npos);
  CHECK(loaded.find("bank.s3|m-1|") != std::string::npos);
  CHECK(loaded.find("bob") == std::string::npos);
  CHECK(loaded.find("bank.s3|m-2|") == std::string::npos);

  // The read ended with the snapshot: the next one sees the writer's rows.
  auto later = (*reader)->snapshot_rows("bank.s3");
  REQUIRE(later);
  auto third = open_node(dir + "/third.db");
  REQUIRE_FALSE(third->replace_rows("bank.s3", *later));
  CHECK(dump(dir + "/third.db").find(R"(bank.s3|bob|1|{"balance":5}|)") !=
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

TEST_CASE("schema catalog: tables a unit creates and drops reach other "
          "files",
          "[store][changeset]") {
  auto dir = scratch("catalog-create-drop");
  auto owner = open_node(dir + "/owner.db");
  auto standby = open_node(dir + "/standby.db");
  auto before = whole(dir + "/owner.db");

  auto u1 = first_generation();
  auto created = owner->capture_changeset(u1);
  if (!created)
    FAIL(describe(created.error()));
  CHECK(whole(dir + "/owner.db") == before);
  REQUIRE(owner->apply_changeset(*created));
  REQUIRE(standby->apply_changeset(*created));
  auto expected = "index|" + index_name + "|" + index_sql + "|\n" + "table|" +
                  table_name + "|" + table_sql + "|\n";
  CHECK(objects(dir + "/owner.db") == expected);
  CHECK(objects(dir + "/standby.db") == expected);
  CHECK(catalog(dir + "/standby.db") == catalog(dir + "/owner.db"));
  CHECK(catalog(dir + "/standby.db") ==
        "proj.s0|" + index_name + "|index|" + index_sql + "|\n" + "proj.s0|" +
          table_name + "|table|" + table_sql + "|\n");
  // A session attached to every table (NULL) records the rows of a table
  // created later in its transaction.
  auto rows = "SELECT k, n FROM " + table_name + " ORDER BY k";
  CHECK(rows_of(dir + "/standby.db", rows) == "a|1|\nb|2|\n");
  CHECK(rows_of(dir + "/owner.db", rows) == "a|1|\nb|2|\n");

  unit_of_work u2{shard};
  u2.execute(drop(shard, index_name, "index"));
  u2.execute(drop(shard, table_name, "table"));
  auto dropped = owner->capture_changeset(u2);
  if (!dropped)
    FAIL(describe(dropped.error()));
  REQUIRE(owner->apply_changeset(*dropped));
  REQUIRE(standby->apply_changeset(*dropped));
  for (const char* file : {"/owner.db", "/standby.db"}) {
    CHECK(objects(dir + file).empty());
    CHECK(catalog(dir + file).empty());
  }
}

TEST_CASE("schema catalog guard: DDL without a catalog row fails the capture",
          "[store][changeset]") {
  auto dir = scratch("catalog-guard");
  auto owner = open_node(dir + "/owner.db");
  auto before = whole(dir + "/owner.db");
  unit_of_work u{shard};
  u.execute(sql_group::of(table_sql));
  u.execute(put(table_name, "a", 1));
  auto changes = owner->capture_changeset(u);
  REQUIRE_FALSE(changes);
  CHECK(code_of(changes.error()) == errc::store_failed);
  CHECK_THAT(describe(changes.error()),
             Catch::Contains("a unit changed the schema without recording it "
                             "in warren_schema: its standbys would lose rows"));
  CHECK(whole(dir + "/owner.db") == before);

  // A unit that writes rows to a table and then drops it: SQLite makes no
  // changeset of that.
  auto u1 = first_generation();
  auto created = owner->capture_changeset(u1);
  REQUIRE(created);
  REQUIRE(owner->apply_changeset(*created));
  unit_of_work u2{shard};
  u2.execute(put(table_name, "c", 3));
  u2.execute(drop(shard, table_name, "table"));
  auto wrote_then_dropped = owner->capture_changeset(u2);
  REQUIRE_FALSE(wrote_then_dropped);
  CHECK_THAT(describe(wrote_then_dropped.error()),
             Catch::Contains("a unit dropped or altered a table it wrote rows "
                             "to"));
  CHECK(rows_of(dir + "/owner.db",
                "SELECT k FROM " + table_name + " ORDER BY k") == "a|\nb|\n");
}

TEST_CASE("schema catalog order: an index listed before its table applies",
          "[store][changeset]") {
  auto dir = scratch("catalog-order");
  auto owner = open_node(dir + "/owner.db");
  auto standby = open_node(dir + "/standby.db");
  const std::string table = "p_proj_s0_g1_z";
  const std::string index = "p_proj_s0_g1_a_index";
  const std::string create_table =
    "CREATE TABLE " + table + " (k TEXT PRIMARY KEY, n INTEGER NOT NULL)";
  const std::string create_index =
    "CREATE UNIQUE INDEX " + index + " ON " + table + " (n)";
  unit_of_work u{shard};
  u.execute(create(shard, table, "table", create_table));
  u.execute(create(shard, index, "index", create_index));
  u.execute(put(table, "a", 1));
  auto changes = owner->capture_changeset(u);
  REQUIRE(changes);
  // What this test is about: SQLite lists the index's row first.
  REQUIRE(catalog_order(*changes) == std::vector<std::string>{index, table});
  REQUIRE(standby->apply_changeset(*changes));
  CHECK(objects(dir + "/standby.db") == "index|" + index + "|" + create_index +
                                          "|\ntable|" + table + "|" +
                                          create_table + "|\n");
  CHECK(rows_of(dir + "/standby.db", "SELECT k, n FROM " + table) == "a|1|\n");
}

TEST_CASE("schema catalog objects: one with the same SQL stays, other SQL is "
          "replaced",
          "[store][changeset]") {
  auto dir = scratch("catalog-existing");
  auto owner = open_node(dir + "/owner.db");
  auto u1 = first_generation();
  auto changes = owner->capture_changeset(u1);
  REQUIRE(changes);
  auto rows = "SELECT k, n FROM " + table_name + " ORDER BY k";

  // The same SQL: the table stays, with the row it had.
  auto same = open_node(dir + "/same.db");
  REQUIRE_FALSE(same->setup(table_sql));
  REQUIRE_FALSE(
    same->setup("INSERT INTO " + table_name + " VALUES ('kept', 9)"));
  REQUIRE(same->apply_changeset(*changes));
  CHECK(rows_of(dir + "/same.db", rows) == "a|1|\nb|2|\nkept|9|\n");

  // Other SQL: the table is created anew from the catalog.
  auto other = open_node(dir + "/other.db");
  REQUIRE_FALSE(other->setup("CREATE TABLE " + table_name +
                             " (k TEXT PRIMARY KEY, n INTEGER, extra TEXT)"));
  REQUIRE_FALSE(
    other->setup("INSERT INTO " + table_name + " VALUES ('stale', 0, 'x')"));
  REQUIRE(other->apply_changeset(*changes));
  CHECK(objects(dir + "/other.db") == objects(dir + "/same.db"));
  CHECK(rows_of(dir + "/other.db", rows) == "a|1|\nb|2|\n");

  // The same SQL spelled otherwise than SQLite keeps it (lower case, IF NOT
  // EXISTS): the same object, which stays.
  const std::string spelled = "create table if not exists p_proj_s0_g1_s "
                              "(k TEXT PRIMARY KEY, n INTEGER NOT NULL);";
  unit_of_work u2{shard};
  u2.execute(create(shard, "p_proj_s0_g1_s", "table", spelled));
  u2.execute(put("p_proj_s0_g1_s", "a", 1));
  auto spelled_changes = owner->capture_changeset(u2);
  REQUIRE(spelled_changes);
  REQUIRE_FALSE(same->setup(spelled));
  REQUIRE_FALSE(same->setup("INSERT INTO p_proj_s0_g1_s VALUES ('kept', 9)"));
  REQUIRE(same->apply_changeset(*spelled_changes));
  CHECK(rows_of(dir + "/same.db", "SELECT k FROM p_proj_s0_g1_s ORDER BY k") ==
        "a|\nkept|\n");
}

TEST_CASE("schema catalog refusals: SQL that does more fails the apply",
          "[store][changeset]") {
  auto dir = scratch("catalog-refused");
  auto owner = open_node(dir + "/owner.db");
  auto standby = open_node(dir + "/standby.db");
  struct bad_row {
    std::string name;
    std::string type;
    std::string sql;
  };
  const std::vector<bad_row> bad{
    {"p_x", "table", "DROP TABLE inbox"},
    {"p_x", "table", "CREATE TABLE p_y (k TEXT PRIMARY KEY)"},
    {"p_x", "index", "CREATE INDEX p_y ON actor_state (version)"},
    {"p_x", "index", "CREATE INDEX p_x ON inbox (received_ms)"},
    {"inbox_copy", "table", "CREATE TABLE inbox_copy (k TEXT PRIMARY KEY)"},
    {"warren_x", "table", "CREATE TABLE warren_x (k TEXT PRIMARY KEY)"},
    {"p_x", "table", "CREATE TABLE p_x AS SELECT * FROM inbox"},
    {"p_x", "table", "CREATE TABLE p_x (k TEXT PRIMARY KEY); DROP TABLE inbox"},
    {"p_x", "table", "CREATE TEMP TABLE p_x (k TEXT PRIMARY KEY)"},
    {"p_x", "view", "CREATE VIEW p_x AS SELECT 1"},
    {"p_x", "table",
     "CREATE TRIGGER p_x AFTER INSERT ON actor_state BEGIN DELETE FROM "
     "inbox; END"},
  };
  unit_of_work seed{shard};
  seed.applied("m-1");
  REQUIRE_FALSE(standby->commit(seed));
  auto before = whole(dir + "/standby.db");
  for (const auto& row : bad) {
    INFO(row.name << " " << row.type << ": " << row.sql);
    unit_of_work u{shard};
    u.put_state({"k", 1, "{}"});
    u.execute(catalog_row(shard, row.name, row.type, row.sql));
    auto changes = owner->capture_changeset(u);
    REQUIRE(changes);
    auto applied = standby->apply_changeset(*changes);
    REQUIRE_FALSE(applied);
    CHECK(code_of(applied.error()) == errc::store_failed);
    CHECK_THAT(describe(applied.error()),
               Catch::Contains("catalog row proj.s0/" + row.name + " refused"));
    CHECK(whole(dir + "/standby.db") == before);
  }

  // A catalog row's deletion drops catalog names only.
  for (auto* store : {owner.get(), standby.get()})
    REQUIRE_FALSE(store->setup(
      "INSERT INTO warren_schema VALUES ('proj.s0', 'inbox', 'table', 'x')"));
  before = whole(dir + "/standby.db");
  unit_of_work u{shard};
  u.execute(sql_group::of(
    "DELETE FROM warren_schema WHERE actor = 'proj.s0' AND name = 'inbox'"));
  auto changes = owner->capture_changeset(u);
  REQUIRE(changes);
  auto applied = standby->apply_changeset(*changes);
  REQUIRE_FALSE(applied);
  CHECK_THAT(describe(applied.error()),
             Catch::Contains("refusing to drop 'inbox'"));
  CHECK(whole(dir + "/standby.db") == before);
}

TEST_CASE("schema catalog snapshots: a shard's tables travel whole, other "
          "actors' stay",
          "[store][changeset][snapshot]") {
  auto dir = scratch("catalog-snapshot");
  auto writer = open_node(dir + "/writer.db");
  auto behind = open_node(dir + "/behind.db");
  // proj_b's table has an `actor` column holding proj's name: neither a
  // snapshot of proj nor loading one may read it that way.
  const std::string b_table = "p_proj_b_s0_g1_t";
  const std::string b_sql =
    "CREATE TABLE " + b_table + " (actor TEXT PRIMARY KEY, n INTEGER NOT NULL)";
  auto proj_b = [&](int64_t n) {
    unit_of_work u{"proj_b.s0"};
    u.execute(create("proj_b.s0", b_table, "table", b_sql));
    for (const char* actor : {"proj", "proj.s0", "proj_b.s0"})
      u.execute(put(b_table, actor, n));
    return u;
  };

  // The writer: proj.s0 at its second generation, with a table whose
  // `store` column names no actor, and proj_b.
  const std::string g2 = "p_proj_s0_g2_t";
  const std::string g2_sql =
    "CREATE TABLE " + g2 + " (k TEXT PRIMARY KEY, n INTEGER NOT NULL)";
  const std::string g2_index = "p_proj_s0_g2_index0";
  const std::string g2_index_sql =
    "CREATE INDEX " + g2_index + " ON " + g2 + " (n)";
  const std::string g2_store = "p_proj_s0_g2_u";
  const std::string g2_store_sql = "CREATE TABLE " + g2_store +
                                   " (store TEXT NOT NULL, n INTEGER NOT "
                                   "NULL, PRIMARY KEY (store, n))";
  unit_of_work w{shard};
  w.put_state({"alice", 1, "{}"});
  w.execute(create(shard, g2, "table", g2_sql));
  w.execute(create(shard, g2_index, "index", g2_index_sql));
  w.execute(create(shard, g2_store, "table", g2_store_sql));
  w.execute(put(g2, "a", 1));
  w.execute(put(g2, "b", 2));
  w.execute(put(g2_store, "elsewhere", 1));
  w.execute(put(g2_store, "proj.s0", 2));
  REQUIRE_FALSE(writer->commit(w));
  auto wb = proj_b(100);
  REQUIRE_FALSE(writer->commit(wb));

  // The file behind: proj.s0's stale first generation, and proj_b.
  auto stale = first_generation();
  REQUIRE_FALSE(behind->commit(stale));
  auto bb = proj_b(1);
  REQUIRE_FALSE(behind->commit(bb));
  auto b_rows = rows_of(dir + "/behind.db",
                        "SELECT actor, n FROM " + b_table + " ORDER BY 1");
  REQUIRE(b_rows == "proj|1|\nproj.s0|1|\nproj_b.s0|1|\n");

  auto snapshot = writer->snapshot_rows("proj");
  if (!snapshot)
    FAIL(describe(snapshot.error()));
  auto g2_rows = "SELECT k, n FROM " + g2 + " ORDER BY k";
  auto store_rows = "SELECT store, n FROM " + g2_store + " ORDER BY store";
  auto proj_catalog = "SELECT name, type, sql FROM warren_schema WHERE actor "
                      "= 'proj.s0' ORDER BY name";
  auto proj_objects = "SELECT type, name, sql FROM sqlite_master WHERE "
                      "substr(name, 1, 7) = 'p_proj_' AND substr(name, 1, "
                      "9) <> 'p_proj_b_' ORDER BY name";

  for (const char* file : {"/fresh.db", "/behind.db"}) {
    INFO(file);
    auto path = dir + file;
    auto target =
      std::string{file} == "/fresh.db" ? open_node(path) : std::move(behind);
    REQUIRE_FALSE(target->replace_rows("proj", *snapshot));
    CHECK(rows_of(path, proj_catalog) ==
          rows_of(dir + "/writer.db", proj_catalog));
    CHECK(rows_of(path, proj_objects) ==
          rows_of(dir + "/writer.db", proj_objects));
    CHECK(rows_of(path, g2_rows) == "a|1|\nb|2|\n");
    CHECK(rows_of(path, store_rows) == "elsewhere|1|\nproj.s0|2|\n");
    CHECK(rows_of(path, "SELECT key FROM actor_state WHERE actor = "
                        "'proj.s0'") == "alice|\n");
  }
  // The stale generation is gone; proj_b's catalog, table and rows (even
  // those whose `actor` names proj) are as they were.
  auto path = dir + "/behind.db";
  CHECK(rows_of(path, proj_objects).find("p_proj_s0_g1") == std::string::npos);
  CHECK(rows_of(path, "SELECT actor, name FROM warren_schema WHERE actor = "
                      "'proj_b.s0'") == "proj_b.s0|" + b_table + "|\n");
  CHECK(rows_of(path, "SELECT type, sql FROM sqlite_master WHERE name = '" +
                        b_table + "'") == "table|" + b_sql + "|\n");
  CHECK(rows_of(path, "SELECT actor, n FROM " + b_table + " ORDER BY 1") ==
        b_rows);
  // The fresh file got nothing of proj_b's.
  CHECK(objects(dir + "/fresh.db").find("proj_b") == std::string::npos);
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
