#pragma once

/// A projection under load (issue 12), private to warren-bench: events
/// appended to an `event_store` at a steady rate, published by it, and
/// applied by a live `projection` on the same node; how late each one is
/// applied.

#include <cstddef>
#include <string>

namespace warren::bench {

struct projection_lag_run {
  std::size_t events = 0;
  /// Appends per second asked for, and achieved.
  double rate = 0;
  double achieved = 0;
  /// From the event's recording in the store (when the store applied the
  /// append, before its commit) to the projection applying it (its SQL
  /// ran; the projection's own commit follows within its group commit),
  /// nearest-rank over every event, milliseconds.
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

/// `events` appends of one event each, published through warren's
/// publisher at `rate` per second (in bursts every 50 ms) to an
/// `event_store` actor (group commit of up to 250 messages, its state in
/// `<state_dir>/warren.db`, synchronous=FULL) that publishes each event to
/// an exchange bound to a `projection` actor's queue (live), whose table
/// records when each event was applied.
projection_lag_run projection_lag(const std::string& uri,
                                  const std::string& prefix, std::size_t events,
                                  double rate, const std::string& state_dir);

} // namespace warren::bench
