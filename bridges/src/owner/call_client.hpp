#pragma once

// Private to warren::bridges: request-response calls made on one connection
// (the requester's, or a consumer's for its handlers' calls): a reply queue
// of the connection's own (exclusive, auto-delete, consumed without acks on
// a channel of its own), a request channel, and the table of calls waiting
// for their replies.
//
// A request goes out mandatory on the request channel, which is not in
// confirm mode: a call is confirmed by its reply, so a publisher confirm
// would only add a frame to every round trip (as a raw rabbitmq-c client
// does, it is left out). No queue taking the request (no such service)
// returns it, which fails the call with `errc::unroutable`; anything else
// that loses it ends the call at its deadline (`errc::timeout`). A lost
// connection fails every call whose request went out (the reply queue goes
// with the connection; the call is not repeated, since the service may
// have acted on it); requests made while disconnected wait for the next
// connection, within their deadline.

#include "owner/call_table.hpp"

#include <chrono>
#include <deque>
#include <string>

namespace warren::bridges::detail {

class amqp_connection;

class call_client {
 public:
  /// Replies larger than `bytes` are dropped as they are read, and their
  /// calls fail (0: no limit). Applies from the next `open`.
  void limit_replies(std::size_t bytes) noexcept { max_reply_bytes_ = bytes; }

  call_client(std::string reply_queue, uint16_t reply_channel,
              uint16_t request_channel);

  const std::string& reply_queue() const noexcept { return reply_queue_; }
  uint16_t reply_channel() const noexcept { return reply_channel_; }

  /// Declares the reply queue, consumes it, opens the request channel, and
  /// publishes the requests made while disconnected.
  caf::error open(amqp_connection& conn);

  /// Sends the requests that wait (the broker unblocked the connection).
  caf::error resume(amqp_connection& conn);

  bool is_open() const noexcept { return open_; }

  /// Makes a call: registers it, sets `reply_to`, `correlation_id` (unless
  /// it has one of its own) and `message_id` (when empty), and publishes the
  /// request mandatory, now or once connected. An error means the
  /// connection was lost writing it (the owner's to handle); the call then
  /// waits for the next connection.
  caf::error call(amqp_connection& conn, outgoing_message request,
                  call_table::clock_type::time_point deadline,
                  call_table::reply_handler then);

  /// A delivery on the reply channel.
  void on_reply(const envelope& msg) { calls_.on_reply(msg); }

  /// A request came back: no queue took it.
  void on_returned(const envelope& request, const std::string& reason);

  /// The connection is gone: calls whose requests went out fail, the reply
  /// queue with it.
  void on_connection_lost(const caf::error& err);

  /// The broker closed the reply or request channel: calls whose requests
  /// went out fail, and both are opened again at the next call.
  void on_channel_closed(const caf::error& err);

  /// Fails overdue calls; returns how long until the next deadline (at most
  /// `cap`).
  std::chrono::milliseconds expire(std::chrono::milliseconds cap) {
    return calls_.expire(call_table::clock_type::now(), cap);
  }

  void fail_all(const caf::error& err);

  std::size_t size() const noexcept { return calls_.size(); }

 private:
  caf::error send(amqp_connection& conn, const outgoing_message& request);

  std::string reply_queue_;
  uint16_t reply_channel_;
  uint16_t request_channel_;
  bool open_ = false;
  call_table calls_;
  // Requests made while disconnected.
  std::deque<outgoing_message> waiting_;
  std::size_t max_reply_bytes_ = 0;
};

} // namespace warren::bridges::detail
