#pragma once

// The `warren dlq` subcommands (see dlq.cpp).

#include "commands.hpp"

#include <string>
#include <vector>

namespace warren::cli {

struct dlq_options {
  broker_choice broker;
  std::string queue;
  /// show: the message id; replay: the ids to replay.
  std::vector<std::string> ids;
  /// replay: every message.
  bool all = false;
  /// purge: without asking.
  bool force = false;
};

int dlq_list(const dlq_options& opts);
int dlq_show(const dlq_options& opts);
int dlq_replay(const dlq_options& opts);
int dlq_purge(const dlq_options& opts);

} // namespace warren::cli
