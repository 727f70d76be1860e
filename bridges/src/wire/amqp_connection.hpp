#pragma once

// Private to warren::bridges: a synchronous rabbitmq-c connection.
//
// One instance belongs to one thread (rabbitmq-c connections are not thread
// safe); the connection-owner actors are detached so each has its own thread.
// Every broker event (delivery, confirm, return, cancel, channel or
// connection close, flow control) comes out of `next_event`, which never
// blocks.
//
// Channel 1 is the control channel: declarations, passive declares, purges.
// The broker closing a channel (a 404 for a missing exchange, a 406 for
// inequivalent arguments, a 403) is a channel error, not a lost connection:
// the close is answered with close-ok at once, the control channel is
// reopened, and only the operation that caused it fails, with the broker's
// code (`errc_of_reply_code`). The connection is dropped only when it is
// lost (socket error, heartbeat timeout, connection.close).

#include "warren/bridges/broker.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/envelope.hpp"
#include "wire/amqp_codec.hpp"

#include <amqp.h>
#include <array>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <set>
#include <string>

namespace warren::bridges::detail {

/// The control channel of every connection.
constexpr uint16_t control_channel = 1;

/// One thing the broker told us.
struct amqp_event {
  enum class kind {
    /// Nothing arrived.
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
    /// connection.blocked (a resource alarm: publishes wait) or unblocked.
    blocked,
    unblocked,
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
  /// The broker's reply code of a close or return (e.g. 404), else 0.
  int reply_code = 0;
  /// Why the channel or connection closed, why a message was returned, or
  /// why the broker blocked the connection.
  std::string reason;
};

class amqp_connection {
 public:
  explicit amqp_connection(broker_settings settings);
  ~amqp_connection();

  amqp_connection(const amqp_connection&) = delete;
  amqp_connection& operator=(const amqp_connection&) = delete;

  /// Connects to the first endpoint that answers (starting after the one used
  /// last), logs in and opens the control channel. Errors:
  /// `errc::connection_failed`, naming every endpoint tried (redacted).
  caf::error connect();

  /// Closes gracefully when connected; always releases the connection.
  void close();

  /// Drops the connection without the close handshake (after socket errors).
  void destroy();

  bool connected() const noexcept { return conn_ != nullptr; }

  /// Whether the broker blocked the connection (connection.blocked, a
  /// resource alarm) and has not unblocked it. Nothing may be published
  /// then: the broker stops reading a blocked connection once it publishes,
  /// and acks, cancels and the close would no longer get through.
  bool blocked() const noexcept { return blocked_; }

  /// Bodies of deliveries on `channel` larger than `bytes` are not kept:
  /// their frames are read and dropped as they come (the size is known from
  /// the content header), and the event says so (`envelope::body_dropped`).
  /// 0: no limit. Channels are numbered below 16.
  void set_body_limit(uint16_t channel, std::size_t bytes);

  /// Whether the broker routes what is rejected from `queue` (declared on
  /// this connection) somewhere: a dead-letter exchange of its own, or
  /// warren's route to its `.dlq`. False for a queue declared without one
  /// (by an earlier warren, or with `dead_letter_queue` off).
  bool routes_dead_letters(const std::string& queue) const;

  const broker_settings& settings() const noexcept { return settings_; }

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

  /// Starts a consumer with `arguments` (a stream's `x-stream-offset`);
  /// returns its consumer tag.
  caf::expected<std::string> consume(uint16_t channel, const std::string& queue,
                                     bool no_ack, bool exclusive,
                                     const field_table& arguments = {});

  caf::error cancel(uint16_t channel, const std::string& consumer_tag);

  /// Publishes without waiting; confirms arrive as events.
  caf::error publish(uint16_t channel, const outgoing_message& msg);

  caf::error ack(uint16_t channel, uint64_t tag, bool multiple);

  caf::error nack(uint16_t channel, uint64_t tag, bool multiple, bool requeue);

  /// Message count of a queue (passive declare), for tools and tests.
  caf::expected<uint32_t> queue_message_count(const std::string& queue);

  /// Consumers of a queue (passive declare), for tools and tests.
  caf::expected<uint32_t> queue_consumer_count(const std::string& queue);

  /// Both counts in one passive declare: {messages ready, consumers}.
  caf::expected<std::pair<uint32_t, uint32_t>>
  queue_counts(const std::string& queue);

  caf::expected<uint32_t> purge(const std::string& queue);

  caf::error delete_queue(const std::string& queue);

  /// Waits up to `timeout` for readable data on the socket or on `wake_fd`
  /// (when >= 0). Returns true when the socket has data (or rabbitmq-c has
  /// buffered frames), false on timeout or wake-up.
  bool wait_readable(std::chrono::milliseconds timeout, int wake_fd);

  /// Reads the next event without blocking. Services heartbeats.
  amqp_event next_event();

 private:
  /// The next frame of `channel` (blocking), putting frames of other
  /// channels aside; an AMQP_STATUS_* code.
  int wait_frame_on(uint16_t channel, amqp_frame_t& frame);
  /// Whether a frame of `channel` is put aside.
  bool stashed_on(uint16_t channel) const;
  /// queue.declare with `args` (no fallback).
  caf::expected<std::string> declare_queue_with(const queue_spec& spec,
                                                const field_table& args);
  /// Declares `<spec.name>.dlq` of the queue's type (keeping a classic one
  /// an earlier warren declared).
  caf::error declare_dead_letter_queue(const queue_spec& spec);
  /// Opens the socket to `ep` (TCP or TLS); adds to `failures` on error.
  bool open_socket(const broker_endpoint& ep, std::string& failures);
  /// Logs in on the open socket; adds to `failures` on error.
  bool login(const broker_endpoint& ep, std::string& failures);
  /// Checks the last synchronous call on `channel`. A channel the broker
  /// closed is answered (and reopened when it is the control channel); the
  /// error carries the broker's code. Anything else drops the connection.
  caf::error check_rpc(const char* what, uint16_t channel = control_channel);
  /// Passive declare of `queue` on the control channel.
  caf::expected<amqp_queue_declare_ok_t*> inspect(const std::string& queue);
  caf::error not_connected() const;
  caf::error lost(std::string what);
  /// Reads a message's header and body frames into `ev.message`.
  bool read_content(uint16_t channel, amqp_event& ev);
  /// Decodes one method frame into `ev`.
  void decode_method(const amqp_frame_t& frame, amqp_event& ev);

  broker_settings settings_;
  amqp_connection_state_t conn_ = nullptr;
  bool blocked_ = false;
  // Frames of other channels read while a message's content was being
  // read, in order (their memory stays in their channels' pools).
  std::deque<amqp_frame_t> stashed_;
  std::array<std::size_t, 16> body_limits_{};
  // Queues declared here whose rejects the broker routes somewhere.
  std::set<std::string> routed_queues_;
  // The last connect failed at the login on some endpoint.
  bool refused_ = false;
  size_t next_endpoint_ = 0;
  std::string endpoint_name_;
  property_encoder encoder_;
};

} // namespace warren::bridges::detail
