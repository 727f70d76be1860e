#pragma once

/// The event store through the broker (issue 12), private to warren-bench:
/// appends of one event and of 100 events per request to an `event_store`
/// actor, sent as requests by a raw rabbitmq-c client with a window of
/// requests outstanding (or at a fixed rate), and the replay of an
/// event-sourced aggregate's stream after a restart.

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace warren::bench {

struct append_load {
  /// Requests sent, each `events_per_request` events to stream
  /// `s-<i % 100>`.
  std::size_t requests = 20000;
  std::size_t events_per_request = 1;
  /// Requests outstanding at most.
  std::size_t window = 200;
  /// Requests per second; 0: as fast as the window allows (saturated).
  double rate = 0;
  /// The store's `commit.max_delay` (its default: 5 ms).
  std::chrono::milliseconds commit_delay{5};
  /// The store's `shards` (0: not sharded): requests go through its router
  /// to the shards, every unit of work through its changelog.
  uint32_t shards = 0;
  /// With `shards`, each request is published to its stream's shard queue
  /// (as a warren sender or a client computing the shard does): no router.
  bool to_shards = false;
};

struct append_run {
  std::size_t requests = 0;
  std::size_t events = 0;
  /// From the first request published to the last reply received.
  double seconds = 0;
  double appends_per_sec = 0;
  double events_per_sec = 0;
  /// Request (just before basic.publish; paced, the moment it was due) to
  /// reply (as the client read it), nearest-rank over every request,
  /// milliseconds.
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  /// Where it went (p50, p99 of each part, ms; warren's runs only):
  /// request published to applied by the store (the broker, the queue, the
  /// store's earlier work), applied to its unit of work committed (the
  /// group commit), committed to the reply read by the client (the reply
  /// published from the outbox, the broker).
  std::pair<double, double> to_apply{0, 0};
  std::pair<double, double> to_commit{0, 0};
  std::pair<double, double> to_reply{0, 0};
};

/// `load.requests` `event_store.append` requests (persistent, with
/// reply_to and a correlation id each) to an `event_store` actor named
/// `name` (prefetch 1000, group commit of up to 1000 messages, its state
/// in a fresh `<state_dir>/warren.db`, synchronous=FULL; a unit of work
/// waits at most `load.commit_delay` for more), sent by a raw
/// rabbitmq-c client that reads the replies on its own exclusive queue.
append_run event_appends(const std::string& uri, const std::string& name,
                         const append_load& load, const std::string& state_dir);

/// The same requests (one event each) to a raw rabbitmq-c server
/// (raw_baseline.hpp: consumes with prefetch 100, publishes the reply
/// without a confirm, acks; nothing stored): the broker's and the client's
/// part of an append's round trip.
append_run raw_appends(const std::string& uri, const std::string& queue,
                       const append_load& load);

struct replay_run {
  std::size_t events = 0;
  /// Writing them: appends of 1000 events through the actor, events/s.
  double write_events_per_sec = 0;
  /// The first `aggregate.get` after the restart, request to reply.
  double seconds = 0;
  /// The same inside the actor: loading the stream from SQLite and
  /// folding it (without the broker's round trip).
  double fold_seconds = 0;
  /// events / seconds.
  double events_per_sec = 0;
};

/// `events` events appended to one stream of an event-sourced aggregate
/// (a kind derived from warren::aggregate<State> in the bench, its state
/// the count of the events and the sum of an integer of each event's
/// data; `snapshot_every: 0`) in requests of 1000 events; then the node
/// is stopped, a new one started on the same file (empty cache), and the
/// first `aggregate.get` of the stream timed. Throws when the state is
/// not the one the events make.
replay_run aggregate_replay(const std::string& uri, const std::string& name,
                            std::size_t events, const std::string& state_dir);

} // namespace warren::bench
