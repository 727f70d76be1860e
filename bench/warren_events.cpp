// The event store through the broker (issue 12): appends of one event and
// of 100 events per request, and an aggregate's replay after a restart.

#include "warren_events.hpp"

#include "eventstore/event_store.hpp"
#include "profiling.hpp"
#include "raw_run.hpp"
#include "stats.hpp"
#include "warren/actors/aggregate.hpp"
#include "warren/core/shard.hpp"
#include "warren/metrics/http_get.hpp"
#include "warren/runtime/node.hpp"
#include "warren_common.hpp"

#include <atomic>
#include <boost/describe/class.hpp>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace warren::bench {

namespace {

using raw::steady;

// What a run used: every thread's CPU, the broker's, the store's commits.
class profile {
 public:
  profile() : on_(profiling()) {
    if (on_) {
      threads_ = thread_cpu();
      broker_ = broker_cpu();
    }
  }

  void report(double wall, uint16_t metrics_port) const {
    if (!on_)
      return;
    double total = 0;
    for (const auto& [tid, after] : thread_cpu()) {
      auto i = threads_.find(tid);
      double used =
        after.second - (i == threads_.end() ? 0.0 : i->second.second);
      total += used;
      if (used >= 0.05)
        std::cerr << "  profile: thread " << tid << " (" << after.first << ") "
                  << used << " s CPU of " << wall << " s\n";
    }
    std::cerr << "  profile: this process " << total << " s CPU\n";
    if (broker_ >= 0)
      std::cerr << "  profile: the broker " << broker_cpu() - broker_
                << " s CPU\n";
    if (metrics_port == 0)
      return;
    if (auto text =
          metrics::http_get({"127.0.0.1", metrics_port, "/metrics"})) {
      auto commits = scraped(*text, "warren_store_commit_seconds_count");
      auto seconds = scraped(*text, "warren_store_commit_seconds_sum");
      std::cerr << "  profile: " << commits << " commits, " << seconds
                << " s in commits (" << 1000.0 * seconds / commits
                << " ms each); commits taking at most (s): ";
      // The histogram's cumulative buckets, `le` by `le`.
      std::istringstream lines{*text};
      std::string line;
      const std::string bucket = "warren_store_commit_seconds_bucket";
      while (std::getline(lines, line)) {
        auto le = line.find("le=\"");
        if (line.rfind(bucket, 0) != 0 || le == std::string::npos)
          continue;
        auto end = line.find('"', le + 4);
        std::cerr << line.substr(le + 4, end - le - 4) << ": "
                  << line.substr(line.rfind(' ') + 1) << " ";
      }
      std::cerr << "\n";
    }
  }

 private:
  bool on_;
  std::map<std::string, std::pair<std::string, double>> threads_;
  double broker_ = -1;
};

// -- the requests ------------------------------------------------------------

// About 100 bytes of an order event; `amount` is what the aggregate sums.
std::string event_data(std::size_t i, int64_t amount) {
  char data[160];
  std::snprintf(data, sizeof data,
                R"({"order_id":%zu,"customer":"c-%05zu","sku":"SKU-%05zu",)"
                R"("quantity":%zu,"amount":%lld,"currency":"EUR"})",
                i, i % 10007, (i * 7919) % 100000, 1 + i % 5,
                static_cast<long long>(amount));
  return data;
}

int64_t amount_of(std::size_t i) {
  return static_cast<int64_t>(i % 1000) + 1;
}

// An append of `count` events from event number `first` to `stream`.
std::string append_body(const std::string& stream, std::size_t first,
                        std::size_t count) {
  std::string body = R"({"stream":")" + stream + R"(","events":[)";
  for (std::size_t k = first; k < first + count; ++k) {
    if (k > first)
      body += ',';
    body += R"({"event_id":"e-)" + std::to_string(k) +
            R"(","type":"placed","data":)" + event_data(k, amount_of(k)) + "}";
  }
  body += "]}";
  return body;
}

struct request_times {
  std::vector<steady::time_point> sent;
  std::vector<steady::time_point> answered;
};

// Sends `bodies` as event_store.append requests to `queue` (persistent,
// no confirms: the reply says they are committed) with at most `window`
// outstanding, at `rate` per second when it is not 0 (each request's time
// then counted from when it was due), and reads each
// reply (of type `expect`, unless that is empty) on an exclusive queue. The
// publisher (the calling thread) and the reader (a thread of its own) have
// a connection each, so the paced publisher sleeps until each request is
// due rather than polling the socket (rabbitmq-c's timeouts are whole
// milliseconds).
// Request i goes to `queues[i]`, or to `queues[0]` when there is one.
request_times send_appends(const broker_target& target,
                           const std::vector<std::string>& queues,
                           const std::vector<std::string>& bodies,
                           const std::string& id_prefix, std::size_t window,
                           double rate,
                           const std::string& expect = "event_store.appended") {
  using namespace raw;
  auto n = bodies.size();
  request_times times;
  times.sent.resize(n);
  times.answered.resize(n);
  std::vector<std::string> ids(n), correlations(n);
  for (std::size_t i = 0; i < n; ++i) {
    ids[i] = id_prefix + std::to_string(i);
    correlations[i] = std::to_string(i);
  }
  run_state run;
  std::mutex mtx;
  std::condition_variable replied;
  std::size_t done = 0;
  std::string reply_queue;
  auto reader = spawn(run, [&] {
    connection conn{target, "warren-bench-event-replies"};
    auto* state = conn.get();
    auto* declared = amqp_queue_declare(state, channel_id, amqp_empty_bytes, 0,
                                        0, 1, 1, amqp_empty_table);
    conn.check_last_rpc("queue.declare of the reply queue");
    auto name = raw::to_string(declared->queue);
    amqp_basic_consume(state, channel_id, as_bytes(name), amqp_empty_bytes, 0,
                       /*no_ack=*/1, 1, amqp_empty_table);
    conn.check_last_rpc("basic.consume on the reply queue");
    {
      std::lock_guard<std::mutex> guard{mtx};
      reply_queue = name;
    }
    run.set_ready();
    std::vector<bool> seen(n, false);
    const std::string what = "reading append replies on '" + name + "'";
    auto last_progress = steady::now();
    for (std::size_t got = 0; got < n;) {
      run.throw_if_aborted();
      amqp_envelope_t envelope;
      if (!consume_one(state, envelope, what)) {
        if (steady::now() - last_progress > stall_limit)
          throw std::runtime_error(
            "event store: no reply for " + std::to_string(stall_limit.count()) +
            " s after " + std::to_string(got) + " of " + std::to_string(n));
        continue;
      }
      envelope_guard guard{envelope};
      auto at = steady::now();
      const auto& p = envelope.message.properties;
      auto type = (p._flags & AMQP_BASIC_TYPE_FLAG) ? raw::to_string(p.type)
                                                    : std::string{};
      if (!expect.empty() && type != expect)
        throw std::runtime_error("event store: a reply of type '" + type +
                                 "': " + raw::to_string(envelope.message.body));
      auto corr = (p._flags & AMQP_BASIC_CORRELATION_ID_FLAG)
                    ? raw::to_string(p.correlation_id)
                    : std::string{"?"};
      auto i = std::strtoull(corr.c_str(), nullptr, 10);
      if (i >= n || seen[i] || corr != correlations[i])
        throw std::runtime_error("event store: unexpected or repeated reply '" +
                                 corr + "'");
      seen[i] = true;
      times.answered[i] = at;
      ++got;
      last_progress = at;
      {
        std::lock_guard<std::mutex> lock{mtx};
        done = got;
      }
      replied.notify_one();
    }
  });
  try {
    run.wait_ready();
    connection conn{target, "warren-bench-event-requests"};
    auto* state = conn.get();
    amqp_basic_properties_t properties{};
    properties._flags =
      AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
      AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
      AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG;
    properties.content_type = amqp_cstring_bytes("application/json");
    properties.delivery_mode = 2;
    properties.type = amqp_cstring_bytes("event_store.append");
    properties.reply_to = as_bytes(reply_queue);
    auto start = steady::now();
    for (std::size_t i = 0; i < n; ++i) {
      auto due = start + std::chrono::duration_cast<steady::duration>(
                           std::chrono::duration<double>(
                             rate > 0 ? static_cast<double>(i) / rate : 0.0));
      if (rate > 0)
        std::this_thread::sleep_until(due);
      {
        std::unique_lock<std::mutex> lock{mtx};
        if (!replied.wait_for(lock, stall_limit, [&] {
              return i - done < window || run.failed();
            }))
          throw std::runtime_error("event store: the window stayed full for " +
                                   std::to_string(stall_limit.count()) + " s");
      }
      run.throw_if_aborted();
      properties.message_id = as_bytes(ids[i]);
      properties.correlation_id = as_bytes(correlations[i]);
      // Paced, a request's time runs from when it was due: a publisher
      // that falls behind (a full window, a late wake-up) hides no wait.
      times.sent[i] = rate > 0 ? due : steady::now();
      const auto& queue = queues.size() == 1 ? queues[0] : queues[i];
      check_status(amqp_basic_publish(state, channel_id, amqp_empty_bytes,
                                      as_bytes(queue), /*mandatory=*/0, 0,
                                      &properties, as_bytes(bodies[i])),
                   "basic.publish of an append");
    }
    // Unconfirmed publishes may still be on their way into the queue: a
    // connection closed now can take the last of them with it (a quorum
    // queue's channel drops what it had not handed on). Open until every
    // reply is in, or the reader gives up.
    reader.join();
  } catch (...) {
    run.fail(std::current_exception());
  }
  if (reader.joinable())
    reader.join();
  run.rethrow_if_failed();
  return times;
}

config::actor_spec store_actor(
  const std::string& name, const char* kind,
  std::chrono::milliseconds commit_delay = std::chrono::milliseconds{5}) {
  config::actor_spec spec;
  spec.name = name;
  spec.kind = kind;
  spec.queue = name;
  spec.prefetch = 1000;
  spec.commit.max_batch = 1000;
  spec.commit.max_delay = commit_delay;
  return spec;
}

void with_profile_metrics(config::node_config& cfg) {
  if (!profiling())
    return;
  cfg.metrics.enabled = true;
  cfg.metrics.host = "127.0.0.1";
  cfg.metrics.port = 0;
}

// When each request of a run was applied by the store and when its unit of
// work committed, by correlation id (written on the store's consumer
// thread, read after the node stopped).
struct store_log {
  std::mutex mtx;
  std::vector<steady::time_point> applied;
  std::vector<steady::time_point> committed;
};

store_log* current_log = nullptr;

// The event store, noting when it applies a request and when the unit of
// work holding it commits.
class timed_store : public actors::event_store {
 public:
  using event_store::event_store;

  status apply(context& ctx, const envelope& msg) override {
    auto at = steady::now();
    auto i = std::strtoull(msg.properties.correlation_id.c_str(), nullptr, 10);
    if (auto* log = current_log; log != nullptr && i < log->applied.size()) {
      std::lock_guard<std::mutex> guard{log->mtx};
      log->applied[i] = at;
      unit_.push_back(i);
    }
    return event_store::apply(ctx, msg);
  }

  void committed(const std::vector<skipped_group>& skipped) override {
    event_store::committed(skipped);
    auto at = steady::now();
    if (auto* log = current_log; log != nullptr) {
      std::lock_guard<std::mutex> guard{log->mtx};
      for (auto i : unit_)
        log->committed[i] = at;
    }
    unit_.clear();
  }

 private:
  std::vector<std::size_t> unit_;
};

// p50 and p99 of `to - from` over every request, milliseconds.
std::pair<double, double> segment(const std::vector<steady::time_point>& from,
                                  const std::vector<steady::time_point>& to) {
  std::vector<double> ms(from.size());
  for (std::size_t i = 0; i < from.size(); ++i)
    ms[i] = std::chrono::duration<double, std::milli>(to[i] - from[i]).count();
  std::sort(ms.begin(), ms.end());
  return {percentile_sorted(ms, 50), percentile_sorted(ms, 99)};
}

// The bodies of `load`, built beforehand so building them is not timed.
std::vector<std::string> bodies_of(const append_load& load) {
  std::vector<std::string> bodies;
  bodies.reserve(load.requests);
  for (std::size_t i = 0; i < load.requests; ++i)
    bodies.push_back(append_body("s-" + std::to_string(i % 100),
                                 i * load.events_per_request,
                                 load.events_per_request));
  return bodies;
}

append_run summarize(const append_load& load, const request_times& times) {
  append_run result;
  result.requests = load.requests;
  result.events = load.requests * load.events_per_request;
  result.seconds = raw::seconds_between(
    times.sent.front(),
    *std::max_element(times.answered.begin(), times.answered.end()));
  result.appends_per_sec =
    static_cast<double>(result.requests) / result.seconds;
  result.events_per_sec = static_cast<double>(result.events) / result.seconds;
  std::vector<double> latencies(load.requests);
  for (std::size_t i = 0; i < load.requests; ++i)
    latencies[i] = std::chrono::duration<double, std::milli>(times.answered[i] -
                                                             times.sent[i])
                     .count();
  std::sort(latencies.begin(), latencies.end());
  result.p50_ms = percentile_sorted(latencies, 50);
  result.p99_ms = percentile_sorted(latencies, 99);
  result.max_ms = latencies.back();
  return result;
}

} // namespace

append_run raw_appends(const std::string& uri, const std::string& queue,
                       const append_load& load) {
  auto target = parse_target(uri);
  auto bodies = bodies_of(load);
  request_times times;
  {
    raw_rpc_server server{target, queue};
    profile used;
    times =
      send_appends(target, {queue}, bodies, "r-", load.window, load.rate, "");
    used.report(raw::seconds_between(times.sent.front(),
                                     *std::max_element(times.answered.begin(),
                                                       times.answered.end())),
                0);
  }
  return summarize(load, times);
}

append_run event_appends(const std::string& uri, const std::string& name,
                         const append_load& load,
                         const std::string& state_dir) {
  auto target = parse_target(uri);
  auto cfg = make_config(uri);
  delete_queues(cfg, name);
  auto store = store_actor(name, "bench.event_store", load.commit_delay);
  store.shards = load.shards;
  cfg.actors.push_back(std::move(store));
  std::filesystem::remove_all(state_dir);
  cfg.state_dir = state_dir;
  cfg.store.synchronous = config::sync_mode::full;
  with_profile_metrics(cfg);
  registry kinds;
  kinds.add_kind<timed_store>("bench.event_store");
  auto bodies = bodies_of(load);
  request_times times;
  store_log log;
  log.applied.resize(load.requests);
  log.committed.resize(load.requests);
  current_log = &log;
  {
    running_node run{cfg, kinds};
    profile used;
    // A request's key is its stream: straight to its shard, or through the
    // store's own queue and its router.
    std::vector<std::string> queues{name};
    if (load.to_shards && load.shards > 0) {
      queues.clear();
      for (std::size_t i = 0; i < load.requests; ++i)
        queues.push_back(shard_name(
          name, shard_of("s-" + std::to_string(i % 100), load.shards)));
    }
    times = send_appends(target, queues, bodies, "a-", load.window, load.rate);
    used.report(raw::seconds_between(times.sent.front(),
                                     *std::max_element(times.answered.begin(),
                                                       times.answered.end())),
                run.node().metrics_port());
  }
  current_log = nullptr;
  delete_queues(cfg, name);
  for (uint32_t i = 0; i < load.shards; ++i)
    delete_queues(cfg, shard_name(name, i));
  if (load.shards > 0)
    delete_queues(cfg, name + ".log");
  std::filesystem::remove_all(state_dir);
  auto result = summarize(load, times);
  result.to_apply = segment(times.sent, log.applied);
  result.to_commit = segment(log.applied, log.committed);
  result.to_reply = segment(log.committed, times.answered);
  return result;
}

// -- an aggregate's replay ---------------------------------------------------

namespace {

struct counter_state {
  int64_t events = 0;
  int64_t sum = 0;
};
BOOST_DESCRIBE_STRUCT(counter_state, (), (events, sum))

struct add_command {
  std::string key;
  int64_t amount = 0;
};
BOOST_DESCRIBE_STRUCT(add_command, (), (key, amount))

// Seconds the last aggregate.get took inside the actor.
std::atomic<double> last_get_seconds{0};

// A counter: the events of a stream and the sum of their data's `amount`.
class counter : public warren::aggregate<counter_state> {
 public:
  using aggregate::aggregate;

  void setup(warren::aggregate_handlers<counter_state>& on) override {
    on.command<add_command>(
      "add", [](const counter_state&, const add_command& c) {
        return warren::decision::accept(
          {{"placed", boost::json::object{{"amount", c.amount}}}});
      });
  }

  void evolve(counter_state& s, const recorded_event& e) const override {
    ++s.events;
    s.sum += e.data.at("amount").as_int64();
  }

  // Times aggregate.get: the stream read from SQLite and folded, when it is
  // not cached.
  status apply(context& ctx, const envelope& msg) override {
    if (msg.properties.type != "aggregate.get")
      return aggregate::apply(ctx, msg);
    auto start = clock_type::now();
    auto result = aggregate::apply(ctx, msg);
    last_get_seconds =
      std::chrono::duration<double>(clock_type::now() - start).count();
    return result;
  }
};

} // namespace

replay_run aggregate_replay(const std::string& uri, const std::string& name,
                            std::size_t events, const std::string& state_dir) {
  constexpr std::size_t per_request = 1000;
  const std::string key = "counter-1";
  auto target = parse_target(uri);
  auto cfg = make_config(uri);
  delete_queues(cfg, name);
  auto spec = store_actor(name, "bench.counter");
  spec.options = {{"snapshot_every", 0}};
  cfg.actors.push_back(spec);
  std::filesystem::remove_all(state_dir);
  cfg.state_dir = state_dir;
  cfg.store.synchronous = config::sync_mode::full;
  registry kinds;
  kinds.add_kind<counter>("bench.counter");
  replay_run result;
  result.events = events;
  int64_t sum = 0;
  std::vector<std::string> bodies;
  for (std::size_t first = 0; first < events; first += per_request)
    bodies.push_back(
      append_body(key, first, std::min(per_request, events - first)));
  for (std::size_t k = 0; k < events; ++k)
    sum += amount_of(k);
  // Written through the actor, 4 requests outstanding.
  {
    running_node run{cfg, kinds};
    auto times = send_appends(target, {name}, bodies, "w-", 4, 0);
    result.write_events_per_sec =
      static_cast<double>(events) /
      raw::seconds_between(
        times.sent.front(),
        *std::max_element(times.answered.begin(), times.answered.end()));
  }
  // The restart: a new system and node on the same file, nothing cached.
  with_profile_metrics(cfg);
  {
    running_node run{cfg, kinds, std::chrono::seconds{60}};
    auto& node = run.node();
    profile used;
    auto start = clock_type::now();
    auto reply =
      node.call(name, "aggregate.get", boost::json::object{{"key", key}},
                std::chrono::seconds{300});
    result.seconds =
      std::chrono::duration<double>(clock_type::now() - start).count();
    result.fold_seconds = last_get_seconds;
    used.report(result.seconds, node.metrics_port());
    if (!reply)
      throw std::runtime_error("aggregate.get: " + describe(reply.error()));
    const auto* state =
      reply->is_object() ? reply->get_object().if_contains("state") : nullptr;
    const auto* version =
      reply->is_object() ? reply->get_object().if_contains("version") : nullptr;
    boost::json::value want = boost::json::object{
      {"events", static_cast<int64_t>(events)}, {"sum", sum}};
    if (state == nullptr || *state != want || version == nullptr ||
        *version != boost::json::value(static_cast<int64_t>(events)))
      throw std::runtime_error(
        "aggregate.get after the restart: " + boost::json::serialize(*reply) +
        ", expected " + boost::json::serialize(want) + " at version " +
        std::to_string(events));
  }
  result.events_per_sec = static_cast<double>(events) / result.seconds;
  delete_queues(cfg, name);
  std::filesystem::remove_all(state_dir);
  return result;
}

} // namespace warren::bench
