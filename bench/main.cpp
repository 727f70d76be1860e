// warren-bench: raw rabbitmq-c vs warren, in one run, as machine-readable
// lines `BENCH name=... value=... unit=...`.
//
//   build/bench/warren-bench [--uri URI] [--messages N] [--calls N]
//     [--rounds N]
//     [--only classic|streams[.window|.batched|.pipeline]|sagas|events|shards]
//     [--sagas N] [--saga-timers N]
//     [--event-window N] [--event-rate N] [--event-batched N]
//     [--event-commit-delay MS]
//     [--replay-events N]
//     [--batched-events N] [--batched-commit N] [--pipeline-rate N]
//     [--date-time-format on|off]
//
// URI defaults to $WARREN_TEST_AMQP_URI, then
// amqp://guest:guest@127.0.0.1:5690/. Each round runs raw then warren back to
// back; figures are medians over the rounds, ratios the medians of the
// per-round ratios.
//
//   warren.rpc.*   the raw client calling a warren echo service (the cost of
//                  warren's service side, against the raw server)
//   warren.call.*  warren to warren: calls made by a handler, on its
//                  consumer's own connection
//   warren.node_call.*  calls from outside actors, through a node's
//                  requester
//   streams.*      issue 11: readings into a `window` actor, one per message
//                  and batched, and a pipeline of three stages (see
//                  warren_streams.hpp); `--only streams` runs these and the
//                  raw loop alone
//   sagas.*        issue 12: three-step sagas end to end, and the timers of
//                  --saga-timers sagas firing after a restart (see
//                  warren_sagas.hpp); `--only sagas` runs these and the raw
//                  loop alone
//   events.*       issue 12: appends to an event store (one event and 100
//                  per request, saturated and paced) and an aggregate's
//                  replay after a restart (see warren_events.hpp); `--only
//                  events` runs these and the raw loop alone

#include "metrics_cost.hpp"
#include "raw_baseline.hpp"
#include "stats.hpp"
#include "warren_events.hpp"
#include "warren_projection.hpp"
#include "warren_sagas.hpp"
#include "warren_side.hpp"
#include "warren_streams.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct options {
  std::string uri = "amqp://guest:guest@127.0.0.1:5690/";
  std::size_t messages = 20000;
  std::size_t calls = 2000;
  std::size_t rounds = 3;
  // "" (everything), "classic" (all but streams) or "streams" (the raw loop
  // and the streams figures).
  std::string only;
  // Readings sent in batched envelopes of 100 (single readings: --messages).
  std::size_t batched_events = 200000;
  // Group commit of the batched run (entries per transaction): 25 messages
  // of 100, as README.md advises for a high event rate (250 would be 2.5
  // messages, an fsync per 250 events).
  std::size_t batched_commit = 2500;
  // The paced pipeline run's rate, messages/s.
  double pipeline_rate = 1000;
  // The validator's schema checks the timestamp's "format": "date-time".
  bool date_time_format = false;
  // Three-step sagas per run, and sagas with a timer due at the restart.
  std::size_t sagas = 5000;
  std::size_t saga_timers = 100000;
  // Event store: appends outstanding at most, the paced run's rate
  // (appends/s, 0: none), events in appends of 100, and events replayed
  // (single appends: --messages).
  std::size_t event_window = 200;
  double event_rate = 5000;
  std::size_t event_batched = 200000;
  std::size_t replay_events = 200000;
  // The event store's commit.max_delay, ms (the default's 5).
  int event_commit_delay = 5;
};

// Reads the command line; false on a bad one.
bool parse(int argc, char** argv, options& opts) {
  if (const char* env = std::getenv("WARREN_TEST_AMQP_URI"); env && *env)
    opts.uri = env;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--uri")
      opts.uri = value;
    else if (flag == "--messages")
      opts.messages = std::stoul(value);
    else if (flag == "--calls")
      opts.calls = std::stoul(value);
    else if (flag == "--rounds")
      opts.rounds = std::stoul(value);
    else if (flag == "--only" &&
             (value == "classic" || value == "streams" ||
              value == "streams.window" || value == "streams.batched" ||
              value == "streams.pipeline" || value == "sagas" ||
              value == "events" || value == "shards"))
      opts.only = value;
    else if (flag == "--sagas")
      opts.sagas = std::stoul(value);
    else if (flag == "--saga-timers")
      opts.saga_timers = std::stoul(value);
    else if (flag == "--event-window")
      opts.event_window = std::stoul(value);
    else if (flag == "--event-commit-delay")
      opts.event_commit_delay = std::stoi(value);
    else if (flag == "--event-rate")
      opts.event_rate = std::stod(value);
    else if (flag == "--event-batched")
      opts.event_batched = std::stoul(value);
    else if (flag == "--replay-events")
      opts.replay_events = std::stoul(value);
    else if (flag == "--batched-events")
      opts.batched_events = std::stoul(value);
    else if (flag == "--batched-commit")
      opts.batched_commit = std::stoul(value);
    else if (flag == "--date-time-format" && (value == "on" || value == "off"))
      opts.date_time_format = value == "on";
    else if (flag == "--pipeline-rate")
      opts.pipeline_rate = std::stod(value);
    else
      return false;
  }
  return argc % 2 == 1;
}

// Every figure of every round, by metric name; ratios are taken per round
// (same moment, same machine load) and their median reported.
struct samples {
  std::map<std::string, std::vector<double>> values;

  void add(const std::string& name, double value) {
    values[name].push_back(value);
  }

  void print(const std::string& name, const char* unit) const {
    auto i = values.find(name);
    if (i != values.end())
      warren::bench::print_metric(name, median(i->second), unit);
  }
};

// Issue 11's figures, each ratio against this round's raw loop.
void run_streams(const options& opts, std::size_t r, double raw_tp,
                 samples& s) {
  using namespace warren::bench;
  const std::string state_dir = "/tmp/warren-bench-streams";
  std::cerr << "round " << r + 1 << ": streams\n";
  // `--only streams.window` (or .batched, .pipeline): that part alone, to
  // profile it.
  auto part = [&](const char* name) {
    return opts.only.rfind("streams.", 0) != 0 ||
           opts.only == std::string{"streams."} + name;
  };
  window_run one, pct, many;
  pipeline_run saturated, paced;
  if (part("window")) {
    window_load single;
    single.events = opts.messages;
    window_load with_percentiles = single;
    with_percentiles.percentiles = true;
    // The window run right after the raw loop measured slower than the one
    // after it (in every round of a 5-round run); the order alternates by
    // round so neither variant always takes that place.
    auto run_window = [&](const window_load& load) {
      return window_throughput(opts.uri, "bench.streams.window", load,
                               state_dir);
    };
    if (r % 2 == 0) {
      one = run_window(single);
      pct = run_window(with_percentiles);
    } else {
      pct = run_window(with_percentiles);
      one = run_window(single);
    }
    s.add("streams.window.throughput", one.events_per_sec);
    s.add("streams.window.ratio", one.events_per_sec / raw_tp);
    s.add("streams.window_percentiles.throughput", pct.events_per_sec);
    s.add("streams.window_percentiles.ratio", pct.events_per_sec / raw_tp);
  }
  if (part("batched")) {
    window_load batched;
    batched.events = opts.batched_events;
    batched.events_per_message = 100;
    batched.commit_batch = opts.batched_commit;
    many =
      window_throughput(opts.uri, "bench.streams.window", batched, state_dir);
    s.add("streams.window_batched.events", many.events_per_sec);
    s.add("streams.window_batched.messages", many.msgs_per_sec);
    s.add("streams.window_batched.ratio", many.events_per_sec / raw_tp);
  }
  pipeline_run raw_saturated, raw_paced;
  if (part("pipeline")) {
    // The same hops through raw relays first, then through warren's stages.
    auto paced_messages = static_cast<std::size_t>(opts.pipeline_rate * 3);
    raw_saturated = pipeline_throughput(opts.uri, "bench.streams.relay",
                                        opts.messages, 0, true);
    saturated =
      pipeline_throughput(opts.uri, "bench.streams.pipe", opts.messages, 0,
                          false, opts.date_time_format);
    raw_paced = pipeline_throughput(opts.uri, "bench.streams.relay",
                                    paced_messages, opts.pipeline_rate, true);
    paced =
      pipeline_throughput(opts.uri, "bench.streams.pipe", paced_messages,
                          opts.pipeline_rate, false, opts.date_time_format);
    s.add("streams.raw_relays.throughput", raw_saturated.msgs_per_sec);
    s.add("streams.raw_relays.p50", raw_saturated.p50_us);
    s.add("streams.raw_relays.p99", raw_saturated.p99_us);
    s.add("streams.raw_relays_paced.p50", raw_paced.p50_us);
    s.add("streams.raw_relays_paced.p99", raw_paced.p99_us);
    s.add("streams.pipeline.relay_ratio",
          saturated.msgs_per_sec / raw_saturated.msgs_per_sec);
    s.add("streams.pipeline_paced.p50.relay_ratio",
          paced.p50_us / raw_paced.p50_us);
    s.add("streams.pipeline.throughput", saturated.msgs_per_sec);
    s.add("streams.pipeline.ratio", saturated.msgs_per_sec / raw_tp);
    s.add("streams.pipeline.p50", saturated.p50_us);
    s.add("streams.pipeline.p99", saturated.p99_us);
    s.add("streams.pipeline_paced.throughput", paced.msgs_per_sec);
    s.add("streams.pipeline_paced.p50", paced.p50_us);
    s.add("streams.pipeline_paced.p99", paced.p99_us);
  }
  std::cerr << "round " << r + 1 << ": raw " << raw_tp << " msg/s; window "
            << one.events_per_sec << " ev/s (" << one.events_per_sec / raw_tp
            << "x, " << one.results << " results), with percentiles "
            << pct.events_per_sec << " ev/s (" << pct.events_per_sec / raw_tp
            << "x), batched " << many.events_per_sec << " ev/s in "
            << many.msgs_per_sec << " msg/s (" << many.events_per_sec / raw_tp
            << "x, " << many.results << " results); pipeline "
            << saturated.msgs_per_sec << " msg/s p50 " << saturated.p50_us
            << " us p99 " << saturated.p99_us << " us, paced at "
            << opts.pipeline_rate << "/s p50 " << paced.p50_us << " us p99 "
            << paced.p99_us << " us; raw relays " << raw_saturated.msgs_per_sec
            << " msg/s, paced p50 " << raw_paced.p50_us << " us p99 "
            << raw_paced.p99_us << " us\n";
}

// Issue 12's figures; the messages a saga run moves against this round's
// raw loop.
void run_sagas(const options& opts, std::size_t r, double raw_tp, samples& s) {
  using namespace warren::bench;
  const std::string state_dir = "/tmp/warren-bench-sagas";
  std::cerr << "round " << r + 1 << ": sagas\n";
  auto run = saga_throughput(opts.uri, "bench.sagas", opts.sagas, state_dir);
  s.add("sagas.throughput", run.sagas_per_sec);
  s.add("sagas.steps", run.steps_per_sec);
  s.add("sagas.messages", run.messages_per_sec);
  s.add("sagas.messages.ratio", run.messages_per_sec / raw_tp);
  // Due over the minute after the restart, and all at once.
  auto timers = saga_timers_after_restart(opts.uri, "bench.saga_timers",
                                          opts.saga_timers, 60000, state_dir);
  s.add("sagas.timers.reload", timers.reload_seconds);
  s.add("sagas.timers.lag_p50", timers.lag_p50_ms);
  s.add("sagas.timers.lag_p99", timers.lag_p99_ms);
  s.add("sagas.timers.lag_max", timers.lag_max_ms);
  auto burst = saga_timers_after_restart(opts.uri, "bench.saga_timers",
                                         opts.saga_timers, 0, state_dir);
  s.add("sagas.timers_all_due.reload", burst.reload_seconds);
  s.add("sagas.timers_all_due.lag_p99", burst.lag_p99_ms);
  s.add("sagas.timers_all_due.rate",
        static_cast<double>(burst.timers) / burst.fire_seconds);
  std::cerr << "round " << r + 1 << ": raw " << raw_tp << " msg/s; "
            << run.sagas_per_sec << " sagas/s (" << run.steps_per_sec
            << " steps/s, " << run.messages_per_sec << " msg/s, "
            << run.messages_per_sec / raw_tp << "x raw); " << timers.timers
            << " timers due over 60 s reloaded in " << timers.reload_seconds
            << " s, fired late by p50 " << timers.lag_p50_ms << " ms, p99 "
            << timers.lag_p99_ms << " ms, max " << timers.lag_max_ms
            << " ms; all due at once: reloaded in " << burst.reload_seconds
            << " s, fired in " << burst.fire_seconds << " s (p99 late by "
            << burst.lag_p99_ms << " ms)\n";
}

// Where an append's round trip went: published to applied, applied to
// committed, committed to the reply read.
void add_parts(samples& s, const std::string& name,
               const warren::bench::append_run& run) {
  for (const auto& [part, value] :
       {std::pair{"to_apply", run.to_apply}, std::pair{"commit", run.to_commit},
        std::pair{"reply", run.to_reply}}) {
    s.add(name + "." + part + "_p50", value.first);
    s.add(name + "." + part + "_p99", value.second);
  }
}

std::ostream& operator<<(std::ostream& out,
                         const warren::bench::append_run& run) {
  return out << "p50 " << run.p50_ms << " ms p99 " << run.p99_ms << " ms max "
             << run.max_ms << " ms (to applied " << run.to_apply.first << "/"
             << run.to_apply.second << ", commit " << run.to_commit.first << "/"
             << run.to_commit.second << ", reply " << run.to_reply.first << "/"
             << run.to_reply.second << ")";
}

// Issue 12's event store; the appends against this round's raw loop.
void run_events(const options& opts, std::size_t r, double raw_tp, samples& s) {
  using namespace warren::bench;
  const std::string state_dir = "/tmp/warren-bench-events";
  std::cerr << "round " << r + 1 << ": events\n";
  append_load single;
  single.requests = opts.messages;
  single.window = opts.event_window;
  single.commit_delay = std::chrono::milliseconds{opts.event_commit_delay};
  auto one = event_appends(opts.uri, "bench.events", single, state_dir);
  s.add("events.append_single.throughput", one.appends_per_sec);
  s.add("events.append_single.p50", one.p50_ms);
  s.add("events.append_single.p99", one.p99_ms);
  s.add("events.append_single.ratio", one.appends_per_sec / raw_tp);
  add_parts(s, "events.append_single", one);
  append_run paced, raw_paced;
  if (opts.event_rate > 0) {
    append_load at_rate = single;
    at_rate.rate = opts.event_rate;
    at_rate.requests = static_cast<std::size_t>(opts.event_rate * 3);
    // The same requests to a raw server that stores nothing: the broker's
    // and the client's part of the latency, at the same rate.
    raw_paced = raw_appends(opts.uri, "bench.events.raw", at_rate);
    s.add("events.raw_rpc_paced.p50", raw_paced.p50_ms);
    s.add("events.raw_rpc_paced.p99", raw_paced.p99_ms);
    paced = event_appends(opts.uri, "bench.events", at_rate, state_dir);
    s.add("events.append_single_paced.throughput", paced.appends_per_sec);
    s.add("events.append_single_paced.p50", paced.p50_ms);
    s.add("events.append_single_paced.p99", paced.p99_ms);
    add_parts(s, "events.append_single_paced", paced);
  }
  append_load batched;
  batched.events_per_request = 100;
  batched.requests = (opts.event_batched + 99) / 100;
  batched.window = opts.event_window;
  batched.commit_delay = single.commit_delay;
  auto many = event_appends(opts.uri, "bench.events", batched, state_dir);
  s.add("events.append_batched.throughput", many.events_per_sec);
  s.add("events.append_batched.appends", many.appends_per_sec);
  s.add("events.append_batched.p50", many.p50_ms);
  s.add("events.append_batched.p99", many.p99_ms);
  s.add("events.append_batched.ratio", many.events_per_sec / raw_tp);
  auto replay = aggregate_replay(opts.uri, "bench.events.counter",
                                 opts.replay_events, state_dir);
  s.add("events.replay.rate", replay.events_per_sec);
  s.add("events.replay.seconds", replay.seconds);
  s.add("events.replay.fold_seconds", replay.fold_seconds);
  s.add("events.replay.write", replay.write_events_per_sec);
  // A live projection of a store appended to at 1,000 events/s.
  auto lag =
    projection_lag(opts.uri, "bench.projection", 10000, 1000, state_dir);
  s.add("events.projection_lag.p50", lag.p50_ms);
  s.add("events.projection_lag.p99", lag.p99_ms);
  s.add("events.projection_lag.max", lag.max_ms);
  s.add("events.projection_lag.rate", lag.achieved);
  std::cerr << "round " << r + 1 << ": projection lag at " << lag.achieved
            << " events/s: p50 " << lag.p50_ms << " ms p99 " << lag.p99_ms
            << " ms max " << lag.max_ms << " ms\n";
  std::cerr << "round " << r + 1 << ": raw " << raw_tp << " msg/s; single "
            << one.appends_per_sec << " appends/s ("
            << one.appends_per_sec / raw_tp << "x raw) " << one << "; paced at "
            << opts.event_rate << "/s: " << paced.appends_per_sec
            << " appends/s " << paced << " (raw server p50 " << raw_paced.p50_ms
            << " ms p99 " << raw_paced.p99_ms << " ms); batched "
            << many.events_per_sec << " events/s (" << many.appends_per_sec
            << " appends/s, " << many.events_per_sec / raw_tp << "x raw) p50 "
            << many.p50_ms << " ms p99 " << many.p99_ms << " ms; replay of "
            << replay.events << " events in " << replay.seconds << " s ("
            << replay.events_per_sec << " events/s; in the actor "
            << replay.fold_seconds << " s), written at "
            << replay.write_events_per_sec << " events/s\n";
}

// A stateful counter over 64 keys, unsharded and with 4 shards (routed from
// its own queue, every unit through its changelog), one node, back to back.
void run_shards(const options& opts, std::size_t r, double raw_tp, samples& s) {
  using namespace warren::bench;
  std::cerr << "round " << r + 1 << ": shards\n";
  const std::string state_dir = "/tmp/warren-bench-state";
  // A fresh name per run: a sharded actor's changelog outlives its queues.
  auto queue = "bench.warren.sharded." + std::to_string(std::time(nullptr));
  keyed_load keyed;
  keyed.keys = 64;
  auto plain = warren_throughput(opts.uri, "bench.warren.keyed", opts.messages,
                                 256, state_dir, false, keyed)
                 .msgs_per_sec;
  // The same unsharded actor on a quorum queue, as the shards are: the
  // queue type's share of the difference.
  keyed.quorum = true;
  auto plain_quorum =
    warren_throughput(opts.uri, queue + ".quorum", opts.messages, 256,
                      state_dir, false, keyed)
      .msgs_per_sec;
  keyed.quorum = false;
  keyed.shards = 4;
  auto sharded = warren_throughput(opts.uri, queue, opts.messages, 256,
                                   state_dir, false, keyed)
                   .msgs_per_sec;
  // The same, published to each key's shard queue: the router hop's cost.
  keyed.to_shards = true;
  auto direct = warren_throughput(opts.uri, queue + ".direct", opts.messages,
                                  256, state_dir, false, keyed)
                  .msgs_per_sec;
  s.add("shards.unsharded.throughput", plain);
  s.add("shards.unsharded_quorum.throughput", plain_quorum);
  s.add("shards.sharded.throughput", sharded);
  s.add("shards.sharded_direct.throughput", direct);
  s.add("shards.sharded.ratio", sharded / plain);
  s.add("shards.sharded_direct.ratio", direct / plain);
  s.add("shards.unsharded_quorum.ratio", plain_quorum / plain);
  s.add("shards.sharded_direct.ratio_quorum", direct / plain_quorum);
  s.add("shards.unsharded.ratio_raw", plain / raw_tp);
  // An event store's single appends (requests with replies), unsharded and
  // with 4 shards (a fresh name: its changelog outlives its queues).
  append_load appends;
  appends.requests = opts.messages;
  appends.window = opts.event_window;
  const std::string events_dir = "/tmp/warren-bench-events";
  auto store_plain =
    event_appends(opts.uri, "bench.events", appends, events_dir);
  appends.shards = 4;
  auto store_sharded =
    event_appends(opts.uri, queue + ".events", appends, events_dir);
  s.add("shards.events_unsharded.throughput", store_plain.appends_per_sec);
  s.add("shards.events_sharded.throughput", store_sharded.appends_per_sec);
  s.add("shards.events_sharded.ratio",
        store_sharded.appends_per_sec / store_plain.appends_per_sec);
  s.add("shards.events_sharded.p50", store_sharded.p50_ms);
  s.add("shards.events_sharded.p99", store_sharded.p99_ms);
  appends.to_shards = true;
  auto store_direct =
    event_appends(opts.uri, queue + ".events.direct", appends, events_dir);
  s.add("shards.events_sharded_direct.throughput",
        store_direct.appends_per_sec);
  s.add("shards.events_sharded_direct.ratio",
        store_direct.appends_per_sec / store_plain.appends_per_sec);
  s.add("shards.events_sharded_direct.p50", store_direct.p50_ms);
  s.add("shards.events_sharded_direct.p99", store_direct.p99_ms);
  std::cerr << "round " << r + 1 << ": raw " << raw_tp
            << " msg/s; stateful, 64 keys: unsharded " << plain
            << " msg/s (on a quorum queue " << plain_quorum << " msg/s, "
            << plain_quorum / plain << "x), 4 shards " << sharded << " msg/s ("
            << sharded / plain << "x), published to the shards " << direct
            << " msg/s (" << direct / plain << "x, " << direct / plain_quorum
            << "x of quorum); event store appends: unsharded "
            << store_plain.appends_per_sec << "/s " << store_plain
            << ", 4 shards " << store_sharded.appends_per_sec << "/s ("
            << store_sharded.appends_per_sec / store_plain.appends_per_sec
            << "x) " << store_sharded << ", 4 shards published to the shards "
            << store_direct.appends_per_sec << "/s ("
            << store_direct.appends_per_sec / store_plain.appends_per_sec
            << "x) " << store_direct << "\n";
}

void run_round(const options& opts, std::size_t r, samples& s) {
  using namespace warren::bench;
  const std::string state_dir = "/tmp/warren-bench-state";
  auto target = parse_target(opts.uri);
  std::cerr << "round " << r + 1 << ": throughput\n";
  auto raw_tp =
    raw_throughput(target, "bench.raw.throughput", opts.messages).msgs_per_sec;
  s.add("raw.throughput", raw_tp);
  if (opts.only.empty() || opts.only.rfind("streams", 0) == 0)
    run_streams(opts, r, raw_tp, s);
  if (opts.only.empty() || opts.only == "sagas")
    run_sagas(opts, r, raw_tp, s);
  if (opts.only.empty() || opts.only == "events")
    run_events(opts, r, raw_tp, s);
  if (opts.only.empty() || opts.only == "shards")
    run_shards(opts, r, raw_tp, s);
  if (opts.only.rfind("streams", 0) == 0 || opts.only == "sagas" ||
      opts.only == "events" || opts.only == "shards")
    return;
  // Metrics on and off back to back, the order alternating by round.
  auto through = [&](bool stateful, bool metrics) {
    return warren_throughput(
             opts.uri,
             stateful ? "bench.warren.stateful" : "bench.warren.throughput",
             opts.messages, 256, stateful ? state_dir : std::string{}, metrics)
      .msgs_per_sec;
  };
  bool on_first = r % 2 == 1;
  auto w_first = through(false, on_first);
  auto w_second = through(false, !on_first);
  auto w_tp = on_first ? w_second : w_first;
  auto w_metrics = on_first ? w_first : w_second;
  auto st_first = through(true, on_first);
  auto st_second = through(true, !on_first);
  auto st_tp = on_first ? st_second : st_first;
  auto st_metrics = on_first ? st_first : st_second;
  s.add("warren.metrics.throughput", w_metrics);
  s.add("warren.metrics.throughput.ratio", w_metrics / w_tp);
  s.add("warren.metrics.stateful.throughput", st_metrics);
  s.add("warren.metrics.stateful.throughput.ratio", st_metrics / st_tp);
  auto recovery =
    stateful_recovery(opts.uri, "bench.warren.recovery", 100000, state_dir);
  s.add("warren.throughput", w_tp);
  s.add("warren.throughput.ratio", w_tp / raw_tp);
  s.add("warren.stateful.throughput", st_tp);
  s.add("warren.stateful.throughput.ratio", st_tp / raw_tp);
  s.add("warren.stateful.recovery_100k", recovery);
  std::cerr << "round " << r + 1 << ": rpc\n";
  auto rpc = compare_rpc(opts.uri, "bench.rpc", opts.calls);
  s.add("raw.rpc.throughput", rpc.raw.calls_per_sec);
  s.add("raw.rpc.p50", rpc.raw.p50_us);
  s.add("raw.rpc.p99", rpc.raw.p99_us);
  // Each warren figure against the raw calls made interleaved with it.
  for (const auto& [name, result, base] :
       {std::tuple{"warren.rpc", rpc.service, rpc.raw},
        std::tuple{"warren.call", rpc.call, rpc.raw_for_call},
        std::tuple{"warren.node_call", rpc.node_call, rpc.raw_for_node_call}}) {
    s.add(std::string{name} + ".throughput", result.calls_per_sec);
    s.add(std::string{name} + ".p50", result.p50_us);
    s.add(std::string{name} + ".p99", result.p99_us);
    s.add(std::string{name} + ".p50.ratio", result.p50_us / base.p50_us);
  }
  std::cerr << "round " << r + 1 << ": raw " << raw_tp << " msg/s, warren "
            << w_tp << " msg/s, stateful " << st_tp
            << " msg/s, recovery of 100k states " << recovery
            << " s; rpc p50 raw " << rpc.raw.p50_us << " us, warren service "
            << rpc.service.p50_us << " us, warren call " << rpc.call.p50_us
            << " us (raw beside it " << rpc.raw_for_call.p50_us << " us)\n";
}

void print_results(const options& opts, const samples& s) {
  using warren::bench::print_metric;
  print_metric("config.messages", static_cast<double>(opts.messages), "count");
  print_metric("config.calls", static_cast<double>(opts.calls), "count");
  print_metric("config.rounds", static_cast<double>(opts.rounds), "count");
  for (const char* name :
       {"raw.throughput", "warren.throughput", "warren.stateful.throughput",
        "warren.metrics.throughput", "warren.metrics.stateful.throughput"})
    s.print(name, "msg/s");
  s.print("warren.throughput.ratio", "ratio");
  s.print("warren.stateful.throughput.ratio", "ratio");
  s.print("warren.metrics.throughput.ratio", "ratio");
  s.print("warren.metrics.stateful.throughput.ratio", "ratio");
  s.print("warren.stateful.recovery_100k", "s");
  s.print("shards.unsharded.throughput", "msg/s");
  s.print("shards.sharded.throughput", "msg/s");
  s.print("shards.sharded_direct.throughput", "msg/s");
  s.print("shards.events_unsharded.throughput", "appends/s");
  s.print("shards.events_sharded.throughput", "appends/s");
  s.print("shards.events_sharded.ratio", "ratio");
  s.print("shards.events_sharded.p50", "ms");
  s.print("shards.events_sharded.p99", "ms");
  s.print("shards.sharded.ratio", "ratio");
  s.print("shards.sharded_direct.ratio", "ratio");
  s.print("shards.unsharded.ratio_raw", "ratio");
  for (const char* name :
       {"streams.window.throughput", "streams.window_percentiles.throughput",
        "streams.window_batched.events"})
    s.print(name, "events/s");
  s.print("streams.window_batched.messages", "msg/s");
  for (const char* name :
       {"streams.window.ratio", "streams.window_percentiles.ratio",
        "streams.window_batched.ratio", "streams.pipeline.ratio",
        "streams.pipeline.relay_ratio",
        "streams.pipeline_paced.p50.relay_ratio"})
    s.print(name, "ratio");
  s.print("streams.pipeline.throughput", "msg/s");
  s.print("streams.pipeline_paced.throughput", "msg/s");
  s.print("streams.raw_relays.throughput", "msg/s");
  for (const char* name :
       {"streams.pipeline.p50", "streams.pipeline.p99",
        "streams.pipeline_paced.p50", "streams.pipeline_paced.p99",
        "streams.raw_relays.p50", "streams.raw_relays.p99",
        "streams.raw_relays_paced.p50", "streams.raw_relays_paced.p99"})
    s.print(name, "us");
  print_metric("config.sagas", static_cast<double>(opts.sagas), "count");
  print_metric("config.saga_timers", static_cast<double>(opts.saga_timers),
               "count");
  s.print("sagas.throughput", "sagas/s");
  s.print("sagas.steps", "steps/s");
  s.print("sagas.messages", "msg/s");
  s.print("sagas.messages.ratio", "ratio");
  s.print("sagas.timers.reload", "s");
  s.print("sagas.timers_all_due.reload", "s");
  for (const char* name :
       {"sagas.timers.lag_p50", "sagas.timers.lag_p99", "sagas.timers.lag_max",
        "sagas.timers_all_due.lag_p99"})
    s.print(name, "ms");
  s.print("sagas.timers_all_due.rate", "timers/s");
  print_metric("config.event_window", static_cast<double>(opts.event_window),
               "count");
  print_metric("config.event_rate", opts.event_rate, "appends/s");
  print_metric("config.event_commit_delay",
               static_cast<double>(opts.event_commit_delay), "ms");
  print_metric("config.replay_events", static_cast<double>(opts.replay_events),
               "count");
  for (const char* name :
       {"events.projection_lag.p50", "events.projection_lag.p99",
        "events.projection_lag.max"})
    s.print(name, "ms");
  s.print("events.projection_lag.rate", "events/s");
  s.print("events.append_single.throughput", "appends/s");
  s.print("events.append_single_paced.throughput", "appends/s");
  s.print("events.append_batched.throughput", "events/s");
  s.print("events.append_batched.appends", "appends/s");
  for (const char* name :
       {"events.append_single.p50", "events.append_single.p99",
        "events.append_single_paced.p50", "events.append_single_paced.p99",
        "events.raw_rpc_paced.p50", "events.raw_rpc_paced.p99",
        "events.append_batched.p50", "events.append_batched.p99"})
    s.print(name, "ms");
  for (const char* run : {"events.append_single", "events.append_single_paced"})
    for (const char* part : {".to_apply_p50", ".to_apply_p99", ".commit_p50",
                             ".commit_p99", ".reply_p50", ".reply_p99"})
      s.print(std::string{run} + part, "ms");
  s.print("events.append_single.ratio", "ratio");
  s.print("events.append_batched.ratio", "ratio");
  s.print("events.replay.rate", "events/s");
  s.print("events.replay.seconds", "s");
  s.print("events.replay.fold_seconds", "s");
  s.print("events.replay.write", "events/s");
  for (const char* side :
       {"raw.rpc", "warren.rpc", "warren.call", "warren.node_call"}) {
    std::string name{side};
    s.print(name + ".throughput", "calls/s");
    s.print(name + ".p50", "us");
    s.print(name + ".p99", "us");
    s.print(name + ".p50.ratio", "ratio");
  }
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  if (!parse(argc, argv, opts)) {
    std::cerr
      << "usage: warren-bench [--uri URI] [--messages N] [--calls N] "
         "[--rounds N] [--only "
         "classic|streams[.window|.batched|.pipeline]|sagas|events|shards] "
         "[--sagas N] [--saga-timers N] "
         "[--event-window N] [--event-rate N] [--event-batched N] "
         "[--event-commit-delay MS] "
         "[--replay-events N] "
         "[--batched-events N] "
         "[--batched-commit N] [--pipeline-rate N] "
         "[--date-time-format on|off]\n";
    return 2;
  }
  try {
    if (opts.only.rfind("streams", 0) != 0 && opts.only != "events" &&
        opts.only != "shards")
      warren::bench::measure_metrics_cost();
    samples s;
    for (std::size_t r = 0; r < opts.rounds; ++r)
      run_round(opts, r, s);
    print_results(opts, s);
  } catch (const std::exception& e) {
    std::cerr << "warren-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
