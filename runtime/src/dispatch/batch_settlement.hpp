#pragma once

// Private to warren::runtime: how a batched envelope (warren/core/batch.hpp)
// is settled once every part of it is. A part is one entry handled as a
// message of its own, or a group of entries a dispatcher applied together
// (`whole_batches`). The batch then is:
//
//   every part done (or already applied)    ack
//   some entries parked or dead-lettered    their copies are published with
//                                           confirms, then ack (requeue if a
//                                           copy cannot be confirmed)
//   a part given back (requeue)             requeue the whole batch (its
//                                           applied entries are duplicates
//                                           when it comes back; no copy is
//                                           published)

#include "warren/bridges/consumer.hpp"
#include "warren/core/batch.hpp"
#include "warren/metrics/sets.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace warren::detail {

class batch_settlement {
 public:
  using settle_fn = std::function<void(bridges::settlement)>;

  /// `metrics` outlives the settlement (the batch splitter's).
  batch_settlement(bridges::consumer_host& host, settle_fn done,
                   metrics::batch_metrics& metrics, std::size_t parts);

  /// One more part to wait for (before the last one awaited settles).
  void expect_part() { ++waiting_; }

  /// One entry settled as a message of its own.
  void entry_settled(bridges::settlement s);

  /// A group of entries was applied together: `applied` of them applied,
  /// `duplicates` found already applied; all acked with the batch. `next`:
  /// whether the actor goes on after them.
  void group_done(std::size_t applied, std::size_t duplicates,
                  outcome::lifecycle next);

  /// A group of entries cannot be applied now: the batch is requeued.
  void group_requeued(std::string reason, errc code, outcome::lifecycle next);

 private:
  void part_done(outcome::lifecycle next);
  void finish();

  bridges::consumer_host& host_;
  settle_fn done_;
  metrics::batch_metrics& metrics_;
  std::size_t waiting_;
  bool requeue_ = false;
  bool all_duplicates_ = true;
  outcome::lifecycle next_ = outcome::lifecycle::carry_on;
  // The first failure, for the log and the metrics' reason.
  std::string reason_;
  errc code_ = errc::none;
  std::vector<std::shared_ptr<outgoing_message>> copies_;
};

/// A dispatcher that can apply the entries of a batch in one pass (a stream
/// operator: no envelope, scope or inbox record per entry). The batch
/// splitter offers it each batch before splitting it.
class whole_batches {
 public:
  virtual ~whole_batches();

  /// Whether it takes `batch` (admitted; `entries` read from its body)
  /// whole. If not, the splitter hands the entries over one by one.
  virtual bool takes_whole(const envelope& batch,
                           const std::vector<batch_entry_ref>& entries) = 0;

  /// Takes `batch` whole, settling its parts through `settle` (which
  /// expects one part to begin with).
  virtual void take_batch(bridges::consumer_host& host,
                          const bridges::delivery& batch,
                          const std::vector<batch_entry_ref>& entries,
                          std::shared_ptr<batch_settlement> settle) = 0;
};

} // namespace warren::detail
