#pragma once

// Private to warren::bridges: a connection with its publish channel and the
// routing of the broker's events, shared by every connection owner (the
// consumer, publisher and requester actors, and the blocking client).
//
// Routing: confirms, returns and closes of the publish channel go to the
// confirm channel; a close of the control channel reopens it; a close of
// any other channel, a delivery and a consumer cancel go to the owner's
// `event_sink`; flow control (connection.blocked) is logged and kept.
//
// Losing the connection happens once per connection: `drop` destroys it and
// lets the confirm channel deal with its unconfirmed publishes; every later
// `drop` of the same connection is a no-op, so an owner that notices the
// loss in a callback and again in its poll loop handles it once.

#include "owner/confirm_channel.hpp"
#include "warren/bridges/topology.hpp"
#include "wire/amqp_connection.hpp"

#include <optional>
#include <string>

namespace warren::bridges::detail {

/// What an owner does with the events that are not about its publish channel.
class event_sink {
 public:
  virtual ~event_sink();

  virtual void on_delivery(envelope&& msg, uint16_t channel) = 0;

  /// The broker cancelled a consumer (its queue was deleted).
  virtual void on_consumer_cancelled(const std::string& consumer_tag) = 0;

  /// A mandatory message published on one of the owner's own channels (not
  /// in confirm mode) came back: no queue took it. Default: ignored.
  virtual void on_returned(const envelope& msg, const std::string& reason);

  /// The broker closed one of the owner's own channels (already answered):
  /// reopen what is needed. An error means the connection is lost.
  virtual caf::error on_channel_closed(uint16_t channel, int reply_code,
                                       const std::string& reason) = 0;

  /// The broker unblocked the connection: send what the owner held back on
  /// its own channels. An error means the connection is lost. Default:
  /// nothing.
  virtual caf::error on_unblocked();
};

class connection_core {
 public:
  /// `description` names the owner in log lines ("publisher", "consumer of
  /// 'orders'").
  connection_core(broker_settings settings, confirm_policy policy,
                  std::string description);

  amqp_connection& conn() noexcept { return conn_; }
  confirm_channel& confirms() noexcept { return confirms_; }
  const std::string& description() const noexcept { return description_; }

  /// Whether the broker blocked the connection (a resource alarm).
  bool blocked() const noexcept { return conn_.blocked(); }

  /// Whether the connection was lost (or never made) and not made again.
  bool down() const noexcept { return down_; }

  /// Connects, declares `topo` and opens the publish channel.
  caf::error connect(const topology& topo);

  /// Reads at most `max` events and routes them, counting them in `events`.
  /// Returns why the connection was lost, if it was; the loss is then to be
  /// handled with `drop`.
  std::optional<std::string> pump(event_sink& sink, int max, int& events);

  /// Publishes on the publish channel (see confirm_channel). Returns why the
  /// connection was lost, if writing failed.
  std::optional<std::string> publish(outgoing_message msg,
                                     confirm_channel::callback done);

  /// The connection is lost: destroys it and lets the confirm channel deal
  /// with its publishes. Returns false when this connection was dropped
  /// already.
  bool drop(const std::string& why);

  /// Closes the connection gracefully (stopping).
  void close();

  /// Where the connection's state and its publishes are counted.
  void set_metrics(metrics::connection_metrics conn,
                   metrics::publish_metrics publishes);
  const metrics::connection_metrics& metrics() const noexcept {
    return metrics_;
  }

 private:
  std::optional<std::string> route(amqp_event& ev, event_sink& sink);

  std::string description_;
  amqp_connection conn_;
  confirm_channel confirms_;
  bool down_ = true;
  metrics::connection_metrics metrics_;
};

} // namespace warren::bridges::detail
