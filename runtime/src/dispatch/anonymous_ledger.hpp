#pragma once

// Private to warren::runtime: the id-less messages a stateful actor applied
// whose ack has not been written yet, so that the broker's redelivery of one
// of them is recognised and not applied again (pure bookkeeping, no I/O;
// the rule is README.md's "Message identity").
//
// An applied id-less message is remembered by its content key
// (`content_key`) and the delivery that carries it (channel generation and
// tag); the store keeps the same entries, written in the transaction of the
// state change, for a node that dies before the ack. A delivery repeats an
// entry only when
//   - the broker marks it redelivered (a first delivery was never handed out
//     before, so it repeats nothing), and
//   - the entry is released: its delivery belongs to an earlier channel
//     generation or an earlier run of the node, so the broker has taken it
//     back (a delivery this channel still holds cannot come again).
// The repeat is acked without running the handler, and the entry moves to
// it: it is forgotten once an ack for it is written. Two deliveries with
// the same content consume two entries; a third is applied. Released
// entries nothing repeats within `window` are forgotten (the broker gives a
// dead connection's deliveries back within two heartbeat intervals).

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warren::detail {

class anonymous_ledger {
 public:
  using clock = std::chrono::steady_clock;

  /// `max_entries` bounds the released entries kept: past it the oldest are
  /// forgotten first (a redelivery of theirs would be applied again).
  anonymous_ledger(std::chrono::milliseconds window, std::size_t max_entries);

  /// An id-less message was applied: `id` is the id warren gave it.
  void applied(std::string id, std::string key, uint64_t generation,
               uint64_t tag);

  /// Entries of an earlier run (id, content key), released at `now`.
  void restore(std::vector<std::pair<std::string, std::string>> entries,
               clock::time_point now);

  /// A delivery of channel generation `generation` arrived: the entries of
  /// earlier generations are released.
  void seen(uint64_t generation, clock::time_point now);

  /// Whether a redelivered id-less delivery with content `key` repeats a
  /// released entry; if so, the oldest such entry moves to it.
  bool repeats(const std::string& key, uint64_t generation, uint64_t tag);

  /// Acks were written (see `delivery_handler::acked`): the entries they
  /// cover are forgotten; their ids are appended to `forgotten`.
  void acked(uint64_t generation, uint64_t tag, bool multiple,
             std::vector<std::string>& forgotten);

  /// Forgets the released entries older than the window, and the oldest
  /// released ones past `max_entries`; appends their ids to `forgotten`.
  void expire(clock::time_point now, std::vector<std::string>& forgotten);

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

 private:
  struct entry {
    std::string id;
    std::string key;
    uint64_t generation;
    uint64_t tag;
    std::optional<clock::time_point> released;
  };

  template<class Pred>
  void forget_if(Pred pred, std::vector<std::string>& forgotten);

  std::chrono::milliseconds window_;
  std::size_t max_entries_;
  uint64_t generation_ = 0;
  std::deque<entry> entries_;
};

} // namespace warren::detail
