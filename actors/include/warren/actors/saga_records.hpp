#pragma once

/// The sagas of a node's SQLite file, as the `saga` kind keeps them: one
/// row per saga in `warren_sagas` (its status, the state its machine is in,
/// the data it started with) and its definition in
/// `warren_saga_definitions`, stored once per content, so a saga keeps the
/// definition it started with whatever the config says later.
///
/// Read by the saga actor itself (`saga.get`, `saga.list`) and by
/// `warren saga list|show`, which read the file directly: no broker is
/// needed, it works beside the running node (WAL) and while it is down.
/// What a running node has not committed yet is not there.

#include "warren/runtime/store/sql.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace warren::actors {

/// Runs a read-only statement: `operator_store::query` in the actor,
/// `checkpoint_store::read_sql` in the CLI.
using saga_sql_reader = std::function<caf::error(
  const std::string& sql, const std::vector<sql_value>& params,
  const sql_row_handler& on_row)>;

/// One saga as its row says.
struct saga_record {
  std::string saga_id;
  /// The definition's name (`execute_saga` for the seed's format).
  std::string definition;
  std::string status;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  /// When its timer is due (a send's timeout or a backoff), if it has one.
  std::optional<int64_t> due_ms;
  /// What it started with.
  boost::json::value data;
  /// Its state machine's state (status, each step's sends and result).
  boost::json::value instance;
  /// The definition it runs, in the config form.
  boost::json::value steps_definition;
};

/// The sagas of `actor`, most recently changed first; `status` empty for
/// all. Without `data`, `instance` and `steps_definition`.
caf::expected<std::vector<saga_record>> list_sagas(const saga_sql_reader& read,
                                                   const std::string& actor,
                                                   const std::string& status,
                                                   int64_t limit);

/// One saga of `actor`, whole; nullopt when there is none.
caf::expected<std::optional<saga_record>> find_saga(const saga_sql_reader& read,
                                                    const std::string& actor,
                                                    const std::string& saga_id);

/// A saga as `saga.get` and `warren saga show` give it: {"saga_id",
/// "definition", "status", "error", "created_ms", "updated_ms", "due_ms",
/// "data", "steps": [{"id", "status", "sends", "compensation_sends",
/// "started_ms", "ended_ms", "error", "result"}]}.
boost::json::object describe_saga(const saga_record& record);

} // namespace warren::actors
