#include "dispatch/batch_splitter.hpp"

#include "dispatch/batch_settlement.hpp"
#include "dispatch/settle.hpp"
#include "warren/core/batch.hpp"
#include "warren/core/log.hpp"

namespace warren::detail {

namespace {

using settle_fn = std::function<void(bridges::settlement)>;

class batch_splitter : public bridges::delivery_handler {
 public:
  batch_splitter(std::shared_ptr<bridges::delivery_handler> inner,
                 admission_rules rules, std::string actor_name,
                 std::string node_name, metrics::batch_metrics metrics)
    : inner_(std::move(inner)), rules_(rules),
      actor_name_(std::move(actor_name)), node_name_(std::move(node_name)),
      metrics_(std::move(metrics)),
      whole_(dynamic_cast<whole_batches*>(inner_.get())) {}

  caf::error start(bridges::consumer_host& host) override {
    return inner_->start(host);
  }

  void idle(bridges::consumer_host& host) override { inner_->idle(host); }

  void acked(uint64_t generation, uint64_t tag, bool multiple) override {
    inner_->acked(generation, tag, multiple);
  }

  void connection_lost(bridges::consumer_host& host) override {
    inner_->connection_lost(host);
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
    auto entries = read_batch(*msg);
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
    if (whole_ != nullptr && whole_->takes_whole(*msg, *entries)) {
      whole_->take_batch(
        host, msg, *entries,
        std::make_shared<batch_settlement>(host, std::move(done), metrics_, 1));
      return;
    }
    auto settle = std::make_shared<batch_settlement>(host, std::move(done),
                                                     metrics_, entries->size());
    auto shared = entry_properties(*msg);
    for (std::size_t i = 0; i < entries->size(); ++i)
      inner_->handle(host, entry_envelope(*msg, shared, (*entries)[i], i),
                     [settle](bridges::settlement s) {
                       settle->entry_settled(std::move(s));
                     });
  }

 private:
  std::shared_ptr<bridges::delivery_handler> inner_;
  admission_rules rules_;
  std::string actor_name_;
  std::string node_name_;
  metrics::batch_metrics metrics_;
  // The inner dispatcher when it takes batches whole.
  whole_batches* whole_;
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
