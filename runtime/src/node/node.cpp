#include "warren/runtime/node.hpp"

#include "cluster/announcer.hpp"
#include "cluster/downer.hpp"
#include "cluster/member_view.hpp"
#include "node/tree.hpp"
#include "warren/bridges/client.hpp"
#include "warren/core/log.hpp"
#include "warren/metrics/http_endpoint.hpp"
#include "warren/metrics/process_collector.hpp"
#include "warren/metrics/registry.hpp"
#include "warren/metrics/sets.hpp"
#include "warren/runtime/call.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <map>
#include <mutex>
#include <thread>

namespace warren::runtime {

struct node::shared_state {
  mutable std::mutex mtx;
  struct tracked_consumer {
    bridges::consumer_actor actor;
    /// When a stop tells it to stop consuming.
    detail::stop_step stops;
  };
  /// The consumer of each running actor instance, by child id.
  std::map<std::string, tracked_consumer> consumers;
  /// What readiness reads of each instance (metrics on only).
  std::map<std::string, detail::readiness_gauges> gauges;
  bool started = false;
  caf::error failure;
  bool stopping = false;
  std::function<void(const caf::error&)> on_failure;
};

node::node(caf::actor_system& sys, config::node_config cfg,
           const registry& kinds)
  : sys_(sys), cfg_(std::move(cfg)), kinds_(kinds),
    state_(std::make_shared<shared_state>()) {
  // Every connection of this run says whose it is: a node downing this one
  // closes them by it (README.md, "Downing").
  cfg_.broker.owner = {cfg_.node_name, cluster::process_incarnation()};
}

node::~node() {
  stop();
  // The endpoint reads the registry and the shared state: it goes first.
  endpoint_.reset();
}

uint16_t node::metrics_port() const noexcept {
  return endpoint_ ? endpoint_->port() : 0;
}

caf::error node::start_metrics() {
  if (!cfg_.metrics.enabled)
    return caf::none;
  metrics_ = std::make_unique<metrics::registry>(cfg_.node_name);
  metrics_->add_collectable(
    metrics::make_process_collector(cfg_.node_name, WARREN_VERSION));
  auto endpoint =
    metrics::http_endpoint::start(cfg_.metrics.host, cfg_.metrics.port,
                                  *metrics_, [this] { return not_ready(); });
  if (!endpoint)
    return endpoint.error();
  endpoint_ = std::move(*endpoint);
  log::info("metrics on http://{}:{}/metrics", cfg_.metrics.host,
            endpoint_->port());
  return caf::none;
}

std::optional<std::string> node::not_ready() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  if (state_->stopping)
    return "the node is stopping";
  if (state_->failure)
    return "the node failed: " + describe(state_->failure);
  if (!state_->started)
    return "the node is starting";
  for (const auto& [id, g] : state_->gauges) {
    if (g.connected.value() != 1)
      return "actor '" + id + "' is not connected to the broker";
    if (g.consuming.value() != 1)
      return "actor '" + id + "' is not consuming its queue";
    if (g.store_failing.value() != 0)
      return "the store of actor '" + id + "' fails to commit";
  }
  return std::nullopt;
}

void node::on_failure(std::function<void(const caf::error&)> callback) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->on_failure = std::move(callback);
}

caf::error node::failure() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->failure;
}

std::vector<bridges::consumer_actor> node::consumers() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  std::vector<bridges::consumer_actor> result;
  for (const auto& entry : state_->consumers)
    result.push_back(entry.second.actor);
  return result;
}

std::vector<bridges::consumer_actor> node::consumers_stopping_first() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  std::vector<bridges::consumer_actor> result;
  for (const auto& entry : state_->consumers)
    if (entry.second.stops == detail::stop_step::first)
      result.push_back(entry.second.actor);
  return result;
}

caf::error node::declare_topology(const bridges::topology& topo) {
  auto settings = cfg_.broker;
  settings.connection_name += " setup";
  auto client = bridges::blocking_client::connect(settings);
  if (!client) {
    log::warning("the broker does not answer yet ({}); the node keeps "
                 "trying",
                 describe(client.error()));
    return caf::none;
  }
  if (auto err = (*client)->declare(topo);
      err && code_of(err) != errc::connection_lost)
    return make_error(errc::topology_failed,
                      "declaring the topology: " + describe(err));
  return caf::none;
}

caf::error node::start(std::chrono::milliseconds ready_timeout,
                       const std::function<bool()>& interrupted) {
  if (running_)
    return caf::none;
  if (auto err = check_kinds(cfg_, kinds_))
    return err;
  // Open (create, migrate, check) the store before anything runs, so an
  // unusable database is a clear start-up error. This runs on the caller's
  // thread; each stateful instance opens its own connection on its
  // consumer's thread.
  if (std::any_of(cfg_.actors.begin(), cfg_.actors.end(),
                  [&](const auto& a) { return kinds_.is_stateful(a.kind); }))
    if (auto store = checkpoint_store::open(store_settings_of(cfg_)); !store)
      return store.error();
  if (auto err = start_metrics())
    return err;
  auto topo = effective_topology(cfg_);
  if (auto err = declare_topology(topo))
    return err;
  spawn_bridges(topo);
  start_tree(std::move(topo));
  running_ = true;
  auto err = wait_until_ready(ready_timeout, interrupted);
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->started = true;
  return err;
}

void node::spawn_bridges(const bridges::topology& topo) {
  bridges::publisher_config pc;
  pc.broker = cfg_.broker;
  pc.topo = topo;
  pc.max_unconfirmed = cfg_.publisher.max_unconfirmed;
  if (metrics_) {
    pc.connection_metrics =
      metrics::make_connection_metrics(*metrics_, pc.broker.connection_name);
    pc.publish_metrics =
      metrics::make_publish_metrics(*metrics_, pc.broker.connection_name);
  }
  publisher_ = bridges::spawn_publisher(sys_, std::move(pc));
  bridges::requester_config rc;
  rc.broker = cfg_.broker;
  rc.broker.connection_name = cfg_.broker.connection_name + " calls";
  rc.node_name = cfg_.node_name;
  rc.max_reply_bytes = cfg_.max_body_bytes;
  if (metrics_)
    rc.connection_metrics =
      metrics::make_connection_metrics(*metrics_, rc.broker.connection_name);
  requester_ = bridges::spawn_requester(sys_, std::move(rc));
}

void node::start_tree(bridges::topology topo) {
  auto ctx = std::make_shared<detail::instance_context>();
  ctx->topo = std::move(topo);
  ctx->sys = &sys_;
  ctx->kinds = &kinds_;
  ctx->cfg = &cfg_;
  ctx->services.node_name = cfg_.node_name;
  ctx->services.call_timeout = cfg_.call_timeout;
  ctx->services.max_body_bytes = cfg_.max_body_bytes;
  ctx->metrics = metrics_.get();
  ctx->services.shards = detail::make_shard_directory(*ctx);
  std::weak_ptr<shared_state> weak = state_;
  ctx->track = [weak](std::string id, bridges::consumer_actor consumer,
                      detail::readiness_gauges gauges,
                      detail::stop_step stops) {
    if (auto state = weak.lock()) {
      std::lock_guard<std::mutex> guard{state->mtx};
      if (gauges.consuming)
        state->gauges[id] = gauges;
      state->consumers[std::move(id)] = {std::move(consumer), stops};
    }
  };
  ctx->untrack = [weak](const std::string& id) {
    if (auto state = weak.lock()) {
      std::lock_guard<std::mutex> guard{state->mtx};
      state->gauges.erase(id);
      state->consumers.erase(id);
    }
  };
  auto members = std::make_shared<cluster::member_directory>();
  ctx->members = members;
  auto view = std::make_shared<cluster::member_view>();
  ctx->view = view;
  auto tree = cfg_.supervision;
  config::place_unlisted_actors(tree, cfg_.actors, cfg_.shutdown_timeout);
  supervisor_options options;
  options.metrics = metrics_.get();
  root_ =
    spawn_supervisor(sys_, detail::build_tree(tree, ctx, options), options);
  if (!members->empty()) {
    cluster::announcer_config ac;
    ac.node = cfg_.node_name;
    ac.incarnation = cluster::process_incarnation();
    ac.started_ms = cluster::process_started_ms();
    ac.interval = cfg_.cluster.announce_interval;
    ac.members = std::move(members);
    ac.publisher = publisher_;
    announcer_ = caf::actor_cast<caf::actor>(
      cluster::spawn_announcer(sys_, std::move(ac)));
    if (cfg_.cluster.down_after.count() > 0) {
      cluster::downer_config dc;
      dc.node = cfg_.node_name;
      dc.after = cfg_.cluster.down_after;
      dc.tick = cfg_.cluster.announce_interval / 2;
      dc.view = std::move(view);
      dc.management = cfg_.cluster.management;
      downer_ = cluster::spawn_downer(sys_, std::move(dc));
    }
  }
  // The root ending on its own (not by `stop`) is the node's failure.
  root_->attach_functor([weak](const caf::error& reason) {
    auto state = weak.lock();
    if (!state)
      return;
    std::function<void(const caf::error&)> callback;
    {
      std::lock_guard<std::mutex> guard{state->mtx};
      if (state->stopping)
        return;
      state->failure = reason ? reason
                              : make_error(errc::supervisor_gave_up,
                                           "the root supervisor ended");
      callback = state->on_failure;
    }
    if (callback)
      callback(reason);
  });
}

std::size_t node::expected_consumers(const config::actor_spec& spec) const {
  // A sharded actor: its changelog's reader, a consumer per shard (active
  // or standby), its routers, and for one of them the node's reader of the
  // cluster's announcements when it rebalances or downs.
  if (spec.shards > 0)
    return 1 + (detail::members_reader_host(cfg_) == &spec ? 1 : 0) +
           spec.shards + spec.instances;
  // A worker pool starts its policy's min_workers workers.
  const auto* kind = kinds_.describe(spec.kind);
  if (kind == nullptr || !kind->make_pool)
    return spec.instances;
  actor_init init;
  init.name = spec.name;
  init.node_name = cfg_.node_name;
  init.options = spec.options;
  init.handler = spec.handler;
  init.kinds = &kinds_;
  return kind->make_pool(init)->min_workers();
}

caf::error node::wait_until_ready(std::chrono::milliseconds ready_timeout,
                                  const std::function<bool()>& interrupted) {
  // Ready when the reply queue and every actor's queue are being consumed.
  caf::scoped_actor self{sys_};
  auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  auto consuming = [&](const bridges::consumer_actor& who) {
    bool yes = false;
    self->request(who, std::chrono::seconds{5}, bridges::stats_atom::value)
      .receive([&](const bridges::consumer_stats& st) { yes = st.consuming; },
               [&](const caf::error&) {});
    return yes;
  };
  auto requester_ready = [&] {
    bool yes = false;
    self
      ->request(requester_, std::chrono::seconds{5}, bridges::stats_atom::value)
      .receive([&](const bridges::requester_stats& st) { yes = st.ready; },
               [&](const caf::error&) {});
    return yes;
  };
  std::size_t instances = 0;
  for (const auto& spec : cfg_.actors)
    instances += expected_consumers(spec);
  for (;;) {
    if (auto err = failure())
      return err;
    auto watch = consumers();
    auto started = watch.size();
    auto waiting = static_cast<std::size_t>(
      std::count_if(watch.begin(), watch.end(),
                    [&](const auto& c) { return !consuming(c); }));
    if (!requester_ready())
      ++waiting;
    if (waiting == 0 && started == instances)
      return caf::none;
    if (interrupted && interrupted())
      return make_error(errc::shutting_down, "interrupted while starting");
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(errc::connection_failed,
                        std::to_string(waiting + instances - started) +
                          " consumer(s) not consuming after " +
                          std::to_string(ready_timeout.count()) +
                          " ms; still trying (see the messages above)");
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

caf::expected<boost::json::value>
node::call(const std::string& service, std::string type,
           const boost::json::value& body, std::chrono::milliseconds timeout) {
  outgoing_message request;
  request.exchange = bridges::actors_exchange;
  request.routing_key = service;
  request.mandatory = true;
  request.properties.type = std::move(type);
  request.properties.delivery_mode = 1;
  request.body = boost::json::serialize(body);
  caf::scoped_actor self{sys_};
  caf::expected<boost::json::value> result{boost::json::value{}};
  self
    ->request(requester_, caf::infinite, call_atom::value, std::move(request),
              static_cast<int64_t>(timeout.count()))
    .receive([&](boost::json::value& reply) { result = std::move(reply); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

void node::stop() {
  if (!running_)
    return;
  running_ = false;
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    state_->stopping = true;
  }
  caf::scoped_actor self{sys_};
  auto timeout = cfg_.shutdown_timeout;
  // 0. The node's last announcement: it is leaving (at most a few seconds;
  // only `warren cluster status` reads it). It downs nobody any more.
  if (downer_) {
    self->send_exit(downer_, caf::exit_reason::user_shutdown);
    self->wait_for(downer_);
    downer_ = nullptr;
  }
  if (announcer_) {
    auto announcer = caf::actor_cast<cluster::announcer_actor>(announcer_);
    self
      ->request(announcer, std::chrono::seconds{4}, cluster::leave_atom::value)
      .receive([](caf::ok_atom) {}, [](const caf::error&) {});
    self->send_exit(announcer_, caf::exit_reason::user_shutdown);
    self->wait_for(announcer_);
    announcer_ = nullptr;
  }
  // 1. Stop consuming everywhere at once: each consumer cancels on its own
  // thread, none waits for another (a broker that does not answer one
  // cancel holds up only that consumer, until its shutdown time). Not the
  // changelog readers: the units their shard owners have in hand wait for
  // verdicts that only a reader still reading gives.
  for (const auto& c : consumers_stopping_first())
    caf::anon_send(c, bridges::pause_atom::value);
  // 2. Stop the tree: each consumer lets its in-flight deliveries settle and
  // be acked, then closes (each within its child spec's shutdown time).
  self->send_exit(root_, caf::exit_reason::user_shutdown);
  self->wait_for(root_);
  // 3. Every publish of the node's publisher confirmed.
  self->request(publisher_, timeout, bridges::drain_atom::value)
    .receive([](caf::ok_atom) {},
             [](const caf::error& err) {
               log::warning("publishes not confirmed in time: {}",
                            describe(err));
             });
  // 4. Close the requester and the publisher.
  for (const auto& a : {caf::actor_cast<caf::actor>(requester_),
                        caf::actor_cast<caf::actor>(publisher_)}) {
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->wait_for(a);
  }
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->consumers.clear();
}

} // namespace warren::runtime
