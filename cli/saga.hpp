#pragma once

// The `warren saga` subcommands. list and show read the node's SQLite file
// (read-only: no broker needed, safe while the node runs, and they work
// while it is down, which is when a stuck saga is investigated). resume and
// abort send the saga actor a command through the broker and print its
// answer: writing the file would race the actor, whose memory is the truth.

#include "commands.hpp"

#include <cstdint>
#include <string>

namespace warren::cli {

struct saga_options {
  /// The node config (its state_dir and its broker) ...
  std::string config_file;
  /// ... or the database file itself (list, show).
  std::string db_file;
  /// The broker for resume and abort (-c sets config_file for both).
  broker_choice broker;
  std::string actor;
  std::string saga_id;
  /// list: only sagas with this status.
  std::string status;
  int64_t limit = 100;
  /// abort: why, recorded in the saga.
  std::string reason;
  int64_t timeout_ms = 5000;
};

/// One line per saga, most recently changed first: id, status, definition,
/// when it changed, its timer.
int saga_list(const saga_options& opts);

/// One saga as JSON: status, data, each step with its sends and result.
int saga_show(const saga_options& opts);

/// `saga.resume` (resume) or `saga.abort` to the saga actor; prints the
/// answer. Exit 6 when the actor refuses (not_found, not_stuck, ...).
int saga_control(const saga_options& opts, bool resume);

} // namespace warren::cli
