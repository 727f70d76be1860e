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
#include "warren/bridges/management.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/config/actor.hpp"
#include "warren/config/log.hpp"
#include "warren/config/metrics.hpp"
#include "warren/config/store.hpp"
#include "warren/config/supervision.hpp"

#include <boost/json/object.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::config {

/// Publisher tuning.
struct publisher_settings {
  /// Published but not yet confirmed messages; past it publishers wait.
  /// Default 1000.
  std::size_t max_unconfirmed = 1000;
};

/// Clustering (README.md, "Clustering").
struct cluster_settings {
  /// How often a node running a sharded actor announces itself on the
  /// stream `warren.cluster` (`warren cluster status` reads it; a node
  /// silent for 3 intervals is shown as gone). Default 2 s.
  std::chrono::milliseconds announce_interval{2000};
  /// Whether the nodes spread each sharded actor's shards evenly over the
  /// live, caught-up nodes, handing shards over as nodes join and leave
  /// (README.md, "Rebalancing"). Default true.
  bool rebalance = true;
  /// The least time a node owns a shard before it hands it over (doubled
  /// after each handover that came back). Default 5 s.
  std::chrono::milliseconds rebalance_hold{5000};
  /// The size bound of each sharded actor's changelog stream
  /// (`x-max-length-bytes`; the broker drops its oldest segments, of an
  /// eighth of it each, past it). Default 1 GiB.
  int64_t changelog_max_bytes = int64_t{1} << 30;
  /// Changelog bytes applied between two snapshots of a sharded actor's
  /// state (at least the last snapshot's size); at most a fifth of
  /// `changelog_max_bytes`. Default 64 MiB.
  int64_t changelog_snapshot_bytes = int64_t{64} << 20;
  /// Downing (README.md, "Downing"): a node not heard announcing for this
  /// long has its broker connections closed, through the management API,
  /// by the first live node in name order, so the broker gives its shards
  /// to the others at once instead of after its heartbeat timeout (2 to 3
  /// times `broker.heartbeat_seconds`). 0: off. At least twice
  /// `announce_interval`. Default 0.
  std::chrono::milliseconds down_after{0};
  /// The management APIs downing goes through (`management_uris`), tried
  /// in order. Default: one per broker URI, on its port + 10000 with its
  /// user and password.
  std::vector<bridges::management_endpoint> management;
};

/// The segment size of a changelog stream bounded at `max_bytes`
/// (`x-stream-max-segment-size-bytes`): an eighth of it, so retention drops
/// an eighth at a time, from 8 KiB up to RabbitMQ's default 500 MB.
int64_t changelog_segment_bytes(int64_t max_bytes);

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
  log_config log;
  metrics_config metrics;
  cluster_settings cluster;
};

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

} // namespace warren::config
