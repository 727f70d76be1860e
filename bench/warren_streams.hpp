#pragma once

/// Streams through the broker (issue 11), private to warren-bench: sensor
/// readings into a `window` actor (effectively-once state in SQLite), one
/// event per message and batched envelopes, and a pipeline of three stages
/// (validator -> transformer -> router) timed end to end.

#include "raw_baseline.hpp"

#include <cstddef>
#include <string>

namespace warren::bench {

/// One run of readings into a window actor.
struct window_run {
  std::size_t messages = 0;
  std::size_t events = 0;
  /// From the first publish to the last event applied.
  double seconds = 0;
  double msgs_per_sec = 0;
  double events_per_sec = 0;
  /// Window results in the results queue after the run.
  std::size_t results = 0;
};

/// What a window run sends and computes.
struct window_load {
  /// Readings in all.
  std::size_t events = 20000;
  /// Readings per AMQP message: 1 is a plain message per reading; more
  /// makes batched envelopes (header x-warren-batch).
  std::size_t events_per_message = 1;
  /// Also exact median, p90 and p99 per window.
  bool percentiles = false;
  /// Group commit (`actors[].commit.max_batch`).
  std::size_t commit_batch = 250;
};

/// Readings of 100 devices, one per device per second of event time (so
/// 5-minute windows sliding every 60 s close during the run), published
/// through warren's publisher to a fresh queue consumed by a `window` actor
/// with its state in `<state_dir>/warren.db` (synchronous=FULL, group
/// commit). Timed from the first publish to the last event applied.
window_run window_throughput(const std::string& uri, const std::string& queue,
                             const window_load& load,
                             const std::string& state_dir);

/// One run of the three-stage pipeline.
struct pipeline_run {
  std::size_t messages = 0;
  /// From the first publish to the last result received.
  double seconds = 0;
  double msgs_per_sec = 0;
  /// Nearest-rank percentiles of publish -> result received, microseconds.
  double p50_us = 0;
  double p99_us = 0;
};

/// Readings published by a raw rabbitmq-c publisher (persistent, confirms
/// per 100) into validator -> transformer -> router, the router publishing
/// each result to a queue a raw consumer reads. `rate` messages/s paces the
/// publisher (0: as fast as confirms allow, a saturating load). With
/// `raw_relays`, the three stages are raw rabbitmq-c threads that only
/// forward (consume, publish with confirms, ack once confirmed): the same
/// four broker hops with nothing of warren on them, the pipeline's
/// baseline. With `date_time_format`, the validator's schema also has
/// `"format": "date-time"` on the timestamp.
pipeline_run pipeline_throughput(const std::string& uri,
                                 const std::string& prefix,
                                 std::size_t messages, double rate,
                                 bool raw_relays = false,
                                 bool date_time_format = false);

} // namespace warren::bench
