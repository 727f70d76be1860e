#include "pool/scaling.hpp"

#include <algorithm>
#include <string>

namespace warren::actors {

scaling_options read_scaling_options(config::object_reader& options) {
  scaling_options out;
  options.allow({"min_workers", "max_workers", "scale_up_depth",
                 "scale_up_depth_per_worker", "scale_up_after_ms",
                 "scale_up_step", "scale_down_idle_ms", "cooldown_ms",
                 "check_interval_ms", pool_worker_options_key});
  options.integer("min_workers", {1, max_pool_workers}, out.min_workers);
  out.max_workers = std::max(out.max_workers, out.min_workers);
  if (options.integer("max_workers", {1, max_pool_workers}, out.max_workers) &&
      out.max_workers < out.min_workers)
    options.reader().fail(options.path_of("max_workers"),
                          "expected at least min_workers (" +
                            std::to_string(out.min_workers) + "), found " +
                            std::to_string(out.max_workers));
  std::optional<int64_t> depth;
  if (options.integer("scale_up_depth", {1, 1000000000}, depth))
    out.scale_up_depth = static_cast<uint32_t>(*depth);
  if (options.integer("scale_up_depth_per_worker", {1, 1000000000},
                      out.scale_up_depth_per_worker) &&
      out.scale_up_depth)
    options.reader().fail(options.path_of("scale_up_depth_per_worker"),
                          "give either scale_up_depth (a threshold for the "
                          "queue) or scale_up_depth_per_worker (per "
                          "consumer), not both");
  options.millis("scale_up_after_ms", {0, 3600000}, out.scale_up_after);
  options.integer("scale_up_step", {1, max_pool_workers}, out.scale_up_step);
  options.millis("scale_down_idle_ms", {1, 86400000}, out.scale_down_idle);
  options.millis("cooldown_ms", {0, 3600000}, out.cooldown);
  options.millis("check_interval_ms", {100, 60000}, out.check_interval);
  // The handler kind's validator checks what is inside.
  (void)options.object(pool_worker_options_key);
  return out;
}

uint64_t scaler::threshold(const pool_view& view) const {
  if (options_.scale_up_depth)
    return *options_.scale_up_depth;
  // The broker's count may lag a worker that just started: count at least
  // this node's own.
  auto consumers =
    std::max<uint64_t>(view.queue_consumers, view.workers.size());
  return options_.scale_up_depth_per_worker * std::max<uint64_t>(consumers, 1);
}

bool scaler::cooling(time_point now) const {
  return last_change_ && now - *last_change_ < options_.cooldown;
}

pool_decision scaler::decide(const pool_view& view) {
  using action = pool_decision::action;
  pool_decision d;
  auto workers = static_cast<uint32_t>(view.workers.size());
  if (workers < options_.min_workers) {
    // Not a scaling decision (a start, or workers that left for good): no
    // cooldown, no sustain.
    d.what = action::add;
    d.count = options_.min_workers - workers;
    d.reason =
      "below min_workers (" + std::to_string(options_.min_workers) + ")";
    return d;
  }
  if (!view.queue_known) {
    above_since_.reset();
    d.reason = "queue depth unknown";
    return d;
  }
  auto limit = threshold(view);
  if (view.queue_ready > limit) {
    if (!above_since_)
      above_since_ = view.now;
    if (workers >= options_.max_workers) {
      d.reason = "backlog above " + std::to_string(limit) +
                 " at max_workers; it stays in the broker";
      d.notable = true;
      return d;
    }
    auto sustained = view.now - *above_since_;
    if (sustained < options_.scale_up_after) {
      d.reason = "backlog above " + std::to_string(limit) + " for less than " +
                 std::to_string(options_.scale_up_after.count()) + " ms";
      return d;
    }
    if (cooling(view.now)) {
      d.reason = "backlog, cooling down";
      return d;
    }
    d.what = action::add;
    d.count = std::min(options_.scale_up_step, options_.max_workers - workers);
    d.reason =
      "backlog above " + std::to_string(limit) + " for " +
      std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(sustained)
          .count()) +
      " ms";
    last_change_ = view.now;
    return d;
  }
  above_since_.reset();
  if (workers <= options_.min_workers) {
    d.reason = "at min_workers";
    return d;
  }
  // The idle worker to remove: the highest slot among those idle long
  // enough, so the low slots (slot 0 reads the queue's metrics) stay.
  const pool_worker_view* chosen = nullptr;
  for (const auto& w : view.workers)
    if (w.in_hand == 0 && w.idle_for >= options_.scale_down_idle &&
        (chosen == nullptr || w.slot > chosen->slot))
      chosen = &w;
  if (chosen == nullptr) {
    d.reason = "no worker idle for " +
               std::to_string(options_.scale_down_idle.count()) + " ms";
    return d;
  }
  if (cooling(view.now)) {
    d.reason = "idle worker, cooling down";
    return d;
  }
  d.what = action::remove;
  d.slot = chosen->slot;
  d.reason = "worker " + std::to_string(chosen->slot) + " idle for " +
             std::to_string(chosen->idle_for.count()) + " ms";
  last_change_ = view.now;
  return d;
}

} // namespace warren::actors
