#pragma once

/// A node: the publisher (for embedding code), the requester (for calls), and
/// the supervision tree of the config. Every actor instance is a child of its
/// supervisor: one consumer bridge, which runs the instance's `warren::actor`
/// handlers in its own thread (a raw CAF kind is an actor of its own, fed by
/// the instance's consumer; both are the child).
///
/// Start-up: declare the topology (config topology plus, for every actor, its
/// queue, its `<queue>.dlq` and a binding of the queue to `warren.actors`
/// with the actor's name), then start the tree, which starts the consumers.
///
/// Graceful stop, in this order: stop consuming (basic.cancel on every
/// consumer at once), stop the tree (children in reverse start order, each
/// letting its in-flight deliveries finish, their publishes be confirmed and
/// the deliveries be acked, then closing), wait for every publish of the
/// node's publisher to be confirmed, close the remaining connections.
/// Whatever was not acked stays in the broker.
///
/// When the root supervisor gives up (restart intensity exceeded), its
/// children are already stopped: the node consumes nothing more, `failure()`
/// says why, and the `on_failure` callback runs (`warren run` then exits
/// with code 7).

#include "warren/bridges/consumer.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/bridges/requester.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/config/node_config.hpp"
#include "warren/runtime/registry.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/value.hpp>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace warren::metrics {
class registry;
class http_endpoint;
} // namespace warren::metrics

namespace warren::runtime {

/// Applies the node config to CAF's config (scheduler threads).
void configure_system(caf::actor_system_config& cfg,
                      const config::node_config& node);

/// Where and how the node's checkpoint store is opened.
store_settings store_settings_of(const config::node_config& cfg);

/// Checks every actor of `cfg` against its kind's descriptor (after plugins
/// are loaded): the kind (and handler kind) exists, a stateful kind runs one
/// instance, a handler is given exactly when the kind takes one, and the
/// options pass the kind's validator (and, for a kind that takes a handler,
/// the handler kind's). Errors (`errc::unknown_kind`,
/// `errc::invalid_config`) name the file and the JSON path.
caf::error check_kinds(const config::node_config& cfg, const registry& kinds);

/// The topology the node declares: the config's, plus the `warren.actors`
/// exchange and each actor's queue (unless declared) and binding.
bridges::topology effective_topology(const config::node_config& cfg);

class node {
 public:
  node(caf::actor_system& sys, warren::config::node_config cfg,
       const registry& kinds);
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Spawns everything and waits up to `ready_timeout` for every consumer to
  /// be consuming. On timeout the node keeps trying in the background and the
  /// error says which consumers are not ready. `interrupted`, when set, is
  /// asked while waiting; when it returns true the wait ends with
  /// `errc::shutting_down` (the node runs on; stop it).
  caf::error start(std::chrono::milliseconds ready_timeout,
                   const std::function<bool()>& interrupted = {});

  /// Graceful stop (see above). Idempotent.
  void stop();

  /// Called once, from a CAF thread, if the root supervisor fails. Set before
  /// `start`.
  void on_failure(std::function<void(const caf::error&)> callback);

  /// Why the root supervisor failed, or no error while it runs (or after a
  /// graceful stop).
  caf::error failure() const;

  /// The port of the metrics endpoint (`metrics.listen`; the one chosen
  /// for port 0), or 0 when metrics are off.
  uint16_t metrics_port() const noexcept;

  /// The consumers of the actor instances now running, for tools and tests.
  std::vector<bridges::consumer_actor> consumers() const;

  const warren::config::node_config& config() const noexcept { return cfg_; }

  /// The publisher, for code outside actors that publishes through the node.
  const bridges::publisher_actor& publisher() const noexcept {
    return publisher_;
  }

  /// The node's requester, for calls from outside actors (its protocol is in
  /// warren/bridges/requester.hpp).
  const bridges::requester_actor& requester() const noexcept {
    return requester_;
  }

  /// Calls a service by name from outside any actor, blocking the calling
  /// thread until the reply or the timeout. Errors as in call.hpp.
  caf::expected<boost::json::value> call(const std::string& service,
                                         std::string type,
                                         const boost::json::value& body,
                                         std::chrono::milliseconds timeout);

 private:
  struct shared_state;

  /// The consumers a stop pauses at once (all but the changelog readers).
  std::vector<bridges::consumer_actor> consumers_stopping_first() const;

  caf::actor_system& sys_;
  warren::config::node_config cfg_;
  const registry& kinds_;
  /// Declares the topology once before anything runs, so that a conflict
  /// with what the broker has (406) is a start-up error, not a reconnect
  /// loop. A broker that does not answer is left to the connection owners.
  caf::error declare_topology(const bridges::topology& topo);

  /// The publisher and the requester.
  void spawn_bridges(const bridges::topology& topo);

  /// The supervision tree, whose children start the consumers.
  void start_tree(bridges::topology topo);

  /// The consumers actor `spec` starts with: its instances, or a worker
  /// pool's min_workers.
  std::size_t expected_consumers(const config::actor_spec& spec) const;

  /// Waits until every consumer consumes (see `start`).
  caf::error wait_until_ready(std::chrono::milliseconds ready_timeout,
                              const std::function<bool()>& interrupted);

  /// The metrics registry and its HTTP endpoint (`metrics.listen`).
  caf::error start_metrics();

  /// Why the node is not ready, or nullopt (`/readyz`).
  std::optional<std::string> not_ready() const;

  std::unique_ptr<metrics::registry> metrics_;
  std::unique_ptr<metrics::http_endpoint> endpoint_;
  bridges::publisher_actor publisher_;
  bridges::requester_actor requester_;
  caf::actor root_;
  /// The membership announcer (runtime/src/cluster/announcer.hpp), when the
  /// node runs a sharded actor.
  caf::actor announcer_;
  /// The downer (runtime/src/cluster/downer.hpp), when it downs silent nodes.
  caf::actor downer_;
  std::shared_ptr<shared_state> state_;
  bool running_ = false;
};

} // namespace warren::runtime
