// The enricher kind against the private broker, with real files and a real
// SQLite database: enrichment from JSON, CSV and SQLite tables; a miss under
// each on_miss; a missing table at start; a table replaced while messages
// flow (every message enriched from the old or the new table, none failed);
// a malformed reload that keeps the last good table; a service lookup with
// its cache (hits and misses scraped from the node's metrics), and a service
// that times out or fails under each on_error.

#include "support.hpp"
#include "warren/core/envelope.hpp"
#include "warren/metrics/http_get.hpp"

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sqlite3.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object enricher(const std::string& name, json::object options,
                      const std::string& sink) {
  options["output"] = json::object{{"actor", sink}};
  return {{"name", name}, {"kind", "enricher"}, {"options", options}};
}

test::command_result send(const std::string& actor, const std::string& body,
                          const std::string& type = "reading") {
  return test::warren(
    {"send", "-u", test::broker_uri(), "--actor", actor, "--type", type, body});
}

void send_ok(const std::string& actor, const std::string& body) {
  auto r = send(actor, body);
  INFO("warren send: " << r.err);
  REQUIRE(r.exit_code == 0);
}

// Writes a new file and renames it over `path`: how a table is replaced.
void replace_file(const std::string& path, const std::string& text) {
  test::write_file(path + ".tmp", text);
  std::filesystem::rename(path + ".tmp", path);
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

json::object with_metrics(json::object cfg) {
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  return cfg;
}

std::string label(const char* key, const std::string& value) {
  return std::string{key} + "=\"" + value + "\"";
}

const char* devices_json = R"([
  {"id": "d1", "city": "Lyon", "geo": {"lat": 45.76, "lon": 4.84}},
  {"id": "d2", "city": "Oslo", "geo": {"lat": 59.91, "lon": 10.75}}
])";

const char* devices_csv = "id,city,lat\n"
                          "d1,Lyon,45.76\n"
                          "d2,\"Oslo, Norway\",59.91\n";

} // namespace

TEST_CASE("an enricher adds fields from a JSON, a CSV and a SQLite table",
          "[broker][enricher]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  test::write_file(dir.file("devices.json"), devices_json);
  test::write_file(dir.file("devices.csv"), devices_csv);
  sql(dir.file("devices.db"),
      "CREATE TABLE devices(serial TEXT, city TEXT, floor INTEGER);"
      "INSERT INTO devices VALUES ('d1', 'Lyon', 3), ('d2', 'Oslo', -1);");
  auto from_json = broker.queue("enrich-json");
  auto from_csv = broker.queue("enrich-csv");
  auto from_db = broker.queue("enrich-db");
  auto sink = broker.queue("sink");
  auto records = dir.file("sink.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    enricher(
      from_json,
      {{"key_field", "device_id"},
       {"table", {{"path", dir.file("devices.json")}}},
       {"fields", {{"location.city", "city"}, {"location.lat", "geo.lat"}}}},
      sink),
    // A relative path is relative to the config file (written in `dir`).
    enricher(from_csv,
             {{"key_field", "meta.device"},
              {"table", {{"path", "devices.csv"}}},
              {"into", "device"}},
             sink),
    enricher(from_db,
             {{"key", "d{n}"},
              {"table",
               {{"path", dir.file("devices.db")},
                {"sqlite_table", "devices"},
                {"key_column", "serial"}}},
              {"fields", {{"city", "city"}, {"floor", "floor"}}}},
             sink),
    test::record_actor(sink, records)};
  test::node_process node{dir, cfg};

  send_ok(from_json, R"({"device_id": "d1", "value": 21.5})");
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].type == "reading");
  CHECK(lines[0].body == json::parse(R"({"device_id": "d1", "value": 21.5,
    "location": {"city": "Lyon", "lat": 45.76}})"));

  send_ok(from_csv, R"({"meta": {"device": "d2"}})");
  lines = test::wait_for_records(records, 2);
  CHECK(lines[1].body == json::parse(R"({"meta": {"device": "d2"},
    "device": {"id": "d2", "city": "Oslo, Norway", "lat": 59.91}})"));

  send_ok(from_db, R"({"n": 2, "value": 1})");
  lines = test::wait_for_records(records, 3);
  CHECK(lines[2].body ==
        json::parse(R"({"n": 2, "value": 1, "city": "Oslo", "floor": -1})"));
}

TEST_CASE("a miss passes, takes the defaults or is dead-lettered as on_miss "
          "says, and a message without its key is dead-lettered",
          "[broker][enricher]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  test::write_file(dir.file("devices.json"), devices_json);
  auto pass = broker.queue("enrich-pass");
  auto defaults = broker.queue("enrich-default");
  auto strict = broker.queue("enrich-dl");
  auto sink = broker.queue("sink");
  auto records = dir.file("sink.jsonl");
  json::object table{{"path", dir.file("devices.json")}};
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{enricher(pass,
                                       {{"key_field", "device_id"},
                                        {"table", table},
                                        {"fields", {{"city", "city"}}},
                                        {"on_miss", "pass"},
                                        {"miss_flag", "enrichment.missed"}},
                                       sink),
                              enricher(defaults,
                                       {{"key_field", "device_id"},
                                        {"table", table},
                                        {"fields", {{"city", "city"}}},
                                        {"on_miss", "default"},
                                        {"defaults", {{"city", "unknown"}}}},
                                       sink),
                              enricher(strict,
                                       {{"key_field", "device_id"},
                                        {"table", table},
                                        {"fields", {{"city", "city"}}},
                                        {"on_miss", "dead_letter"}},
                                       sink),
                              test::record_actor(sink, records)};
  test::node_process node{dir, cfg};

  send_ok(pass, R"({"device_id": "d404"})");
  auto lines = test::wait_for_records(records, 1);
  CHECK(
    lines[0].body ==
    json::parse(R"({"device_id": "d404", "enrichment": {"missed": true}})"));

  send_ok(defaults, R"({"device_id": "d404"})");
  lines = test::wait_for_records(records, 2);
  CHECK(lines[1].body ==
        json::parse(R"({"device_id": "d404", "city": "unknown"})"));

  send_ok(strict, R"({"device_id": "d404"})");
  send_ok(strict, R"({"value": 1})");
  send_ok(strict, R"({"device_id": "d1"})"); // A hit still goes on.
  auto letters = broker.wait_and_receive(strict + ".dlq", 2);
  CHECK(test::header_string(letters[0], header::error_code) ==
        "handler_failed");
  CHECK(test::header_string(letters[0], header::error) ==
        "no record for key 'd404' in json table " + dir.file("devices.json"));
  CHECK(test::header_string(letters[1], header::error_code) ==
        "validation_failed");
  CHECK(test::header_string(letters[1], header::error) ==
        "the key field 'device_id' is missing");
  lines = test::wait_for_records(records, 3);
  CHECK(lines[2].body == json::parse(R"({"device_id": "d1", "city": "Lyon"})"));
}

TEST_CASE("a table file missing at start fails the start with the file "
          "named, unless if_missing is empty",
          "[broker][enricher]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("enrich");
  auto sink = broker.queue("sink");
  auto records = dir.file("sink.jsonl");
  auto path = dir.file("later.csv");
  json::object options{{"key_field", "device_id"},
                       {"table", {{"path", path}, {"reload_check_ms", 100}}},
                       {"fields", {{"city", "city"}}}};
  SECTION("fail (the default)") {
    auto cfg = test::node_config(dir);
    cfg["actors"] = json::array{enricher(name, options, sink),
                                test::record_actor(sink, records)};
    test::node_process node{dir, cfg, {}, test::node_process::until::started};
    auto code = node.wait_for_exit(30s);
    INFO(node.err());
    CHECK(code != 0);
    CHECK(node.err().find("enricher '" + name +
                          "': cannot load its table: cannot read " + path +
                          ": No such file or directory") != std::string::npos);
  }
  SECTION("empty: misses until the file appears, then hits") {
    options["table"].as_object()["if_missing"] = "empty";
    options["miss_flag"] = "missed";
    auto cfg = test::node_config(dir);
    cfg["actors"] = json::array{enricher(name, options, sink),
                                test::record_actor(sink, records)};
    test::node_process node{dir, cfg};
    send_ok(name, R"({"device_id": "d1"})");
    auto lines = test::wait_for_records(records, 1);
    CHECK(lines[0].body ==
          json::parse(R"({"device_id": "d1", "missed": true})"));
    replace_file(path, "id,city\nd1,Lyon\n");
    // The file is picked up within a few checks: send until a hit.
    std::size_t sent = 1;
    bool hit = test::eventually(
      [&] {
        send_ok(name, R"({"device_id": "d1"})");
        lines = test::wait_for_records(records, ++sent);
        return lines.back().body ==
               json::parse(R"({"device_id": "d1", "city": "Lyon"})");
      },
      20s);
    CHECK(hit);
  }
}

TEST_CASE("a table replaced while messages flow: every message is enriched "
          "from the old or the new table and none fails",
          "[broker][enricher]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto table = dir.file("devices.json");
  auto version = [](int v) {
    std::string text = "[";
    for (int d = 0; d < 50; ++d)
      text += std::string{d == 0 ? "" : ","} + R"({"id":"d)" +
              std::to_string(d) + R"(","version":)" + std::to_string(v) + "}";
    return text + "]";
  };
  test::write_file(table, version(1));
  auto name = broker.queue("enrich");
  auto sink = broker.queue("sink");
  auto records = dir.file("sink.jsonl");
  auto cfg = with_metrics(test::node_config(dir));
  auto spec = enricher(name,
                       {{"key_field", "device"},
                        {"table", {{"path", table}, {"reload_check_ms", 20}}},
                        {"fields", {{"table_version", "version"}}},
                        {"on_miss", "dead_letter"}},
                       sink);
  spec["instances"] = 2;
  cfg["actors"] = json::array{spec, test::record_actor(sink, records)};
  test::node_process node{dir, cfg};

  constexpr std::size_t total = 3000;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < total; ++i)
    ids.push_back("reload-" + std::to_string(i));
  std::atomic<bool> published{false};
  std::thread publisher{[&] {
    test::publish_bulk("", name, "reading", ids, 100, [](std::size_t i) {
      return R"({"device":"d)" + std::to_string(i % 50) + R"(","seq":)" +
             std::to_string(i) + "}";
    });
    published = true;
  }};
  // Replace the table (twice, the second time with the same content
  // rewritten) while the messages are being published and enriched.
  REQUIRE(test::eventually(
    [&] { return test::read_records(records).size() >= 300; }, 30s));
  replace_file(table, version(2));
  REQUIRE(test::eventually(
    [&] { return test::read_records(records).size() >= 1500; }, 30s));
  replace_file(table, version(2));
  publisher.join();
  REQUIRE(published);

  auto lines = test::wait_for_records(records, total, 60s);
  CHECK(lines.size() == total);
  std::set<std::string> seen;
  std::size_t old_table = 0;
  std::size_t new_table = 0;
  for (const auto& line : lines) {
    seen.insert(line.message_id);
    const auto& v = line.body.at("table_version");
    if (v == 1)
      ++old_table;
    else if (v == 2)
      ++new_table;
    else
      FAIL("a message enriched from neither table: " << line.body);
  }
  CHECK(seen.size() == total);
  CHECK(old_table + new_table == total);
  CHECK(old_table > 0);
  CHECK(new_table > 0);
  CHECK(broker.count(name + ".dlq") == 0);
  auto port = node.metrics_port();
  CHECK(test::metric_sample(port, "warren_enricher_table_reloads_total",
                            {label("actor", name)}) >= 1);
  CHECK(test::metric_sample(port, "warren_enricher_table_reload_errors_total",
                            {label("actor", name)}) == 0);
  CHECK(test::metric_sample(port, "warren_enricher_lookups_total",
                            {label("actor", name), label("result", "hit")}) ==
        static_cast<double>(total));
}

TEST_CASE("a table that becomes malformed keeps the last good one and counts "
          "the failed reload",
          "[broker][enricher]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto table = dir.file("devices.csv");
  test::write_file(table, "id,city\nd1,Lyon\n");
  auto name = broker.queue("enrich");
  auto sink = broker.queue("sink");
  auto records = dir.file("sink.jsonl");
  auto cfg = with_metrics(test::node_config(dir));
  cfg["actors"] =
    json::array{enricher(name,
                         {{"key_field", "device_id"},
                          {"table", {{"path", table}, {"reload_check_ms", 20}}},
                          {"fields", {{"city", "city"}}}},
                         sink),
                test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();
  auto errors = [&] {
    return test::metric_sample(port,
                               "warren_enricher_table_reload_errors_total",
                               {label("actor", name)});
  };
  CHECK(errors() == 0);
  replace_file(table, "id,city\nd1,\"Paris\n"); // An unclosed quote.
  REQUIRE(test::eventually([&] { return errors() == 1; }, 20s));
  CHECK(node.err().find("line 2: a quoted field is not closed") !=
        std::string::npos);
  send_ok(name, R"({"device_id": "d1"})");
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].body == json::parse(R"({"device_id": "d1", "city": "Lyon"})"));
  CHECK(test::metric_sample(port, "warren_enricher_table_rows",
                            {label("actor", name)}) == 1);
}

TEST_CASE("a service lookup enriches, and its cache answers repeated keys "
          "(hits and misses in the metrics)",
          "[broker][enricher]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto service = broker.queue("devices");
  auto name = broker.queue("enrich");
  auto sink = broker.queue("sink");
  auto records = dir.file("sink.jsonl");
  auto calls = dir.file("calls.jsonl");
  auto cfg = with_metrics(test::node_config(dir));
  auto spec = enricher(
    name,
    {{"key_field", "device_id"},
     {"service", {{"actor", service}, {"timeout_ms", 5000}}},
     {"cache",
      {{"max_entries", 100}, {"ttl_ms", 600000}, {"negative_ttl_ms", 600000}}},
     {"into", "device"},
     {"on_miss", "pass"},
     {"miss_flag", "unknown_device"}},
    sink);
  // One message at a time, so each lookup sees the answers before it.
  spec["prefetch"] = 1;
  cfg["actors"] = json::array{spec,
                              json::object{{"name", service},
                                           {"kind", "test.lookup"},
                                           {"options",
                                            {{"path", calls},
                                             {"records",
                                              {{"d1", {{"city", "Lyon"}}},
                                               {"d2", {{"city", "Oslo"}}}}}}}},
                              test::record_actor(sink, records)};
  test::node_process node{dir, cfg};

  std::vector<std::string> keys{"d1", "d2", "d1", "d1", "d9",
                                "d2", "d9", "d1", "d2", "d1"};
  for (const auto& key : keys)
    send_ok(name, R"({"device_id": ")" + key + R"("})");
  auto lines = test::wait_for_records(records, keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    INFO("message " << i << ": " << lines[i].body);
    const auto& body = lines[i].body.as_object();
    CHECK(body.at("device_id") == keys[i].c_str());
    if (keys[i] == "d9") {
      CHECK(body.at("unknown_device") == true);
    } else {
      CHECK(body.at("device").at("city") ==
            (keys[i] == "d1" ? "Lyon" : "Oslo"));
    }
  }
  // Three keys, three calls: every repeat came from the cache, a known miss
  // (d9) too.
  auto asked = test::read_records(calls);
  CHECK(asked.size() == 3);
  auto port = node.metrics_port();
  auto actor = label("actor", name);
  CHECK(test::metric_sample(port, "warren_enricher_cache_hits_total",
                            {actor}) == 7);
  CHECK(test::metric_sample(port, "warren_enricher_cache_misses_total",
                            {actor}) == 3);
  CHECK(test::metric_sample(port, "warren_enricher_cache_entries", {actor}) ==
        3);
  CHECK(test::metric_sample(
          port, "warren_enricher_lookups_total",
          {actor, label("source", "service"), label("result", "hit")}) == 8);
  CHECK(test::metric_sample(
          port, "warren_enricher_lookups_total",
          {actor, label("source", "service"), label("result", "miss")}) == 2);
}

TEST_CASE("a service that times out or fails is retried, handled as a miss "
          "or dead-lettered as on_error says",
          "[broker][enricher]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  // A `record` actor never replies: every call to it times out.
  auto silent = broker.queue("silent");
  auto failing = broker.queue("failing");
  auto retrying = broker.queue("enrich-retry");
  auto as_miss = broker.queue("enrich-miss");
  auto strict = broker.queue("enrich-dl");
  auto sink = broker.queue("sink");
  auto records = dir.file("sink.jsonl");
  auto silent_calls = dir.file("silent.jsonl");
  auto service = [](const std::string& actor, const char* on_error) {
    return json::object{
      {"actor", actor}, {"timeout_ms", 300}, {"on_error", on_error}};
  };
  auto options = [](json::object svc) {
    return json::object{{"key_field", "device_id"},
                        {"service", std::move(svc)},
                        {"into", "device"},
                        {"miss_flag", "lookup_failed"}};
  };
  auto cfg = with_metrics(test::node_config(dir));
  auto retry_spec = enricher(retrying, options(service(silent, "retry")), sink);
  retry_spec["retry"] = json::object{{"immediate", 1}};
  auto strict_options = options(service(failing, "dead_letter"));
  strict_options.erase("miss_flag");
  cfg["actors"] =
    json::array{retry_spec,
                enricher(as_miss, options(service(silent, "miss")), sink),
                enricher(strict, strict_options, sink),
                test::record_actor(silent, silent_calls),
                json::object{{"name", failing}, {"kind", "test.lookup"}},
                test::record_actor(sink, records)};
  test::node_process node{dir, cfg};

  SECTION("retry: the retry policy runs, then the message is dead-lettered "
          "with the timeout") {
    send_ok(retrying, R"({"device_id": "d1"})");
    auto letters = broker.wait_and_receive(retrying + ".dlq", 1);
    CHECK(test::header_string(letters[0], header::error_code) == "timeout");
    CHECK(test::header_string(letters[0], header::error)
            .rfind("looking up key 'd1' at service '" + silent +
                     "' failed: timeout: ",
                   0) == 0);
    // Two attempts, two calls.
    CHECK(test::wait_for_records(silent_calls, 2).size() == 2);
    CHECK(test::read_records(records).empty());
  }
  SECTION("miss: the message goes on, flagged") {
    send_ok(as_miss, R"({"device_id": "d1"})");
    auto lines = test::wait_for_records(records, 1);
    CHECK(lines[0].body ==
          json::parse(R"({"device_id": "d1", "lookup_failed": true})"));
    CHECK(broker.count(as_miss + ".dlq") == 0);
    auto port = node.metrics_port();
    CHECK(test::metric_sample(
            port, "warren_enricher_lookups_total",
            {label("actor", as_miss), label("result", "error")}) == 1);
  }
  SECTION("dead_letter: an error reply dead-letters the message at once") {
    send_ok(strict, R"({"device_id": "fail"})");
    auto letters = broker.wait_and_receive(strict + ".dlq", 1);
    CHECK(test::header_string(letters[0], header::error_code) ==
          "handler_failed");
    CHECK(test::header_string(letters[0], header::error)
            .rfind("looking up key 'fail' at service '" + failing +
                     "' failed: remote_error: ",
                   0) == 0);
  }
}
