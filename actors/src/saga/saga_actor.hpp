#pragma once

// Private to warren::actors: the `saga` kind, a stream operator
// (warren/runtime/stream_operator.hpp) that runs sagas: sequences of steps,
// each a command to an actor, undone by compensations in reverse order
// when a step fails for good. The decisions are the pure state machine's
// (saga/saga_machine.hpp); this actor feeds it and carries out what it
// decides, in the store's unit of work:
//
// - each saga is a row of `warren_sagas` (saga/saga_sql.hpp), written in
//   the same transaction as the inbox record of the message that changed
//   it and the commands and events it sent (outbox), so every command
//   leaves exactly once per decision and every reply is applied once;
// - commands go to `warren.actors` with the send's id as message id and
//   correlation id, `reply_to` this actor's queue, and headers
//   x-warren-saga-id, x-warren-saga-step and x-warren-saga-key (the same
//   for every send of a step's action, or of its compensation: what a
//   participant de-duplicates on). A reply is matched by its correlation
//   id; a `warren.error` reply or a body {"success": false, ...} is a
//   failure (its code decides whether it is retried);
// - the one timer each saga has (a send's timeout, a backoff) is the
//   row's `due_ms`, held in memory ordered by due time and fired by ticks
//   in units of their own: after a restart every due timer fires on the
//   first tick, late but never lost; a timer the saga no longer has (the
//   step completed in the meantime) is never acted on.
//
// Requests (to the actor by name):
//   saga.start {"saga": <definition name>, "saga_id"?, "data"?}
//   execute_saga (the seed's format: see saga/saga_definition.hpp), as the
//     AMQP type or as the body's "type"
//     -> saga.accepted {"saga_id", "status", "existing"} (to reply_to, if
//        any). A start for a saga id that exists starts nothing.
//   saga.resume {"saga_id"}, saga.abort {"saga_id", "reason"?}
//     -> saga.status {"saga_id", "status"}, or warren.error not_found,
//        not_stuck, not_abortable
//   saga.get {"saga_id"} -> saga.status (describe_saga), or not_found
//   saga.list {"status"?, "limit"?} -> saga.list {"sagas": [...]}
// The last two are queries: answered at once from what is committed.

#include "saga/saga_machine.hpp"
#include "warren/metrics/cells.hpp"
#include "warren/runtime/stream_operator.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace warren::config {
class object_reader;
}

namespace warren::actors {

/// A definition as sagas refer to it: stored once per content.
struct stored_definition {
  saga_definition definition;
  /// content_hash of `json`.
  std::string hash;
  std::string json;
};

struct saga_settings {
  std::map<std::string, std::shared_ptr<const stored_definition>> definitions;
  /// The seed's execute_saga: the actor of each action and compensation
  /// name.
  std::map<std::string, std::string> routes;
  /// Where lifecycle events go; empty: not published.
  std::string lifecycle_exchange;
  /// The events published (by name); empty: every one.
  std::set<std::string> lifecycle_events;
  /// Finished sagas are deleted from the file this long after they ended.
  int64_t keep_finished_ms = 7LL * 24 * 3600 * 1000;
  /// Sagas not ended, at most; a start beyond fails and is retried later.
  std::size_t max_active = 100000;
  int64_t timer_resolution_ms = 50;
  /// Timers fired by one tick, at most (one unit of work).
  std::size_t max_fires_per_tick = 5000;
  /// A step's result kept in the saga, at most (bytes of JSON); a larger
  /// one is kept as {"truncated": true, "bytes": n}.
  std::size_t max_result_bytes = 65536;
};

class saga_actor : public stream_operator {
 public:
  /// `code`: definitions written in C++ (warren/actors/saga.hpp), besides
  /// the config's.
  explicit saga_actor(const actor_init& init,
                      const std::vector<saga_definition>& code = {});
  ~saga_actor() override;

  static void check_options(config::object_reader& options);

  bool replies_with_errors() const override { return true; }

  /// The saga a message is about (its saga_id, the message id of a
  /// saga.start without one, or the saga of the command a reply answers):
  /// a sharded saga actor gets every message of one saga on one shard.
  caf::expected<std::string> key_of(const envelope& msg) const override;
  caf::error open(operator_store& store) override;
  caf::error restore(operator_row_set rows) override;
  status apply(context& ctx, const envelope& msg) override;
  void checkpoint(operator_rows& rows) override;
  void committed(const std::vector<skipped_group>& skipped) override;
  std::chrono::milliseconds tick_interval() const override;
  void tick(operator_output& out, int64_t now_ms) override;
  bool is_query(const envelope& msg) const override;

 private:
  struct saga;
  class publisher;
  struct metric_set;

  status start(context& ctx, const envelope& msg,
               std::shared_ptr<const stored_definition> def,
               std::string saga_id, boost::json::value data);
  status start_named(context& ctx, const envelope& msg);
  status start_seed(context& ctx, const envelope& msg);
  status reply(context& ctx, const envelope& msg);
  status control(context& ctx, const envelope& msg, bool resume);
  status get(context& ctx, const envelope& msg);
  status list(context& ctx, const envelope& msg);
  // Carries out a decision on `s`: commands, events, the timer, the row.
  void carry_out(publisher& out, const std::shared_ptr<saga>& s,
                 const saga_effects& effects, saga_status before,
                 int64_t now_ms);
  void sync_timer(saga& s);
  // Decodes a restored saga's state if not yet; false (logged) when it
  // cannot be read.
  bool decoded(saga& s);
  // The status of a saga that exists (in memory, or in the file), or
  // empty.
  caf::expected<std::string> existing_status(const std::string& saga_id);
  // The one copy of `def` (by content), to be written to the file if it
  // is not there.
  std::shared_ptr<const stored_definition>
  remember(std::shared_ptr<const stored_definition> def);
  void count_status(saga_status status, int delta);

  saga_settings settings_;
  std::unique_ptr<metric_set> metrics_;
  operator_store* store_ = nullptr;
  // Sagas not ended, by id.
  std::unordered_map<std::string, std::shared_ptr<saga>> active_;
  // Their timers: (due, saga id).
  std::set<std::pair<int64_t, std::string>> timers_;
  // Definitions by hash: those of the config, and those active sagas use.
  std::unordered_map<std::string, std::shared_ptr<const stored_definition>>
    by_hash_;
  // Written to the file (or staged to be).
  std::unordered_set<std::string> stored_hashes_;
  // Changed since the last checkpoint.
  std::unordered_map<std::string, std::shared_ptr<saga>> dirty_;
  std::vector<std::shared_ptr<const stored_definition>> new_definitions_;
  // Ended, and not yet known to be committed: a start for one of them must
  // not start it again.
  std::unordered_map<std::string, std::string> ended_unconfirmed_;
  std::unordered_map<std::string, std::string> ended_staged_;
  sql_group pending_;
  int64_t next_prune_ms_ = 0;
  std::map<saga_status, int64_t> counts_;
};

} // namespace warren::actors
