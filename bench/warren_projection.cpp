// A projection under load (issue 12): how late a live projection applies
// the events of a store appended at a steady rate.

#include "warren_projection.hpp"

#include "eventstore/projection_spec.hpp"
#include "stats.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/bridges/client.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"
#include "warren_common.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

namespace warren::bench {

namespace {

// The projection records, for each event, when its SQL ran (SQLite's clock
// is the system clock, as the store's recorded_ms is).
constexpr const char* lag_options = R"json({
  "source": {"store": "@STORE@", "live": true},
  "tables": {"lag": "CREATE TABLE {lag} (position INTEGER PRIMARY KEY, recorded_ms INTEGER NOT NULL, applied_ms INTEGER NOT NULL)"},
  "on": {"placed": [{"sql": "INSERT INTO {lag} VALUES (:p, :r, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
                     "params": {"p": "position", "r": "recorded_ms"}}]},
  "queries": {"count": {"sql": "SELECT count(*) AS n FROM {lag}"}}})json";

config::actor_spec actor(const std::string& name, const char* kind) {
  config::actor_spec spec;
  spec.name = name;
  spec.kind = kind;
  spec.queue = name;
  spec.prefetch = 500;
  spec.commit.max_batch = 250;
  return spec;
}

} // namespace

projection_lag_run projection_lag(const std::string& uri,
                                  const std::string& prefix, std::size_t events,
                                  double rate, const std::string& state_dir) {
  auto cfg = make_config(uri);
  const auto store = prefix + ".store";
  const auto view = prefix + ".view";
  const auto exchange = prefix + ".events";
  for (const auto& q : {store, view})
    delete_queues(cfg, q);
  cfg.topology.exchanges.push_back({exchange, bridges::exchange_type::topic});
  bridges::queue_spec view_queue;
  view_queue.name = view;
  cfg.topology.queues.push_back(view_queue);
  cfg.topology.bindings.push_back({exchange, view, "#", {}});
  auto store_spec = actor(store, "event_store");
  store_spec.options = {{"publish", {{"exchange", exchange}}}};
  cfg.actors.push_back(store_spec);
  auto view_spec = actor(view, "projection");
  std::string options = lag_options;
  options.replace(options.find("@STORE@"), 7, store);
  view_spec.options = boost::json::parse(options).as_object();
  cfg.actors.push_back(view_spec);
  std::filesystem::remove_all(state_dir);
  cfg.state_dir = state_dir;
  registry kinds;
  actors::register_builtin_kinds(kinds);
  projection_lag_run result;
  result.events = events;
  result.rate = rate;
  {
    running_node run{cfg, kinds};
    // Bursts every 50 ms, as many as the rate asks for by then.
    const auto tick = std::chrono::milliseconds{50};
    auto start = clock_type::now();
    std::size_t sent = 0;
    while (sent < events) {
      auto due = static_cast<std::size_t>(
        rate *
        std::chrono::duration<double>(clock_type::now() - start).count());
      auto burst = std::min(events, std::max(due, sent)) - sent;
      if (burst > 0) {
        auto first = sent;
        message_maker make = [&store, first](std::size_t i) {
          outgoing_message msg;
          msg.routing_key = store;
          msg.properties.delivery_mode = 2;
          msg.properties.type = "event_store.append";
          msg.properties.message_id = "a-" + std::to_string(first + i);
          msg.body = boost::json::serialize(boost::json::object{
            {"stream", "s-" + std::to_string((first + i) % 100)},
            {"events", boost::json::array{
                         {{"type", "placed"}, {"data", {{"n", first + i}}}}}}});
          return msg;
        };
        run.publish(std::move(make), burst);
        sent += burst;
      }
      std::this_thread::sleep_for(tick);
    }
    result.achieved =
      static_cast<double>(events) /
      std::chrono::duration<double>(clock_type::now() - start).count();
    // Until the projection has them all.
    runtime::store_settings settings;
    settings.path = state_dir + "/warren.db";
    settings.read_only = true;
    auto db = runtime::checkpoint_store::open(settings);
    if (!db)
      throw std::runtime_error(describe(db.error()));
    auto table = actors::table_name(view, 1, "lag");
    std::vector<double> lags;
    for (int waited = 0; waited < 6000; ++waited) {
      lags.clear();
      auto err =
        (*db)->read_sql("SELECT applied_ms - recorded_ms FROM " + table, {},
                        [&](const sql_row& row) {
                          lags.push_back(static_cast<double>(row.integer(0)));
                          return caf::error{};
                        });
      if (!err && lags.size() >= events)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    if (lags.size() < events)
      throw std::runtime_error("the projection applied only " +
                               std::to_string(lags.size()) + " of " +
                               std::to_string(events) + " events");
    std::sort(lags.begin(), lags.end());
    result.p50_ms = percentile_sorted(lags, 50);
    result.p99_ms = percentile_sorted(lags, 99);
    result.max_ms = lags.back();
  }
  for (const auto& q : {store, view})
    delete_queues(cfg, q);
  std::filesystem::remove_all(state_dir);
  return result;
}

} // namespace warren::bench
