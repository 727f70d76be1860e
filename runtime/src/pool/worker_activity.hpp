#pragma once

// Private to warren::runtime: what a pool's manager knows of each worker,
// counted by a wrapper around the worker's dispatcher in the worker's own
// thread and read by the manager in its thread (atomics, no lock).

#include "warren/bridges/consumer.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace warren::runtime::detail {

struct worker_activity {
  /// Deliveries handed to the worker and not settled yet.
  std::atomic<uint32_t> in_hand{0};
  /// Steady-clock nanoseconds of its last settlement, or of its start.
  std::atomic<int64_t> last_settled_ns{0};
  /// Deliveries settled since its start.
  std::atomic<uint64_t> handled{0};

  /// A worker (re)starts: what its predecessor left counts no more (a crash
  /// leaves deliveries never settled; the broker has them back).
  void restart(std::chrono::steady_clock::time_point now);

  static int64_t ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             t.time_since_epoch())
      .count();
  }
};

/// Wraps a worker's dispatcher: counts what it holds and when it last
/// settled a delivery into `activity`; everything else is passed through.
std::shared_ptr<bridges::delivery_handler>
count_activity(std::shared_ptr<bridges::delivery_handler> inner,
               std::shared_ptr<worker_activity> activity);

} // namespace warren::runtime::detail
