#pragma once

// The `warren state` subcommands: read a node's checkpoint store, read-only
// (safe while the node runs: SQLite's WAL lets readers run beside it).

#include <string>

namespace warren::cli {

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
