#pragma once

// Private to warren::bridges: the unacked deliveries of one consume channel,
// in delivery order, and which of them may be acked (pure bookkeeping, no
// I/O).
//
// Deliveries settle in any order; acks go out as one multiple-ack for the
// longest prefix of settled deliveries, so a slow one holds back the acks
// (not the handling) of those after it. A delivery that was requeued
// (nacked) needs no ack but still counts as settled in the prefix.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace warren::bridges::detail {

class ack_ledger {
 public:
  enum class state : uint8_t {
    /// Handed to the handler, not answered yet.
    working,
    /// Done: to be acked.
    ack_due,
    /// Nacked (requeued): needs no ack.
    settled,
  };

  /// A new delivery, working. Tags increase on a channel.
  void add(uint64_t tag);

  /// Moves working delivery `tag` to `st`. Returns false when `tag` is not
  /// in the ledger or no longer working.
  bool settle(uint64_t tag, state st);

  /// Whether `tag` is in the ledger and working.
  bool is_working(uint64_t tag) const;

  /// Whether any delivery is working.
  bool any_working() const;

  /// How many deliveries are working (counted: for a handover's rare
  /// checks, not per delivery).
  std::size_t working() const;

  /// The settled prefix: its length, how many of it are due an ack, and the
  /// tag of the last due one (0 when none): one multiple-ack up to that tag
  /// acks exactly the due ones (the settled ones were nacked already).
  struct prefix {
    std::size_t length = 0;
    std::size_t due = 0;
    uint64_t last_due = 0;
  };
  const prefix& settled_prefix() const noexcept { return prefix_; }

  /// Forgets the first `n` deliveries (acked, or settled).
  void drop_front(std::size_t n);

  /// Every delivery due an ack, in order, also behind working ones (to ack
  /// one by one when the channel is about to close).
  std::vector<uint64_t> all_due() const;

  std::size_t size() const noexcept { return slots_.size(); }
  bool empty() const noexcept { return slots_.empty(); }
  void clear() noexcept;

 private:
  struct slot {
    uint64_t tag;
    state st;
  };

  /// The index of `tag`, or size() when it is not in the ledger.
  std::size_t index_of(uint64_t tag) const;
  /// Computes the settled prefix from the front (after a drop).
  void recount();
  /// Extends the settled prefix over the settled deliveries that follow it.
  void extend_prefix();

  std::deque<slot> slots_;
  prefix prefix_;
};

} // namespace warren::bridges::detail
