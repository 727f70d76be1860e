#pragma once

// Private to warren::bridges: request-response calls made on one connection
// (the requester's, or a consumer's for its handlers' calls): a reply queue
// of the connection's own (exclusive, auto-delete, consumed without acks on
// a channel of its own), the table of calls waiting for replies, and how a
// request is prepared for its publish.
//
// A request goes out mandatory with a confirm: no queue taking it (no such
// service) fails the call with `errc::unroutable`; a lost connection fails
// every call whose request the broker confirmed (the reply queue goes with
// the connection; the call is not repeated, since the service may have
// acted on it). A reply lost with the connection is therefore a failed
// call, never silence.

#include "owner/call_table.hpp"
#include "owner/confirm_channel.hpp"

#include <chrono>
#include <string>

namespace warren::bridges::detail {

class amqp_connection;

class call_client {
 public:
  call_client(std::string reply_queue, uint16_t reply_channel);

  const std::string& reply_queue() const noexcept { return reply_queue_; }
  uint16_t reply_channel() const noexcept { return reply_channel_; }

  /// Declares the reply queue and consumes it on `conn`.
  caf::error open(amqp_connection& conn);

  bool is_open() const noexcept { return open_; }

  /// Registers a call and prepares `request` for it (`reply_to`,
  /// `correlation_id` unless it has one of its own, `message_id` when
  /// empty, mandatory). Returns what the
  /// owner passes to its publish as the confirm callback.
  confirm_channel::callback prepare(outgoing_message& request,
                                    call_table::clock_type::time_point deadline,
                                    call_table::reply_handler then);

  /// A delivery on the reply channel.
  void on_reply(const envelope& msg) { calls_.on_reply(msg); }

  /// The connection is gone: sent calls fail, the reply queue with it.
  void on_connection_lost(const caf::error& err);

  /// The broker closed the reply channel: the reply queue went with its
  /// consumer; sent calls fail, and the queue is declared again when
  /// needed.
  void on_channel_closed(const caf::error& err);

  /// Fails overdue calls; returns how long until the next deadline (at most
  /// `cap`).
  std::chrono::milliseconds expire(std::chrono::milliseconds cap) {
    return calls_.expire(call_table::clock_type::now(), cap);
  }

  void fail_all(const caf::error& err) { calls_.fail_all(err); }

  std::size_t size() const noexcept { return calls_.size(); }

 private:
  std::string reply_queue_;
  uint16_t reply_channel_;
  bool open_ = false;
  call_table calls_;
};

} // namespace warren::bridges::detail
