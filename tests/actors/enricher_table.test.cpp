// The enricher's reference tables: JSON (array or object by id), CSV (RFC
// 4180, numbers typed) and SQLite (table or query, read-only) parsed into
// records by key, each malformed input with a precise error; and the table
// watcher keeping the last good table when a reload fails.

#include "pipeline/reference_table.hpp"
#include "pipeline/table_source.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sqlite3.h>
#include <stdexcept>
#include <string>

using namespace warren::actors;
namespace json = boost::json;

namespace {

// A fresh directory, removed with its content at the end of the test.
class scratch_dir {
 public:
  scratch_dir() {
    std::string pattern =
      (std::filesystem::temp_directory_path() / "enricher-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write(const std::string& path, const std::string& text) {
  std::ofstream{path, std::ios::binary | std::ios::trunc} << text;
}

// Writes `text` to a new file and renames it over `path`, as a producer
// replacing a table should. The file is dated an hour back, so the watcher
// does not read it again as modified within the last second.
void replace(const std::string& path, const std::string& text) {
  write(path + ".new", text);
  std::filesystem::last_write_time(
    path + ".new",
    std::filesystem::file_time_type::clock::now() - std::chrono::hours{1});
  std::filesystem::rename(path + ".new", path);
}

void sql(const std::string& db_path, const std::string& statements) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  auto rc = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &error);
  INFO((error != nullptr ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

json::value record(const table_result& t, const std::string& key) {
  REQUIRE(t);
  const auto* r = t.table->find(key);
  return r == nullptr ? json::value{"<none>"} : *r;
}

} // namespace

TEST_CASE("keys are compared as text: strings as they are, integers in "
          "decimal",
          "[enricher]") {
  std::string out;
  CHECK((render_key(json::value("d-1"), out) && out == "d-1"));
  CHECK((render_key(json::value(17), out) && out == "17"));
  CHECK((render_key(json::value(-3), out) && out == "-3"));
  CHECK((render_key(json::value(true), out) && out == "true"));
  CHECK_FALSE(render_key(json::value(nullptr), out));
  CHECK_FALSE(render_key(json::parse("{}"), out));
  CHECK_FALSE(render_key(json::parse("[1]"), out));
}

TEST_CASE("a JSON table is an array of records keyed by a column or an "
          "object of records by key",
          "[enricher]") {
  table_shape shape;
  SECTION("an array keyed by the default column id, numbers or strings") {
    auto t = parse_json_table(
      R"([{"id":"d1","city":"Lyon"},{"id":7,"city":"Oslo"}])", shape);
    REQUIRE(t);
    CHECK(t.table->size() == 2);
    CHECK(record(t, "d1") == json::parse(R"({"id":"d1","city":"Lyon"})"));
    CHECK(record(t, "7").at("city") == "Oslo");
    CHECK(t.table->find("d2") == nullptr);
  }
  SECTION("an array keyed by a dotted path") {
    shape.key_column = "device.serial";
    auto t = parse_json_table(R"([{"device":{"serial":"s-1"},"x":1}])", shape);
    CHECK(record(t, "s-1").at("x") == 1);
  }
  SECTION("an object keyed by id, whose values may be any JSON") {
    auto t =
      parse_json_table(R"({"d1":{"city":"Lyon"},"d2":"just a text"})", shape);
    CHECK(record(t, "d1").at("city") == "Lyon");
    CHECK(record(t, "d2") == "just a text");
  }
}

TEST_CASE("a malformed JSON table says where", "[enricher]") {
  table_shape shape;
  auto error = [&](const std::string& text) {
    auto t = parse_json_table(text, shape);
    REQUIRE_FALSE(t);
    return t.error;
  };
  CHECK(error("[{\"id\":1},").rfind("not JSON: ", 0) == 0);
  CHECK(error("42") == "expected an array of records or an object of records "
                       "by key, found a int64");
  CHECK(error(R"([{"id":1},"x"])") == "$[1]: expected an object, found a "
                                      "string");
  CHECK(error(R"([{"id":1},{"name":"b"}])") ==
        "$[1]: the key column 'id' is missing");
  CHECK(error(R"([{"id":null}])") ==
        "$[0]: the key column 'id' is not a string, number or boolean");
  CHECK(error(R"([{"id":1},{"id":"1"}])") == "$[1]: duplicate key '1'");
  shape.max_rows = 2;
  CHECK(error(R"([{"id":1},{"id":2},{"id":3}])") ==
        "more than max_rows (2) records");
}

TEST_CASE("a CSV table follows RFC 4180 and types unquoted numbers",
          "[enricher]") {
  table_shape shape;
  shape.key_column = "device";
  auto text = "device,city,lat,note,zip\r\n"
              "d1,Lyon,45.76,\"a, quoted \"\"note\"\"\",00123\r\n"
              "\r\n"
              "17,\"Oslo\nNorway\",-10,,\"42\"\n"
              "d3,Rome,1e3,x,7"; // No final line break.
  auto t = parse_csv_table(text, shape);
  REQUIRE(t);
  CHECK(t.table->size() == 3);
  CHECK(record(t, "d1") == json::parse(R"({"device":"d1","city":"Lyon",
    "lat":45.76,"note":"a, quoted \"note\"","zip":"00123"})"));
  // The key is matched as written; the record has the typed value.
  CHECK(record(t, "17") == json::parse(R"({"device":17,"city":"Oslo\nNorway",
    "lat":-10,"note":"","zip":"42"})"));
  CHECK(record(t, "d3").at("lat") == 1000.0);
  CHECK(record(t, "d3").at("zip") == 7);

  SECTION("with csv_numbers off every field is a string") {
    shape.csv_numbers = false;
    auto s = parse_csv_table(text, shape);
    CHECK(record(s, "d1").at("lat") == "45.76");
  }
  SECTION("a byte order mark is skipped") {
    auto s = parse_csv_table("\xEF\xBB\xBF"
                             "device,x\nd1,1\n",
                             shape);
    CHECK(record(s, "d1").at("x") == 1);
  }
}

TEST_CASE("a malformed CSV table says which line", "[enricher]") {
  table_shape shape;
  auto error = [&](const std::string& text) {
    auto t = parse_csv_table(text, shape);
    REQUIRE_FALSE(t);
    return t.error;
  };
  CHECK(error("") == "no header row");
  CHECK(error("name,city\nx,y\n") == "the header has no key column 'id'");
  CHECK(error("id,,city\n") == "line 1: column 2 of the header has no name");
  CHECK(error("id,a,a\n") == "line 1: the header names column 'a' twice");
  CHECK(error("id,a\n1,2\n2\n") == "line 3: 1 fields, but the header has 2");
  CHECK(error("id,a\n1,\"open\n2,3\n") == "line 2: a quoted field is not "
                                          "closed");
  CHECK(error("id,a\n1,\"q\"x\n") ==
        "line 2: expected a comma or the end of the line after a quoted "
        "field, found 'x'");
  CHECK(error("id,a\n1,ab\"c\n") ==
        "line 2: a quote inside an unquoted field (quote the whole field and "
        "double the quote)");
  CHECK(error("id,a\n1,x\n\n1,y\n") == "line 4: duplicate key '1'");
  shape.max_rows = 1;
  CHECK(error("id\n1\n2\n") == "more than max_rows (1) records");
}

TEST_CASE("a SQLite table is read by name or by query, typed by column",
          "[enricher]") {
  scratch_dir dir;
  auto db = dir.file("ref.db");
  sql(db, "CREATE TABLE \"dev ices\"(id INTEGER, city TEXT, lat REAL, x);"
          "INSERT INTO \"dev ices\" VALUES (1, 'Lyon', 45.5, NULL),"
          " (2, 'Oslo', 59.9, 'y');");
  table_shape shape;
  SECTION("by table name (quoted as an identifier)") {
    auto t = load_sqlite_table(db, {"dev ices", {}}, shape);
    REQUIRE(t);
    CHECK(record(t, "1") ==
          json::parse(R"({"id":1,"city":"Lyon","lat":45.5,"x":null})"));
    CHECK(record(t, "2").at("x") == "y");
  }
  SECTION("by query, keyed by any column") {
    shape.key_column = "name";
    auto t = load_sqlite_table(
      db, {{}, "SELECT city AS name, lat FROM \"dev ices\" WHERE id = 2"},
      shape);
    REQUIRE(t);
    CHECK(t.table->size() == 1);
    CHECK(record(t, "Oslo") == json::parse(R"({"name":"Oslo","lat":59.9})"));
  }
  SECTION("errors") {
    auto error = [&](const sqlite_select& select) {
      auto t = load_sqlite_table(db, select, shape);
      REQUIRE_FALSE(t);
      return t.error;
    };
    CHECK(error({"nope", {}}).find("no such table: nope") != std::string::npos);
    CHECK(error({{}, "SELECT city FROM \"dev ices\""}) ==
          "the result has no key column 'id'");
    CHECK(error({{}, "SELECT 1 AS id; SELECT 2 AS id"}) ==
          "the query is more than one statement");
    CHECK(error({{}, "DELETE FROM \"dev ices\""}) ==
          "the query writes: only SELECT is allowed");
    CHECK(error({{}, "SELECT x'00' AS id"}) ==
          "row 1: column 'id' is a BLOB (expected INTEGER, REAL, TEXT or "
          "NULL)");
    CHECK(error({{}, "SELECT NULL AS id"}) ==
          "row 1: the key column 'id' is NULL");
    CHECK(error({{}, "SELECT 1 AS id UNION ALL SELECT 1"}) ==
          "row 2: duplicate key '1'");
  }
}

TEST_CASE("a SQLite table is opened read-only", "[enricher]") {
  scratch_dir dir;
  auto db = dir.file("ref.db");
  sql(db, "CREATE TABLE t(id INTEGER);");
  // A statement that would write is refused before it runs, and the file
  // is opened read-only anyway: a query may not change the table.
  auto t = load_sqlite_table(db, {{}, "INSERT INTO t VALUES (1) RETURNING id"},
                             table_shape{});
  REQUIRE_FALSE(t);
  auto rows = load_sqlite_table(db, {"t", {}}, table_shape{});
  REQUIRE(rows);
  CHECK(rows.table->size() == 0);
}

TEST_CASE("load_table reads the file its spec names and says which file "
          "failed",
          "[enricher]") {
  scratch_dir dir;
  table_source_spec spec;
  spec.path = dir.file("devices.csv");
  spec.format = table_source_spec::file_format::csv;
  auto missing = load_table(spec);
  REQUIRE_FALSE(missing);
  CHECK(missing.error.rfind("cannot read " + spec.path + ": ", 0) == 0);
  write(spec.path, "id,city\n1,Lyon\n");
  auto loaded = load_table(spec);
  REQUIRE(loaded);
  CHECK(loaded.table->find("1")->at("city") == "Lyon");
  write(spec.path, "id,city\n1\n");
  CHECK(load_table(spec).error ==
        spec.path + ": line 2: 1 fields, but the header has 2");
  spec.max_bytes = 4;
  CHECK(load_table(spec).error == spec.path + " is larger than max_bytes (4)");
}

TEST_CASE("the watcher reloads a changed table and keeps the last good one "
          "when a reload fails",
          "[enricher]") {
  scratch_dir dir;
  table_source_spec spec;
  spec.path = dir.file("devices.json");
  spec.reload_check = std::chrono::milliseconds{0}; // Checked by hand.
  replace(spec.path, R"([{"id":"d1","v":1}])");
  table_watcher watcher{"enrich", spec, nullptr};
  table_view view{std::shared_ptr<table_watcher>(&watcher, [](auto*) {})};
  CHECK(view.current().find("d1")->at("v") == 1);

  auto generation = watcher.generation();
  watcher.check_now(); // Unchanged: nothing happens.
  CHECK(watcher.generation() == generation);

  replace(spec.path, R"([{"id":"d1","v":2},{"id":"d2","v":2}])");
  watcher.check_now();
  CHECK(watcher.generation() == generation + 1);
  CHECK(view.current().find("d1")->at("v") == 2);
  CHECK(view.current().size() == 2);

  SECTION("malformed: the last good table stays") {
    replace(spec.path, R"([{"id":"d1","v":3},)");
    watcher.check_now();
    CHECK(view.current().find("d1")->at("v") == 2);
    SECTION("and the next good version is taken") {
      replace(spec.path, R"([{"id":"d1","v":4}])");
      watcher.check_now();
      CHECK(view.current().find("d1")->at("v") == 4);
    }
  }
  SECTION("gone: the last good table stays, and it comes back") {
    std::filesystem::remove(spec.path);
    watcher.check_now();
    CHECK(view.current().size() == 2);
    replace(spec.path, R"([{"id":"d9","v":9}])");
    watcher.check_now();
    CHECK(view.current().find("d9") != nullptr);
  }
}

TEST_CASE("a file modified within the last second is read again even when "
          "its size and time look unchanged",
          "[enricher]") {
  scratch_dir dir;
  table_source_spec spec;
  spec.path = dir.file("devices.csv");
  spec.format = table_source_spec::file_format::csv;
  spec.reload_check = std::chrono::milliseconds{0};
  write(spec.path, "id,v\nd1,1\n");
  auto written = std::filesystem::last_write_time(spec.path);
  table_watcher watcher{"enrich", spec, nullptr};
  // Rewritten in place within the same clock tick: same inode, size and
  // time.
  write(spec.path, "id,v\nd1,2\n");
  std::filesystem::last_write_time(spec.path, written);
  watcher.check_now();
  CHECK(watcher.snapshot()->find("d1")->at("v") == 2);
}

TEST_CASE("a table missing at start fails the start unless if_missing is "
          "empty",
          "[enricher]") {
  scratch_dir dir;
  table_source_spec spec;
  spec.path = dir.file("later.csv");
  spec.format = table_source_spec::file_format::csv;
  spec.reload_check = std::chrono::milliseconds{0};
  try {
    table_watcher watcher{"enrich", spec, nullptr};
    FAIL("the start did not fail");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string{e.what()} ==
          "enricher 'enrich': cannot load its table: cannot read " + spec.path +
            ": No such file or directory");
  }
  spec.empty_if_missing = true;
  table_watcher watcher{"enrich", spec, nullptr};
  CHECK(watcher.snapshot()->size() == 0);
  write(spec.path, "id,x\nk,1\n");
  watcher.check_now();
  CHECK(watcher.snapshot()->find("k") != nullptr);
}

TEST_CASE("a changed SQLite table is noticed through its file or its WAL",
          "[enricher]") {
  scratch_dir dir;
  table_source_spec spec;
  spec.path = dir.file("ref.db");
  spec.format = table_source_spec::file_format::sqlite;
  spec.select.table = "t";
  spec.reload_check = std::chrono::milliseconds{0};
  sql(spec.path, "PRAGMA journal_mode=WAL; CREATE TABLE t(id TEXT, v INT);"
                 "INSERT INTO t VALUES ('a', 1);");
  table_watcher watcher{"enrich", spec, nullptr};
  CHECK(watcher.snapshot()->find("a")->at("v") == 1);
  sql(spec.path, "UPDATE t SET v = 2 WHERE id = 'a';");
  watcher.check_now();
  CHECK(watcher.snapshot()->find("a")->at("v") == 2);
}
