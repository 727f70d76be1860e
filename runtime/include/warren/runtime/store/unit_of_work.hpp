#pragma once

/// One unit of work of a stateful kind: everything a batch of messages
/// changed, committed by the checkpoint store in one transaction, all or
/// nothing:
///
///   inbox    the ids of the messages applied (a redelivery of one of them
///            is then dropped: effectively once); for id-less messages, the
///            id warren gave each and its content key until its ack is
///            written (README.md, "Message identity");
///   states   the state of each key changed (stateful actors), addressed
///            by (actor, key), so a key's state can later move between
///            nodes without the kinds knowing;
///   rows     the rows of stream operators (windows: their event log and
///            their watermark; later saga logs and timers): named blobs
///            the kind writes and reads back itself;
///   sql      statements of stream operators on tables of their own (an
///            event store's events, a projection's read model), in groups
///            (warren/runtime/store/sql.hpp);
///   outbox   what the messages sent, published after the commit by the
///            outbox relay (stable ids: a message applied again after a crash
///            sends the same ids);
///   relayed  outbox rows the broker confirmed, deleted in the same
///            transaction.
///
/// Group commit: many messages share one unit, one transaction and one
/// multiple-ack.

#include "warren/core/envelope.hpp"
#include "warren/runtime/store/sql.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace warren::runtime {

/// The state of one key of one actor.
struct stored_state {
  std::string key;
  /// Incremented by every committed change.
  int64_t version = 0;
  /// JSON text.
  std::string state;
};

/// A change to one row of a stream operator (`operator_rows`).
struct row_change {
  std::string name;
  /// The row's bytes (unused when erasing).
  std::string data;
  bool erase = false;
};

/// A message waiting in the outbox.
struct outbox_row {
  /// Assigned by the store on commit.
  int64_t id = 0;
  std::string actor;
  outgoing_message message;
  /// Set when the row cannot be decoded (a damaged file, or a row written
  /// by a faulty build): why. `message.body` then holds the row's text as
  /// stored; the outbox relay dead-letters it instead of publishing it.
  std::string damaged;
};

class unit_of_work {
 public:
  explicit unit_of_work(std::string actor = {});

  const std::string& actor() const noexcept { return actor_; }

  /// Message `message_id` was applied: its id joins the inbox. Returns false
  /// when it already is in this unit (a copy within one batch).
  bool applied(const std::string& message_id);

  /// An id-less message was applied: `id` is the id warren gave it, `key`
  /// its content key. Counts as a message of this unit.
  void applied_anonymous(std::string id, std::string key);

  /// Id-less messages whose ack was written: forgotten with this unit.
  void forget_anonymous(std::vector<std::string> ids);

  /// Whether message `message_id` was applied in this unit.
  bool contains(const std::string& message_id) const;

  /// The new state of a key (its version already incremented).
  void put_state(stored_state row);

  /// Row `name` of this actor (a stream operator's) becomes `data`.
  void put_row(std::string name, std::string data);

  /// Row `name` of this actor is deleted.
  void erase_row(std::string name);

  /// Statements to run in this unit's transaction, after the rows.
  void execute(sql_group group);

  /// A message to send once committed.
  void send(outgoing_message msg);

  /// Outbox rows the broker confirmed: deleted with this unit.
  void relayed(std::vector<int64_t> rows);

  /// Messages applied in this unit.
  std::size_t messages() const noexcept {
    return inbox_.size() + anonymous_.size();
  }

  bool empty() const noexcept {
    return messages() == 0 && states_.empty() && rows_.empty() &&
           groups_.empty() && outbox_.empty() && relayed_.empty() &&
           forgotten_.empty();
  }

  /// After a commit: the outbox rows with the ids the store gave them.
  std::vector<outbox_row> take_outbox();

  /// After a failed commit: the confirmed rows given back (to try again),
  /// and the states dropped (written again at the next attempt).
  std::vector<int64_t> take_relayed();
  std::vector<std::string> take_forgotten_anonymous();
  void clear_states() noexcept { states_.clear(); }

  /// Starts over (after a commit).
  void clear();

  // What the store writes.
  const std::deque<std::string>& inbox() const noexcept { return inbox_; }
  const std::vector<stored_state>& states() const noexcept { return states_; }
  /// In the order made (a put then an erase of one row erases it).
  const std::vector<row_change>& rows() const noexcept { return rows_; }
  const std::vector<sql_group>& groups() const noexcept { return groups_; }
  /// The tolerant groups the last commit left out (set by the store).
  std::vector<skipped_group>& skipped() noexcept { return skipped_; }
  std::vector<outbox_row>& outbox() noexcept { return outbox_; }
  const std::vector<int64_t>& relayed_rows() const noexcept { return relayed_; }
  const std::vector<std::pair<std::string, std::string>>&
  anonymous() const noexcept {
    return anonymous_;
  }
  const std::vector<std::string>& forgotten_anonymous() const noexcept {
    return forgotten_;
  }

 private:
  std::string actor_;
  // A deque: the ids' addresses stay put, so the set can point into them.
  std::deque<std::string> inbox_;
  std::unordered_set<std::string_view> ids_;
  std::vector<stored_state> states_;
  std::vector<row_change> rows_;
  std::vector<sql_group> groups_;
  std::vector<skipped_group> skipped_;
  std::vector<outbox_row> outbox_;
  std::vector<int64_t> relayed_;
  std::vector<std::pair<std::string, std::string>> anonymous_;
  std::vector<std::string> forgotten_;
};

} // namespace warren::runtime
