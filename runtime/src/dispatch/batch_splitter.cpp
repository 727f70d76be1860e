#include "dispatch/batch_splitter.hpp"

#include "dispatch/settle.hpp"
#include "warren/core/batch.hpp"
#include "warren/core/log.hpp"

namespace warren::detail {

namespace {

using settle_fn = std::function<void(bridges::settlement)>;

// What the entries of one batch came to, until the last is settled.
struct batch_state {
  std::size_t waiting = 0;
  bool requeue = false;
  bool all_duplicates = true;
  outcome::lifecycle next = outcome::lifecycle::carry_on;
  // The first failure, for the log and the metrics' reason.
  std::string reason;
  errc code = errc::none;
  std::vector<std::shared_ptr<outgoing_message>> copies;
  settle_fn done;
};

class batch_splitter : public bridges::delivery_handler {
 public:
  batch_splitter(std::shared_ptr<bridges::delivery_handler> inner,
                 admission_rules rules, std::string actor_name,
                 std::string node_name, metrics::batch_metrics metrics)
    : inner_(std::move(inner)), rules_(rules),
      actor_name_(std::move(actor_name)), node_name_(std::move(node_name)),
      metrics_(std::move(metrics)) {}

  caf::error start(bridges::consumer_host& host) override {
    return inner_->start(host);
  }

  void idle(bridges::consumer_host& host) override { inner_->idle(host); }

  void acked(uint64_t generation, uint64_t tag, bool multiple) override {
    inner_->acked(generation, tag, multiple);
  }

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              settle_fn done) override {
    if (!is_batch(msg->properties)) {
      inner_->handle(host, std::move(msg), std::move(done));
      return;
    }
    if (auto rejected = admit(*msg, rules_)) {
      done(to_settlement(*rejected, *msg, actor_name_, node_name_));
      return;
    }
    auto entries = split_batch(*msg);
    if (!entries) {
      done(to_settlement(
        outcome::reject(errc::validation_failed, describe(entries.error())),
        *msg, actor_name_, node_name_));
      return;
    }
    metrics_.batches.inc();
    if (entries->empty()) {
      done(bridges::settlement::ack());
      return;
    }
    auto state = std::make_shared<batch_state>();
    state->waiting = entries->size();
    state->done = std::move(done);
    for (auto& entry : *entries) {
      inner_->handle(host, std::move(entry),
                     [this, state, &host](bridges::settlement s) {
                       settled(host, state, std::move(s));
                     });
    }
  }

 private:
  void settled(bridges::consumer_host& host,
               const std::shared_ptr<batch_state>& state,
               bridges::settlement s) {
    metrics_.entries.inc();
    if (s.next != outcome::lifecycle::carry_on &&
        state->next == outcome::lifecycle::carry_on)
      state->next = s.next;
    if (s.what != bridges::settlement::action::ack || !s.duplicate)
      state->all_duplicates = false;
    if (s.duplicate)
      metrics_.duplicates.inc();
    if (s.what != bridges::settlement::action::ack && state->reason.empty()) {
      state->reason = s.reason;
      state->code = s.code;
    }
    if (s.what == bridges::settlement::action::requeue) {
      state->requeue = true;
    } else if (s.what == bridges::settlement::action::move) {
      if (s.dead_letter)
        metrics_.dead_lettered.of(s.code).inc();
      else
        metrics_.retried.inc();
      state->copies.push_back(std::move(s.copy));
    }
    if (--state->waiting == 0)
      finish(host, state);
  }

  void finish(bridges::consumer_host& host,
              const std::shared_ptr<batch_state>& state) {
    bridges::settlement result;
    result.next = state->next;
    result.reason = state->reason;
    result.code = state->code;
    if (state->requeue) {
      result.what = bridges::settlement::action::requeue;
      state->done(std::move(result));
      return;
    }
    if (state->copies.empty()) {
      result.duplicate = state->all_duplicates;
      state->done(std::move(result));
      return;
    }
    // Ack once every copy is confirmed; if one is not, the batch comes back
    // (its other copies are then sent again, with the same ids).
    auto pending = std::make_shared<std::size_t>(state->copies.size());
    auto failed = std::make_shared<caf::error>();
    auto copies = std::move(state->copies);
    for (auto& copy : copies)
      host.publish(std::move(*copy), [state, pending, failed,
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
        state->done(std::move(result));
      });
  }

  std::shared_ptr<bridges::delivery_handler> inner_;
  admission_rules rules_;
  std::string actor_name_;
  std::string node_name_;
  metrics::batch_metrics metrics_;
};

} // namespace

std::shared_ptr<bridges::delivery_handler>
split_batches(std::shared_ptr<bridges::delivery_handler> inner,
              admission_rules rules, std::string actor_name,
              std::string node_name, metrics::batch_metrics metrics) {
  return std::make_shared<batch_splitter>(
    std::move(inner), rules, std::move(actor_name), std::move(node_name),
    std::move(metrics));
}

} // namespace warren::detail
