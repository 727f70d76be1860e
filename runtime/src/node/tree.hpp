#pragma once

// Private to warren::runtime: a node's supervision tree, built from its
// config. Every actor instance is a child of its own: its consumer (which
// runs the instance's dispatcher in its own thread), and, for a raw CAF
// kind, the kind's actor before it.

#include "dispatch/message_scope.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/config/node_config.hpp"
#include "warren/runtime/registry.hpp"
#include "warren/runtime/supervision/supervisor.hpp"

#include <caf/actor_system.hpp>
#include <functional>
#include <memory>
#include <string>

namespace warren::runtime::detail {

/// Everything an instance's starter needs; shared by the starters, and
/// alive as long as the tree.
/// What the node's readiness reads of one instance (metrics on only).
struct readiness_gauges {
  metrics::gauge consuming;
  metrics::gauge connected;
  /// Stateful instances only.
  metrics::gauge store_failing;
};

/// When a stopping node tells a consumer to stop consuming.
enum class stop_step {
  /// At once, with every other consumer (node::stop's first step).
  first,
  /// Only when its subtree stops it, after the siblings started after it:
  /// a changelog reader goes on reading while its actor's shard owners
  /// finish the units in hand, whose verdicts come through it.
  with_its_subtree,
};

} // namespace warren::runtime::detail

namespace warren::runtime::cluster {
class member_directory;
class member_view;
class shard_directory;
} // namespace warren::runtime::cluster

namespace warren::runtime::detail {

struct instance_context {
  caf::actor_system* sys = nullptr;
  const registry* kinds = nullptr;
  const config::node_config* cfg = nullptr;
  bridges::topology topo;
  warren::detail::dispatch_services services;
  /// The node's metrics, or nullptr (metrics off).
  metrics::registry* metrics = nullptr;
  /// Told of every consumer started, under its child id, with the gauges
  /// its readiness is read from.
  std::function<void(std::string, bridges::consumer_actor, readiness_gauges,
                     stop_step)>
    track;
  /// Told when a pool removed the worker of this child id for good: the
  /// node forgets its consumer (readiness no longer waits for it).
  std::function<void(const std::string&)> untrack;
  /// Told of every sharded actor's status, for the membership announcer;
  /// nullptr: not kept.
  std::shared_ptr<cluster::member_directory> members;
  /// What the node hears of its cluster (its one reader of
  /// `warren.cluster` feeds it), for rebalancing and downing.
  std::shared_ptr<cluster::member_view> view;
};

/// The sharded actor whose subtree runs the node's one reader of the
/// cluster's announcements (the first in the config; the view it fills is
/// the node's), or null when the node reads none (it neither rebalances
/// nor downs silent nodes).
const config::actor_spec* members_reader_host(const config::node_config& cfg);

/// Wraps an instance's dispatcher (a pool's workers count their deliveries).
using handler_wrapper =
  std::function<std::shared_ptr<bridges::delivery_handler>(
    std::shared_ptr<bridges::delivery_handler>)>;

/// What a kind's instance `instance` of `spec` is made with: the node's
/// name, kinds and metrics, the config's directory, its queue.
actor_init init_of(const instance_context& ctx, const config::actor_spec& spec,
                   uint32_t instance);

/// The sharded actors of the node's config, each with an instance of its
/// kind to read keys with (the context API sends to their shards).
std::shared_ptr<const cluster::shard_directory>
make_shard_directory(const instance_context& ctx);

/// Starts instance `i` of `spec` as child `id` (what each instance child's
/// starter does, and what a pool does for each worker, with `wrap`).
caf::expected<child_members>
start_instance(const std::shared_ptr<const instance_context>& ctx,
               const config::actor_spec& spec, uint32_t i,
               const std::string& id, const handler_wrapper& wrap = {});

/// The supervisor spec of `sc`, whose actor children start instances.
supervisor_spec build_tree(const config::supervisor_config& sc,
                           const std::shared_ptr<const instance_context>& ctx,
                           const supervisor_options& options);

} // namespace warren::runtime::detail
