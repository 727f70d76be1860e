// Sagas through the broker (issue 12): three-step sagas end to end, and
// the timers of many sagas firing after a restart.

#include "warren_sagas.hpp"

#include "saga/saga_actor.hpp"
#include "saga/saga_codec.hpp"
#include "saga/saga_definition.hpp"
#include "saga/saga_sql.hpp"
#include "stats.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"
#include "warren_common.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace warren::bench {

namespace {

constexpr const char* steps[][3] = {
  {"create", "create_order", "cancel_order"},
  {"reserve", "reserve_inventory", "release_inventory"},
  {"charge", "charge_payment", "refund_payment"},
};

// The order saga over participants `<prefix>.<step>`.
boost::json::object order_definition(const std::string& prefix) {
  boost::json::array list;
  for (const auto& s : steps) {
    auto actor = prefix + "." + s[0];
    list.push_back(
      boost::json::object{{"id", s[0]},
                          {"action", {{"actor", actor}, {"type", s[1]}}},
                          {"compensation", {{"actor", actor}, {"type", s[2]}}},
                          {"timeout_ms", 30000},
                          {"retry", {{"max", 0}}}});
  }
  return {{"steps", std::move(list)}};
}

config::actor_spec actor(const std::string& name, const char* kind,
                         uint16_t prefetch) {
  config::actor_spec spec;
  spec.name = name;
  spec.kind = kind;
  spec.queue = name;
  spec.prefetch = prefetch;
  return spec;
}

// Polls `queue` until it holds `n` messages; the time it first did.
clock_type::time_point wait_for_messages(const config::node_config& cfg,
                                         const std::string& queue,
                                         std::size_t n,
                                         std::chrono::seconds timeout) {
  auto client = bridges::blocking_client::connect(cfg.broker);
  if (!client)
    throw std::runtime_error("connect: " + describe(client.error()));
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    auto count = (*client)->message_count(queue);
    if (count && *count >= n)
      return clock_type::now();
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  throw std::runtime_error("only part of the sagas completed within the "
                           "time allowed");
}

} // namespace

saga_run saga_throughput(const std::string& uri, const std::string& prefix,
                         std::size_t sagas, const std::string& state_dir) {
  auto cfg = make_config(uri);
  const auto completed = prefix + ".completed";
  const auto events = prefix + ".events";
  for (const auto& q : {prefix, completed, prefix + ".create",
                        prefix + ".reserve", prefix + ".charge"})
    delete_queues(cfg, q);
  cfg.topology.exchanges.push_back({events, bridges::exchange_type::topic});
  bridges::queue_spec done_queue;
  done_queue.name = completed;
  cfg.topology.queues.push_back(done_queue);
  cfg.topology.bindings.push_back({events, completed, "*.completed", {}});
  auto saga = actor(prefix, "saga", 1000);
  saga.commit.max_batch = 1000;
  saga.options = {
    {"definitions", {{"order", order_definition(prefix)}}},
    {"lifecycle",
     {{"exchange", events}, {"events", boost::json::array{"completed"}}}}};
  cfg.actors.push_back(saga);
  for (const auto& s : steps) {
    auto service = actor(prefix + "." + s[0], "service", 500);
    service.handler = "echo";
    cfg.actors.push_back(service);
  }
  std::filesystem::remove_all(state_dir);
  cfg.state_dir = state_dir;
  registry kinds;
  actors::register_builtin_kinds(kinds);
  saga_run result;
  result.sagas = sagas;
  {
    running_node run{cfg, kinds};
    auto done = std::make_shared<std::promise<std::size_t>>();
    auto confirmed = done->get_future();
    message_maker make = [&prefix](std::size_t i) {
      outgoing_message msg;
      msg.routing_key = prefix;
      msg.properties.delivery_mode = 2;
      msg.properties.type = "saga.start";
      msg.properties.content_type = "application/json";
      msg.properties.message_id = "start-" + std::to_string(i);
      msg.body = boost::json::serialize(
        boost::json::object{{"saga", "order"},
                            {"saga_id", "o-" + std::to_string(i)},
                            {"data", {{"order_id", i}, {"amount", 120.5}}}});
      return msg;
    };
    auto start = clock_type::now();
    // Published while the sagas run: the wait starts at once.
    run.system().spawn(publish_driver, run.node().publisher(), std::move(make),
                       sagas, std::size_t{100}, std::size_t{4}, done);
    auto last =
      wait_for_messages(cfg, completed, sagas, std::chrono::seconds{600});
    if (auto failed = confirmed.get(); failed > 0)
      throw std::runtime_error(std::to_string(failed) + " publishes failed");
    result.seconds = std::chrono::duration<double>(last - start).count();
  }
  result.sagas_per_sec = static_cast<double>(sagas) / result.seconds;
  result.steps_per_sec = 3 * result.sagas_per_sec;
  result.messages_per_sec = 8 * result.sagas_per_sec;
  for (const auto& q : {prefix, completed, prefix + ".create",
                        prefix + ".reserve", prefix + ".charge"})
    delete_queues(cfg, q);
  std::filesystem::remove_all(state_dir);
  return result;
}

// -- timers after a restart --------------------------------------------------

namespace {

// What the timed saga actor saw.
struct timer_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::size_t target = 0;
  int64_t first_ms = 0;
  // When each timer fired, in firing order (which is due order).
  std::vector<int64_t> fired_ms;
  double reload_seconds = 0;
};

timer_log* current_log = nullptr;

// Counts what a tick sends: here, one compensation per timer fired.
class counting_output : public operator_output {
 public:
  explicit counting_output(operator_output& out) : out_(out) {}

  void publish_json(const std::string& exchange, const std::string& routing_key,
                    std::string type, boost::json::value body,
                    publish_options opts) override {
    ++count;
    out_.publish_json(exchange, routing_key, std::move(type), std::move(body),
                      std::move(opts));
  }

  std::size_t count = 0;

 private:
  operator_output& out_;
};

// The saga kind, timing its restore and when its ticks fire timers.
class timed_saga : public actors::saga_actor {
 public:
  using saga_actor::saga_actor;

  caf::error restore(operator_row_set rows) override {
    auto start = clock_type::now();
    if (std::getenv("WARREN_BENCH_PROFILE") != nullptr)
      std::cerr << "  profile: restore starts "
                << runtime::now_ms() - current_log->first_ms
                << " ms after the first due time\n";
    auto err = saga_actor::restore(std::move(rows));
    current_log->reload_seconds =
      std::chrono::duration<double>(clock_type::now() - start).count();
    return err;
  }

  void tick(operator_output& out, int64_t now_ms) override {
    counting_output counted{out};
    saga_actor::tick(counted, now_ms);
    if (counted.count == 0)
      return;
    auto& log = *current_log;
    std::lock_guard<std::mutex> guard{log.mtx};
    log.fired_ms.insert(log.fired_ms.end(), counted.count, now_ms);
    if (log.fired_ms.size() >= log.target)
      log.cv.notify_all();
  }
};

// Stands for a saga's due time in the instance written below.
constexpr int64_t due_placeholder = 999999999999999;

// The due time of the i-th of `n` timers (0-based) spread over
// [first_ms, first_ms + spread_ms).
int64_t due_of(std::size_t i, std::size_t n, int64_t first_ms,
               int64_t spread_ms) {
  return first_ms +
         static_cast<int64_t>(i) * spread_ms / static_cast<int64_t>(n);
}

// `n` running sagas of actor `name` waiting on their first step, whose
// timeouts come due one after the other over `spread_ms` from `first_ms`
// (the i-th: due_of), written in one statement.
void write_waiting_sagas(const std::string& db, const std::string& name,
                         const std::string& prefix, std::size_t n,
                         int64_t first_ms, int64_t spread_ms) {
  runtime::store_settings settings;
  settings.path = db;
  auto store = runtime::checkpoint_store::open(settings);
  if (!store)
    throw std::runtime_error("store: " + describe(store.error()));
  std::string why;
  auto def =
    actors::decode_saga_definition("order", order_definition(prefix), why);
  if (!def)
    throw std::runtime_error(why);
  auto def_json = boost::json::serialize(actors::encode_saga_definition(*def));
  auto hash = content_hash(def_json);
  actors::saga_instance inst;
  inst.saga_id = "@ID@";
  inst.status = actors::saga_status::running;
  inst.steps.resize(3);
  inst.steps[0].status = actors::step_status::running;
  inst.steps[0].sends = 1;
  inst.steps[0].started_ms = first_ms - 30000;
  inst.events = 1;
  inst.timers = 1;
  inst.steps[0].timer = actors::saga_timer{"@ID@/t/1", due_placeholder,
                                           actors::saga_timer::kind::timeout};
  auto instance = boost::json::serialize(actors::encode_instance(inst));
  for (const char* sql :
       {actors::saga_sql::create_sagas, actors::saga_sql::create_by_status,
        actors::saga_sql::create_definitions})
    if (auto err = (*store)->setup(sql))
      throw std::runtime_error(describe(err));
  if (auto err = (*store)->setup(actors::saga_sql::insert_definition,
                                 {name, hash, std::string{"order"}, def_json}))
    throw std::runtime_error(describe(err));
  // Saga t-<i> (1-based) is due at due_of(i - 1); saga ids sort as their
  // numbers do when equal dues meet.
  auto err = (*store)->setup(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i "
    "< ?1), d(i, due) AS (SELECT i, ?6 + (i - 1) * ?7 / ?1 FROM n) INSERT "
    "INTO warren_sagas (actor, saga_id, definition, def_hash, status, data, "
    "instance, created_ms, updated_ms, due_ms) SELECT ?2, printf('t-%09d', "
    "i), 'order', ?3, 'running', '{}', replace(replace(?4, '@ID@', "
    "printf('t-%09d', i)), ?8, CAST(due AS TEXT)), ?5, ?5, due FROM d",
    {static_cast<int64_t>(n), name, hash, instance, first_ms - 30000, first_ms,
     spread_ms, std::to_string(due_placeholder)});
  if (err)
    throw std::runtime_error(describe(err));
}

} // namespace

timer_run saga_timers_after_restart(const std::string& uri,
                                    const std::string& prefix,
                                    std::size_t timers, int64_t spread_ms,
                                    const std::string& state_dir) {
  auto cfg = make_config(uri);
  // The compensations the fired timers send land here.
  const auto sink = prefix + ".create";
  for (const auto& q : {prefix, sink})
    delete_queues(cfg, q);
  bridges::queue_spec sink_queue;
  sink_queue.name = sink;
  cfg.topology.queues.push_back(sink_queue);
  cfg.topology.bindings.push_back({bridges::actors_exchange, sink, sink, {}});
  auto saga = actor(prefix, "bench.timed_saga", 100);
  saga.commit.max_batch = 1000;
  saga.options = {{"definitions", {{"order", order_definition(prefix)}}}};
  cfg.actors.push_back(saga);
  std::filesystem::remove_all(state_dir);
  cfg.state_dir = state_dir;
  registry kinds;
  kinds.add_kind<timed_saga>("bench.timed_saga");
  timer_log log;
  log.target = timers;
  current_log = &log;
  timer_run result;
  result.timers = timers;
  // The first is due when the node below starts (the restart), which is
  // once the rows are written: allow them 5 s.
  auto first_ms = runtime::now_ms() + 5000;
  log.first_ms = first_ms;
  std::filesystem::create_directories(state_dir);
  write_waiting_sagas(state_dir + "/warren.db", prefix, prefix, timers,
                      first_ms, spread_ms);
  if (auto early = first_ms - runtime::now_ms(); early > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds{early});
  else
    std::cerr << "  writing the sagas took " << 5000 - early
              << " ms: the timers were due before the restart began\n";
  {
    running_node run{cfg, kinds, std::chrono::seconds{60}};
    std::unique_lock<std::mutex> guard{log.mtx};
    if (!log.cv.wait_for(guard, std::chrono::seconds{300},
                         [&] { return log.fired_ms.size() >= timers; }))
      throw std::runtime_error("only " + std::to_string(log.fired_ms.size()) +
                               " of the timers fired");
    guard.unlock();
    // Their compensations leave through the outbox before the node stops.
    wait_for_messages(cfg, sink, timers, std::chrono::seconds{300});
  }
  current_log = nullptr;
  result.reload_seconds = log.reload_seconds;
  std::vector<double> lags;
  lags.reserve(timers);
  for (std::size_t k = 0; k < timers; ++k)
    lags.push_back(static_cast<double>(log.fired_ms[k] -
                                       due_of(k, timers, first_ms, spread_ms)));
  std::sort(lags.begin(), lags.end());
  result.lag_p50_ms = percentile_sorted(lags, 50);
  result.lag_p99_ms = percentile_sorted(lags, 99);
  result.lag_max_ms = lags.back();
  result.fire_seconds =
    static_cast<double>(log.fired_ms.back() - first_ms) / 1000.0;
  for (const auto& q : {prefix, sink})
    delete_queues(cfg, q);
  std::filesystem::remove_all(state_dir);
  return result;
}

} // namespace warren::bench
