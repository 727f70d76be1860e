#include "node/tree.hpp"

#include "cluster/announcer.hpp"
#include "cluster/changelog_reader.hpp"
#include "cluster/member_view.hpp"
#include "cluster/shard_directory.hpp"
#include "cluster/shard_owner.hpp"
#include "cluster/shard_router.hpp"
#include "dispatch/batch_splitter.hpp"
#include "dispatch/chunk_assembler.hpp"
#include "dispatch/dispatchers.hpp"
#include "dispatch/operator_support.hpp"
#include "pool/pool.hpp"
#include "warren/core/shard.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/stream_operator.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <filesystem>

namespace warren::runtime::detail {

actor_init init_of(const instance_context& ctx, const config::actor_spec& spec,
                   uint32_t instance) {
  actor_init init;
  init.name = spec.name;
  init.node_name = ctx.cfg->node_name;
  init.options = spec.options;
  init.instance = instance;
  init.handler = spec.handler;
  init.kinds = ctx.kinds;
  init.metrics = ctx.metrics;
  init.config_dir =
    std::filesystem::path{ctx.cfg->source_file}.parent_path().string();
  init.queue = spec.queue;
  return init;
}

namespace {

warren::detail::dispatch_settings settings_of(const config::actor_spec& spec,
                                              metrics::counter retried) {
  return {spec.queue, spec.retry, spec.require_message_id, retried};
}

// Instance `instance` of `spec`'s kind. Throws what the kind's constructor
// throws.
// The owner of a shard of a sharded actor makes the instance that owns it.
struct owned_shard {
  uint32_t index = 0;
  uint32_t count = 0;
};

caf::expected<std::shared_ptr<actor>> make_user(const instance_context& ctx,
                                                const config::actor_spec& spec,
                                                uint32_t instance,
                                                owned_shard shard = {}) {
  const auto* kind = ctx.kinds->describe(spec.kind);
  if (kind == nullptr || !kind->make)
    return make_error(errc::unknown_kind, "no kind '" + spec.kind + "'");
  auto init = init_of(ctx, spec, instance);
  init.shard = shard.index;
  init.shards = shard.count;
  return std::shared_ptr<actor>{kind->make(init)};
}

// The dispatcher of a warren actor instance (stateless or stateful). Throws
// what the actor's constructor throws: a start failure. A shard owner's
// stateful dispatcher commits through `committer`.
caf::expected<std::shared_ptr<bridges::delivery_handler>>
make_dispatcher(const instance_context& ctx, const config::actor_spec& spec,
                uint32_t instance, metrics::counter retried,
                metrics::gauge* store_failing,
                std::shared_ptr<warren::detail::unit_committer> committer = {},
                owned_shard shard = {}) {
  auto made = make_user(ctx, spec, instance, shard);
  if (!made)
    return made.error();
  auto user = std::move(*made);
  const auto* kind = ctx.kinds->describe(spec.kind);
  auto settings = settings_of(spec, retried);
  auto stateful = std::dynamic_pointer_cast<stateful_base>(user);
  if (stateful && !kind->stateful())
    // Its one-instance rule was not checked with the config.
    return make_error(errc::invalid_config,
                      "kind '" + spec.kind +
                        "' made a stateful actor but was registered as "
                        "stateless; register it with add_kind<T> or "
                        "add_stateful_kind");
  if (stateful) {
    warren::detail::stateful_settings ss;
    ss.committer = std::move(committer);
    ss.dispatch = std::move(settings);
    ss.commit = spec.commit;
    ss.store = store_settings_of(*ctx.cfg);
    ss.inbox_retention = ctx.cfg->store.inbox_retention;
    if (ctx.metrics != nullptr)
      ss.metrics = metrics::make_store_metrics(*ctx.metrics, spec.name);
    if (store_failing != nullptr)
      *store_failing = ss.metrics.failing;
    auto heartbeat = std::chrono::seconds{ctx.cfg->broker.heartbeat_seconds};
    ss.anonymous_window = heartbeat.count() == 0
                            ? std::chrono::minutes{10}
                            : std::max<std::chrono::milliseconds>(
                                3 * heartbeat, std::chrono::minutes{1});
    return warren::detail::make_stateful_dispatcher(
      std::move(stateful), ctx.services, std::move(ss));
  }
  return warren::detail::make_actor_dispatcher(std::move(user), ctx.services,
                                               std::move(settings));
}

std::string instance_id(const config::actor_spec& spec, uint32_t i) {
  return spec.instances == 1 ? spec.name
                             : spec.name + "[" + std::to_string(i) + "]";
}

// A consumer of `queue` for child `id` of `spec`, with its metrics.
bridges::consumer_config consumer_base(const instance_context& ctx,
                                       const config::actor_spec& spec,
                                       const std::string& id,
                                       const std::string& queue,
                                       bool watch_queue) {
  const auto& cfg = *ctx.cfg;
  bridges::consumer_config cc;
  cc.broker = cfg.broker;
  cc.broker.connection_name = cfg.broker.connection_name + " " + id;
  cc.topo = ctx.topo;
  cc.queue = queue;
  cc.prefetch = spec.prefetch;
  cc.actor_name = spec.name;
  cc.node_name = cfg.node_name;
  cc.max_body_bytes = cfg.max_body_bytes;
  if (ctx.metrics != nullptr) {
    // Label `actor` is the child ("name[i]" when there are several
    // instances, "name.s<i>" for a shard), so its gauges are its own.
    cc.delivery_metrics =
      metrics::make_delivery_metrics(*ctx.metrics, id, queue);
    cc.watch_queue = watch_queue;
    cc.connection_metrics =
      metrics::make_connection_metrics(*ctx.metrics, cc.broker.connection_name);
    cc.publish_metrics =
      metrics::make_publish_metrics(*ctx.metrics, cc.broker.connection_name);
  }
  return cc;
}

// Batched envelopes reach every family of kinds entry by entry.
std::shared_ptr<bridges::delivery_handler>
split_entries(const instance_context& ctx, const config::actor_spec& spec,
              const std::string& id,
              std::shared_ptr<bridges::delivery_handler> handler) {
  const auto& cfg = *ctx.cfg;
  return warren::detail::split_batches(
    std::move(handler), {cfg.max_body_bytes, spec.require_message_id},
    spec.name, cfg.node_name,
    ctx.metrics != nullptr ? metrics::make_batch_metrics(*ctx.metrics, id)
                           : metrics::batch_metrics{});
}

child_members spawn_tracked(const instance_context& ctx, const std::string& id,
                            bridges::consumer_config cc, child_members members,
                            stop_step stops = stop_step::first) {
  readiness_gauges readiness{
    cc.delivery_metrics.consuming, cc.connection_metrics.up, {}};
  auto consumer = bridges::spawn_consumer(*ctx.sys, std::move(cc));
  ctx.track(id, consumer, readiness, stops);
  members.push_back(caf::actor_cast<caf::actor>(consumer));
  return members;
}

} // namespace

std::shared_ptr<const cluster::shard_directory>
make_shard_directory(const instance_context& ctx) {
  auto directory = std::make_shared<cluster::shard_directory>();
  for (const auto& spec : ctx.cfg->actors) {
    if (spec.shards == 0)
      continue;
    // A kind whose instance cannot be made fails to start anyway; its
    // messages then go through the routers.
    try {
      auto made = make_user(ctx, spec, 0);
      auto keys = made ? std::dynamic_pointer_cast<const stateful_base>(
                           std::shared_ptr<const actor>{std::move(*made)})
                       : nullptr;
      if (keys)
        directory->add(spec.name, spec.shards, std::move(keys));
    } catch (const std::exception&) {
      continue;
    }
  }
  return directory;
}

const config::actor_spec* members_reader_host(const config::node_config& cfg) {
  // Announcements are heard to rebalance, or to down silent nodes.
  if (!cfg.cluster.rebalance && cfg.cluster.down_after.count() == 0)
    return nullptr;
  for (const auto& actor : cfg.actors)
    if (actor.shards > 0)
      return &actor;
  return nullptr;
}

namespace {

// The tables a stream operator keeps of its own (a saga's), created in the
// node's file as its `open` does: a standby's reader fills them from the
// changelog before any owner on this node opened the kind.
caf::error create_kind_tables(const instance_context& ctx,
                              const config::actor_spec& spec,
                              checkpoint_store& file) {
  // As a shard's owner when the actor is sharded: a kind whose tables
  // depend on it (a projection's) makes only what every shard shares.
  auto made = make_user(ctx, spec, 0, {0, spec.shards});
  if (!made)
    return made.error();
  auto* op = dynamic_cast<stream_operator*>(made->get());
  if (op == nullptr)
    return caf::none;
  warren::detail::store_reader reader{file};
  return op->open(reader);
}

// This run of the node's process, in the claims its shard owners make.
const std::string& incarnation() {
  return runtime::cluster::process_incarnation();
}

// What the node's membership announcements and metrics say of `actor`.
std::shared_ptr<runtime::cluster::member_status>
member_status_of(const instance_context& ctx, const config::actor_spec& actor) {
  metrics::changelog_metrics changelog;
  std::vector<metrics::shard_metrics> shards;
  if (ctx.metrics != nullptr) {
    changelog = metrics::make_changelog_metrics(*ctx.metrics, actor.name);
    for (uint32_t i = 0; i < actor.shards; ++i)
      shards.push_back(metrics::make_shard_metrics(*ctx.metrics, actor.name, i,
                                                   shard_name(actor.name, i)));
  }
  auto status = std::make_shared<runtime::cluster::member_status>(
    actor.name, actor.shards, changelog, std::move(shards));
  if (ctx.members)
    ctx.members->add(status);
  return status;
}

// A sharded actor on this node (README.md, "Clustering"): a supervisor of
// its own over the reader of its changelog, an owner (active or standby) of
// each shard, and `instances` routers on its own queue. An owner that loses
// its shard (fenced, or its broker gone) ends and comes back as a standby:
// routine in a cluster, so this supervisor allows a restart per child every
// few seconds before it gives up.
void add_sharded(supervisor_spec& parent, const config::child_spec& child_spec,
                 const std::shared_ptr<const instance_context>& ctx,
                 const config::actor_spec* actor,
                 const supervisor_options& options) {
  supervisor_spec spec;
  spec.id = actor->name + ".shards";
  spec.intensity.max_restarts = 3 * (actor->shards + actor->instances + 1);
  spec.intensity.period = std::chrono::seconds{10};
  spec.backoff.min = std::chrono::milliseconds{50};
  spec.backoff.max = std::chrono::seconds{5};
  auto state = std::make_shared<runtime::cluster::changelog_state>(
    member_status_of(*ctx, *actor));
  auto store = store_settings_of(*ctx->cfg);
  supervised_child reader;
  reader.spec = child_spec;
  reader.spec.id = runtime::cluster::changelog_name(actor->name);
  reader.start = [ctx, actor, state, store, id = reader.spec.id] {
    auto cc = consumer_base(
      *ctx, *actor, id, runtime::cluster::changelog_name(actor->name), false);
    // A stream's credit: records read ahead of the one being applied.
    cc.prefetch = 1000;
    runtime::cluster::snapshot_settings snapshots;
    snapshots.node = ctx->cfg->node_name;
    snapshots.incarnation = incarnation();
    snapshots.every_bytes =
      static_cast<std::size_t>(ctx->cfg->cluster.changelog_snapshot_bytes);
    snapshots.retention_bytes =
      static_cast<std::size_t>(ctx->cfg->cluster.changelog_max_bytes);
    auto handler = std::make_shared<runtime::cluster::changelog_reader>(
      actor->name, store, state, 256, std::move(snapshots));
    handler->prepare_with([ctx, actor](checkpoint_store& file) {
      return create_kind_tables(*ctx, *actor, file);
    });
    cc.consume_arguments = [handler] {
      return handler->consume_arguments();
    };
    cc.handler = handler;
    return caf::expected<child_members>{
      spawn_tracked(*ctx, id, std::move(cc), {}, stop_step::with_its_subtree)};
  };
  // The first child: its subtree stops it last.
  spec.children.push_back(std::move(reader));
  // What the node hears of the cluster, for the placement of the shards
  // (README.md, "Rebalancing").
  const auto& cluster = ctx->cfg->cluster;
  const auto& view = ctx->view;
  auto rebalance = std::make_shared<runtime::cluster::rebalancer>(
    ctx->cfg->node_name, actor->name, actor->shards, view,
    runtime::cluster::rebalance_settings{cluster.rebalance,
                                         cluster.rebalance_hold});
  // One reader per node: every sharded actor's rebalancer reads the view.
  if (members_reader_host(*ctx->cfg) == actor) {
    supervised_child listener;
    listener.spec = child_spec;
    listener.spec.id = "warren.members";
    listener.start = [ctx, actor, view, id = listener.spec.id] {
      auto cc = consumer_base(*ctx, *actor, id, membership::stream_name, false);
      cc.prefetch = 100;
      auto handler = std::make_shared<runtime::cluster::member_view_reader>(
        view, ctx->cfg->cluster.announce_interval *
                (membership::silent_intervals + 1));
      cc.consume_arguments = [handler] {
        return handler->consume_arguments();
      };
      cc.handler = handler;
      return caf::expected<child_members>{
        spawn_tracked(*ctx, id, std::move(cc), {})};
    };
    spec.children.push_back(std::move(listener));
  }
  for (uint32_t i = 0; i < actor->shards; ++i) {
    supervised_child owner;
    owner.spec = child_spec;
    owner.spec.id = shard_name(actor->name, i);
    // An owner that hands its shard over ends `released` and must consume
    // again, whatever the actor's own restart type (even `temporary`).
    owner.spec.restart = config::restart_type::permanent;
    owner.start = [ctx, actor, state, store, i, rebalance, id = owner.spec.id] {
      // Each shard is a queue of its own: its depth is watched (the alert
      // on a shard without an owner reads it).
      auto cc = consumer_base(*ctx, *actor, id, id, true);
      runtime::cluster::shard_identity who{actor->name, i, actor->shards,
                                           ctx->cfg->node_name, incarnation()};
      auto retried = cc.delivery_metrics.retried;
      cc.handler = split_entries(
        *ctx, *actor, id,
        runtime::cluster::make_shard_owner(
          std::move(who), state, store,
          [ctx, actor, i,
           retried](std::shared_ptr<warren::detail::unit_committer> committer) {
            return make_dispatcher(*ctx, *actor, 0, retried, nullptr,
                                   std::move(committer), {i, actor->shards});
          },
          ctx->cfg->cluster.rebalance ? rebalance : nullptr));
      return caf::expected<child_members>{
        spawn_tracked(*ctx, id, std::move(cc), {})};
    };
    spec.children.push_back(std::move(owner));
  }
  for (uint32_t i = 0; i < actor->instances; ++i) {
    supervised_child router;
    router.spec = child_spec;
    router.spec.id = instance_id(*actor, i);
    router.start = [ctx, actor, i,
                    id = router.spec.id]() -> caf::expected<child_members> {
      auto made = make_user(*ctx, *actor, i);
      if (!made)
        return made.error();
      auto keys = std::dynamic_pointer_cast<stateful_base>(std::move(*made));
      if (!keys)
        return make_error(errc::invalid_config,
                          "kind '" + actor->kind + "' is not stateful");
      auto cc = consumer_base(*ctx, *actor, id, actor->queue, false);
      cc.handler =
        split_entries(*ctx, *actor, id,
                      runtime::cluster::make_shard_router(
                        std::move(keys), actor->shards,
                        {ctx->cfg->max_body_bytes, actor->require_message_id},
                        ctx->cfg->node_name));
      return spawn_tracked(*ctx, id, std::move(cc), {});
    };
    spec.children.push_back(std::move(router));
  }
  supervised_child subtree;
  subtree.spec = child_spec;
  subtree.spec.id = spec.id;
  // As a pool's: each child keeps its own shutdown time, the subtree waits
  // for all of them.
  subtree.spec.shutdown = std::chrono::milliseconds::max();
  subtree.start = subtree_starter(*ctx->sys, std::move(spec), options);
  parent.children.push_back(std::move(subtree));
}

} // namespace

// Starts one instance: before its consumer, the raw CAF actor the consumer
// feeds if the kind is raw. Runs in the supervisor; nothing here blocks (the
// consumer opens what blocks on its own thread).
caf::expected<child_members>
start_instance(const std::shared_ptr<const instance_context>& ctx,
               const config::actor_spec& spec, uint32_t i,
               const std::string& id, const handler_wrapper& wrap) {
  const auto& cfg = *ctx->cfg;
  auto cc = consumer_base(*ctx, spec, id, spec.queue, i == 0);
  readiness_gauges readiness{
    cc.delivery_metrics.consuming, cc.connection_metrics.up, {}};
  child_members members;
  if (const auto* raw = ctx->kinds->find_raw(spec.kind)) {
    // The factory and init go in as spawn arguments, not captures: CAF 0.17
    // dereferences a null argument tuple for a function spawned without
    // any (undefined behaviour that UBSan stops the node on).
    auto host = ctx->sys->spawn(
      [](delivery_actor::pointer self, const registry::raw_factory& make,
         const actor_init& init) { return make(self, init); },
      *raw, init_of(*ctx, spec, i));
    cc.handler = warren::detail::make_raw_dispatcher(
      host, spec.name, ctx->services,
      settings_of(spec, cc.delivery_metrics.retried));
    members.push_back(caf::actor_cast<caf::actor>(host));
  } else {
    auto handler = make_dispatcher(*ctx, spec, i, cc.delivery_metrics.retried,
                                   &readiness.store_failing);
    if (!handler)
      return handler.error();
    cc.handler = std::move(*handler);
  }
  if (spec.chunks.enabled)
    cc.handler = warren::detail::assemble_chunks(
      std::move(cc.handler), spec.chunks, store_settings_of(cfg),
      {cfg.max_body_bytes, spec.require_message_id}, spec.name, cfg.node_name,
      spec.queue);
  cc.handler = split_entries(*ctx, spec, id, std::move(cc.handler));
  if (wrap) // Outermost: it sees deliveries as the consumer hands them out.
    cc.handler = wrap(std::move(cc.handler));
  auto consumer = bridges::spawn_consumer(*ctx->sys, std::move(cc));
  ctx->track(id, consumer, readiness, stop_step::first);
  members.push_back(caf::actor_cast<caf::actor>(consumer));
  return members;
}

supervisor_spec build_tree(const config::supervisor_config& sc,
                           const std::shared_ptr<const instance_context>& ctx,
                           const supervisor_options& options) {
  supervisor_spec spec;
  spec.id = sc.id;
  spec.strategy = sc.strategy;
  spec.intensity = sc.intensity;
  spec.backoff = sc.backoff;
  const auto& actors = ctx->cfg->actors;
  for (const auto& child : sc.children) {
    if (!child.is_actor()) {
      supervised_child sub;
      sub.spec = child.spec;
      sub.start = subtree_starter(
        *ctx->sys, build_tree(child.supervisor, ctx, options), options);
      spec.children.push_back(std::move(sub));
      continue;
    }
    auto found = std::find_if(actors.begin(), actors.end(), [&](const auto& a) {
      return a.name == child.actor;
    });
    if (found == actors.end())
      continue; // The config reader made sure it exists.
    const config::actor_spec* actor = &*found;
    if (actor->shards > 0) {
      add_sharded(spec, child.spec, ctx, actor, options);
      continue;
    }
    if (const auto* kind = ctx->kinds->describe(actor->kind);
        kind != nullptr && kind->what == kind_descriptor::family::pool) {
      // A pool is one child: its manager and the supervisor of its workers
      // (runtime/src/pool/pool.hpp).
      supervised_child pool;
      pool.spec = child.spec;
      // As OTP's supervisor children: each worker keeps its own shutdown
      // time; the pool waits for all of them.
      pool.spec.shutdown = std::chrono::milliseconds::max();
      pool.start = pool_starter(ctx, *actor, child.spec, sc, options);
      spec.children.push_back(std::move(pool));
      continue;
    }
    // Every instance is a child of its own with the actor's child spec.
    for (uint32_t i = 0; i < actor->instances; ++i) {
      supervised_child instance;
      instance.spec = child.spec;
      instance.spec.id = instance_id(*actor, i);
      instance.start = [ctx, actor, i, id = instance.spec.id] {
        return start_instance(ctx, *actor, i, id);
      };
      spec.children.push_back(std::move(instance));
    }
  }
  return spec;
}

} // namespace warren::runtime::detail
