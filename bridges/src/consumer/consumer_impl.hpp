#pragma once

// Private to warren::bridges: the consumer bridge's implementation (its
// protocol and guarantees are in warren/bridges/consumer.hpp). Its jobs,
// each small: the connection-owner hooks and what it offers its handler
// (consumer_impl.cpp); deliveries, settlements, the ack ledger, pausing,
// stopping and ending (consumer_settle.cpp).

#include "consumer/ack_ledger.hpp"
#include "owner/call_client.hpp"
#include "owner/connection_owner.hpp"
#include "warren/bridges/consumer.hpp"

#include <caf/all.hpp>
#include <map>

namespace warren::bridges::detail {

constexpr uint16_t consume_channel = 3;
constexpr uint16_t reply_channel = 4;
constexpr uint16_t request_channel = 5;

// The consumer's own messages on top of its public protocol.
using consumer_impl_actor =
  consumer_actor::extend<caf::reacts_to<poll_atom>,
                         caf::reacts_to<reconnect_atom>,
                         caf::reacts_to<timer_atom, uint64_t>>;

using ledger_state = ack_ledger::state;

confirm_policy consumer_policy();

std::string reply_queue_name(const consumer_config& cfg);

class consumer_impl : public connection_owner<consumer_impl_actor>,
                      public consumer_host {
 public:
  consumer_impl(caf::actor_config& cfg, consumer_config config)
    : connection_owner(cfg, config.broker, config.topo, consumer_policy(),
                       "consumer of '" + config.queue + "'"),
      config_(std::move(config)),
      calls_(reply_queue_name(config_), reply_channel, request_channel) {
    calls_.limit_replies(config_.max_body_bytes);
    if (config_.ack_batch == 0)
      config_.ack_batch = std::max<uint16_t>(1, config_.prefetch / 5);
    core_.set_metrics(config_.connection_metrics, config_.publish_metrics);
    config_.delivery_metrics.prefetch.set(config_.prefetch);
    set_exit_handler([this](const caf::exit_msg& msg) {
      if (msg.reason == caf::exit_reason::user_shutdown) {
        begin_stop(msg.reason);
        return;
      }
      // Unacked deliveries go back to the broker when the connection closes.
      core_.close();
      quit(msg.reason);
    });
  }

  behavior_type make_behavior() override;

  // -- consumer_host ---------------------------------------------------------

  void publish(outgoing_message msg, confirm_callback confirmed) override;

  caf::error send_reply(const outgoing_message& msg) override;

  bool publishing_blocked() const override { return core_.blocked(); }

  void call(outgoing_message request, std::chrono::milliseconds timeout,
            reply_callback then) override;

  void ask(const delivery_actor& who, const envelope& msg,
           std::function<void(caf::expected<outcome>)> then) override;

  /// Reads its queue's depth and consumers into its metrics (one passive
  /// declare), now; `watch_queue` does it every few seconds.
  caf::error read_queue_counts();
  void watch_queue();

  void fail(std::string reason) override;
  void release(std::string reason) override;

  /// Its queue's spec in its topology, null when the topology has none.
  const queue_spec* own_queue() const;
  /// Whether its queue is a stream (in its topology).
  bool reads_stream() const;
  /// Whether its queue has single-active-consumer (in its topology).
  bool single_active() const;
  /// Whether deliveries that come while stopping are kept unread until the
  /// connection closes rather than given back (see `pause`).
  bool holds_late_deliveries() const;
  std::size_t working() const override;
  void after(std::chrono::milliseconds delay,
             std::function<void()> fn) override;

  void on_exit() override;

 protected:
  // -- connection_owner hooks -------------------------------------------------

  caf::error on_connected() override;

  void on_connection_lost(const std::string& why) override;

  bool keeps_connecting() const override { return !exiting_; }

  std::chrono::milliseconds next_wait() override;

  void on_idle() override;

  void on_delivery(envelope&& env, uint16_t channel) override;

  void on_consumer_cancelled(const std::string&) override;

  void on_returned(const envelope& msg, const std::string& reason) override {
    calls_.on_returned(msg, reason);
  }

  caf::error on_unblocked() override { return calls_.resume(core_.conn()); }

  caf::error on_channel_closed(uint16_t channel, int,
                               const std::string& reason) override;

 private:
  // -- starting and (re)connecting -------------------------------------------

  void start_or_reconnect();

  // A new consume channel: settlements of deliveries from an older one are
  // ignored from now on.
  caf::error open_consume_channel();

  // The broker requeues every unacked delivery of a dead channel; late
  // settlements of them carry the old generation and are ignored.
  void forget_in_flight();

  // -- deliveries and settlements --------------------------------------------

  void on_message(envelope&& env);

  /// `started`: when the delivery was handed over; `sent`: when it was
  /// sent, in milliseconds since the epoch (0 when unknown).
  void on_settled(uint64_t tag, uint64_t gen, settlement result,
                  std::chrono::steady_clock::time_point started, uint64_t sent);
  /// Counts a settlement in the actor's metrics.
  void count_settled(const settlement& result,
                     std::chrono::steady_clock::time_point started,
                     uint64_t sent);

  void requeue(uint64_t tag, const std::string& why,
               log::level lvl = log::level::info);

  // Publishes the copy and acks the delivery once the copy is confirmed; if
  // it cannot be confirmed the delivery is requeued. Nothing is dropped.
  void move_and_ack(uint64_t tag, settlement result);
  /// Requeues working delivery `tag` after a pause (its copy could not be
  /// moved).
  /// Rejects (no requeue) delivery `tag`, whose body was too large to
  /// read: the broker dead-letters it.
  void reject_oversized(uint64_t tag, const envelope& env);
  void requeue_later(uint64_t tag, std::string why);

  // Acks once enough settled deliveries lead the ledger.
  void advance();

  void flush_acks();

  void answer_drains();

  // -- pausing, stopping and ending ------------------------------------------

  void pause();

  // The hosted actor ended: even when its delivery is gone (a lost
  // connection took it back to the broker), the consumer must follow.
  // During a graceful stop the stop's own rule (wait for every delivery
  // being handled) stays.
  void begin_end(uint64_t tag, const settlement& result);

  void begin_stop(caf::error reason);

  // Exits once nothing keeps the consumer: when stopping, no delivery being
  // handled; when the hosted actor ended, its last delivery settled.
  bool may_exit() const;

  void exit_if_done();

  void fire_timer(uint64_t id);

  consumer_config config_;
  call_client calls_;
  ack_ledger ledger_;
  std::string consumer_tag_;
  // Counts consume channels: settlements of an older one are ignored.
  uint64_t generation_ = 0;
  bool started_ = false;
  bool paused_ = false;
  // Set when the consumer is to exit: by a graceful stop, or when the hosted
  // actor ended (`ending_`, after delivery `ending_tag_` settles).
  bool exiting_ = false;
  caf::error exit_reason_;
  bool ending_ = false;
  uint64_t ending_tag_ = 0;
  bool exited_ = false;
  // Callbacks of `after`, by timer id.
  std::map<uint64_t, std::function<void()>> timers_;
  uint64_t next_timer_ = 0;
  std::vector<caf::typed_response_promise<caf::ok_atom>> drains_;
  consumer_stats stats_;
  uint64_t channel_errors_ = 0;
};

} // namespace warren::bridges::detail
