#pragma once

/// Private to warren::config: the readers of the config's sections, one per
/// top-level key that has structure of its own. Each reads into the defaults
/// already in `out` and records its first error in the reader.

#include "warren/config/node_config.hpp"
#include "warren/config/reader.hpp"

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

namespace warren::config::detail {

/// Paths in the file are relative to the config's directory; absolute paths
/// and an empty `base_dir` leave `path` as it is.
std::string resolve_path(const std::string& base_dir, const std::string& path);

/// Reads a whole file into `out`; on failure `error` is strerror's text.
bool read_text_file(const std::string& path, std::string& out,
                    std::string& error);

/// Reads `$.broker` (nullptr: absent, all defaults), then applies the
/// environment variable WARREN_BROKER_URI and the password sources.
void read_broker(config_reader& r, const boost::json::value* v,
                 const std::string& node_name, const std::string& base_dir,
                 bridges::broker_settings& out);

/// Reads `$.topology` on its own; references to actors are checked later by
/// `check_references`.
void read_topology(config_reader& r, const boost::json::value& v,
                   bridges::topology& out);

/// Reads `$.actors` (the array).
void read_actors(config_reader& r, const boost::json::array& arr,
                 std::vector<actor_spec>& out);

/// Reads `$.metrics` (nullptr: absent, metrics off).
void read_metrics(config_reader& r, const boost::json::value* v,
                  metrics_config& out);

/// Reads `$.log` (nullptr: absent, all defaults).
void read_log(config_reader& r, const boost::json::value* v, log_config& out);

/// Reads `$.store` (nullptr: absent, all defaults).
void read_store(config_reader& r, const boost::json::value* v,
                store_config& out);

/// Reads `$.supervision` (nullptr: absent, the default root) after the
/// actors, then appends every actor the tree does not name to the root.
void read_supervision(config_reader& r, const boost::json::value* v,
                      const std::vector<actor_spec>& actors,
                      std::chrono::milliseconds default_shutdown,
                      supervisor_config& out);

/// Checks what spans sections: each binding names a known exchange and a
/// queue declared in the topology or consumed by an actor, and headers
/// bindings carry a valid `x-match`.
void check_references(config_reader& r, const node_config& cfg);

/// An actor with delayed retries whose queue (in `topology.queues`) is a
/// classic queue that rejects publishes when full: the broker would drop a
/// message coming back from the retry ladder then (classic queues
/// dead-letter at most once), so the config is refused.
void check_retry_targets(config_reader& r, const node_config& cfg);

/// Node names at most, and actor names at most.
constexpr std::size_t max_node_name = 64;
constexpr std::size_t max_actor_name = 255;

/// Reads a node or actor name: 1 to `max_size` characters from A-Z, a-z,
/// 0-9, '.', '_' and '-' (they travel as routing keys, file names and log
/// fields).
std::optional<std::string> plain_name(config_reader& r, const std::string& path,
                                      const boost::json::value& v,
                                      std::size_t max_size);

/// Reads an exchange or queue name: a non-empty string of at most 255 bytes
/// (an AMQP short string) outside the broker's reserved `amq.` namespace.
std::optional<std::string> entity_name(config_reader& r,
                                       const std::string& path,
                                       const boost::json::value& v);

} // namespace warren::config::detail
