#pragma once

/// A node's configuration: one JSON file per node, parsed with Boost.JSON,
/// merged with documented defaults and validated key by key.
///
/// Every key and its default is documented in `config/README.md`. Unknown
/// keys, wrong types and bad values are errors (`errc::invalid_config`) whose
/// sentence names the file, the JSON path, what was found and what was
/// expected, e.g.
///
///   node.json: $.topology.queues[1].max_priority: expected an integer from
///   1 to 255, found 300
///
/// Relative paths in the file (state_dir, plugins, TLS files, password_file)
/// are resolved against the directory of the config file.

#include "warren/bridges/broker.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/runtime/retry_policy.hpp"
#include "warren/runtime/store.hpp"
#include "warren/runtime/supervision.hpp"

#include <boost/json/object.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::runtime {

/// Group commit of a stateful actor: messages applied share one transaction
/// and one multiple-ack. A batch is committed when it holds `max_batch`
/// messages, when its first message has waited `max_delay`, or as soon as
/// the consumer has nothing more to read, whichever comes first.
struct commit_policy {
  /// Default 64.
  std::size_t max_batch = 64;
  /// Default 5 ms.
  std::chrono::milliseconds max_delay{5};
};

/// The node's checkpoint store (`<state_dir>/warren.db`).
struct store_config {
  /// FULL (default): a commit survives power loss. NORMAL: it survives a
  /// crash of the process, not of the machine.
  sync_mode synchronous = sync_mode::full;
  /// How long a stateful actor remembers the ids of messages it applied
  /// (de-duplication window). Default 7 days; it must outlast the longest
  /// time a message can come back (retry ladder, redelivery).
  std::chrono::milliseconds inbox_retention{7LL * 24 * 3600 * 1000};
};

/// One actor the node runs and bridges to a queue.
struct actor_spec {
  /// Unique in the node; `[A-Za-z0-9._-]+`. Also the routing key under which
  /// the actor's queue is bound to the `warren.actors` exchange.
  std::string name;
  /// "service", "subscriber", or a kind registered by a plugin.
  std::string kind;
  /// For "service" and "subscriber": the registered kind that does the work.
  /// Empty for other kinds (the kind does its own work).
  std::string handler;
  /// The queue consumed. Default: the actor's name. Declared as a durable
  /// classic queue unless `topology.queues` declares it.
  std::string queue;
  /// Unacked deliveries in flight per instance: its mailbox bound.
  /// Default 100.
  uint16_t prefetch = 100;
  /// Actor instances in this node competing on the queue, each with its own
  /// consumer connection and thread. Default 1.
  uint32_t instances = 1;
  /// What a failed message gets: retries at once, then through the retry
  /// ladder, then the dead-letter queue. Default: no retries (dead-letter on
  /// the first failure), as MassTransit does unless configured.
  retry_policy retry;
  /// For stateful kinds: group commit.
  commit_policy commit;
  /// Kind-specific settings handed to the actor as they are. Default {}.
  boost::json::object options;
};

/// Publisher tuning.
struct publisher_settings {
  /// Published but not yet confirmed messages; past it publishers wait.
  /// Default 1000.
  std::size_t max_unconfirmed = 1000;
};

struct node_config {
  /// The file the config came from (as given), for error messages.
  std::string source_file;
  /// The node's name; `[A-Za-z0-9._-]+`. Required.
  std::string node_name;
  /// Where the node keeps its SQLite database and other state.
  /// Default: `.state/<node>` next to the config file.
  std::string state_dir;
  /// Broker URIs, heartbeat, TLS. Default: one endpoint
  /// amqp://guest:guest@localhost:5672/. The environment variable
  /// WARREN_BROKER_URI, when set, replaces the URI list.
  bridges::broker_settings broker;
  bridges::topology topology;
  std::vector<actor_spec> actors;
  /// Plugin shared libraries to load before actors are spawned.
  std::vector<std::string> plugins;
  /// CAF scheduler threads; 0 means one per core. Default 0.
  uint32_t scheduler_threads = 0;
  publisher_settings publisher;
  /// Largest accepted message body; larger ones are dead-lettered with
  /// `errc::oversized_body`. Default 1 MiB.
  std::size_t max_body_bytes = 1024 * 1024;
  /// Default timeout of a request-response call made by an actor. Default 5 s.
  std::chrono::milliseconds call_timeout{5000};
  /// How long a graceful stop waits for in-flight work. Default 10 s.
  std::chrono::milliseconds shutdown_timeout{10000};
  /// The supervision tree. Actors the config does not place in it are
  /// children of the root, permanent, in config order after the listed ones.
  /// Default: a root `one_for_one` supervisor with OTP's intensity (1
  /// restart in 5 s) over every actor.
  supervisor_config supervision;
  store_config store;
};

/// Delays of one actor's retry ladder at most.
constexpr std::size_t max_retry_steps = 20;

/// Reads and validates the config file at `path`.
caf::expected<node_config> load_config(const std::string& path);

/// Validates config text. `source_name` names the source in errors and
/// `base_dir` resolves relative paths.
caf::expected<node_config> parse_config(const std::string& text,
                                        const std::string& source_name,
                                        const std::string& base_dir);

/// Appends every actor the tree does not name to `root` as a permanent child
/// (config order). The config reader does it; so does a node, for configs
/// built in code.
void place_unlisted_actors(supervisor_config& root,
                           const std::vector<actor_spec>& actors,
                           std::chrono::milliseconds default_shutdown);

/// The actor kinds built into every node.
constexpr const char* service_kind = "service";
constexpr const char* subscriber_kind = "subscriber";

} // namespace warren::runtime
