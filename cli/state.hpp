#pragma once

// The `warren state` subcommands: read a node's checkpoint store, read-only
// (safe while the node runs: SQLite's WAL lets readers run beside it).

#include "warren/runtime/store/checkpoint_store.hpp"

#include <caf/expected.hpp>
#include <memory>
#include <string>

namespace warren::cli {

/// A node's database, read-only: `db_file`, or the one of the node config
/// `config_file` (its state_dir).
caf::expected<std::unique_ptr<runtime::checkpoint_store>>
open_node_store(const std::string& config_file, const std::string& db_file);

struct state_options {
  /// The node config (its state_dir holds warren.db) ...
  std::string config_file;
  /// ... or the database file itself.
  std::string db_file;
  std::string actor;
  std::string key;
  /// show without a key: at most this many keys.
  std::size_t limit = 1000;
};

/// Without an actor: one line per actor with state (keys, inbox, outbox).
/// With one: one line per key with its version.
int state_list(const state_options& opts);

/// One key's state (or, without a key, every key's) as JSON.
int state_show(const state_options& opts);

} // namespace warren::cli
