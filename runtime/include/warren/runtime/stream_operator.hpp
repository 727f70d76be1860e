#pragma once

/// Stream operators: stateful kinds that keep their state in memory, in a
/// shape of their own (a window aggregator's slices and watermark), and
/// persist it as named rows they write themselves, in the same unit of work
/// as the inbox and the outbox.
///
/// Where a `stateful_actor` hands each handler a copy of one key's state as
/// JSON and writes back what changed (simple, and right for accounts and
/// counters), an operator changes its memory in place and says what to write
/// once per commit (`checkpoint`): a window appends one row holding the
/// events a batch accepted and rewrites a small row with its watermark,
/// rather than rewriting every window an event touched. The runtime
/// guarantees the same as for stateful actors:
///
/// - a message's effects on memory, its inbox record, the rows
///   `checkpoint` writes and everything sent (with stable ids) commit in one
///   SQLite transaction, and the delivery is acked only after it commits; a
///   redelivered message whose id is in the inbox is acked unapplied;
/// - at start and at every restart, `restore` gets the rows as last
///   committed: memory is rebuilt from them, never from anything later;
/// - processing-time work (`tick`) commits in a unit of its own.
///
/// What the operator promises in return: `apply` either succeeds or leaves
/// memory as it was (check the message first, then change memory), and
/// `checkpoint` writes every change since the last call. If a commit fails
/// it is retried with the same rows; if the instance ends before it
/// succeeds, the next instance restores the last committed rows and the
/// uncommitted messages come back from the broker.
///
/// Like every stateful kind, an operator runs as one instance per node.
/// Register it with `add_kind<T>` (it is a `stateful_base`).

#include "warren/runtime/stateful.hpp"
#include "warren/runtime/store/sql.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace warren {

/// The rows an operator changes in the unit of work being built.
class operator_rows {
 public:
  virtual ~operator_rows();

  /// Row `name` becomes `data` (any bytes).
  virtual void put(std::string name, std::string data) = 0;

  /// Row `name` is deleted.
  virtual void erase(std::string name) = 0;

  /// Statements on the operator's own tables, run in the unit's
  /// transaction after its rows (warren/runtime/store/sql.hpp: strict or
  /// tolerant groups).
  virtual void execute(sql_group group) = 0;
};

/// The node's SQLite file as an operator reads it: what was committed (its
/// own unit being built is not there yet). Valid for the instance's life,
/// on its consumer's thread.
class operator_store {
 public:
  virtual ~operator_store();

  /// A read-only statement (one that would write is refused), prepared once
  /// per text.
  virtual caf::error query(const std::string& sql,
                           const std::vector<sql_value>& params,
                           const sql_row_handler& on_row) = 0;

  /// Only in `open`: a statement in a transaction of its own, for the
  /// tables the kind owns (`CREATE TABLE IF NOT EXISTS <kind>_...`).
  virtual caf::error setup(const std::string& sql,
                           const std::vector<sql_value>& params = {}) = 0;
};

/// What processing-time work (`tick`) sends. Nothing caused it, so every
/// message needs an id of its own that is as stable as its content (a
/// window's key, bounds and revision): `publish_options::message_id`.
class operator_output {
 public:
  virtual ~operator_output();

  virtual void publish_json(const std::string& exchange,
                            const std::string& routing_key, std::string type,
                            boost::json::value body, publish_options opts) = 0;
};

/// The rows of an operator as last committed, in name order.
using operator_row_set = std::vector<std::pair<std::string, std::string>>;

class stream_operator : public stateful_base {
 public:
  using stateful_base::stateful_base;

  /// Before `restore`: the store, to create the kind's own tables and to
  /// keep for queries (`apply` may read through it). An error fails the
  /// instance's start. Default: nothing.
  virtual caf::error open(operator_store& store);

  /// Rebuilds memory from the rows as last committed (none at the first
  /// start). An error fails the instance's start (its supervisor decides).
  virtual caf::error restore(operator_row_set rows) = 0;

  /// Applies one message (not a duplicate: the runtime checked). Sends
  /// through `ctx` as any handler does. A failure must leave memory as it
  /// was: the message goes through the retry policy.
  virtual status apply(context& ctx, const envelope& msg) = 0;

  /// Writes the rows changed since the last call into `rows`; called once
  /// before each commit.
  virtual void checkpoint(operator_rows& rows) = 0;

  /// After each successful commit (never after a failed one): what was
  /// staged is in the file now; `skipped` are the tolerant groups it left
  /// out. Default: nothing.
  virtual void committed(const std::vector<skipped_group>& skipped);

  /// How often `tick` runs; zero (the default) means never.
  virtual std::chrono::milliseconds tick_interval() const { return {}; }

  /// Processing-time work, on the consumer's thread between messages
  /// (closing windows of an input gone quiet). What it sends and the rows
  /// it changes commit in a unit of work of their own.
  virtual void tick(operator_output& out, int64_t now_ms);

  /// Whether `msg` is a query: `apply` only reads and replies. A query is
  /// answered at once, without an inbox record, an outbox row or a commit
  /// (its reply is published directly, with a confirm when the request is
  /// persistent), and it is taken even while the operator is not accepting.
  /// It must change neither memory nor rows (a redelivery runs it again),
  /// and what it reads from memory may include messages not yet committed
  /// (read through `operator_store` for committed data only). Default: none.
  virtual bool is_query(const envelope& msg) const;

  /// Whether to take more deliveries (bounded memory). While false, new
  /// deliveries wait unapplied in the consumer (prefetch bounds them, so the
  /// broker stops delivering and the backlog stays there) and are tried
  /// again after each tick. Default true.
  virtual bool accepting() const { return true; }

 private:
  // An operator applies whole messages.
  void setup_json_state(json_state_handlers& on) final;
  boost::json::value initial_state() const final;
};

} // namespace warren
