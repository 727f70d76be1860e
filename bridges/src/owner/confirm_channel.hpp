#pragma once

// Private to warren::bridges: one channel in confirm mode, shared by every
// connection owner for everything it publishes.
//
// Each publish gets exactly one answer through its callback: `caf::none`
// once the broker confirmed it, or an error: `errc::publish_nacked`,
// `errc::unroutable` (a mandatory message no queue took), the broker's code
// when it closed the channel because of this message (`errc::not_found` for
// a missing exchange, `errc::access_refused`, `errc::channel_error`), or
// `errc::connection_lost`.
//
// A channel error (the broker closing the channel) is not a lost
// connection. The broker drops everything published after the message it
// refused, and may not confirm what came before, so every unconfirmed
// message is in doubt. The channel is reopened at once; a lone unconfirmed
// message is the culprit; several are published again one at a time (each
// waiting for its confirm) until the one the broker refuses again shows
// itself. Only that message fails; the others are confirmed as usual (some
// perhaps twice at the broker: at least once, de-duplicated downstream by
// message id). New publishes wait, in order, until the doubt is cleared.
//
// Flow control: while the broker blocks the connection nothing is
// published; publishes wait in order until it unblocks it.
//
// The window: at most `max_unconfirmed` messages are at the broker
// unconfirmed; beyond it publishes wait in order (back-pressure through the
// caller, who waits for the answer).

#include "owner/confirm_tracker.hpp"
#include "warren/core/envelope.hpp"
#include "warren/metrics/sets.hpp"

#include <caf/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace warren::bridges::detail {

class amqp_connection;
struct amqp_event;

/// The channel number every connection owner publishes on.
constexpr uint16_t publish_channel = 2;

/// What becomes of publishes when the connection is not there.
struct confirm_policy {
  /// Publishes made while there is no connection wait for the next one
  /// (publisher, requester), or fail at once with `errc::connection_lost`
  /// (a consumer: its deliveries are back in the broker anyway).
  bool wait_while_disconnected = true;
  /// Unconfirmed publishes are published again first after a reconnect (at
  /// least once: the publisher), or fail with `errc::connection_lost`.
  bool republish_after_loss = true;
  /// The window. Default 1000.
  std::size_t max_unconfirmed = 1000;
};

struct confirm_stats {
  uint64_t published = 0;
  uint64_t confirmed = 0;
  uint64_t nacked = 0;
  uint64_t returned = 0;
  uint64_t republished = 0;
  /// Channels the broker closed because of a publish.
  uint64_t channel_errors = 0;
};

class confirm_channel {
 public:
  using callback = std::function<void(const caf::error&)>;

  confirm_channel(confirm_policy policy, std::string owner);

  /// Opens the channel in confirm mode on `conn` and publishes what waits.
  caf::error open(amqp_connection& conn);

  bool is_open() const noexcept { return open_; }

  /// Publishes `msg` now, or queues it in order (see above). Returns an
  /// error only when writing to the socket failed: the connection is lost
  /// and the caller must handle that (`on_connection_lost`).
  caf::error publish(amqp_connection& conn, outgoing_message msg,
                     callback done);

  /// The broker unblocked the connection: what waits goes out.
  caf::error resume(amqp_connection& conn) { return pump(conn); }

  /// A basic.ack or basic.nack. Returns an error as `publish` does (the
  /// answers may let waiting messages go out).
  caf::error on_confirm(amqp_connection& conn, uint64_t tag, bool multiple,
                        bool ack);

  /// A basic.return (it precedes the confirm of the same message).
  void on_return(const amqp_event& ev);

  /// The broker closed the channel (already answered): reopen it and sort
  /// out the unconfirmed messages (see above). Returns an error when the
  /// connection was lost meanwhile.
  caf::error on_closed(amqp_connection& conn, int reply_code,
                       const std::string& reason);

  /// The connection is gone: unconfirmed (and, per policy, waiting)
  /// publishes are kept for the next connection or fail.
  void on_connection_lost(const std::string& why);

  /// Fails every publish not yet confirmed with `err` (stopping).
  void fail_all(const caf::error& err);

  std::size_t unconfirmed() const noexcept { return tracker_.size(); }
  std::size_t waiting() const noexcept {
    return waiting_.size() + doubtful_.size();
  }
  bool idle() const noexcept { return unconfirmed() == 0 && waiting() == 0; }
  const confirm_stats& stats() const noexcept { return stats_; }

  /// Where publishes, confirms and confirm latency are counted.
  void set_metrics(metrics::publish_metrics m) { metrics_ = std::move(m); }

 private:
  struct pending {
    outgoing_message msg;
    callback done;
    /// When it was written to the socket (confirm latency).
    std::chrono::steady_clock::time_point sent{};
  };

  /// Publishes what may go out now: one doubtful message at a time while
  /// there are any, else waiting ones up to the window.
  caf::error pump(amqp_connection& conn);
  caf::error publish_now(amqp_connection& conn, pending p);
  void settle(typename confirm_tracker<pending>::entry& e,
              confirm_result result);
  bool probing() const noexcept { return !doubtful_.empty() || probe_out_; }

  confirm_policy policy_;
  std::string owner_;
  bool open_ = false;
  confirm_tracker<pending> tracker_;
  std::deque<pending> waiting_;
  // In doubt after a channel error, published again one at a time.
  std::deque<pending> doubtful_;
  // A doubtful message is out (the only unconfirmed one).
  bool probe_out_ = false;
  confirm_stats stats_;
  metrics::publish_metrics metrics_;
};

} // namespace warren::bridges::detail
