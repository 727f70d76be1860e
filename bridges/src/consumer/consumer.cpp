#include "warren/bridges/consumer.hpp"

#include "consumer/ack_ledger.hpp"
#include "owner/call_client.hpp"
#include "owner/connection_owner.hpp"
#include "warren/core/kill_point.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <map>

namespace warren::bridges {

consumer_host::~consumer_host() = default;

delivery_handler::~delivery_handler() = default;

caf::error delivery_handler::start(consumer_host&) {
  return caf::none;
}

void delivery_handler::idle(consumer_host&) {
  // Nothing batched by default.
}

namespace {

constexpr uint16_t consume_channel = 3;
constexpr uint16_t reply_channel = 4;

// The consumer's own messages on top of its public protocol.
using consumer_impl_actor =
  consumer_actor::extend<caf::reacts_to<poll_atom>,
                         caf::reacts_to<reconnect_atom>,
                         caf::reacts_to<timer_atom, uint64_t>>;

using ledger_state = detail::ack_ledger::state;

// A consumer's deliveries fail with it: its publishes fail at once while it
// is disconnected, and unconfirmed ones fail when the connection goes (the
// broker has the deliveries back anyway).
detail::confirm_policy consumer_policy() {
  detail::confirm_policy p;
  p.wait_while_disconnected = false;
  p.republish_after_loss = false;
  p.max_unconfirmed = 100000;
  return p;
}

// `warren.reply.<node>.<actor>.<random>`, within AMQP's 255 bytes.
std::string reply_queue_name(const consumer_config& cfg) {
  return "warren.reply." + cfg.node_name + "." + cfg.actor_name.substr(0, 100) +
         "." + make_message_id().substr(0, 12);
}

class consumer_impl : public detail::connection_owner<consumer_impl_actor>,
                      public consumer_host {
 public:
  consumer_impl(caf::actor_config& cfg, consumer_config config)
    : connection_owner(cfg, config.broker, config.topo, consumer_policy(),
                       "consumer of '" + config.queue + "'"),
      config_(std::move(config)),
      calls_(reply_queue_name(config_), reply_channel) {
    if (config_.ack_batch == 0)
      config_.ack_batch = std::max<uint16_t>(1, config_.prefetch / 5);
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

  behavior_type make_behavior() override {
    start_connecting();
    return {
      [this](pause_atom) -> caf::ok_atom {
        pause();
        return caf::ok_atom::value;
      },
      [this](drain_atom) -> caf::result<caf::ok_atom> {
        if (ledger_.empty())
          return caf::ok_atom::value;
        drains_.push_back(make_response_promise<caf::ok_atom>());
        return drains_.back();
      },
      [this](stats_atom) -> consumer_stats {
        stats_.in_flight = ledger_.size();
        stats_.consuming = !consumer_tag_.empty();
        stats_.reconnects = reconnects();
        stats_.channel_errors =
          channel_errors_ + core_.confirms().stats().channel_errors;
        return stats_;
      },
      [this](poll_atom) { handle_poll(); },
      [this](reconnect_atom) { start_or_reconnect(); },
      [this](timer_atom, uint64_t id) { fire_timer(id); },
    };
  }

  // -- consumer_host ---------------------------------------------------------

  void publish(outgoing_message msg, confirm_callback confirmed) override {
    connection_owner::publish(std::move(msg), std::move(confirmed));
  }

  void call(outgoing_message request, std::chrono::milliseconds timeout,
            reply_callback then) override {
    if (!calls_.is_open() && !core_.down())
      if (auto err = calls_.open(core_.conn())) {
        if (code_of(err) == errc::connection_lost)
          lose(describe(err));
        then(std::move(err));
        return;
      }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto confirmed =
      calls_.prepare(request, deadline, [then](caf::expected<envelope> reply) {
        then(reply ? detail::reply_body(*reply) : std::move(reply.error()));
      });
    publish(std::move(request), std::move(confirmed));
  }

  void ask(const delivery_actor& who, const envelope& msg,
           std::function<void(caf::expected<outcome>)> then) override {
    request(who, caf::infinite, deliver_atom::value, msg)
      .then([then](outcome& result) { then(std::move(result)); },
            [then](caf::error& err) { then(std::move(err)); });
  }

  void after(std::chrono::milliseconds delay,
             std::function<void()> fn) override {
    auto id = ++next_timer_;
    timers_.emplace(id, std::move(fn));
    delayed_send(this, delay, timer_atom::value, id);
  }

  void on_exit() override {
    // The handler (and a stateful actor's store connection with it) goes
    // now, when the actor is done, before the supervisor hears of the exit
    // and starts a successor; not when the last handle to the actor drops.
    config_.handler.reset();
    timers_.clear();
  }

 protected:
  // -- connection_owner hooks -------------------------------------------------

  caf::error on_connected() override {
    if (calls_.size() > 0)
      if (auto err = calls_.open(core_.conn()))
        return err;
    return open_consume_channel();
  }

  void on_connection_lost(const std::string& why) override {
    consumer_tag_.clear();
    forget_in_flight();
    calls_.on_connection_lost(make_error(
      errc::connection_lost, "connection lost while the call was out: " + why));
    answer_drains();
    if (exiting_)
      exit_if_done(); // The broker has the unacked deliveries back.
  }

  bool keeps_connecting() const override { return !exiting_; }

  std::chrono::milliseconds next_wait() override {
    return calls_.expire(detail::idle_poll);
  }

  void on_idle() override {
    // Quiet socket: the handler may finish a batch (group commit), and the
    // acks we owe go now instead of waiting for a batch.
    if (config_.handler && !ending_)
      config_.handler->idle(*this);
    flush_acks();
  }

  void on_delivery(envelope&& env, uint16_t channel) override {
    if (channel == reply_channel)
      calls_.on_reply(env);
    else if (channel == consume_channel)
      on_message(std::move(env));
  }

  void on_consumer_cancelled(const std::string&) override {
    // The queue is gone, and its deliveries with it: declare everything
    // again on this connection and consume afresh.
    log::warning(log::scope{config_.actor_name},
                 "the broker cancelled the consumer (queue '{}' deleted?); "
                 "declaring it again",
                 config_.queue);
    consumer_tag_.clear();
    forget_in_flight();
    auto err = core_.conn().close_channel(consume_channel);
    if (!err)
      err = core_.conn().declare(topo_);
    if (!err)
      err = open_consume_channel();
    if (err)
      lose(describe(err));
  }

  caf::error on_channel_closed(uint16_t channel, int,
                               const std::string& reason) override {
    ++channel_errors_;
    if (channel == reply_channel) {
      calls_.on_channel_closed(make_error(
        errc::channel_error, "the broker closed the reply channel: " + reason));
      return caf::none;
    }
    log::warning(log::scope{config_.actor_name},
                 "the broker closed the consume channel of '{}' ({}); its "
                 "unacked deliveries come back, consuming again",
                 config_.queue, reason);
    consumer_tag_.clear();
    forget_in_flight();
    answer_drains();
    return open_consume_channel();
  }

 private:
  // -- starting and (re)connecting -------------------------------------------

  void start_or_reconnect() {
    if (!started_) {
      started_ = true;
      // Blocking work (opening a database) happens here, on this detached
      // thread, never on CAF's scheduler.
      if (auto err = config_.handler->start(*this)) {
        log::error(log::scope{config_.actor_name}, "cannot start: {}",
                   describe(err));
        quit(err);
        return;
      }
    }
    handle_reconnect();
  }

  // A new consume channel: settlements of deliveries from an older one are
  // ignored from now on.
  caf::error open_consume_channel() {
    ++generation_;
    auto& conn = core_.conn();
    if (auto err = conn.open_channel(consume_channel))
      return err;
    if (auto err = conn.qos(consume_channel, config_.prefetch))
      return err;
    if (paused_)
      return caf::none;
    auto tag = conn.consume(consume_channel, config_.queue, false, false);
    if (!tag)
      return tag.error();
    consumer_tag_ = std::move(*tag);
    return caf::none;
  }

  // The broker requeues every unacked delivery of a dead channel; late
  // settlements of them carry the old generation and are ignored.
  void forget_in_flight() {
    stats_.requeued += ledger_.size();
    ledger_.clear();
  }

  // -- deliveries and settlements --------------------------------------------

  void on_message(envelope&& env) {
    ++stats_.delivered;
    env.queue = config_.queue;
    env.channel_generation = generation_;
    auto tag = env.delivery_tag;
    ledger_.add(tag);
    if (exiting_) {
      // Stopping, or the hosted actor is gone: back to the broker for
      // another consumer.
      requeue(tag, "the consumer is stopping", log::level::debug);
      return;
    }
    auto gen = generation_;
    auto msg = std::make_shared<envelope>(std::move(env));
    config_.handler->handle(*this, std::move(msg),
                            [this, tag, gen](settlement result) {
                              on_settled(tag, gen, std::move(result));
                            });
  }

  void on_settled(uint64_t tag, uint64_t gen, settlement result) {
    bool current = gen == generation_ && ledger_.is_working(tag);
    if (result.next != outcome::lifecycle::carry_on && !exiting_)
      begin_end(current ? tag : 0, result);
    if (!current)
      return;
    switch (result.what) {
      case settlement::action::ack:
        ledger_.settle(tag, ledger_state::ack_due);
        break;
      case settlement::action::requeue:
        requeue(tag, result.reason);
        break;
      case settlement::action::move:
        move_and_ack(tag, std::move(result));
        return;
    }
    advance();
  }

  void requeue(uint64_t tag, const std::string& why,
               log::level lvl = log::level::info) {
    log::emit(lvl, log::scope{config_.actor_name},
              "requeueing a message of '{}': {}", config_.queue, why);
    ++stats_.requeued;
    if (auto err = core_.conn().nack(consume_channel, tag, false, true)) {
      lose(describe(err));
      return;
    }
    ledger_.settle(tag, ledger_state::settled);
  }

  // Publishes the copy and acks the delivery once the copy is confirmed; if
  // it cannot be confirmed the delivery is requeued. Nothing is dropped.
  void move_and_ack(uint64_t tag, settlement result) {
    auto gen = generation_;
    auto dead_letter = result.dead_letter;
    auto target = result.copy.routing_key;
    if (dead_letter)
      log::warning(
        log::scope{config_.actor_name, result.copy.properties.message_id},
        "dead-lettering message {} to {}: {}",
        result.copy.properties.message_id, target, result.reason);
    publish(std::move(result.copy), [this, tag, gen, dead_letter,
                                     target](const caf::error& err) {
      // A lost connection has given the delivery back already.
      if (core_.down() || gen != generation_ || !ledger_.is_working(tag))
        return;
      if (err) {
        requeue(tag, "moving the message to '" + target +
                       "' failed: " + describe(err));
      } else {
        ++(dead_letter ? stats_.dead_lettered : stats_.retried);
        ledger_.settle(tag, ledger_state::ack_due);
      }
      advance();
    });
  }

  // Acks once enough settled deliveries lead the ledger.
  void advance() {
    if (ledger_.settled_prefix().due >= config_.ack_batch)
      flush_acks();
    if (exiting_)
      exit_if_done();
  }

  void flush_acks() {
    if (core_.down())
      return;
    auto prefix = ledger_.settled_prefix();
    if (prefix.last_due != 0) {
      kill_point("before_ack");
      if (auto err = core_.conn().ack(consume_channel, prefix.last_due, true)) {
        lose(describe(err));
        return;
      }
      kill_point("after_ack");
      stats_.acked += prefix.due;
    }
    ledger_.drop_front(prefix.length);
    if (ledger_.empty())
      answer_drains();
  }

  void answer_drains() {
    for (auto& promise : drains_)
      promise.deliver(caf::ok_atom::value);
    drains_.clear();
  }

  // -- pausing, stopping and ending ------------------------------------------

  void pause() {
    paused_ = true;
    if (!core_.down() && !consumer_tag_.empty()) {
      if (auto err = core_.conn().cancel(consume_channel, consumer_tag_))
        log::warning(log::scope{config_.actor_name},
                     "cancelling the consumer of '{}': {}", config_.queue,
                     describe(err));
      consumer_tag_.clear();
    }
  }

  // The hosted actor ended: even when its delivery is gone (a lost
  // connection took it back to the broker), the consumer must follow.
  // During a graceful stop the stop's own rule (wait for every delivery
  // being handled) stays.
  void begin_end(uint64_t tag, const settlement& result) {
    ending_ = true;
    exiting_ = true;
    // Tags start at 1: 0 waits for no delivery.
    ending_tag_ = tag;
    if (result.next == outcome::lifecycle::actor_failed)
      exit_reason_ =
        make_error(errc::actor_failed, "actor '" + config_.actor_name +
                                         "' failed: " + result.reason);
    else
      exit_reason_ = caf::exit_reason::normal;
    pause();
    if (tag == 0)
      exit_if_done();
  }

  void begin_stop(caf::error reason) {
    if (!exiting_) {
      exiting_ = true;
      exit_reason_ = std::move(reason);
    }
    pause();
    exit_if_done();
  }

  // Exits once nothing keeps the consumer: when stopping, no delivery being
  // handled; when the hosted actor ended, its last delivery settled.
  bool may_exit() const {
    if (!exiting_)
      return false;
    if (core_.down())
      return true;
    return ending_ ? !ledger_.is_working(ending_tag_) : !ledger_.any_working();
  }

  void exit_if_done() {
    if (!may_exit() || exited_)
      return;
    exited_ = true;
    if (!core_.down()) {
      // Ack every settled delivery, also those behind one still working (an
      // ended actor leaves those to the broker).
      for (auto tag : ledger_.all_due()) {
        if (core_.conn().ack(consume_channel, tag, false))
          break;
        ++stats_.acked;
      }
      core_.close();
    }
    ledger_.clear();
    calls_.fail_all(make_error(errc::shutting_down, "the consumer stopped"));
    answer_drains();
    quit(exit_reason_);
  }

  void fire_timer(uint64_t id) {
    auto i = timers_.find(id);
    if (i == timers_.end())
      return;
    auto fn = std::move(i->second);
    timers_.erase(i);
    // A graceful stop lets batched work finish; an ended actor's code never
    // runs again.
    if (!ending_)
      fn();
  }

  consumer_config config_;
  detail::call_client calls_;
  detail::ack_ledger ledger_;
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

} // namespace

consumer_actor spawn_consumer(caf::actor_system& sys, consumer_config cfg) {
  return sys.spawn<consumer_impl, caf::detached>(std::move(cfg));
}

} // namespace warren::bridges
