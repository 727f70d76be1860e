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
  std::function<void(std::string, bridges::consumer_actor, readiness_gauges)>
    track;
};

/// The supervisor spec of `sc`, whose actor children start instances.
supervisor_spec build_tree(const config::supervisor_config& sc,
                           const std::shared_ptr<const instance_context>& ctx,
                           const supervisor_options& options);

} // namespace warren::runtime::detail
