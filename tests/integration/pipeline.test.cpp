// The pipeline stages validator, transformer, router and filter against the
// private broker: a chain validator -> transformer -> router publishing to
// an exchange with a templated key; the same input twice giving the same
// downstream ids (a stateful counter downstream counts it once); a
// malformed body and a schema violation dead-lettered with the paths in
// x-warren-error; a message no route takes dead-lettered as unroutable; a
// filter's drops counted in /metrics; a bad schema file failing the start.

#include "support.hpp"
#include "warren/core/envelope.hpp"
#include "warren/metrics/http_get.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const char* reading_schema = R"({
  "type": "object",
  "required": ["device_id", "temp_f", "ts"],
  "properties": {
    "device_id": {"type": "string", "pattern": "^dev-"},
    "temp_f": {"type": "number", "minimum": -100, "maximum": 300},
    "ts": {"type": "string", "format": "date-time"}
  }
})";

json::object stage(const std::string& name, const char* kind,
                   json::object options) {
  return {{"name", name}, {"kind", kind}, {"options", std::move(options)}};
}

json::object validator(const std::string& name, const std::string& next) {
  return stage(name, "validator",
               {{"schemas", {{"reading", json::parse(reading_schema)}}},
                {"soft_checks", json::parse(R"([
                   {"name": "plausible", "field": "temp_f", "ge": -40, "le": 250},
                   {"field": "site", "exists": true}])")},
                {"output", {{"actor", next}}}});
}

json::object transformer(const std::string& name, const std::string& next) {
  return stage(name, "transformer",
               {{"operations", json::parse(R"([
       {"op": "rename", "from": "temp_f", "to": "temp_c"},
       {"op": "scale", "field": "temp_c", "factor": 0.5555555555555556,
        "offset": -17.77777777777778, "decimals": 1},
       {"op": "timestamp", "field": "ts"},
       {"op": "copy", "from": "device_id", "to": "counter"}])")},
                {"output", {{"actor", next}}}});
}

json::object router(const std::string& name, const std::string& exchange,
                    const std::string& counter) {
  json::array routes;
  routes.push_back({{"name", "metrics"},
                    {"when", {{"field", "temp_c"}, {"exists", true}}},
                    {"output",
                     {{"exchange", exchange},
                      {"routing_key", "metrics.device.{device_id}"}}}});
  if (!counter.empty())
    routes.push_back({{"name", "count"},
                      {"when", {{"field", "counter"}, {"exists", true}}},
                      {"output", {{"actor", counter}, {"type", "counted"}}}});
  return stage(name, "router", {{"mode", "all"}, {"routes", routes}});
}

test::command_result send(const std::string& actor,
                          std::vector<std::string> extra,
                          const std::string& body) {
  std::vector<std::string> args{"send", "-u", test::broker_uri(), "--actor",
                                actor};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(body);
  return test::warren(args);
}

void send_ok(const std::string& actor, std::vector<std::string> extra,
             const std::string& body) {
  auto r = send(actor, std::move(extra), body);
  INFO("warren send: " << r.err);
  REQUIRE(r.exit_code == 0);
}

// A topic exchange and a queue bound to it with `pattern`, in `cfg`.
void add_results(json::object& cfg, const std::string& exchange,
                 const std::string& queue, const std::string& pattern) {
  cfg["topology"] = json::object{
    {"exchanges", json::array{{{"name", exchange}, {"type", "topic"}}}},
    {"queues", json::array{{{"name", queue}}}},
    {"bindings",
     json::array{
       {{"exchange", exchange}, {"queue", queue}, {"routing_key", pattern}}}}};
}

const char* good_reading = R"({"device_id": "dev-1", "temp_f": 212,
  "ts": "2026-12-01T10:42:20.500+01:00", "site": "hall"})";

} // namespace

TEST_CASE("a chain validator, transformer and router publishes the mapped "
          "message to an exchange with a templated key",
          "[broker][pipeline]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto v = broker.queue("validate");
  auto t = broker.queue("transform");
  auto r = broker.queue("route");
  auto results = broker.queue("results");
  auto exchange = broker.exchange("metrics");
  auto cfg = test::node_config(dir);
  add_results(cfg, exchange, results, "metrics.device.*");
  cfg["actors"] =
    json::array{validator(v, t), transformer(t, r), router(r, exchange, "")};
  test::node_process node{dir, cfg};

  send_ok(v, {"--type", "reading", "--message-id", "reading-1"}, good_reading);
  auto got = broker.wait_and_receive(results, 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].routing_key == "metrics.device.dev-1");
  CHECK(got[0].properties.type == "reading");
  CHECK(got[0].body ==
        json::parse(R"({"device_id": "dev-1", "ts": 1796118140500,
      "site": "hall", "quality": 1.0, "temp_c": 100.0, "counter": "dev-1"})"));
  // Each stage made a new id from its input's: not the input's own.
  CHECK_FALSE(got[0].properties.message_id.empty());
  CHECK(got[0].properties.message_id != "reading-1");
  // The trace goes along.
  CHECK(test::header_string(got[0], header::trace) == "reading-1");

  // Half the soft checks: quality 0.5, still passed on (no min_quality).
  send_ok(
    v, {"--type", "reading"},
    R"({"device_id": "dev-2", "temp_f": 250, "ts": "2026-12-01T10:00:00Z"})");
  got = broker.wait_and_receive(results, 1);
  CHECK(got[0].routing_key == "metrics.device.dev-2");
  CHECK(got[0].body.at("quality") == json::value(0.5));
  CHECK(node.stop() == 0);
  CHECK(broker.count(v + ".dlq") == 0);
  CHECK(broker.count(r + ".dlq") == 0);
}

TEST_CASE("the same input twice gives the same downstream ids, and a "
          "stateful actor downstream counts it once",
          "[broker][pipeline]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto v = broker.queue("validate");
  auto t = broker.queue("transform");
  auto r = broker.queue("route");
  auto counter = broker.queue("count");
  auto results = broker.queue("results");
  auto exchange = broker.exchange("metrics");
  auto cfg = test::node_config(dir);
  add_results(cfg, exchange, results, "metrics.device.*");
  cfg["actors"] =
    json::array{validator(v, t), transformer(t, r),
                router(r, exchange, counter), test::counter_actor(counter)};
  test::node_process node{dir, cfg};

  // As a redelivery would: the same message (same id) comes in twice.
  send_ok(v, {"--type", "reading", "--message-id", "twice"}, good_reading);
  auto first = broker.wait_and_receive(results, 1);
  send_ok(v, {"--type", "reading", "--message-id", "twice"}, good_reading);
  auto second = broker.wait_and_receive(results, 1);
  CHECK(first[0].properties.message_id == second[0].properties.message_id);
  CHECK(first[0].raw_body == second[0].raw_body);
  // Another input, after both, for another device: the counter takes its
  // messages in order, so once it has counted this one it has seen the
  // copy, and dropped it.
  send_ok(
    v, {"--type", "reading", "--message-id", "other"},
    R"({"device_id": "dev-3", "temp_f": 50, "ts": "2026-12-01T10:00:00Z"})");
  auto third = broker.wait_and_receive(results, 1);
  CHECK(third[0].properties.message_id != first[0].properties.message_id);
  CHECK(test::eventually([&] { return test::get_count(counter, "dev-3") == 1; },
                         20s));
  CHECK(test::get_count(counter, "dev-1") == 1);
  CHECK(node.stop() == 0);
}

TEST_CASE("a malformed body and a schema violation are dead-lettered, the "
          "violation with every JSON path in x-warren-error",
          "[broker][pipeline]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto v = broker.queue("validate");
  auto sink = broker.queue("sink");
  auto cfg = test::node_config(dir);
  auto records = dir.file("records.jsonl");
  cfg["actors"] =
    json::array{validator(v, sink), test::record_actor(sink, records)};
  test::node_process node{dir, cfg};

  send_ok(v, {"--raw", "--type", "reading", "--message-id", "garbage"},
          R"({"device_id": "dev-1", )");
  send_ok(v, {"--type", "reading", "--message-id", "wrong"},
          R"({"device_id": "sensor-9", "temp_f": "hot", "ts": 5})");
  // RFC 3339 has no February 29 in 2025.
  send_ok(
    v, {"--type", "reading", "--message-id", "no-such-day"},
    R"({"device_id": "dev-1", "temp_f": 1, "ts": "2025-02-29T00:00:00Z"})");
  send_ok(v, {"--type", "reading", "--message-id", "fine"}, good_reading);
  auto letters = broker.wait_and_receive(v + ".dlq", 3);
  REQUIRE(letters.size() == 3);
  CHECK(letters[0].properties.message_id == "garbage");
  CHECK(test::header_string(letters[0], header::error_code) ==
        "malformed_body");
  CHECK(letters[0].raw_body == R"({"device_id": "dev-1", )");
  CHECK(letters[1].properties.message_id == "wrong");
  CHECK(test::header_string(letters[1], header::error_code) ==
        "validation_failed");
  auto reason = test::header_string(letters[1], header::error);
  INFO(reason);
  CHECK(reason.find("schema violations (message type 'reading', 3)") !=
        std::string::npos);
  CHECK(reason.find("$.device_id: Failed to match regex specified by "
                    "'pattern' constraint.") != std::string::npos);
  CHECK(reason.find("$.temp_f: Value type not permitted by 'type' "
                    "constraint.") != std::string::npos);
  CHECK(reason.find("$.ts: Value type not permitted by 'type' constraint.") !=
        std::string::npos);
  CHECK(letters[2].properties.message_id == "no-such-day");
  CHECK_THAT(test::header_string(letters[2], header::error),
             Catch::Contains("$.ts: String should be a valid date-time"));
  // The good one went through; the node kept serving.
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].body.at("device_id") == "dev-1");
  CHECK(node.stop() == 0);
}

TEST_CASE("router with no matching route dead-letters the message as "
          "unroutable",
          "[broker][pipeline]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto r = broker.queue("route");
  auto results = broker.queue("results");
  auto exchange = broker.exchange("metrics");
  auto cfg = test::node_config(dir);
  add_results(cfg, exchange, results, "metrics.device.*");
  cfg["actors"] = json::array{router(r, exchange, "")};
  test::node_process node{dir, cfg};

  send_ok(r, {"--message-id", "nowhere"}, R"({"device_id": "dev-1"})");
  send_ok(r, {"--message-id", "somewhere"},
          R"({"device_id": "dev-1", "temp_c": 3})");
  auto letters = broker.wait_and_receive(r + ".dlq", 1);
  CHECK(letters[0].properties.message_id == "nowhere");
  CHECK(test::header_string(letters[0], header::error_code) == "unroutable");
  CHECK(test::header_string(letters[0], header::error) ==
        "no route takes the message and the router has no \"otherwise\" "
        "output");
  CHECK(letters[0].body == json::parse(R"({"device_id": "dev-1"})"));
  auto got = broker.wait_and_receive(results, 1);
  CHECK(got[0].body == json::parse(R"({"device_id": "dev-1", "temp_c": 3})"));
  // A key template that cannot be rendered dead-letters too, naming the
  // field.
  send_ok(r, {"--message-id", "no-device"}, R"({"temp_c": 3})");
  letters = broker.wait_and_receive(r + ".dlq", 1);
  CHECK(test::header_string(letters[0], header::error) ==
        "route \"metrics\": cannot make the routing key "
        "'metrics.device.{device_id}': field 'device_id' is missing");
  CHECK(node.stop() == 0);
}

TEST_CASE("a filter's dropped messages are acked and counted in the "
          "metrics, and kept ones go on",
          "[broker][pipeline]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto f = broker.queue("filter");
  auto sink = broker.queue("sink");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  cfg["log"] = json::object{{"level", "debug"}};
  cfg["actors"] = json::array{stage(f, "filter",
                                    {{"drop_when", json::parse(R"({"any": [
              {"field": "temp_c", "lt": -50},
              {"field": "temp_c", "exists": false}]})")},
                                     {"output", {{"actor", sink}}}}),
                              test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();

  send_ok(f, {"--message-id", "cold"}, R"({"temp_c": -60})");
  send_ok(f, {"--message-id", "none"}, R"({"other": 1})");
  send_ok(f, {"--message-id", "fine"}, R"({"temp_c": 20})");
  auto lines = test::wait_for_records(records, 1);
  CHECK(lines[0].body == json::parse(R"({"temp_c": 20})"));
  auto actor_label = "actor=\"" + f + "\"";
  CHECK(test::eventually(
    [&] {
      return test::metric_sample(port, "warren_filter_dropped_total",
                                 {actor_label}) == 2;
    },
    10s));
  CHECK(test::metric_sample(port, "warren_filter_passed_total",
                            {actor_label}) == 1);
  // Each drop is logged (at debug level) with its id and the rule.
  CHECK_THAT(node.err(),
             Catch::Contains("filter dropped message 'cold' (drop_when "
                             "any(temp_c lt -50, temp_c exists false))"));
  CHECK_THAT(node.err(), Catch::Contains("filter dropped message 'none'"));
  CHECK(node.stop() == 0);
  // Nothing left behind: dropped means acked, not dead-lettered.
  CHECK(broker.count(f) == 0);
  CHECK(broker.count(f + ".dlq") == 0);
  CHECK(test::read_records(records).size() == 1);
}

TEST_CASE("validator and transformer count what they passed and failed, and "
          "the validator's quality scores",
          "[broker][pipeline]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto v = broker.queue("validate");
  auto t = broker.queue("transform");
  auto sink = broker.queue("sink");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  // Without the format on `ts`: February 29 of 2025 passes the validator
  // (with it, the validator would refuse it), and the transformer is the
  // one to fail it.
  auto checks = validator(v, t);
  checks.at("options")
    .at("schemas")
    .at("reading")
    .at("properties")
    .at("ts")
    .as_object()
    .erase("format");
  cfg["actors"] = json::array{checks, transformer(t, sink),
                              test::record_actor(sink, records)};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();
  send_ok(v, {"--type", "reading"}, good_reading);
  send_ok(v, {"--type", "reading"}, R"({"device_id": "dev-1"})");
  send_ok(
    v, {"--type", "reading"},
    R"({"device_id": "dev-1", "temp_f": 1, "ts": "2025-02-29T00:00:00Z"})");
  test::wait_for_records(records, 1);
  auto vl = "actor=\"" + v + "\"";
  auto tl = "actor=\"" + t + "\"";
  CHECK(test::eventually(
    [&] {
      return test::metric_sample(port, "warren_validator_failed_total",
                                 {vl, "reason=\"schema\""}) == 1 &&
             test::metric_sample(port, "warren_transformer_failed_total",
                                 {tl, "reason=\"mapping\""}) == 1;
    },
    10s));
  CHECK(test::metric_sample(port, "warren_validator_passed_total", {vl}) == 2);
  CHECK(test::metric_sample(port, "warren_transformer_passed_total", {tl}) ==
        1);
  CHECK(test::metric_sample(port, "warren_validator_quality_ratio_count",
                            {vl}) == 2);
  CHECK(test::metric_sample(port, "warren_validator_quality_ratio_sum", {vl}) ==
        1.5);
  // The recent score the P2 alert reads: 1, then 0.5 weighted 1/64.
  CHECK(test::metric_sample(port, "warren_data_quality_score", {vl}) ==
        Approx(1.0 - 0.5 / 64));
  CHECK(test::metric_sample(port, "warren_validator_soft_check_failed_total",
                            {vl, "check=\"site exists true\""}) == 1);
  // The transformer dead-letters the bad timestamp with the path.
  auto letters = broker.wait_and_receive(t + ".dlq", 1);
  CHECK(test::header_string(letters[0], header::error)
          .rfind("operations[2] (timestamp ts): $.ts: not an ISO 8601 "
                 "timestamp (no such day in that month",
                 0) == 0);
  CHECK(node.stop() == 0);
}

TEST_CASE("a validator whose schema file is missing or not a schema fails "
          "the node's start, naming the option and the file",
          "[broker][pipeline]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto v = broker.queue("validate");
  test::write_file(dir.file("bad-schema.json"), R"({"type": "nope"})");
  for (auto [file, expected] :
       {std::pair{"missing.json", "cannot read the schema file " +
                                    dir.file("missing.json") +
                                    ": No such file or directory"},
        std::pair{"bad-schema.json",
                  "the schema file " + dir.file("bad-schema.json") +
                    " is not a schema: Unrecognised JSON type name 'nope'"}}) {
    DYNAMIC_SECTION(file) {
      auto cfg = test::node_config(dir);
      // Relative to the config file's directory (the node writes its
      // config into `dir`).
      cfg["actors"] = json::array{stage(v, "validator",
                                        {{"schemas", {{"reading", file}}},
                                         {"output", {{"actor", "nowhere"}}}})};
      test::node_process node{dir, cfg, {}, test::node_process::until::started};
      auto code = node.wait_for_exit(30s);
      INFO(node.err());
      CHECK(code != 0);
      CHECK(node.err().find("$.options.schemas.reading: " + expected) !=
            std::string::npos);
    }
  }
}
