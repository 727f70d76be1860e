#include "node/tree.hpp"

#include "dispatch/batch_splitter.hpp"
#include "dispatch/chunk_assembler.hpp"
#include "dispatch/dispatchers.hpp"
#include "pool/pool.hpp"
#include "warren/runtime/node.hpp"

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

// The dispatcher of a warren actor instance (stateless or stateful). Throws
// what the actor's constructor throws: a start failure.
caf::expected<std::shared_ptr<bridges::delivery_handler>>
make_dispatcher(const instance_context& ctx, const config::actor_spec& spec,
                uint32_t instance, metrics::counter retried,
                metrics::gauge* store_failing) {
  const auto* kind = ctx.kinds->describe(spec.kind);
  if (kind == nullptr || !kind->make)
    return make_error(errc::unknown_kind, "no kind '" + spec.kind + "'");
  auto user = std::shared_ptr<actor>{kind->make(init_of(ctx, spec, instance))};
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

} // namespace

// Starts one instance: before its consumer, the raw CAF actor the consumer
// feeds if the kind is raw. Runs in the supervisor; nothing here blocks (the
// consumer opens what blocks on its own thread).
caf::expected<child_members>
start_instance(const std::shared_ptr<const instance_context>& ctx,
               const config::actor_spec& spec, uint32_t i,
               const std::string& id, const handler_wrapper& wrap) {
  const auto& cfg = *ctx->cfg;
  bridges::consumer_config cc;
  cc.broker = cfg.broker;
  cc.broker.connection_name = cfg.broker.connection_name + " " + id;
  cc.topo = ctx->topo;
  cc.queue = spec.queue;
  cc.prefetch = spec.prefetch;
  cc.actor_name = spec.name;
  cc.node_name = cfg.node_name;
  cc.max_body_bytes = cfg.max_body_bytes;
  if (ctx->metrics != nullptr) {
    // Label `actor` is the instance ("name[i]" when there are several), so
    // its gauges are its own.
    cc.delivery_metrics =
      metrics::make_delivery_metrics(*ctx->metrics, id, spec.queue);
    cc.watch_queue = i == 0;
    cc.connection_metrics = metrics::make_connection_metrics(
      *ctx->metrics, cc.broker.connection_name);
    cc.publish_metrics =
      metrics::make_publish_metrics(*ctx->metrics, cc.broker.connection_name);
  }
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
  // Batched envelopes reach every family of kinds entry by entry.
  cc.handler = warren::detail::split_batches(
    std::move(cc.handler), {cfg.max_body_bytes, spec.require_message_id},
    spec.name, cfg.node_name,
    ctx->metrics != nullptr ? metrics::make_batch_metrics(*ctx->metrics, id)
                            : metrics::batch_metrics{});
  if (wrap) // Outermost: it sees deliveries as the consumer hands them out.
    cc.handler = wrap(std::move(cc.handler));
  auto consumer = bridges::spawn_consumer(*ctx->sys, std::move(cc));
  ctx->track(id, consumer, readiness);
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
