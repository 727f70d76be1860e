#pragma once

// Private to warren::runtime: the outbox relay of one stateful actor
// instance. It publishes the outbox rows its units of work committed, with
// confirms, in commit order, and remembers the confirmed ones so the next
// unit of work deletes them (a crash between confirm and delete only
// publishes a row again, under its stable id: downstream inboxes drop it).
//
// At start it is given the rows an earlier instance committed and did not
// see confirmed; they go out before anything new.
//
// A row the broker will not take (returned because no queue took it,
// refused because its exchange does not exist or access is denied) is not
// published again and again: it goes to the actor's dead-letter queue, with
// the reason, through the one dead-letter builder, and leaves the outbox
// once that copy is confirmed. A row whose publish was lost with the
// connection, or that the broker nacked (it could not take it for now: a
// quorum queue without a leader while a broker is down, a full queue that
// rejects publishes), goes out again at the next `relay`: at least once,
// the outbox's bound holding new work back meanwhile.
//
// Bound: at most `max_unconfirmed` rows are committed and not yet
// confirmed; past it `full()` says so, and the actor's dispatcher lets new
// batches wait to commit (their deliveries stay unacked in the broker,
// bounded by the prefetch).

#include "warren/runtime/store/unit_of_work.hpp"

#include <caf/error.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace warren::detail {

class outbox_relay {
 public:
  using confirm_callback = std::function<void(const caf::error&)>;
  /// How the relay publishes: with a confirm, answered in `confirmed`.
  using publisher =
    std::function<void(const outgoing_message&, confirm_callback)>;

  /// `actor`, `node` and `queue` (the actor's queue, whose dead-letter queue
  /// takes the rows the broker refuses) name the dead letters.
  outbox_relay(std::string actor, std::string node, std::string queue,
               std::size_t max_unconfirmed = 10000);

  /// Rows committed by an earlier instance: they go out first.
  void restore(std::vector<runtime::outbox_row> rows);

  /// Rows just committed.
  void committed(std::vector<runtime::outbox_row> rows);

  /// Publishes every row waiting to go out (new ones, and ones whose publish
  /// was lost with the connection).
  void relay(const publisher& publish);

  /// The confirmed rows, to delete in the next unit of work.
  std::vector<int64_t> take_confirmed();

  bool has_confirmed() const noexcept { return !confirmed_.empty(); }

  /// Confirmed rows taken for a unit of work that failed to commit: still
  /// to delete.
  void keep_confirmed(std::vector<int64_t> rows);

  /// Committed rows not yet confirmed reached the bound.
  bool full() const noexcept { return unconfirmed_.size() >= max_unconfirmed_; }

  std::size_t unconfirmed() const noexcept { return unconfirmed_.size(); }

  /// Rows moved to the dead-letter queue so far.
  uint64_t dead_lettered() const noexcept { return dead_lettered_; }

 private:
  void on_confirm(int64_t row, const caf::error& err);

  std::string actor_;
  std::string node_;
  std::string queue_;
  std::size_t max_unconfirmed_;
  // Committed rows not yet confirmed, by row id (what is published: the
  // row's message, or its dead-letter copy), and those of them to publish
  // (again); the others are out, awaiting their confirm.
  std::map<int64_t, outgoing_message> unconfirmed_;
  std::vector<int64_t> to_publish_;
  std::vector<int64_t> confirmed_;
  uint64_t dead_lettered_ = 0;
};

} // namespace warren::detail
