// The sensor pipeline of examples/sensors (validator, transformer, sliding
// window, enricher) killed with SIGKILL at a random point of its commit path
// while it runs, then restarted: its results must equal those of an
// uninterrupted run, and a stateful consumer downstream must apply each
// result once.
//
// The reference is `warren window replay` over the events the window
// received: a queue bound to warren.actors with the window's name gets a copy
// of every message sent to the window, in the order the window's queue got
// them (redelivered copies included; the first copy of each id is the
// event). The test also checks that this order is the order the readings
// were sent in, so the replay is the run that was never interrupted.
//
// Default: 2 runs; WARREN_TEST_FULL=1: 20 runs. Each run picks its kill
// point and count at random from a seed it prints; WARREN_TEST_SEED=<seed>
// runs that one again.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string example_file(const std::string& name) {
  return test::source_file("../../examples/sensors/" + name);
}

// Replaces every string in `v` that equals a key of `names` by its value.
void rename_all(json::value& v,
                const std::map<std::string, std::string>& names) {
  if (v.is_string()) {
    auto it = names.find(std::string{v.get_string()});
    if (it != names.end())
      v = it->second;
  } else if (v.is_array()) {
    for (auto& item : v.get_array())
      rename_all(item, names);
  } else if (v.is_object()) {
    for (auto& member : v.get_object())
      rename_all(member.value(), names);
  }
}

json::object& actor_named(json::array& actors, const std::string& name) {
  for (auto& a : actors)
    if (a.at("name").as_string() == name.c_str())
      return a.as_object();
  FAIL("no actor " << name << " in the sensors config");
  throw std::logic_error("unreachable");
}

// The example's config on unique broker names, with taps on the window's
// input and output and a stateful counter behind the results.
struct sensor_rig {
  test::broker_scratch broker;
  std::string readings_exchange = broker.exchange("s-data");
  // The results exchange and the queue bound to it share the name, as in
  // the example.
  std::string results = broker.exchange("s-results");
  std::string readings = broker.queue("s-readings");
  std::string late = broker.queue("s-late");
  std::string validate = broker.queue("s-validate");
  std::string transform = broker.queue("s-transform");
  std::string window = broker.queue("s-window");
  std::string enrich = broker.queue("s-enrich");
  std::string tap_in = broker.queue("s-tap-in");
  std::string tap_out = broker.queue("s-tap-out");
  std::string counter_in = broker.queue("s-counter-in");
  std::string to_counter = broker.queue("s-to-counter");
  std::string counter = broker.queue("s-counter");
  int64_t out_of_orderness_ms = 0;

  sensor_rig() { broker.track_queue(results); }

  json::object config(const test::temp_dir& dir) {
    auto example = json::parse(test::read_file(example_file("sensors.json")));
    rename_all(example, {{"sensor_data", readings_exchange},
                         {"sensors.results", results},
                         {"sensors.readings", readings},
                         {"sensors.late", late},
                         {"sensors.validate", validate},
                         {"sensors.transform", transform},
                         {"sensors.window", window},
                         {"sensors.enrich", enrich}});
    auto& actors = example.at("actors").as_array();
    // The config lives in the test's directory: files by absolute paths.
    actor_named(actors, validate).at("options").at("schemas").as_object()["*"] =
      example_file("reading.schema.json");
    actor_named(actors, enrich).at("options").at("table").as_object()["path"] =
      example_file("devices.csv");
    auto& window_options =
      actor_named(actors, window).at("options").as_object();
    // No idle timeout: it moves the watermark with the wall clock, so a
    // restart that takes longer than usual would change which events are
    // late. Without it the results depend only on the order of the events,
    // which the replay reproduces.
    window_options["idle_timeout_ms"] = 0;
    out_of_orderness_ms =
      window_options.at("max_out_of_orderness_ms").as_int64();

    auto& topology = example.at("topology").as_object();
    auto& queues = topology.at("queues").as_array();
    auto& bindings = topology.at("bindings").as_array();
    for (const auto& q : {tap_in, tap_out, counter_in})
      queues.push_back(json::object{{"name", q}});
    bindings.push_back(json::object{{"exchange", bridges::actors_exchange},
                                    {"queue", tap_in},
                                    {"routing_key", window}});
    bindings.push_back(json::object{{"exchange", bridges::actors_exchange},
                                    {"queue", tap_out},
                                    {"routing_key", enrich}});
    bindings.push_back(json::object{{"exchange", results},
                                    {"queue", counter_in},
                                    {"routing_key", "sensor.#"}});
    // Downstream of the results: a stateless stage that names the counter
    // (it keeps the result's id lineage), then a stateful count per device.
    actors.push_back(json::object{
      {"name", to_counter},
      {"kind", "transformer"},
      {"queue", counter_in},
      {"options",
       json::object{
         {"operations",
          json::array{json::object{
            {"op", "copy"}, {"from", "key.device_id"}, {"to", "counter"}}}},
         {"output", json::object{{"actor", counter}, {"type", "counted"}}}}}});
    auto counting = test::counter_actor(counter);
    counting["commit"] = json::object{{"max_batch", 16}};
    actors.push_back(counting);

    auto cfg = test::node_config(dir);
    cfg["topology"] = topology;
    cfg["actors"] = actors;
    return cfg;
  }
};

// -- the readings -------------------------------------------------------------

std::string iso8601(int64_t ms) {
  auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm t{};
  gmtime_r(&seconds, &t);
  char text[40];
  auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(text + n, sizeof text - n, ".%03dZ",
                static_cast<int>(ms % 1000));
  return text;
}

struct reading_stream {
  std::vector<std::string> ids;
  std::vector<std::string> bodies;
  // Ids of the readings that must reach the window, in sending order.
  std::vector<std::string> valid;
  std::size_t malformed = 0;
  std::size_t late = 0;
};

// About `steps` readings per device every 10 s of event time from a fixed
// start, sent in the order they "arrive": delayed by 0 to 8 s (within the
// window's out-of-orderness), 5% by 15 to 70 s (updates within the allowed
// lateness), 1% by 8 to 20 minutes (late: to the late output); every 97th
// message broken in one of four ways; then one closing reading per device
// 10 minutes after the rest, which closes every window of the stream.
reading_stream make_readings(uint64_t seed, const std::string& prefix,
                             int steps) {
  // Device numbers as in the example: 1-3 send ISO 8601, 4-6 epoch
  // seconds, 7-9 epoch milliseconds; 7 and 8 report Fahrenheit; 9 is not in
  // devices.csv.
  const std::vector<int> devices = {1, 2, 4, 5, 7, 8, 9};
  const int64_t start = 1764583200000; // 2025-12-01T10:00:00Z
  std::mt19937_64 rng{seed};
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>{lo, hi}(rng);
  };
  struct planned {
    int64_t send_at;
    int device;
    int64_t t;
    int64_t delay;
  };
  std::vector<planned> plan;
  for (int step = 0; step < steps; ++step)
    for (int device : devices) {
      auto t = start + step * 10000 + uniform(0, 9999);
      auto roll = uniform(0, 999);
      // Late ones only where the stream goes on long enough after them to
      // have closed all their windows when they arrive.
      auto delay = roll < 10 && step < steps - 130 ? uniform(480000, 1200000)
                   : roll < 60                     ? uniform(15000, 70000)
                                                   : uniform(0, 8000);
      plan.push_back({t + delay, device, t, delay});
    }
  std::stable_sort(
    plan.begin(), plan.end(),
    [](const planned& a, const planned& b) { return a.send_at < b.send_at; });
  auto body_of = [&](int device, int64_t t) {
    char name[16];
    std::snprintf(name, sizeof name, "dev-%03d", device);
    json::object body{{"device_id", name},
                      {"humidity", static_cast<double>(uniform(350, 600)) / 10},
                      {"battery", uniform(40, 100)}};
    if (device <= 3)
      body["timestamp"] = iso8601(t);
    else if (device <= 6)
      body["timestamp"] = static_cast<double>(t) / 1000;
    else
      body["timestamp"] = t;
    auto celsius = static_cast<double>(uniform(1800, 2600)) / 100;
    if (device == 7 || device == 8)
      body["temperature_f"] = celsius * 9 / 5 + 32;
    else
      body["temperature"] = celsius;
    return body;
  };
  reading_stream out;
  int64_t last = start;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& p = plan[i];
    auto id = prefix + "-" + std::to_string(i);
    auto body = body_of(p.device, p.t);
    out.ids.push_back(id);
    if (i % 97 == 96) {
      ++out.malformed;
      switch ((i / 97) % 4) {
        case 0:
          out.bodies.push_back(R"({"device_id": "dev-001", "temperature": 2)");
          continue;
        case 1:
          body.erase("device_id");
          break;
        case 2:
          body.erase("temperature_f");
          body["temperature"] = "21.5C";
          break;
        default:
          body.erase("temperature_f");
          body["temperature"] = 999.0;
          body["humidity"] = -5;
          break;
      }
      out.bodies.push_back(json::serialize(body));
      continue;
    }
    if (p.delay >= 480000)
      ++out.late;
    last = std::max(last, p.t);
    out.bodies.push_back(json::serialize(body));
    out.valid.push_back(id);
  }
  for (int device : devices) {
    auto id = prefix + "-close-" + std::to_string(device);
    out.ids.push_back(id);
    out.bodies.push_back(json::serialize(body_of(device, last + 600000)));
    out.valid.push_back(id);
  }
  return out;
}

// -- collecting ---------------------------------------------------------------

// Messages of a queue by id, the first copy of each, in arrival order.
struct collected {
  std::map<std::string, json::value> by_id;
  std::map<std::string, std::string> routing_keys;
  std::vector<std::string> order;
  std::size_t copies = 0;
  std::size_t differing_copies = 0;

  void take(test::broker_scratch& broker, const std::string& queue) {
    for (;;) {
      auto got = broker.receive(queue, 500, 100ms);
      for (const auto& m : got) {
        json::error_code ec;
        auto body = json::parse(m.raw_body, ec);
        if (ec)
          body = json::string{m.raw_body};
        auto [it, fresh] = by_id.emplace(m.properties.message_id, body);
        if (fresh) {
          order.push_back(m.properties.message_id);
          routing_keys[m.properties.message_id] = m.routing_key;
        } else {
          ++copies;
          if (it->second != body)
            ++differing_copies;
        }
      }
      if (got.size() < 500)
        return;
    }
  }
};

int64_t total(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [key, count] : counts)
    n += count;
  return n;
}

// The reading's id a message sent on by the stages descends from (effect
// ids are `<cause>/<actor>/<index>`).
std::string reading_of(const std::string& id) {
  return id.substr(0, id.find('/'));
}

// -- one run ------------------------------------------------------------------

const std::vector<std::string> kill_points = {
  "after_receive", "after_state_write", "after_outbox_write", "after_commit",
  "before_ack"};

// How often a run reaches each point, a first guess (two stateful actors,
// the window and the counter, per message; commits in batches, those with
// outbox rows only when the window publishes; acks of every consumer, in
// multiples): the kill count is drawn below it. How many commits a run
// makes depends on how fast the machine is (a faster one batches more), so
// a run that does not reach its count lowers the bound for the runs after
// it.
std::map<std::string, int> first_reach() {
  return {{"after_receive", 1500},
          {"after_state_write", 1500},
          {"after_outbox_write", 40},
          {"after_commit", 80},
          {"before_ack", 80}};
}

struct run_result {
  bool killed = false;
};

run_result kill_run(uint64_t seed, std::map<std::string, int>& reach) {
  std::mt19937_64 rng{seed};
  const auto& point = kill_points[rng() % kill_points.size()];
  int nth = 1 + static_cast<int>(rng() % reach.at(point));
  auto kill = point + ":" + std::to_string(nth);
  std::cerr << "sensors kill run: seed " << seed
            << ", WARREN_KILL_POINT=" << kill << "\n";
  INFO("seed " << seed << ", WARREN_KILL_POINT=" << kill);

  test::temp_dir dir;
  sensor_rig rig;
  auto cfg = rig.config(dir);
  auto readings = make_readings(seed, test::unique_name("r"), 300);
  run_result result;
  {
    test::node_process doomed{dir, cfg, {"WARREN_KILL_POINT=" + kill}};
    test::publish_bulk(rig.readings_exchange, "sensor.any", "reading",
                       readings.ids, 100,
                       [&](std::size_t i) { return readings.bodies[i]; });
    // Killed, or through with everything (a point not reached that often).
    test::eventually(
      [&] {
        return !doomed.running() ||
               (rig.broker.count(rig.readings) == 0 &&
                rig.broker.count(rig.tap_in) >= readings.valid.size() &&
                rig.broker.count(rig.counter_in) == 0 &&
                rig.broker.count(rig.counter) == 0);
      },
      60s);
    result.killed = doomed.stop() == -1;
    // Not reached n times: the point is reached fewer than n times a run.
    if (!result.killed)
      reach[point] = std::max(1, nth - 1);
  }
  test::node_process clean{dir, cfg};

  // The window's input, complete: every valid reading once (after
  // de-duplication), in the order they were sent.
  collected window_in;
  test::eventually(
    [&] {
      window_in.take(rig.broker, rig.tap_in);
      return window_in.order.size() >= readings.valid.size();
    },
    60s);
  REQUIRE(window_in.order.size() == readings.valid.size());
  CHECK(window_in.differing_copies == 0);
  std::vector<std::string> arrived;
  for (const auto& id : window_in.order)
    arrived.push_back(reading_of(id));
  CHECK(arrived == readings.valid);

  // The uninterrupted run: the replay over those events, less the windows
  // only the end of the file closes (the live watermark stays at the last
  // event).
  std::string events_text;
  int64_t max_time = 0;
  for (const auto& id : window_in.order) {
    const auto& body = window_in.by_id.at(id);
    max_time = std::max(max_time, body.at("timestamp").as_int64());
    events_text += json::serialize(body) + "\n";
  }
  auto events_file = dir.file("window-input.jsonl");
  test::write_file(events_file, events_text);
  auto replay = test::warren(
    {"window", "replay", clean.config_path(), rig.window, events_file});
  INFO(replay.err);
  REQUIRE(replay.exit_code == 0);
  auto watermark = max_time - rig.out_of_orderness_ms - 1;
  std::map<std::string, json::value> reference;
  std::size_t replay_late = 0;
  std::size_t updates = 0;
  std::size_t start = 0;
  while (start < replay.out.size()) {
    auto end = replay.out.find('\n', start);
    auto line = replay.out.substr(start, end - start);
    start = end == std::string::npos ? replay.out.size() : end + 1;
    if (line.empty())
      continue;
    auto v = json::parse(line).as_object();
    if (v.contains("late")) {
      ++replay_late;
      continue;
    }
    if (v.at("result").at("end").as_int64() - 1 > watermark)
      continue;
    if (v.at("result").at("update").as_bool())
      ++updates;
    reference.emplace(std::string{v.at("id").as_string()}, v.at("result"));
  }
  REQUIRE(reference.size() > 300);
  CHECK(updates > 0);
  CHECK(replay_late == readings.late);

  // Everything downstream, until the counter has counted every result.
  collected window_out;
  collected results;
  collected late;
  collected dead;
  std::map<std::string, int64_t> counted;
  auto db = dir.file("state") + "/warren.db";
  test::eventually(
    [&] {
      window_out.take(rig.broker, rig.tap_out);
      results.take(rig.broker, rig.results);
      late.take(rig.broker, rig.late);
      dead.take(rig.broker, rig.readings + ".dlq");
      if (window_out.by_id.size() < reference.size() ||
          results.by_id.size() < reference.size() ||
          late.by_id.size() < readings.late ||
          dead.by_id.size() < readings.malformed)
        return false;
      counted = test::counter_counts(db, rig.counter);
      return total(counted) >= static_cast<int64_t>(reference.size());
    },
    60s);
  // Anything more that was still on its way.
  std::this_thread::sleep_for(500ms);
  window_out.take(rig.broker, rig.tap_out);
  results.take(rig.broker, rig.results);
  late.take(rig.broker, rig.late);
  dead.take(rig.broker, rig.readings + ".dlq");
  counted = test::counter_counts(db, rig.counter);
  clean.stop();

  std::cerr << "  " << (result.killed ? "killed" : "not reached") << "; "
            << reference.size() << " results (" << updates << " updates), "
            << window_out.copies << " copies of window results, "
            << results.copies << " of final results, " << late.by_id.size()
            << " late, " << dead.by_id.size() << " dead letters\n";

  // (a) The window's results, de-duplicated, are the replay's, id for id;
  // every copy of an id is the same result.
  CHECK(window_out.differing_copies == 0);
  CHECK(window_out.by_id.size() == reference.size());
  std::size_t mismatched = 0;
  for (const auto& [id, result_body] : reference) {
    auto it = window_out.by_id.find(id);
    if (it == window_out.by_id.end() || it->second != result_body) {
      if (++mismatched <= 3)
        UNSCOPED_INFO("window result " << id << ": expected "
                                       << json::serialize(result_body)
                                       << ", got "
                                       << (it == window_out.by_id.end()
                                             ? std::string{"nothing"}
                                             : json::serialize(it->second)));
    }
  }
  CHECK(mismatched == 0);
  // The published results: each window result once, enriched.
  CHECK(results.differing_copies == 0);
  CHECK(results.by_id.size() == reference.size());
  std::map<std::string, int64_t> per_device;
  std::size_t bad = 0;
  for (const auto& [id, body] : results.by_id) {
    auto source = id.substr(0, id.rfind("/" + rig.enrich + "/"));
    auto enriched = body.as_object();
    auto location = enriched["location"];
    enriched.erase("location");
    auto it = reference.find(source);
    auto device = std::string{body.at("key").at("device_id").as_string()};
    ++per_device[device];
    bool ok =
      it != reference.end() && it->second == json::value(enriched) &&
      location.is_object() &&
      (device == "dev-009") == location.as_object().contains("unregistered") &&
      results.routing_keys.at(id) ==
        "sensor." + std::string{location.at("site").as_string()} + "." + device;
    if (!ok && ++bad <= 3)
      UNSCOPED_INFO("result " << id << ": " << json::serialize(body));
  }
  CHECK(bad == 0);
  CHECK(per_device.size() == 7);
  // (b) Downstream applied each result once: the counter's count per
  // device is the number of distinct results of that device.
  CHECK(counted == per_device);
  // Late readings went to the late output, malformed ones to the
  // dead-letter queue, each once after de-duplication.
  CHECK(late.differing_copies == 0);
  CHECK(late.by_id.size() == readings.late);
  CHECK(dead.by_id.size() == readings.malformed);
  return result;
}

} // namespace

TEST_CASE("the sensor pipeline killed at a random point of its commit path "
          "recovers to the results of an uninterrupted run, and downstream "
          "applies each result once",
          "[broker][sensors][kill]") {
  const char* full = std::getenv("WARREN_TEST_FULL");
  int runs = full != nullptr && std::string{full} == "1" ? 20 : 2;
  const char* fixed = std::getenv("WARREN_TEST_SEED");
  if (fixed != nullptr)
    runs = 1;
  std::random_device entropy;
  auto reach = first_reach();
  int killed = 0;
  // Runs that reach no kill do not count towards `runs` (they still check
  // everything): at most a few more are made, each with a lower bound.
  int extra = 0;
  for (int run = 0; run < runs; ++run) {
    uint64_t seed = fixed != nullptr
                      ? std::strtoull(fixed, nullptr, 10)
                      : (static_cast<uint64_t>(entropy()) << 32) | entropy();
    if (kill_run(seed, reach).killed)
      ++killed;
    else if (fixed == nullptr && extra < 4) {
      ++extra;
      --run;
    }
  }
  std::cerr << "sensors kill runs: killed in " << killed << " of " << runs
            << "\n";
  CHECK(killed > 0);
}
