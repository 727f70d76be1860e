#include "pool/worker_activity.hpp"

namespace warren::runtime::detail {

void worker_activity::restart(std::chrono::steady_clock::time_point now) {
  in_hand.store(0, std::memory_order_relaxed);
  handled.store(0, std::memory_order_relaxed);
  last_settled_ns.store(ns(now), std::memory_order_relaxed);
}

namespace {

class activity_counter : public bridges::delivery_handler {
 public:
  activity_counter(std::shared_ptr<bridges::delivery_handler> inner,
                   std::shared_ptr<worker_activity> activity)
    : inner_(std::move(inner)), activity_(std::move(activity)) {
    // Nothing else to do.
  }

  caf::error start(bridges::consumer_host& host) override {
    return inner_->start(host);
  }

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override {
    activity_->in_hand.fetch_add(1, std::memory_order_relaxed);
    // The activity outlives the callback: this handler owns a share of it
    // and lives as long as its consumer, which runs the callback.
    inner_->handle(
      host, std::move(msg),
      [a = activity_.get(), done = std::move(done)](bridges::settlement s) {
        a->handled.fetch_add(1, std::memory_order_relaxed);
        a->last_settled_ns.store(
          worker_activity::ns(std::chrono::steady_clock::now()),
          std::memory_order_relaxed);
        a->in_hand.fetch_sub(1, std::memory_order_relaxed);
        done(std::move(s));
      });
  }

  void idle(bridges::consumer_host& host) override { inner_->idle(host); }

  void acked(uint64_t generation, uint64_t tag, bool multiple) override {
    inner_->acked(generation, tag, multiple);
  }

  void connection_lost(bridges::consumer_host& host) override {
    inner_->connection_lost(host);
  }

 private:
  std::shared_ptr<bridges::delivery_handler> inner_;
  std::shared_ptr<worker_activity> activity_;
};

} // namespace

std::shared_ptr<bridges::delivery_handler>
count_activity(std::shared_ptr<bridges::delivery_handler> inner,
               std::shared_ptr<worker_activity> activity) {
  return std::make_shared<activity_counter>(std::move(inner),
                                            std::move(activity));
}

} // namespace warren::runtime::detail
