#include "dispatch/batch_settlement.hpp"

#include "warren/core/errc.hpp"

namespace warren::detail {

whole_batches::~whole_batches() = default;

batch_settlement::batch_settlement(bridges::consumer_host& host, settle_fn done,
                                   metrics::batch_metrics& metrics,
                                   std::size_t parts)
  : host_(host), done_(std::move(done)), metrics_(metrics), waiting_(parts) {}

void batch_settlement::entry_settled(bridges::settlement s) {
  metrics_.entries.inc();
  if (s.what != bridges::settlement::action::ack || !s.duplicate)
    all_duplicates_ = false;
  if (s.duplicate)
    metrics_.duplicates.inc();
  if (s.what != bridges::settlement::action::ack && reason_.empty()) {
    reason_ = s.reason;
    code_ = s.code;
  }
  if (s.what == bridges::settlement::action::requeue) {
    requeue_ = true;
  } else if (s.what == bridges::settlement::action::move) {
    if (s.dead_letter)
      metrics_.dead_lettered.of(s.code).inc();
    else
      metrics_.retried.inc();
    copies_.push_back(std::move(s.copy));
  }
  part_done(s.next);
}

void batch_settlement::group_done(std::size_t applied, std::size_t duplicates,
                                  outcome::lifecycle next) {
  metrics_.entries.inc(static_cast<double>(applied + duplicates));
  if (duplicates > 0)
    metrics_.duplicates.inc(static_cast<double>(duplicates));
  if (applied > 0)
    all_duplicates_ = false;
  part_done(next);
}

void batch_settlement::group_requeued(std::string reason, errc code,
                                      outcome::lifecycle next) {
  requeue_ = true;
  all_duplicates_ = false;
  if (reason_.empty()) {
    reason_ = std::move(reason);
    code_ = code;
  }
  part_done(next);
}

void batch_settlement::part_done(outcome::lifecycle next) {
  // The first part that ends the actor says how.
  if (next != outcome::lifecycle::carry_on &&
      next_ == outcome::lifecycle::carry_on)
    next_ = next;
  if (--waiting_ == 0)
    finish();
}

void batch_settlement::finish() {
  bridges::settlement result;
  result.next = next_;
  result.reason = reason_;
  result.code = code_;
  if (requeue_) {
    result.what = bridges::settlement::action::requeue;
    done_(std::move(result));
    return;
  }
  if (copies_.empty()) {
    result.duplicate = all_duplicates_;
    done_(std::move(result));
    return;
  }
  // Ack once every copy is confirmed; if one is not, the batch comes back
  // (its other copies are then sent again, with the same ids).
  auto pending = std::make_shared<std::size_t>(copies_.size());
  auto failed = std::make_shared<caf::error>();
  auto copies = std::move(copies_);
  auto done = std::move(done_);
  for (auto& copy : copies)
    host_.publish(std::move(*copy), [done, pending, failed,
                                     result](const caf::error& err) mutable {
      if (err && !*failed)
        *failed = err;
      if (--*pending > 0)
        return;
      if (*failed) {
        result.what = bridges::settlement::action::requeue;
        result.reason =
          "a copy of a batch entry was not confirmed: " + describe(*failed);
      }
      done(std::move(result));
    });
}

} // namespace warren::detail
