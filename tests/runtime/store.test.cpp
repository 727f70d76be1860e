// The checkpoint store on real SQLite files: schema, transactions, the inbox
// and outbox, and clear errors for files it must not use.

#include "warren/core/errc.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sqlite3.h>

using namespace warren;
using namespace warren::runtime;

namespace {

// A fresh directory under the build tree.
std::string scratch(const std::string& name) {
  auto dir =
    std::filesystem::path{WARREN_BINARY_DIR} / "test-scratch" / "store" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::unique_ptr<checkpoint_store> open_ok(const std::string& path,
                                          bool read_only = false) {
  store_settings s;
  s.path = path;
  s.read_only = read_only;
  auto store = checkpoint_store::open(s);
  if (!store)
    FAIL(describe(store.error()));
  return std::move(*store);
}

std::string open_error(const std::string& path, bool read_only = false) {
  store_settings s;
  s.path = path;
  s.read_only = read_only;
  auto store = checkpoint_store::open(s);
  REQUIRE_FALSE(store);
  CHECK(code_of(store.error()) == errc::store_failed);
  return describe(store.error());
}

std::string pragma_text(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK);
  std::string result;
  if (sqlite3_step(stmt) == SQLITE_ROW)
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

warren::outgoing_message sample_message() {
  warren::outgoing_message msg;
  msg.exchange = "warren.actors";
  msg.routing_key = "ledger";
  msg.mandatory = true;
  msg.properties.message_id = "m-1/bank/0";
  msg.properties.type = "deposited";
  msg.properties.correlation_id = "c";
  msg.properties.reply_to = "amq.gen-x";
  msg.properties.timestamp = 1700000000;
  msg.properties.priority = 3;
  msg.properties.expiration = "60000";
  warren::set_field(msg.properties.headers, "x-warren-trace", std::string{"t"});
  warren::set_field(msg.properties.headers, "n", int64_t{42});
  warren::set_field(msg.properties.headers, "b", true);
  warren::set_field(msg.properties.headers, "d", 2.5);
  msg.body = R"({"amount":5})";
  return msg;
}

} // namespace

TEST_CASE("a new store gets the current schema in WAL mode", "[store]") {
  auto path = scratch("new") + "/sub/warren.db";
  open_ok(path);
  CHECK(pragma_text(path, "PRAGMA user_version") ==
        std::to_string(store_schema_version));
  CHECK(pragma_text(path, "PRAGMA journal_mode") == "wal");
}

TEST_CASE("a commit writes state, inbox and outbox together, and reads see "
          "them after reopening",
          "[store]") {
  auto path = scratch("commit") + "/warren.db";
  {
    auto store = open_ok(path);
    unit_of_work work{"bank"};
    work.put_state({"acct-1", 1, R"({"balance":5})"});
    work.applied("m-1");
    work.send(sample_message());
    REQUIRE_FALSE(store->commit(work));
    CHECK(work.outbox()[0].id > 0);
  }
  auto store = open_ok(path);
  auto state = store->load("bank", "acct-1");
  REQUIRE(state);
  REQUIRE(*state);
  CHECK((*state)->version == 1);
  CHECK((*state)->state == R"({"balance":5})");
  CHECK(*store->seen("bank", "m-1"));
  CHECK_FALSE(*store->seen("bank", "m-2"));
  CHECK_FALSE(*store->seen("other", "m-1"));
  auto pending = store->pending_outbox("bank");
  REQUIRE(pending);
  REQUIRE(pending->size() == 1);
  CHECK(pending->front().message.properties.message_id == "m-1/bank/0");
  REQUIRE_FALSE(store->delete_outbox({pending->front().id}));
  CHECK(store->pending_outbox()->empty());
  CHECK_FALSE(*store->load("bank", "acct-2"));
}

TEST_CASE("a failed commit writes nothing", "[store]") {
  auto path = scratch("atomic") + "/warren.db";
  open_ok(path);
  // A read-only connection cannot write: the whole batch fails.
  auto store = open_ok(path, true);
  unit_of_work work{"bank"};
  work.put_state({"acct-1", 1, "{}"});
  work.applied("m-1");
  auto err = store->commit(work);
  REQUIRE(err);
  CHECK(code_of(err) == errc::store_failed);
  auto writer = open_ok(path);
  CHECK_FALSE(*writer->load("bank", "acct-1"));
  CHECK_FALSE(*writer->seen("bank", "m-1"));
}

TEST_CASE("the inbox forgets ids older than the retention", "[store]") {
  auto store = open_ok(scratch("prune") + "/warren.db");
  unit_of_work work{"a"};
  work.applied("old-1");
  work.applied("old-2");
  REQUIRE_FALSE(store->commit(work));
  auto pruned = store->prune_inbox("a", now_ms() + 1000);
  REQUIRE(pruned);
  CHECK(*pruned == 2);
  CHECK_FALSE(*store->seen("a", "old-1"));
}

TEST_CASE("listing actors and keys for inspection", "[store]") {
  auto store = open_ok(scratch("list") + "/warren.db");
  unit_of_work work{"counter"};
  work.put_state({"b", 2, "{}"});
  work.put_state({"a", 1, "{}"});
  REQUIRE_FALSE(store->commit(work));
  auto actors = store->actors();
  REQUIRE(actors);
  REQUIRE(actors->size() == 1);
  CHECK(actors->front() == std::pair<std::string, int64_t>{"counter", 2});
  auto keys = store->keys("counter");
  REQUIRE(keys);
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].key == "a");
  CHECK((*keys)[1].version == 2);
  CHECK_FALSE(store->integrity_check());
}

TEST_CASE("a file that is not a database is an error naming it, and is left "
          "as it was",
          "[store]") {
  auto path = scratch("garbage") + "/warren.db";
  {
    std::ofstream out{path};
    out << "this is not a database, but it is somebody's file\n";
  }
  auto err = open_error(path);
  CHECK_THAT(err, Catch::StartsWith(path + ": "));
  CHECK_THAT(err, Catch::Contains("not a warren database, or damaged"));
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  CHECK(line == "this is not a database, but it is somebody's file");
}

TEST_CASE("a damaged database is an error at open, never a silent reset",
          "[store]") {
  auto path = scratch("damaged") + "/warren.db";
  {
    auto store = open_ok(path);
    unit_of_work work{"a"};
    for (int i = 0; i < 2000; ++i)
      work.put_state({"key-" + std::to_string(i), 1, std::string(200, 'x')});
    REQUIRE_FALSE(store->commit(work));
  }
  // Fold the WAL into the file, then overwrite pages in the middle.
  pragma_text(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  auto size = std::filesystem::file_size(path);
  REQUIRE(size > 64 * 1024);
  {
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(static_cast<std::streamoff>(size / 2));
    std::string junk(16 * 1024, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto err = open_error(path);
  CHECK_THAT(err, Catch::StartsWith(path + ": "));
  CHECK_THAT(err, Catch::Contains("damaged"));
}

TEST_CASE("a schema newer than this build is refused", "[store]") {
  auto path = scratch("newer") + "/warren.db";
  open_ok(path);
  pragma_text(path, "PRAGMA user_version = 99");
  CHECK_THAT(open_error(path), Catch::Contains("schema version 99 is newer"));
}

TEST_CASE("read-only opening never creates a database", "[store]") {
  auto path = scratch("absent") + "/warren.db";
  CHECK_THAT(open_error(path, true), Catch::Contains("cannot open"));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("outbox messages keep every field through the store's encoding",
          "[store]") {
  auto msg = sample_message();
  auto back = decode_outgoing(encode_outgoing(msg));
  REQUIRE(back);
  CHECK(back->exchange == msg.exchange);
  CHECK(back->routing_key == msg.routing_key);
  CHECK(back->mandatory);
  CHECK(back->body == msg.body);
  const auto& p = back->properties;
  CHECK(p.message_id == msg.properties.message_id);
  CHECK(p.type == "deposited");
  CHECK(p.correlation_id == "c");
  CHECK(p.reply_to == "amq.gen-x");
  CHECK(p.timestamp == 1700000000);
  CHECK(p.priority == std::optional<uint8_t>{3});
  CHECK(p.expiration == "60000");
  CHECK(p.headers == msg.properties.headers);
  CHECK_FALSE(decode_outgoing("[1,2]"));
}

TEST_CASE("outbox messages keep bytes that are not UTF-8, doubles that are "
          "NaN or infinite, every double to the bit, and header order",
          "[store]") {
  auto msg = sample_message();
  const std::string bytes{"\xff\xfe\0id\xc0\xaf", 8};
  msg.properties.message_id = bytes + "/bank/0";
  msg.routing_key = bytes;
  msg.body = "{\"a\":\"" + bytes + "\"}";
  msg.properties.headers = {
    {"z-first", std::string{"\xe2\x82"}},
    {bytes, int64_t{1}},
    {"nan", std::numeric_limits<double>::quiet_NaN()},
    {"inf", std::numeric_limits<double>::infinity()},
    {"-inf", -std::numeric_limits<double>::infinity()},
    {"a-last", 2.5},
    // Boost.JSON 1.81's parser reads this one back one ulp off.
    {"exact", 0x1.13a7d7901ff6p-1020},
  };
  auto back = decode_outgoing(encode_outgoing(msg));
  REQUIRE(back);
  CHECK(back->properties.message_id == msg.properties.message_id);
  CHECK(back->routing_key == bytes);
  CHECK(back->body == msg.body);
  const auto& h = back->properties.headers;
  REQUIRE(h.size() == 7);
  CHECK(h[0] == msg.properties.headers[0]);
  CHECK(h[1] == msg.properties.headers[1]);
  CHECK(std::isnan(std::get<double>(h[2].second)));
  CHECK(std::get<double>(h[3].second) ==
        std::numeric_limits<double>::infinity());
  CHECK(std::get<double>(h[4].second) ==
        -std::numeric_limits<double>::infinity());
  CHECK(h[5] == msg.properties.headers[5]);
  CHECK(std::get<double>(h[6].second) == 0x1.13a7d7901ff6p-1020);
}

TEST_CASE("outbox rows of earlier builds (headers as an object) still decode, "
          "and out-of-range numbers never throw",
          "[store]") {
  auto old =
    decode_outgoing(R"({"exchange":"ex","routing_key":"rk","message_id":"m-1",)"
                    R"("headers":{"x-warren-trace":"m-0","n":3},"body":"{}"})");
  REQUIRE(old);
  CHECK(old->properties.message_id == "m-1");
  CHECK(old->properties.headers.size() == 2);
  auto odd = decode_outgoing(R"({"priority":1000,"delivery_mode":-1,)"
                             R"("timestamp":1e300,"body":{"hex":"zz"}})");
  REQUIRE(odd);
  CHECK(odd->body.empty());
}

TEST_CASE("a stream operator's rows commit with the unit of work, byte for "
          "byte, and read back in name order",
          "[store]") {
  auto path = scratch("rows") + "/warren.db";
  std::string bytes{"a\0b\xff", 4};
  {
    auto store = open_ok(path);
    unit_of_work work{"win"};
    work.put_row("e/0002", "second");
    work.put_row("e/0001", bytes);
    work.put_row("meta", "m1");
    work.put_row("gone", "x");
    work.erase_row("gone");
    REQUIRE(work.applied("m-1"));
    REQUIRE_FALSE(store->commit(work));
    unit_of_work other{"other"};
    other.put_row("meta", "not win's");
    REQUIRE_FALSE(store->commit(other));
    unit_of_work next{"win"};
    next.put_row("meta", "m2");
    next.erase_row("e/0002");
    REQUIRE_FALSE(store->commit(next));
  }
  auto store = open_ok(path);
  auto rows = store->load_rows("win");
  REQUIRE(rows);
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].first == "e/0001");
  CHECK((*rows)[0].second == bytes);
  CHECK((*rows)[1].first == "meta");
  CHECK((*rows)[1].second == "m2");
  CHECK(*store->seen("win", "m-1"));
  auto events = store->load_rows("win", "e/");
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  CHECK((*events)[0].first == "e/0001");
  auto none = store->load_rows("nobody");
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("the ids of a batch's namespace are found in one read, and no "
          "other batch's",
          "[store]") {
  auto store = open_ok(scratch("batch-ids") + "/w.db");
  unit_of_work work{"win"};
  for (const char* id :
       {"b-1#*", "b-1#0", "b-1#12", "b-10#3", "b-1", "b-1$", "b-1\"", "b-2#1"})
    work.applied(id);
  REQUIRE_FALSE(store->commit(work));
  auto ids = store->applied_in_batch("win", "b-1");
  REQUIRE(ids);
  CHECK(*ids == std::vector<std::string>{"b-1#*", "b-1#0", "b-1#12"});
  CHECK(store->applied_in_batch("other", "b-1")->empty());
  CHECK(store->applied_in_batch("win", "b-3")->empty());
}

namespace {

// The rows of `sql` as text, one string per row, columns joined by '|'
// (NULL as "-").
std::vector<std::string> rows_of(checkpoint_store& store,
                                 const std::string& sql,
                                 const std::vector<sql_value>& params = {}) {
  std::vector<std::string> rows;
  auto err = store.read_sql(sql, params, [&](const sql_row& row) {
    std::string line;
    for (int c = 0; c < row.columns(); ++c) {
      if (c > 0)
        line += "|";
      line += row.is_null(c) ? std::string{"-"} : std::string{row.text(c)};
    }
    rows.push_back(std::move(line));
    return caf::error{};
  });
  if (err)
    FAIL(describe(err));
  return rows;
}

sql_statement insert_item(const std::string& name, int64_t qty) {
  return {"INSERT INTO items (name, qty) VALUES (?1, ?2)", {name, qty}};
}

} // namespace

TEST_CASE("an operator's SQL commits with the unit of work, and queries "
          "read it back",
          "[store][sql]") {
  auto store = open_ok(scratch("sql") + "/w.db");
  REQUIRE_FALSE(store->setup("CREATE TABLE IF NOT EXISTS items (name TEXT "
                             "PRIMARY KEY, qty INTEGER NOT NULL, note)"));
  unit_of_work work{"es"};
  work.applied("m-1");
  work.execute({{insert_item("a", 1), insert_item("b", 2)}, false, "first"});
  work.execute({{{"UPDATE items SET note = ?1 WHERE name = ?2",
                  {sql_blob{std::string{"x\0y", 3}}, std::string{"b"}}}},
                false,
                {}});
  REQUIRE_FALSE(store->commit(work));
  CHECK(work.skipped().empty());
  CHECK(*store->seen("es", "m-1"));
  CHECK(rows_of(*store, "SELECT name, qty, note FROM items ORDER BY name") ==
        std::vector<std::string>{"a|1|-", std::string{"b|2|x\0y", 7}});
  CHECK(rows_of(*store, "SELECT qty * ?1, ?2 FROM items WHERE name = ?3",
                {2.5, sql_value{}, std::string{"b"}}) ==
        std::vector<std::string>{"5.0|-"});
  // A query that would write is refused, and writes nothing.
  auto refused = store->read_sql("DELETE FROM items", {},
                                 [](const sql_row&) { return caf::error{}; });
  REQUIRE(refused);
  CHECK_THAT(describe(refused), Catch::Contains("would write"));
  CHECK(rows_of(*store, "SELECT count(*) FROM items") ==
        std::vector<std::string>{"2"});
}

TEST_CASE("a strict SQL group that fails rolls the whole unit back",
          "[store][sql]") {
  auto store = open_ok(scratch("sql-strict") + "/w.db");
  REQUIRE_FALSE(store->setup(
    "CREATE TABLE items (name TEXT PRIMARY KEY, qty INTEGER NOT NULL)"));
  unit_of_work work{"es"};
  work.applied("m-1");
  work.put_row("r", "v");
  work.execute({{insert_item("a", 1), insert_item("a", 2)}, false, "dup"});
  auto err = store->commit(work);
  REQUIRE(err);
  CHECK_THAT(describe(err), Catch::Contains("UNIQUE"));
  CHECK_FALSE(*store->seen("es", "m-1"));
  CHECK(store->load_rows("es")->empty());
  CHECK(rows_of(*store, "SELECT count(*) FROM items") ==
        std::vector<std::string>{"0"});
}

TEST_CASE("a tolerant SQL group that breaks a constraint is left out and "
          "reported, and the rest of the unit commits",
          "[store][sql]") {
  auto store = open_ok(scratch("sql-tolerant") + "/w.db");
  REQUIRE_FALSE(store->setup(
    "CREATE TABLE items (name TEXT PRIMARY KEY, qty INTEGER NOT NULL)"));
  unit_of_work work{"proj"};
  work.applied("m-1");
  work.execute({{insert_item("a", 1)}, true, "p1"});
  // Its first statement works, its second does not: neither stays.
  work.execute({{insert_item("b", 1), insert_item("a", 9)}, true, "p2"});
  work.execute({{{"INSERT INTO nowhere VALUES (1)", {}}}, true, "p3"});
  work.execute({{insert_item("c", 3)}, true, "p4"});
  REQUIRE_FALSE(store->commit(work));
  REQUIRE(work.skipped().size() == 2);
  CHECK(work.skipped()[0].label == "p2");
  CHECK_THAT(work.skipped()[0].why, Catch::Contains("UNIQUE"));
  CHECK(work.skipped()[1].label == "p3");
  CHECK_THAT(work.skipped()[1].why, Catch::Contains("no such table"));
  CHECK(rows_of(*store, "SELECT name, qty FROM items ORDER BY name") ==
        std::vector<std::string>{"a|1", "c|3"});
  CHECK(*store->seen("proj", "m-1"));
}
