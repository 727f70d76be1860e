#pragma once

// Private to warren::bridges: a synchronous rabbitmq-c connection.
//
// One instance belongs to one thread (rabbitmq-c connections are not thread
// safe); the connection-owner actors are detached so each has its own thread.
// Every broker event (delivery, confirm, return, cancel, channel or connection
// close) comes out of `next_event`, which never blocks longer than asked.

#include "warren/bridges/broker.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/envelope.hpp"

#include <amqp.h>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::bridges::detail {

/// One thing the broker told us.
struct amqp_event {
  enum class kind {
    /// Nothing arrived within the timeout.
    none,
    /// basic.deliver with its message, in `message`.
    delivery,
    /// basic.ack or basic.nack for published messages up to `delivery_tag`.
    confirm,
    /// basic.return of a mandatory publish, in `message` (no delivery tag).
    returned,
    /// basic.cancel from the broker: the queue of `consumer_tag` is gone.
    consumer_cancelled,
    /// channel.close from the broker (already answered with close-ok).
    channel_closed,
    /// connection.close from the broker, or the socket failed.
    connection_lost,
  };
  kind what = kind::none;
  uint16_t channel = 0;
  envelope message;
  uint64_t delivery_tag = 0;
  bool multiple = false;
  bool ack = true;
  std::string consumer_tag;
  /// Why the channel or connection closed, or why a message was returned.
  std::string reason;
};

class amqp_connection {
 public:
  explicit amqp_connection(broker_settings settings);
  ~amqp_connection();

  amqp_connection(const amqp_connection&) = delete;
  amqp_connection& operator=(const amqp_connection&) = delete;

  /// Connects to the first endpoint that answers (starting after the one used
  /// last), logs in and opens channel 1. Errors: `errc::connection_failed`.
  caf::error connect();

  /// Closes gracefully when connected; always releases the connection.
  void close();

  /// Drops the connection without the close handshake (after socket errors).
  void destroy();

  bool connected() const noexcept { return conn_ != nullptr; }

  /// The endpoint of the current connection, redacted, for logs.
  const std::string& endpoint_name() const noexcept { return endpoint_name_; }

  caf::error open_channel(uint16_t channel);

  caf::error close_channel(uint16_t channel);

  /// Declares exchanges, then queues (with their `.dlq`), then bindings.
  caf::error declare(const topology& topo);

  caf::error declare_exchange(const exchange_spec& spec);

  /// Declares the queue; for an empty name the broker names it and the name
  /// is returned.
  caf::expected<std::string> declare_queue(const queue_spec& spec);

  caf::error bind(const binding_spec& spec);

  caf::error confirm_select(uint16_t channel);

  caf::error qos(uint16_t channel, uint16_t prefetch);

  /// Starts a consumer; returns its consumer tag.
  caf::expected<std::string> consume(uint16_t channel, const std::string& queue,
                                     bool no_ack, bool exclusive);

  caf::error cancel(uint16_t channel, const std::string& consumer_tag);

  /// Publishes without waiting; confirms arrive as events.
  caf::error publish(uint16_t channel, const outgoing_message& msg);

  caf::error ack(uint16_t channel, uint64_t tag, bool multiple);

  caf::error nack(uint16_t channel, uint64_t tag, bool multiple, bool requeue);

  /// Message count of a queue (passive declare), for tools and tests.
  caf::expected<uint32_t> queue_message_count(const std::string& queue);

  /// Consumers of a queue (passive declare), for tools and tests.
  caf::expected<uint32_t> queue_consumer_count(const std::string& queue);

  caf::expected<uint32_t> purge(const std::string& queue);

  caf::error delete_queue(const std::string& queue);

  /// Waits up to `timeout` for readable data on the socket or on `wake_fd`
  /// (when >= 0). Returns true when the socket has data (or rabbitmq-c has
  /// buffered frames), false on timeout or wake-up.
  bool wait_readable(std::chrono::milliseconds timeout, int wake_fd);

  /// Reads the next event without blocking. Services heartbeats.
  amqp_event next_event();

 private:
  /// Checks the last synchronous call on `channel` (default: control).
  caf::error check_rpc(const char* what, uint16_t channel = 1);
  caf::error not_connected() const;
  caf::error lost(std::string what);
  void encode_properties(const message_properties& in);

  broker_settings settings_;
  amqp_connection_state_t conn_ = nullptr;
  size_t next_endpoint_ = 0;
  std::string endpoint_name_;
  // Scratch space reused by every publish so encoding allocates nothing once
  // warmed up.
  amqp_basic_properties_t props_{};
  std::vector<amqp_table_entry_t> header_entries_;
};

/// Converts AMQP properties to warren's.
void decode_properties(const amqp_basic_properties_t& in,
                       message_properties& out);

} // namespace warren::bridges::detail
