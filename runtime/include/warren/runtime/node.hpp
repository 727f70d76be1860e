#pragma once

/// A node: the publisher (for embedding code), the requester (for calls), and
/// for every configured actor one consumer bridge per instance, which runs the
/// instance's `warren::actor` handlers in its own thread (raw CAF kinds are
/// actors of their own, fed by one consumer).
///
/// Start-up: declare the topology (config topology plus, for every actor, its
/// queue, its `<queue>.dlq` and a binding of the queue to `warren.actors`
/// with the actor's name), then consume.
///
/// Graceful stop, in this order: stop consuming (basic.cancel), let in-flight
/// deliveries finish and be acked, wait for every publish to be confirmed,
/// close the connections. Whatever was not acked stays in the broker.

#include "warren/bridges/topology.hpp"
#include "warren/runtime/config.hpp"
#include "warren/runtime/registry.hpp"

#include <boost/json/value.hpp>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <memory>
#include <vector>

namespace warren::runtime {

/// Applies the node config to CAF's config (scheduler threads).
void configure_system(caf::actor_system_config& cfg, const node_config& node);

/// Checks that every actor's kind and handler are registered (after plugins
/// are loaded). Errors: `errc::unknown_kind` naming the file and JSON path.
caf::error check_kinds(const node_config& cfg, const registry& kinds);

/// The topology the node declares: the config's, plus the `warren.actors`
/// exchange and each actor's queue (unless declared) and binding.
bridges::topology effective_topology(const node_config& cfg);

class node {
 public:
  node(caf::actor_system& sys, node_config cfg, const registry& kinds);
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Spawns everything and waits up to `ready_timeout` for every consumer to
  /// be consuming. On timeout the node keeps trying in the background and the
  /// error says which consumers are not ready.
  caf::error start(std::chrono::milliseconds ready_timeout);

  /// Graceful stop (see above). Idempotent.
  void stop();

  const node_config& config() const noexcept { return cfg_; }

  /// The publisher, for tools and tests that publish through the node.
  const caf::actor& publisher() const noexcept { return publisher_; }

  /// The node's requester; its protocol is in warren/runtime/call.hpp.
  const caf::actor& requester() const noexcept { return requester_; }

  /// Calls a service by name from outside any actor, blocking the calling
  /// thread until the reply or the timeout. Errors as in call.hpp.
  caf::expected<boost::json::value> call(const std::string& service,
                                         std::string type,
                                         const boost::json::value& body,
                                         std::chrono::milliseconds timeout);

 private:
  caf::actor_system& sys_;
  node_config cfg_;
  const registry& kinds_;
  caf::actor publisher_;
  caf::actor requester_;
  /// Actors of raw CAF kinds (warren actors run inside their consumers).
  std::vector<caf::actor> raw_actors_;
  std::vector<caf::actor> consumers_;
  bool running_ = false;
};

} // namespace warren::runtime
