#pragma once

// The `warren` subcommands. Each returns the process exit code.

#include "warren/bridges/broker.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace warren::cli {

/// Exit codes, stable for scripts.
enum exit_code : int {
  exit_ok = 0,
  /// The command ran and failed (e.g. publish nacked, unroutable).
  exit_failure = 1,
  /// Bad command line.
  exit_usage = 2,
  /// The config file is invalid, or a plugin/kind is missing.
  exit_config = 3,
  /// The broker cannot be reached or refused the login.
  exit_broker = 4,
  /// A call got no reply in time.
  exit_timeout = 5,
  /// The service answered with an error reply.
  exit_remote_error = 6,
  /// `warren run`: the root supervisor gave up (restart intensity exceeded);
  /// the node stopped consuming and left its unacked messages in the broker.
  exit_supervisor = 7,
  /// The checkpoint store cannot be opened, read or written (named in the
  /// message): not a warren database, damaged, newer schema, no space.
  exit_store = 8,
};

struct broker_choice {
  std::string config_file;
  std::string uri;
  /// The password, for a URI without one (else $WARREN_BROKER_PASSWORD):
  /// never on the command line, where every user of the machine sees it.
  std::string password_file;
};

struct send_options {
  broker_choice broker;
  std::string actor;
  std::string exchange;
  std::string routing_key;
  std::string type;
  std::string message_id;
  std::vector<std::string> headers;
  int priority = -1;
  bool transient = false;
  bool raw = false;
  bool mandatory = true;
  /// Entries per batched envelope; 0: BODY is one message.
  std::size_t batch = 0;
  /// Send this file as a chunked transfer instead of BODY.
  std::string file;
  /// Bytes per chunk (before hex encoding).
  std::size_t chunk_size = 256 * 1024;
  /// The transfer's stream id (default: a new unique id).
  std::string stream_id;
  std::string body;
};

struct call_options {
  broker_choice broker;
  std::string service;
  std::string type;
  int64_t timeout_ms = 5000;
  std::string body;
};

/// Prints `warren <command>: <error>` and returns the exit code for it.
int report(const char* command, const caf::error& err);

/// The broker for send/call/dlq: from the config file, else the URI, else
/// $WARREN_BROKER_URI, else amqp://guest:guest@localhost:5672/.
caf::expected<bridges::broker_settings>
broker_settings_for(const broker_choice& choice);

/// `warren run`: `log_level` (when not empty) overrides the config's
/// `log.level`.
int run(const std::string& config_file, int64_t ready_timeout_ms,
        const std::string& log_level);
int check(const std::string& config_file);
int send(const send_options& opts);
int call(const call_options& opts);

} // namespace warren::cli
