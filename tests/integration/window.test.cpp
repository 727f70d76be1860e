// The `window` kind end to end: event-time windows keyed by a field,
// results published with stable ids to an exchange, late events to a side
// output, updates within the allowed lateness, idle timeouts, and exact
// results across restarts and kill -9; against the private broker and real
// SQLite files.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/shard.hpp"
#include "window_readings.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <map>
#include <set>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct window_rig {
  test::broker_scratch broker;
  std::string name = broker.queue("win");
  std::string results_exchange = broker.exchange("win-results");
  std::string results = broker.queue("win-results");
  std::string late = broker.queue("win-late");

  // A node config with one window actor and the queues its results and late
  // events land in.
  json::object config(const test::temp_dir& dir, json::object options) {
    options["output"] = json::object{{"exchange", results_exchange},
                                     {"routing_key", "win.{key.device}"}};
    if (!options.contains("late_output"))
      options["late_output"] =
        json::object{{"exchange", ""}, {"routing_key", late}};
    auto cfg = test::node_config(dir);
    cfg["topology"] = json::object{
      {"exchanges", json::array{json::object{{"name", results_exchange},
                                             {"type", "topic"}}}},
      {"queues", json::array{json::object{{"name", results}},
                             json::object{{"name", late}}}},
      {"bindings", json::array{json::object{{"exchange", results_exchange},
                                            {"queue", results},
                                            {"routing_key", "win.#"}}}}};
    cfg["actors"] = json::array{json::object{{"name", name},
                                             {"kind", "window"},
                                             {"options", std::move(options)},
                                             {"prefetch", 50}}};
    return cfg;
  }

  // Events (device, time, temperature), ids "<prefix>-<i>".
  void
  send(const std::string& prefix,
       const std::vector<std::tuple<std::string, int64_t, double>>& events) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < events.size(); ++i)
      ids.push_back(prefix + "-" + std::to_string(i));
    test::publish_bulk(
      bridges::actors_exchange, name, "reading", ids, 50, [&](std::size_t i) {
        const auto& [device, t, temp] = events[i];
        return json::serialize(
          json::object{{"device", device}, {"ts", t}, {"temp", temp}});
      });
  }
};

json::object tumbling_options(int64_t size_ms, int64_t lateness_ms = 0) {
  return json::object{
    {"key", "device"},
    {"time", json::object{{"field", "ts"}, {"format", "epoch_ms"}}},
    {"window", json::object{{"type", "tumbling"}, {"size_ms", size_ms}}},
    {"allowed_lateness_ms", lateness_ms},
    {"idle_timeout_ms", 0},
    {"values", json::object{{"temp", json::array{"count", "sum", "avg", "min",
                                                 "max", "median", "p90"}}}}};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    if (end > start)
      lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

json::object body_of(const envelope& env) {
  return json::parse(env.raw_body).as_object();
}

} // namespace

TEST_CASE("a tumbling window fires when the watermark passes its end, with "
          "its aggregates, a stable id and a routing key from its key",
          "[broker][window]") {
  test::temp_dir dir;
  window_rig rig;
  test::node_process node{dir, rig.config(dir, tumbling_options(1000))};
  rig.send("a", {{"d1", 1000, 20.0},
                 {"d1", 1999, 22.0},
                 {"d2", 1500, 10.0},
                 {"d1", 1500, 30.0},
                 // Moves the watermark to 2999: [1000, 2000) fires for both.
                 {"d1", 3000, 0.0}});
  auto results = rig.broker.wait_and_receive(rig.results, 2, 20s);
  REQUIRE(results.size() == 2);
  std::map<std::string, json::object> by_device;
  for (const auto& r : results) {
    CHECK(r.properties.type == "window.result");
    auto body = body_of(r);
    auto device = std::string{body.at("key").at("device").as_string()};
    CHECK(r.routing_key == "win." + device);
    by_device[device] = body;
    CHECK(r.properties.message_id ==
          "[\"" + device + "\"]/1000/2000/" + rig.name + "/0");
  }
  const auto& d1 = by_device.at("d1");
  CHECK(d1.at("start").as_int64() == 1000);
  CHECK(d1.at("end").as_int64() == 2000);
  CHECK(d1.at("revision").as_int64() == 0);
  CHECK(d1.at("update").as_bool() == false);
  CHECK(d1.at("count").as_int64() == 3);
  const auto& temp = d1.at("fields").at("temp");
  CHECK(temp.at("count").as_int64() == 3);
  CHECK(temp.at("sum").as_double() == Approx(72.0));
  CHECK(temp.at("avg").as_double() == Approx(24.0));
  CHECK(temp.at("min").as_double() == 20.0);
  CHECK(temp.at("max").as_double() == 30.0);
  CHECK(temp.at("median").as_double() == 22.0);
  // numpy's linear interpolation: 22 + 0.8 * (30 - 22).
  CHECK(temp.at("p90").as_double() == Approx(28.4));
  CHECK(by_device.at("d2").at("count").as_int64() == 1);
  // Nothing else is due.
  CHECK(rig.broker.receive(rig.results, 5, 500ms).empty());
}

TEST_CASE("an event later than the allowed lateness goes to the late output, "
          "one within it updates the window's result",
          "[broker][window]") {
  test::temp_dir dir;
  window_rig rig;
  test::node_process node{dir, rig.config(dir, tumbling_options(1000, 2000))};
  rig.send("a", {{"d1", 1000, 1.0}, {"d1", 3500, 2.0}});
  auto first = rig.broker.wait_and_receive(rig.results, 1, 20s);
  REQUIRE(first.size() == 1);
  CHECK(body_of(first[0]).at("count").as_int64() == 1);
  // Watermark 3499: [1000, 2000) is kept until 2000 - 1 + 2000 = 3999.
  rig.send("b", {{"d1", 1200, 5.0}});
  auto update = rig.broker.wait_and_receive(rig.results, 1, 20s);
  REQUIRE(update.size() == 1);
  auto body = body_of(update[0]);
  CHECK(body.at("revision").as_int64() == 1);
  CHECK(body.at("update").as_bool());
  CHECK(body.at("count").as_int64() == 2);
  CHECK(update[0].properties.message_id ==
        "[\"d1\"]/1000/2000/" + rig.name + "/1");
  // Watermark 4999: [1000, 2000) is forgotten; an event for it is late.
  rig.send("c", {{"d1", 5000, 3.0}, {"d1", 1300, 7.0}});
  auto late = rig.broker.wait_and_receive(rig.late, 1, 20s);
  REQUIRE(late.size() == 1);
  CHECK(body_of(late[0]).at("ts").as_int64() == 1300);
}

TEST_CASE("an idle timeout closes the last windows when the input stops",
          "[broker][window]") {
  test::temp_dir dir;
  window_rig rig;
  auto options = tumbling_options(1000);
  options["idle_timeout_ms"] = 300;
  test::node_process node{dir, rig.config(dir, options)};
  rig.send("a", {{"d1", 1000, 1.0}, {"d1", 1100, 2.0}});
  // No event passes 2000, yet the window closes once the input is quiet.
  auto results = rig.broker.wait_and_receive(rig.results, 1, 20s);
  REQUIRE(results.size() == 1);
  CHECK(body_of(results[0]).at("count").as_int64() == 2);
}

TEST_CASE("a window actor restarted goes on from what it committed, and "
          "results are not published again",
          "[broker][window]") {
  test::temp_dir dir;
  window_rig rig;
  auto cfg = rig.config(dir, tumbling_options(1000));
  {
    test::node_process node{dir, cfg};
    rig.send("a", {{"d1", 1000, 1.0}, {"d1", 2100, 2.0}});
    REQUIRE(rig.broker.wait_and_receive(rig.results, 1, 20s).size() == 1);
  }
  test::node_process node{dir, cfg};
  // [2000, 3000) holds the event from before the restart.
  rig.send("b", {{"d1", 2200, 4.0}, {"d1", 3100, 0.0}});
  auto results = rig.broker.wait_and_receive(rig.results, 1, 20s);
  REQUIRE(results.size() == 1);
  auto body = body_of(results[0]);
  CHECK(body.at("start").as_int64() == 2000);
  CHECK(body.at("count").as_int64() == 2);
  CHECK(body.at("fields").at("temp").at("sum").as_double() == Approx(6.0));
  CHECK(rig.broker.receive(rig.results, 5, 500ms).empty());
}

TEST_CASE("a window actor killed at any point of its commit loses no event "
          "and counts none twice",
          "[broker][window][kill]") {
  // 400 events over 4 devices, 25 per 1-second window per device (sliding
  // 2 s every 1 s), in order; each window's count is known.
  std::vector<std::tuple<std::string, int64_t, double>> events;
  for (int i = 0; i < 400; ++i)
    events.emplace_back("d" + std::to_string(i % 4), 1000 + i * 10,
                        static_cast<double>(i));
  for (const char* point :
       {"after_state_write", "after_commit", "before_ack"}) {
    DYNAMIC_SECTION(point) {
      test::temp_dir dir;
      window_rig rig;
      auto options = tumbling_options(1000);
      options["window"] = json::object{
        {"type", "sliding"}, {"size_ms", 2000}, {"slide_ms", 1000}};
      options["idle_timeout_ms"] = 500;
      auto cfg = rig.config(dir, options);
      cfg["actors"].as_array()[0].as_object()["commit"] =
        json::object{{"max_batch", 16}};
      bool killed = false;
      {
        test::node_process doomed{
          dir, cfg, {std::string{"WARREN_KILL_POINT="} + point + ":4"}};
        rig.send("e", events);
        test::eventually(
          [&] { return !doomed.running() || rig.broker.count(rig.name) == 0; },
          30s);
        killed = doomed.stop() == -1;
      }
      test::node_process clean{dir, cfg};
      // Windows [0,2000) .. [4000,6000) per device: 5 each, 20 in all,
      // plus copies of those published before the kill.
      std::map<std::string, json::object> by_id;
      test::eventually(
        [&] {
          for (const auto& r : rig.broker.receive(rig.results, 100, 300ms)) {
            auto [it, fresh] =
              by_id.emplace(r.properties.message_id, body_of(r));
            // A copy is the same result.
            CHECK(it->second == body_of(r));
            (void)fresh;
          }
          return by_id.size() >= 20;
        },
        30s);
      INFO(point);
      CHECK(killed);
      REQUIRE(by_id.size() == 20);
      for (const auto& [id, body] : by_id) {
        INFO(id);
        auto start = body.at("start").as_int64();
        // Events of one device every 40 ms from 1000 + its index * 10.
        int64_t expected = 0;
        auto device = std::stoi(
          std::string{body.at("key").at("device").as_string()}.substr(1));
        for (int i = device; i < 400; i += 4) {
          auto t = 1000 + i * 10;
          if (t >= start && t < start + 2000)
            ++expected;
        }
        CHECK(body.at("count").as_int64() == expected);
        CHECK(body.at("revision").as_int64() == 0);
      }
    }
  }
}

TEST_CASE("a sharded window actor on two nodes: the owner killed with "
          "kill -9 midway, the other node takes its shards over with their "
          "windows and every window's result is exact",
          "[broker][window][shards]") {
  // 400 events over 8 devices in time order: 50 per device, one every
  // 80 ms; sliding windows of 2 s every 1 s.
  std::vector<std::tuple<std::string, int64_t, double>> events;
  for (int i = 0; i < 400; ++i)
    events.emplace_back("d" + std::to_string(i % 8), 1000 + i * 10,
                        static_cast<double>(i));
  window_rig rig;
  const uint32_t shards = 3;
  for (uint32_t i = 0; i < shards; ++i)
    rig.broker.track_queue(shard_name(rig.name, i));
  rig.broker.track_queue(rig.name + ".log");
  auto options = tumbling_options(1000);
  options["window"] =
    json::object{{"type", "sliding"}, {"size_ms", 2000}, {"slide_ms", 1000}};
  options["idle_timeout_ms"] = 500;
  // Each node's router forwards to the shards: two routers may swap events
  // of different keys, which moves a shard's watermark ahead of some.
  options["max_out_of_orderness_ms"] = 2000;
  test::temp_dir first_dir;
  test::temp_dir second_dir;
  auto sharded = [&](const test::temp_dir& dir) {
    auto cfg = rig.config(dir, options);
    cfg["actors"].as_array()[0].as_object()["shards"] = shards;
    return cfg;
  };
  std::map<std::string, json::object> by_id;
  auto collect = [&] {
    for (const auto& r : rig.broker.receive(rig.results, 100, 300ms)) {
      auto [it, fresh] = by_id.emplace(r.properties.message_id, body_of(r));
      // A copy (sent again after the takeover) is the same result.
      CHECK(it->second == body_of(r));
      (void)fresh;
    }
  };
  auto first =
    std::make_unique<test::node_process>(first_dir, sharded(first_dir));
  // Its probes make it the owner of every shard before any event.
  auto taken = [](const std::string& log) {
    return test::occurrences(log, "taken over in epoch");
  };
  CHECK(test::eventually([&] { return taken(first->err()) == shards; }, 20s));
  test::node_process second{second_dir, sharded(second_dir)};
  rig.send("e", {events.begin(), events.begin() + 200});
  // Some windows fired on the first owner: its shards hold state.
  test::eventually(
    [&] {
      collect();
      return by_id.size() >= 8;
    },
    30s);
  REQUIRE(::kill(first->pid(), SIGKILL) == 0);
  first->stop();
  first.reset();
  rig.send("e2", {events.begin() + 200, events.end()});
  // Windows [0,2000) .. [4000,6000) per device: 5 each, 40 in all.
  test::eventually(
    [&] {
      collect();
      return by_id.size() >= 40;
    },
    60s);
  INFO(second.err());
  REQUIRE(by_id.size() == 40);
  CHECK(rig.broker.receive(rig.late, 10, 300ms).empty());
  for (const auto& [id, body] : by_id) {
    INFO(id);
    test::check_sliding_result(body);
    CHECK(body.at("revision").as_int64() == 0);
  }
  CHECK(taken(second.err()) == shards);
}

TEST_CASE("warren window replay prints what the window actor publishes for "
          "the same events, result for result and id for id",
          "[broker][window][replay]") {
  test::temp_dir dir;
  window_rig rig;
  auto options = tumbling_options(1000, 1500);
  options["window"] =
    json::object{{"type", "sliding"}, {"size_ms", 3000}, {"slide_ms", 1000}};
  options["max_out_of_orderness_ms"] = 500;
  auto cfg = rig.config(dir, options);
  // Out of order, some within the allowed lateness, some beyond it.
  std::vector<std::tuple<std::string, int64_t, double>> events;
  uint64_t seed = 7;
  for (int i = 0; i < 300; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    auto jitter = static_cast<int64_t>((seed >> 33) % 8000);
    events.emplace_back("d" + std::to_string(i % 3), 10000 + i * 50 - jitter,
                        static_cast<double>((seed >> 20) % 1000) / 10.0);
  }
  // Far ahead: every window of the events above closes.
  events.emplace_back("d0", 1000000, 0.0);
  std::string lines;
  for (const auto& [device, t, temp] : events)
    lines += json::serialize(
               json::object{{"device", device}, {"ts", t}, {"temp", temp}}) +
             "\n";
  auto events_file = dir.file("events.jsonl");
  test::write_file(events_file, lines);
  auto config_file = dir.file("replay.json");
  test::write_file(config_file, json::serialize(cfg));
  auto replay =
    test::warren({"window", "replay", config_file, rig.name, events_file});
  INFO(replay.err);
  REQUIRE(replay.exit_code == 0);
  std::map<std::string, json::value> expected;
  std::size_t expected_late = 0;
  for (const auto& line : lines_of(replay.out)) {
    auto v = json::parse(line).as_object();
    if (v.contains("late"))
      ++expected_late;
    else
      expected.emplace(std::string{v.at("id").as_string()}, v.at("result"));
  }
  // The far event's own windows close only at the end of the file.
  std::size_t at_end = 0;
  for (const auto& [id, result] : expected)
    if (result.at("end").as_int64() > 1000000)
      ++at_end;
  REQUIRE(expected.size() > at_end + 100);
  CHECK(expected_late > 0);

  test::node_process node{dir, cfg};
  rig.send("r", events);
  std::map<std::string, json::value> published;
  test::eventually(
    [&] {
      for (const auto& r : rig.broker.receive(rig.results, 200, 300ms))
        published.emplace(r.properties.message_id, json::parse(r.raw_body));
      return published.size() >= expected.size() - at_end;
    },
    30s);
  CHECK(published.size() == expected.size() - at_end);
  for (const auto& [id, result] : published) {
    INFO(id);
    auto it = expected.find(id);
    REQUIRE(it != expected.end());
    CHECK(it->second == result);
  }
  CHECK(rig.broker.wait_and_receive(rig.late, expected_late, 20s).size() ==
        expected_late);
}

TEST_CASE("approximate percentiles are within the relative error the config "
          "states of the exact ones",
          "[window][replay]") {
  test::temp_dir dir;
  auto options = tumbling_options(100000);
  options["values"] = json::object{
    {"temp", json::array{"median", "p99", "approx_median", "approx_p99"}}};
  options["approx_relative_error"] = 0.02;
  options["output"] = json::object{{"exchange", "x"}, {"routing_key", "r"}};
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{
    json::object{{"name", "approx"}, {"kind", "window"}, {"options", options}}};
  std::string lines;
  for (int i = 0; i < 5000; ++i)
    lines += json::serialize(json::object{
               {"device", "d"}, {"ts", 1000 + i}, {"temp", 1.0 + i * 0.37}}) +
             "\n";
  auto events = dir.file("events.jsonl");
  test::write_file(events, lines);
  auto config_file = dir.file("approx.json");
  test::write_file(config_file, json::serialize(cfg));
  auto r = test::warren({"window", "replay", config_file, "approx", events});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto out = lines_of(r.out);
  REQUIRE(out.size() == 1);
  auto temp = json::parse(out[0]).at("result").at("fields").at("temp");
  for (const char* p : {"median", "p99"}) {
    INFO(p);
    auto exact = temp.at(p).as_double();
    auto approx = temp.at(std::string{"approx_"} + p).as_double();
    CHECK(std::abs(approx - exact) <= 0.02 * exact);
    CHECK(approx != exact); // a sketch, not the exact value
  }
}
