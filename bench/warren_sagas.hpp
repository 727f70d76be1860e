#pragma once

/// Sagas through the broker (issue 12), private to warren-bench: three-step
/// sagas end to end with their participants on the same broker, and the
/// timers of 100,000 sagas firing after a restart.

#include <cstddef>
#include <cstdint>
#include <string>

namespace warren::bench {

struct saga_run {
  std::size_t sagas = 0;
  /// From the first start published to the last `completed` event
  /// received.
  double seconds = 0;
  double sagas_per_sec = 0;
  /// Steps completed per second (3 per saga).
  double steps_per_sec = 0;
  /// AMQP messages the run moved per second: per saga, its start, three
  /// commands, three replies and its `completed` event.
  double messages_per_sec = 0;
};

/// `sagas` three-step sagas (create -> reserve -> charge, each a `service`
/// running `echo`, on the same node and broker) started by `saga.start`
/// messages published through warren's publisher, the saga actor's state
/// in `<state_dir>/warren.db` (synchronous=FULL, group commit). Timed until
/// the last saga's `completed` lifecycle event arrives.
saga_run saga_throughput(const std::string& uri, const std::string& prefix,
                         std::size_t sagas, const std::string& state_dir);

struct timer_run {
  std::size_t timers = 0;
  /// The saga actor's restore: reading the sagas not ended and their
  /// timers from the file.
  double reload_seconds = 0;
  /// How late each timer fired after its due time, milliseconds.
  double lag_p50_ms = 0;
  double lag_p99_ms = 0;
  double lag_max_ms = 0;
  /// From the first due time to the last timer fired.
  double fire_seconds = 0;
};

/// A file holding `timers` running sagas, each waiting for a reply whose
/// timeout comes due, one after the other, over `spread_ms` from just
/// before the node starts (0: all at once, the worst case); the node
/// starts, reloads them and fires every timer (each sends the step's
/// compensation, which must leave before the run ends).
timer_run saga_timers_after_restart(const std::string& uri,
                                    const std::string& prefix,
                                    std::size_t timers, int64_t spread_ms,
                                    const std::string& state_dir);

} // namespace warren::bench
