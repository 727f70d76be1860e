// Streams through the broker (issue 11): readings into a `window` actor,
// one per message and in batched envelopes, and a pipeline of three stages
// timed from publish to result.

#include "warren_streams.hpp"

#include "profiling.hpp"
#include "raw_run.hpp"
#include "stats.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/core/batch.hpp"
#include "warren/metrics/http_get.hpp"
#include "warren/runtime/node.hpp"
#include "warren_common.hpp"
#include "window/window_actor.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace warren::bench {

namespace {

// 100 devices, one reading per device per second of event time: 20,000
// readings are 200 s of event time, so 5-minute windows sliding every 60 s
// close (and publish) during the run.
constexpr std::size_t devices = 100;
constexpr int64_t reading_period_ms = 1000;
// 2026-12-01T00:00:00Z, a multiple of 60 s.
constexpr int64_t first_event_ms = 1796083200000;

std::string device_name(std::size_t i) {
  char name[16];
  std::snprintf(name, sizeof name, "dev-%03zu", i % devices);
  return name;
}

// Reading `n`: device n % 100, its (n / 100)-th second, a temperature
// that moves a little.
boost::json::object reading(std::size_t n) {
  auto t =
    first_event_ms + static_cast<int64_t>(n / devices) * reading_period_ms;
  double temp = 20.0 + static_cast<double>((n * 7919) % 1000) / 100.0;
  return {{"device", device_name(n)}, {"ts", t}, {"temp", temp}};
}

// The window actor's events, counted as they are applied (the same point
// as warren_throughput's counting handlers: before the group commit).
struct finish_line {
  std::mutex mtx;
  std::condition_variable cv;
  std::size_t target = 0;
  std::size_t seen = 0;
  clock_type::time_point last;
};

finish_line* current_finish = nullptr;

class counted_window : public actors::window_actor {
 public:
  using window_actor::window_actor;

  status apply(context& ctx, const envelope& msg) override {
    auto result = window_actor::apply(ctx, msg);
    if (result.is_ok()) {
      auto& f = *current_finish;
      std::lock_guard<std::mutex> guard{f.mtx};
      if (++f.seen == f.target) {
        f.last = clock_type::now();
        f.cv.notify_all();
      }
    }
    return result;
  }
};

// The readings as messages to `queue`: one per message (type "reading"),
// or batched envelopes of `per_message` entries without ids of their own
// (each entry's id is `<message id>#<index>`).
std::vector<outgoing_message> readings_for(const std::string& queue,
                                           const window_load& load) {
  std::vector<outgoing_message> out;
  auto per = std::max<std::size_t>(load.events_per_message, 1);
  out.reserve((load.events + per - 1) / per);
  for (std::size_t n = 0; n < load.events; n += per) {
    outgoing_message msg;
    msg.routing_key = queue;
    msg.properties.delivery_mode = 2;
    msg.properties.type = "reading";
    msg.properties.content_type = "application/json";
    msg.properties.message_id = "r-" + std::to_string(n);
    if (per == 1) {
      msg.body = boost::json::serialize(reading(n));
    } else {
      std::vector<batch_entry> entries;
      entries.reserve(per);
      for (std::size_t i = n; i < std::min(n + per, load.events); ++i)
        entries.push_back({{}, {}, reading(i)});
      msg.body = encode_batch(entries, msg.properties);
    }
    out.push_back(std::move(msg));
  }
  return out;
}

boost::json::object window_options(const window_load& load,
                                   const std::string& results) {
  boost::json::array aggregates{"count", "sum", "avg", "min", "max", "stddev"};
  if (load.percentiles)
    for (const char* p : {"median", "p90", "p99"})
      aggregates.emplace_back(p);
  return {
    {"key", "device"},
    {"time", {{"field", "ts"}, {"format", "epoch_ms"}}},
    {"window", {{"type", "sliding"}, {"size_ms", 300000}, {"slide_ms", 60000}}},
    {"max_out_of_orderness_ms", 2000},
    {"values", {{"temp", std::move(aggregates)}}},
    {"output", {{"exchange", ""}, {"routing_key", results}}}};
}

} // namespace

window_run window_throughput(const std::string& uri, const std::string& queue,
                             const window_load& load,
                             const std::string& state_dir) {
  auto cfg = make_config(uri);
  const std::string results = queue + ".results";
  delete_queues(cfg, queue);
  delete_queues(cfg, results);
  bridges::queue_spec results_queue;
  results_queue.name = results;
  cfg.topology.queues.push_back(results_queue);
  config::actor_spec spec;
  spec.name = queue;
  spec.kind = "bench.window";
  spec.queue = queue;
  spec.prefetch = 500;
  spec.commit.max_batch = load.commit_batch;
  spec.options = window_options(load, results);
  cfg.actors.push_back(spec);
  std::filesystem::remove_all(state_dir);
  cfg.state_dir = state_dir;
  bool profile = profiling();
  if (profile) {
    cfg.metrics.enabled = true;
    cfg.metrics.host = "127.0.0.1";
    cfg.metrics.port = 0;
  }
  registry kinds;
  kinds.add_kind<counted_window>("bench.window");
  auto messages =
    std::make_shared<std::vector<outgoing_message>>(readings_for(queue, load));
  window_run result;
  result.messages = messages->size();
  result.events = load.events;
  finish_line finish;
  finish.target = load.events;
  current_finish = &finish;
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  {
    runtime::node node{sys, cfg, kinds};
    if (auto err = node.start(std::chrono::seconds{30}))
      throw std::runtime_error("node start: " + describe(err));
    auto done = std::make_shared<std::promise<std::size_t>>();
    auto confirmed = done->get_future();
    auto cpu_before = thread_cpu();
    auto start = clock_type::now();
    // Built beforehand, so building them is not timed; batches of 100, 4
    // outstanding, as the throughput run publishes.
    message_maker take = [messages](std::size_t i) {
      return std::move((*messages)[i]);
    };
    sys.spawn(publish_driver, node.publisher(), std::move(take),
              messages->size(), std::size_t{100}, std::size_t{4}, done);
    if (confirmed.wait_for(std::chrono::seconds{120}) !=
        std::future_status::ready)
      throw std::runtime_error("warren publish did not finish in 120 s");
    if (auto failed = confirmed.get(); failed > 0)
      throw std::runtime_error(std::to_string(failed) + " publishes failed");
    std::unique_lock<std::mutex> guard{finish.mtx};
    if (!finish.cv.wait_for(guard, std::chrono::seconds{120},
                            [&] { return finish.seen >= finish.target; }))
      throw std::runtime_error("the window actor applied only " +
                               std::to_string(finish.seen) + " of " +
                               std::to_string(load.events) + " events");
    result.seconds = std::chrono::duration<double>(finish.last - start).count();
    guard.unlock();
    if (profile) {
      report_cpu(cpu_before, result.seconds);
      if (auto text =
            metrics::http_get({"127.0.0.1", node.metrics_port(), "/metrics"})) {
        auto commits = scraped(*text, "warren_store_commit_seconds_count");
        auto seconds = scraped(*text, "warren_store_commit_seconds_sum");
        std::cerr << "  profile: " << commits << " commits, " << seconds
                  << " s in commits (" << 1000.0 * seconds / commits
                  << " ms each, " << static_cast<double>(load.events) / commits
                  << " events each)\n";
      }
    }
    node.stop();
  }
  current_finish = nullptr;
  result.msgs_per_sec = static_cast<double>(result.messages) / result.seconds;
  result.events_per_sec = static_cast<double>(result.events) / result.seconds;
  {
    auto client = bridges::blocking_client::connect(cfg.broker);
    if (client)
      if (auto n = (*client)->message_count(results))
        result.results = *n;
  }
  delete_queues(cfg, queue);
  delete_queues(cfg, results);
  std::filesystem::remove_all(state_dir);
  return result;
}

// -- the pipeline ------------------------------------------------------------

namespace {

const char* reading_schema = R"({
  "type": "object",
  "required": ["device_id", "temp_f", "ts"],
  "properties": {
    "device_id": {"type": "string", "pattern": "^dev-"},
    "temp_f": {"type": "number", "minimum": -100, "maximum": 300},
    "ts": {"type": "string"},
    "seq": {"type": "integer"}
  }
})";

config::actor_spec stage(const std::string& name, const char* kind,
                         boost::json::object options) {
  config::actor_spec spec;
  spec.name = name;
  spec.kind = kind;
  spec.queue = name;
  spec.prefetch = 500;
  spec.options = std::move(options);
  return spec;
}

// The three stages: the validator checks each reading against a JSON
// Schema and scores two soft checks, the transformer converts Fahrenheit
// to Celsius and the ISO timestamp to epoch ms, the router sends each
// reading with a Celsius value to `sink`.
std::vector<config::actor_spec> pipeline_stages(const std::string& prefix,
                                                const std::string& sink,
                                                bool date_time_format) {
  auto schema = boost::json::parse(reading_schema);
  // Off by default, so the figures compare with runs from before warren
  // checked date-time itself (valijson 1.0 built a std::regex per value;
  // bench/README.md); on, it now costs about the same.
  if (date_time_format)
    schema.at("properties").at("ts").as_object()["format"] = "date-time";
  auto v = prefix + ".validate";
  auto t = prefix + ".transform";
  auto r = prefix + ".route";
  return {
    stage(v, "validator",
          {{"schemas", {{"reading", std::move(schema)}}},
           {"soft_checks", boost::json::parse(R"([
              {"name": "plausible", "field": "temp_f", "ge": -40, "le": 250},
              {"field": "site", "exists": true}])")},
           {"output", {{"actor", t}}}}),
    stage(t, "transformer",
          {{"operations", boost::json::parse(R"([
              {"op": "rename", "from": "temp_f", "to": "temp_c"},
              {"op": "scale", "field": "temp_c", "factor": 0.5555555555555556,
               "offset": -17.77777777777778, "decimals": 1},
              {"op": "timestamp", "field": "ts"}])")},
           {"output", {{"actor", r}}}}),
    stage(r, "router",
          {{"mode", "first"},
           {"routes",
            {{{"name", "celsius"},
              {"when", {{"field", "temp_c"}, {"exists", true}}},
              {"output", {{"exchange", ""}, {"routing_key", sink}}}}}}}),
  };
}

// The reading of sequence number `seq`, as the raw publisher sends it.
std::string pipeline_body(std::size_t seq) {
  char body[160];
  std::snprintf(body, sizeof body,
                R"({"device_id":"dev-%03zu","temp_f":%.1f,)"
                R"("ts":"2026-12-01T10:42:20.500Z","site":"hall","seq":%zu})",
                seq % devices,
                50.0 + static_cast<double>((seq * 7919) % 600) / 10.0, seq);
  return body;
}

// "seq":N in a result body.
std::size_t seq_of(const amqp_bytes_t& body) {
  std::string_view text{static_cast<const char*>(body.bytes), body.len};
  auto at = text.find("\"seq\":");
  if (at == std::string_view::npos)
    throw std::runtime_error("a pipeline result without seq: " +
                             std::string{text.substr(0, 120)});
  return std::stoul(std::string{text.substr(at + 6, 24)});
}

// Waits up to `wait` for a delivery; false on a timeout.
bool consume_within(amqp_connection_state_t state, amqp_envelope_t& envelope,
                    std::chrono::microseconds wait) {
  amqp_maybe_release_buffers(state);
  auto tv = raw::to_timeval(wait);
  auto reply = amqp_consume_message(state, &envelope, &tv, 0);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL)
    return true;
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      reply.library_error == AMQP_STATUS_TIMEOUT)
    return false;
  throw std::runtime_error("raw relay: consuming failed: " +
                           raw::describe_reply(reply));
}

// A raw rabbitmq-c stage that does nothing but forward: consumes `from`
// (prefetch 500), publishes each body to `to` (persistent, confirms per
// batch of up to 100) and acks what it forwarded once confirmed, as a
// warren stage acks after its output is confirmed.
void relay(const broker_target& target, const std::string& from,
           const std::string& to, std::size_t messages, raw::run_state& run) {
  using namespace raw;
  connection in{target, "warren-bench-relay-in"};
  connection out{target, "warren-bench-relay-out"};
  amqp_basic_qos(in.get(), channel_id, 0, throughput_prefetch, 0);
  in.check_last_rpc("basic.qos");
  amqp_basic_consume(in.get(), channel_id, as_bytes(from), amqp_empty_bytes, 0,
                     0, 0, amqp_empty_table);
  in.check_last_rpc("basic.consume on '" + from + "'");
  amqp_confirm_select(out.get(), channel_id);
  out.check_last_rpc("confirm.select");
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                      AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG;
  properties.content_type = amqp_cstring_bytes("application/json");
  properties.delivery_mode = 2;
  properties.type = amqp_cstring_bytes("reading");
  std::size_t forwarded = 0;
  uint64_t published = 0;
  auto last_progress = steady::now();
  while (forwarded < messages) {
    run.throw_if_aborted();
    std::size_t batch = 0;
    uint64_t last_tag = 0;
    // The first delivery waits; the rest of a batch only takes what is
    // there already.
    while (batch < confirm_batch && forwarded + batch < messages) {
      amqp_envelope_t envelope;
      auto wait = batch == 0 ? std::chrono::microseconds{poll_interval}
                             : std::chrono::microseconds{0};
      if (!consume_within(in.get(), envelope, wait))
        break;
      envelope_guard guard{envelope};
      check_status(amqp_basic_publish(out.get(), channel_id, amqp_empty_bytes,
                                      as_bytes(to), 1, 0, &properties,
                                      envelope.message.body),
                   "basic.publish");
      last_tag = envelope.delivery_tag;
      ++batch;
    }
    if (batch == 0) {
      if (steady::now() - last_progress > stall_limit)
        throw std::runtime_error("raw relay: nothing on '" + from + "'");
      continue;
    }
    await_confirms(out.get(), published + 1, published + batch, run);
    published += batch;
    check_status(amqp_basic_ack(in.get(), channel_id, last_tag, 1),
                 "basic.ack");
    forwarded += batch;
    last_progress = steady::now();
  }
}

} // namespace

pipeline_run pipeline_throughput(const std::string& uri,
                                 const std::string& prefix,
                                 std::size_t messages, double rate,
                                 bool raw_relays, bool date_time_format) {
  using namespace raw;
  auto target = parse_target(uri);
  auto cfg = make_config(uri);
  const std::string sink = prefix + ".sink";
  auto stages = pipeline_stages(prefix, sink, date_time_format);
  for (const auto& s : stages)
    delete_queues(cfg, s.queue);
  recreate_queue(target, sink);
  if (raw_relays)
    for (const auto& s : stages)
      recreate_queue(target, s.queue);
  else
    cfg.actors = stages;
  registry kinds;
  actors::register_builtin_kinds(kinds);
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  std::vector<steady::time_point> published(messages);
  std::vector<steady::time_point> arrived(messages);
  {
    std::optional<runtime::node> node;
    if (!raw_relays) {
      node.emplace(sys, cfg, kinds);
      if (auto err = node->start(std::chrono::seconds{30}))
        throw std::runtime_error("node start: " + describe(err));
    }
    run_state run;
    const std::string input = stages.front().queue;
    // The raw relays: each hop's messages forwarded as they are.
    std::vector<std::thread> relays;
    if (raw_relays)
      for (std::size_t i = 0; i < stages.size(); ++i)
        relays.push_back(spawn(run, [&, i] {
          relay(target, stages[i].queue,
                i + 1 < stages.size() ? stages[i + 1].queue : sink, messages,
                run);
        }));
    auto consumer = spawn(run, [&] {
      connection conn{target, "warren-bench-pipeline-sink"};
      auto* state = conn.get();
      amqp_basic_qos(state, channel_id, 0, throughput_prefetch, 0);
      conn.check_last_rpc("basic.qos");
      amqp_basic_consume(state, channel_id, as_bytes(sink), amqp_empty_bytes, 0,
                         0, 0, amqp_empty_table);
      conn.check_last_rpc("basic.consume on '" + sink + "'");
      run.set_ready();
      std::vector<bool> seen(messages, false);
      std::size_t received = 0;
      std::size_t unacked = 0;
      auto last_progress = steady::now();
      while (received < messages) {
        run.throw_if_aborted();
        amqp_envelope_t envelope;
        if (!consume_one(state, envelope, "consuming pipeline results")) {
          if (steady::now() - last_progress > stall_limit)
            throw std::runtime_error("pipeline: only " +
                                     std::to_string(received) + " of " +
                                     std::to_string(messages) + " results");
          continue;
        }
        envelope_guard guard{envelope};
        auto now = steady::now();
        auto seq = seq_of(envelope.message.body);
        if (seq >= messages || seen[seq])
          throw std::runtime_error("pipeline: unexpected or repeated seq " +
                                   std::to_string(seq));
        seen[seq] = true;
        arrived[seq] = now;
        ++received;
        last_progress = now;
        if (++unacked == ack_batch) {
          check_status(
            amqp_basic_ack(state, channel_id, envelope.delivery_tag, 1),
            "basic.ack");
          unacked = 0;
        }
      }
    });
    auto publisher = spawn(run, [&] {
      connection conn{target, "warren-bench-pipeline-publisher"};
      auto* state = conn.get();
      amqp_confirm_select(state, channel_id);
      conn.check_last_rpc("confirm.select");
      amqp_basic_properties_t properties{};
      properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                          AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG |
                          AMQP_BASIC_MESSAGE_ID_FLAG;
      properties.content_type = amqp_cstring_bytes("application/json");
      properties.delivery_mode = 2;
      properties.type = amqp_cstring_bytes("reading");
      std::vector<std::string> bodies(messages);
      std::vector<std::string> ids(messages);
      for (std::size_t i = 0; i < messages; ++i) {
        bodies[i] = pipeline_body(i);
        ids[i] = prefix + "-" + std::to_string(i);
      }
      run.wait_ready();
      auto start = steady::now();
      std::size_t sent = 0;
      while (sent < messages) {
        auto batch = std::min(confirm_batch, messages - sent);
        for (std::size_t i = sent; i < sent + batch; ++i) {
          if (rate > 0) {
            auto due =
              start +
              std::chrono::duration_cast<steady::duration>(
                std::chrono::duration<double>(static_cast<double>(i) / rate));
            std::this_thread::sleep_until(due);
          }
          properties.message_id = as_bytes(ids[i]);
          published[i] = steady::now();
          check_status(amqp_basic_publish(state, channel_id, amqp_empty_bytes,
                                          as_bytes(input), 1, 0, &properties,
                                          as_bytes(bodies[i])),
                       "basic.publish");
        }
        await_confirms(state, sent + 1, sent + batch, run);
        sent += batch;
      }
    });
    consumer.join();
    publisher.join();
    for (auto& t : relays)
      t.join();
    if (node)
      node->stop();
    run.rethrow_if_failed();
  }
  delete_queue(target, sink);
  for (const auto& s : stages)
    delete_queues(cfg, s.queue);
  pipeline_run result;
  result.messages = messages;
  auto last = *std::max_element(arrived.begin(), arrived.end());
  result.seconds = seconds_between(published.front(), last);
  result.msgs_per_sec = static_cast<double>(messages) / result.seconds;
  std::vector<double> latencies(messages);
  for (std::size_t i = 0; i < messages; ++i)
    latencies[i] =
      std::chrono::duration<double, std::micro>(arrived[i] - published[i])
        .count();
  std::sort(latencies.begin(), latencies.end());
  result.p50_us = percentile_sorted(latencies, 50);
  result.p99_us = percentile_sorted(latencies, 99);
  return result;
}

} // namespace warren::bench
