#pragma once

/// A synchronous AMQP client for tools and tests: the `warren send`, `call`
/// and `dlq` commands use it. It blocks the calling thread, so never use it
/// inside an actor; actors publish through their consumer or the node's
/// publisher. It shares the connection owners' machinery (the publish
/// channel with its confirms and channel-error handling, the call table),
/// but does not reconnect: a tool fails and says why.

#include "warren/bridges/broker.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/envelope.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace warren::bridges {

class blocking_client {
 public:
  /// Connects (first answering endpoint). Errors: `errc::connection_failed`.
  static caf::expected<std::unique_ptr<blocking_client>>
  connect(const broker_settings& settings);

  ~blocking_client();

  caf::error declare(const topology& topo);

  /// Publishes and waits up to `timeout` for the broker's confirm. A
  /// mandatory message no queue takes fails with `errc::unroutable`.
  caf::error publish(const outgoing_message& msg,
                     std::chrono::milliseconds timeout);

  /// Sends `request` with a fresh exclusive reply queue and correlation id,
  /// and waits up to `timeout` for the reply (`errc::timeout`), whose JSON
  /// body is parsed into `body`.
  caf::expected<envelope> call(outgoing_message request,
                               std::chrono::milliseconds timeout);

  /// Takes up to `max` messages from `queue`, waiting at most `idle_timeout`
  /// for each next one (`max` is capped at 65535, the largest prefetch).
  /// `ack`: remove them; otherwise they are requeued. Bodies are parsed into
  /// `body` when they are JSON and left null otherwise (the bytes are always in
  /// `raw_body`). `arguments` go with the consume (a stream's
  /// `x-stream-offset`, e.g. "60s" for what arrived in the last minute);
  /// `at_most` bounds the whole wait (a stream written to all the time is
  /// never quiet for `idle_timeout`).
  caf::expected<std::vector<envelope>>
  receive(const std::string& queue, std::size_t max,
          std::chrono::milliseconds idle_timeout, bool ack,
          const field_table& arguments = {},
          std::chrono::milliseconds at_most = std::chrono::hours{24});

  /// Takes up to `max` messages from `queue` like `receive`, but keeps them
  /// unacked until `settle`, so a tool can act on them first (replay them,
  /// say) and lose nothing if it fails halfway.
  caf::expected<std::vector<envelope>>
  take(const std::string& queue, std::size_t max,
       std::chrono::milliseconds idle_timeout,
       const field_table& arguments = {},
       std::chrono::milliseconds at_most = std::chrono::hours{24});

  /// Ends a `take`: acks the deliveries whose tags are in `done` and returns
  /// every other one to the queue.
  caf::error settle(const std::vector<uint64_t>& done);

  caf::expected<uint32_t> message_count(const std::string& queue);
  /// Ready messages and consumers of `queue`, read with one passive
  /// declare (what a consumer's queue watch reads; a worker pool's manager
  /// polls it).
  caf::expected<std::pair<uint32_t, uint32_t>>
  queue_counts(const std::string& queue);
  caf::expected<uint32_t> consumer_count(const std::string& queue);
  caf::expected<uint32_t> purge(const std::string& queue);
  caf::error delete_queue(const std::string& queue);

 private:
  struct state;

  explicit blocking_client(std::unique_ptr<state> st);

  std::unique_ptr<state> st_;
};

} // namespace warren::bridges
