#include "warren/bridges/consumer.hpp"

#include "owner/confirm_tracker.hpp"
#include "owner/connection_actor.hpp"
#include "warren/core/kill_point.hpp"
#include "warren/core/log.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <caf/all.hpp>
#include <deque>
#include <map>

namespace warren::bridges {

namespace {

constexpr uint16_t consume_channel = 3;
constexpr std::chrono::milliseconds idle_poll{200};
constexpr int events_per_poll = 256;

bool is_json_content_type(const std::string& type) {
  if (type.empty() || type == "application/json" || type == "text/json")
    return true;
  // "application/json; charset=utf-8", "application/vnd.x+json"
  auto base = type.substr(0, type.find(';'));
  return base == "application/json" || base == "text/json" ||
         (base.size() > 5 && base.compare(base.size() - 5, 5, "+json") == 0);
}

} // namespace

std::optional<outcome> prepare_delivery(envelope& env,
                                        std::size_t max_body_bytes) {
  if (env.properties.message_id.empty())
    env.properties.message_id = derive_message_id(
      env.exchange, env.routing_key, env.properties.timestamp, env.raw_body);
  if (env.raw_body.size() > max_body_bytes)
    return outcome::reject(errc::oversized_body,
                           "body of " + std::to_string(env.raw_body.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(max_body_bytes) + " bytes");
  if (!is_json_content_type(env.properties.content_type))
    return outcome::reject(errc::malformed_body,
                           "unsupported content type '" +
                             env.properties.content_type +
                             "' (expected application/json)");
  if (env.raw_body.empty()) {
    env.body = nullptr;
    return std::nullopt;
  }
  boost::json::error_code ec;
  env.body = boost::json::parse(env.raw_body, ec);
  if (ec)
    return outcome::reject(errc::malformed_body,
                           "body is not valid JSON: " + ec.message());
  return std::nullopt;
}

consumer_host::~consumer_host() = default;

delivery_handler::~delivery_handler() = default;

void delivery_handler::idle(consumer_host&) {
  // Nothing batched by default.
}

namespace {

constexpr uint16_t publish_channel = 2;

// One unacked delivery.
struct in_flight_delivery {
  enum class state : uint8_t { working, ack_due, settled };
  uint64_t tag = 0;
  state st = state::working;
  // The delivered message (deliver_atom, envelope), shared with the handler;
  // kept to build a dead letter without copying the envelope up front.
  caf::message content;
};

// Who waits for a publish on the consumer's own channel.
struct pending_confirm {
  std::function<void(const caf::error&)> confirmed;
  std::string exchange;
  std::string routing_key;
};

class consumer_impl : public detail::connection_actor, public consumer_host {
 public:
  consumer_impl(caf::actor_config& cfg, consumer_config config)
    : connection_actor(cfg), config_(std::move(config)), conn_(config_.broker) {
    if (config_.ack_batch == 0)
      config_.ack_batch = std::max<uint16_t>(1, config_.prefetch / 5);
    set_exit_handler([this](const caf::exit_msg& msg) {
      if (msg.reason == caf::exit_reason::user_shutdown) {
        begin_stop(msg.reason);
        return;
      }
      // Unacked deliveries go back to the broker when the connection closes.
      conn_.close();
      quit(msg.reason);
    });
  }

  caf::behavior make_behavior() override {
    send(this, reconnect_atom::value);
    return {
      [this](pause_atom) -> caf::ok_atom {
        pause();
        return caf::ok_atom::value;
      },
      [this](drain_atom) -> caf::result<caf::ok_atom> {
        if (in_flight_.empty())
          return caf::ok_atom::value;
        auto promise = make_response_promise();
        drains_.push_back(promise);
        return promise;
      },
      [this](stats_atom) -> consumer_stats {
        stats_.in_flight = in_flight_.size();
        stats_.consuming = !consumer_tag_.empty();
        return stats_;
      },
      [this](poll_atom) {
        poll_started();
        poll();
      },
      [this](reconnect_atom) { reconnect(); },
      [this](timer_atom, uint64_t id) {
        auto i = timers_.find(id);
        if (i == timers_.end())
          return;
        auto fn = std::move(i->second);
        timers_.erase(i);
        // A graceful stop lets batched work finish; an ended actor's code
        // never runs again.
        if (!ending_)
          fn();
      },
    };
  }

  // -- consumer_host ---------------------------------------------------------

  caf::event_based_actor* self() override { return this; }

  void after(std::chrono::milliseconds delay,
             std::function<void()> fn) override {
    auto id = ++next_timer_;
    timers_.emplace(id, std::move(fn));
    delayed_send(this, delay, timer_atom::value, id);
  }

  void publish(outgoing_message msg,
               std::function<void(const caf::error&)> confirmed) override {
    if (!conn_.connected()) {
      confirmed(make_error(errc::connection_lost, "not connected"));
      return;
    }
    if (auto err = conn_.publish(publish_channel, msg)) {
      auto callback = std::move(confirmed);
      connection_lost(describe(err));
      callback(err);
      return;
    }
    auto id = msg.properties.message_id;
    confirms_.add(std::move(id),
                  pending_confirm{std::move(confirmed), std::move(msg.exchange),
                                  std::move(msg.routing_key)});
  }

  void on_exit() override {
    // The handler (and a stateful actor's store connection with it) goes
    // now, when the actor is done, before the supervisor hears of the exit
    // and starts a successor; not when the last handle to the actor drops.
    config_.handler.reset();
    timers_.clear();
  }

 private:
  void pause() {
    paused_ = true;
    if (conn_.connected() && !consumer_tag_.empty()) {
      if (auto err = conn_.cancel(consume_channel, consumer_tag_))
        log::warning(log::scope{config_.actor_name},
                     "cancelling the consumer of '{}': {}", config_.queue,
                     describe(err));
      consumer_tag_.clear();
    }
  }

  // -- ending and stopping ----------------------------------------------------

  // Exits once nothing keeps the consumer: when stopping, no delivery being
  // handled; when the hosted actor ended, its last delivery settled.
  bool may_exit() const {
    if (!exiting_)
      return false;
    if (!conn_.connected())
      return true;
    for (const auto& slot : in_flight_)
      if (slot.st == in_flight_delivery::state::working &&
          (!ending_ || slot.tag == ending_tag_))
        return false;
    return true;
  }

  void begin_stop(caf::error reason) {
    if (!exiting_) {
      exiting_ = true;
      exit_reason_ = std::move(reason);
    }
    pause();
    exit_if_done();
  }

  void exit_if_done() {
    if (!may_exit() || exited_)
      return;

    exited_ = true;
    if (conn_.connected()) {
      // Ack every settled delivery, also those behind one still working (an
      // ended actor leaves those to the broker).
      for (const auto& slot : in_flight_)
        if (slot.st == in_flight_delivery::state::ack_due) {
          if (conn_.ack(consume_channel, slot.tag, false))
            break;
          ++stats_.acked;
        }
      conn_.close();
    }
    in_flight_.clear();
    answer_drains();
    quit(exit_reason_);
  }

  void reconnect() {
    if (conn_.connected() || exited_)
      return;
    auto err = conn_.connect();
    if (!err)
      err = conn_.declare(config_.topo);
    if (!err && !config_.no_ack)
      err = conn_.open_channel(publish_channel);
    if (!err && !config_.no_ack)
      err = conn_.confirm_select(publish_channel);
    if (!err)
      err = conn_.open_channel(consume_channel);
    if (!err && !config_.no_ack)
      err = conn_.qos(consume_channel, config_.prefetch);
    if (!err && !paused_) {
      auto tag = conn_.consume(consume_channel, config_.queue, config_.no_ack,
                               config_.exclusive);
      if (tag)
        consumer_tag_ = std::move(*tag);
      else
        err = std::move(tag.error());
    }
    if (err) {
      conn_.destroy();
      auto delay = next_backoff(config_.broker);
      log::warning(log::scope{config_.actor_name},
                   "consumer of '{}' cannot connect ({}); retrying in {} ms",
                   config_.queue, describe(err), delay.count());
      delayed_send(this, delay, reconnect_atom::value);
      return;
    }
    if (stats_.reconnects++ > 0)
      log::info(log::scope{config_.actor_name},
                "consumer of '{}' resumed on {}", config_.queue,
                conn_.endpoint_name());
    reset_backoff();
    ++generation_;
    schedule_poll();
  }

  void connection_lost(const std::string& why) {
    log::warning(log::scope{config_.actor_name},
                 "consumer of '{}' lost its connection: {}", config_.queue,
                 why);
    conn_.destroy();
    consumer_tag_.clear();
    // The broker requeues every unacked delivery of the dead channel; late
    // outcomes for them carry the old generation and are ignored.
    stats_.requeued += in_flight_.size();
    in_flight_.clear();
    for (auto& c : confirms_.take_unsettled())
      c.payload.confirmed(make_error(errc::connection_lost, why));
    answer_drains();
    if (exiting_) {
      // Stopping or ended: the broker has the unacked deliveries back.
      exit_if_done();
      return;
    }
    delayed_send(this, next_backoff(config_.broker), reconnect_atom::value);
  }

  void poll() {
    if (!conn_.connected())
      return;
    wait_for_io(conn_, idle_poll);
    // Read whatever is there even when woken by a message rather than the
    // socket: a delivery may have arrived meanwhile, and reading services
    // heartbeats.
    int events = 0;
    for (; events < events_per_poll && conn_.connected(); ++events) {
      auto ev = conn_.next_event();
      using kind = detail::amqp_event::kind;
      if (ev.what == kind::none)
        break;
      switch (ev.what) {
        case kind::delivery:
          on_delivery(std::move(ev.message));
          break;
        case kind::confirm:
          on_confirm(ev.delivery_tag, ev.multiple, ev.ack);
          break;
        case kind::returned:
          on_return(ev);
          break;
        case kind::consumer_cancelled:
          connection_lost("the broker cancelled the consumer (queue '" +
                          config_.queue + "' deleted?)");
          return;
        case kind::channel_closed:
        case kind::connection_lost:
          connection_lost(ev.reason);
          return;
        default:
          break;
      }
    }
    // Quiet socket: the handler may finish a batch (group commit), and the
    // acks we owe go now instead of waiting for a batch.
    if (events == 0) {
      if (config_.handler && !ending_)
        config_.handler->idle(*this);
      flush_acks();
    }
    if (conn_.connected())
      schedule_poll();
  }

  void on_delivery(envelope&& env) {
    ++stats_.delivered;
    env.queue = config_.queue;
    env.channel_generation = generation_;
    auto tag = env.delivery_tag;
    auto bad = prepare_delivery(env, config_.max_body_bytes);
    if (config_.no_ack) {
      if (!bad)
        send(next_target(), deliver_atom::value, std::move(env));
      return;
    }
    in_flight_.push_back(
      {tag, in_flight_delivery::state::working,
       caf::make_message(deliver_atom::value, std::move(env))});
    if (exiting_) {
      // Stopping, or the hosted actor is gone: back to the broker for
      // another consumer.
      ++stats_.requeued;
      if (auto err = conn_.nack(consume_channel, tag, false, true)) {
        connection_lost(describe(err));
        return;
      }
      in_flight_.back().st = in_flight_delivery::state::settled;
      in_flight_.back().content = caf::message{};
      return;
    }
    if (bad) {
      dead_letter(in_flight_.back(), *bad);
      return;
    }
    auto gen = generation_;
    if (config_.handler) {
      // A copy (a reference count): a handler that settles at once may see
      // its slot acked and erased before it returns.
      auto content = in_flight_.back().content;
      config_.handler->handle(*this, content, [this, tag, gen](outcome result) {
        on_outcome(tag, gen, result);
      });
      return;
    }
    request(next_target(), caf::infinite, in_flight_.back().content)
      .then([this, tag, gen](outcome& result) { on_outcome(tag, gen, result); },
            [this, tag, gen](caf::error& err) {
              // The actor died or could not answer: give the message back.
              on_outcome(tag, gen,
                         outcome::retry(errc::handler_failed,
                                        "actor failed: " + describe(err)));
            });
  }

  const caf::actor& next_target() {
    const auto& target = config_.targets[next_target_];
    next_target_ = (next_target_ + 1) % config_.targets.size();
    return target;
  }

  in_flight_delivery* find(uint64_t tag, uint64_t gen) {
    if (gen != generation_)
      return nullptr;
    // Tags on one channel increase; search rather than assume no gaps.
    auto i = std::lower_bound(
      in_flight_.begin(), in_flight_.end(), tag,
      [](const in_flight_delivery& d, uint64_t t) { return d.tag < t; });
    return i != in_flight_.end() && i->tag == tag ? &*i : nullptr;
  }

  void on_outcome(uint64_t tag, uint64_t gen, const outcome& result) {
    auto* slot = find(tag, gen);
    if (result.next != outcome::lifecycle::carry_on && !exiting_) {
      // The hosted actor ended: even when its delivery is gone (a lost
      // connection took it back to the broker), the consumer must follow.
      // During a graceful stop the stop's own rule (wait for every delivery
      // being handled) stays.
      ending_ = true;
      exiting_ = true;
      // Tags start at 1: 0 waits for no delivery.
      ending_tag_ = slot != nullptr ? tag : 0;
      if (result.next == outcome::lifecycle::actor_failed)
        exit_reason_ =
          make_error(errc::actor_failed, "actor '" + config_.actor_name +
                                           "' failed: " + result.reason);
      else
        exit_reason_ = caf::exit_reason::normal;
      pause();
      if (slot == nullptr) {
        exit_if_done();
        return;
      }
    }
    if (slot == nullptr || slot->st != in_flight_delivery::state::working)
      return;
    switch (result.what) {
      case outcome::status::done:
        slot->st = in_flight_delivery::state::ack_due;
        slot->content = caf::message{};
        break;
      case outcome::status::retry:
        requeue(*slot, result.reason);
        break;
      case outcome::status::reject:
        dead_letter(*slot, result);
        return;
      case outcome::status::republish:
        park_for_retry(*slot, result);
        return;
    }
    advance();
  }

  void on_confirm(uint64_t tag, bool multiple, bool ack) {
    confirms_.confirm(
      tag, multiple, ack, [](auto& entry, detail::confirm_result result) {
        auto& c = entry.payload;
        caf::error err;
        if (result == detail::confirm_result::nacked)
          err = make_error(errc::publish_nacked,
                           "the broker nacked message " + entry.message_id);
        else if (result == detail::confirm_result::returned)
          err = make_error(errc::unroutable,
                           "no queue took the message sent to exchange '" +
                             c.exchange + "' with routing key '" +
                             c.routing_key + "': " + entry.return_reason);
        auto callback = std::move(c.confirmed);
        callback(err);
      });
  }

  void on_return(const detail::amqp_event& ev) {
    confirms_.returned(ev.message.properties.message_id, ev.reason);
  }

  void requeue(in_flight_delivery& slot, const std::string& why) {
    log::warning(log::scope{config_.actor_name},
                 "requeueing a message of '{}': {}", config_.queue, why);
    ++stats_.requeued;
    if (auto err = conn_.nack(consume_channel, slot.tag, false, true)) {
      connection_lost(describe(err));
      return;
    }
    slot.st = in_flight_delivery::state::settled;
    slot.content = caf::message{};
  }

  void dead_letter(in_flight_delivery& slot, const outcome& why) {
    const auto& env = slot.content.get_as<envelope>(1);
    log::warning(log::scope{config_.actor_name, env.properties.message_id},
                 "dead-lettering message {} to {}: {}",
                 env.properties.message_id,
                 dead_letter_queue_name(config_.queue), why.reason);
    move_and_ack(slot, make_dead_letter(env, move_reason_of(why), why.attempt),
                 &consumer_stats::dead_lettered);
  }

  move_reason move_reason_of(const outcome& why) const {
    return {why.code, why.reason, config_.actor_name, config_.node_name};
  }

  void park_for_retry(in_flight_delivery& slot, const outcome& why) {
    const auto& env = slot.content.get_as<envelope>(1);
    move_and_ack(
      slot,
      make_retry_copy(env, move_reason_of(why), why.target_queue, why.attempt),
      &consumer_stats::retried);
  }

  // Publishes `copy` and acks the delivery once the copy is confirmed; if it
  // cannot be confirmed the delivery is requeued. Nothing is dropped.
  void move_and_ack(in_flight_delivery& slot, outgoing_message copy,
                    uint64_t consumer_stats::*counter) {
    auto tag = slot.tag;
    auto gen = generation_;
    publish(std::move(copy), [this, tag, gen, counter](const caf::error& err) {
      auto* s = find(tag, gen);
      if (s == nullptr)
        return;
      if (err) {
        requeue(*s, "moving the message failed: " + describe(err));
      } else {
        ++(stats_.*counter);
        s->st = in_flight_delivery::state::ack_due;
        s->content = caf::message{};
      }
      advance();
    });
  }

  // Acks once enough settled deliveries lead the queue.
  void advance() {
    size_t due = 0;
    for (const auto& slot : in_flight_) {
      if (slot.st == in_flight_delivery::state::working)
        break;
      if (slot.st == in_flight_delivery::state::ack_due)
        ++due;
    }
    if (due >= config_.ack_batch)
      flush_acks();
    if (exiting_)
      exit_if_done();
  }

  void flush_acks() {
    if (!conn_.connected())
      return;
    // One multiple-ack for the settled prefix, up to its last ack-due tag.
    uint64_t last_due = 0;
    size_t prefix = 0;
    size_t acked = 0;
    for (const auto& slot : in_flight_) {
      if (slot.st == in_flight_delivery::state::working)
        break;
      ++prefix;
      if (slot.st == in_flight_delivery::state::ack_due) {
        last_due = slot.tag;
        ++acked;
      }
    }
    if (last_due != 0) {
      kill_point("before_ack");
      if (auto err = conn_.ack(consume_channel, last_due, true)) {
        connection_lost(describe(err));
        return;
      }
      kill_point("after_ack");
      stats_.acked += acked;
    }
    in_flight_.erase(in_flight_.begin(),
                     in_flight_.begin() + static_cast<std::ptrdiff_t>(prefix));
    if (in_flight_.empty())
      answer_drains();
  }

  void answer_drains() {
    for (auto& promise : drains_)
      promise.deliver(caf::ok_atom::value);
    drains_.clear();
  }

  consumer_config config_;
  detail::amqp_connection conn_;
  std::string consumer_tag_;
  uint64_t generation_ = 0;
  size_t next_target_ = 0;
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
  std::deque<in_flight_delivery> in_flight_;
  detail::confirm_tracker<pending_confirm> confirms_;
  std::vector<caf::response_promise> drains_;
  consumer_stats stats_;
};

} // namespace

caf::actor spawn_consumer(caf::actor_system& sys, consumer_config cfg) {
  return sys.spawn<consumer_impl, caf::detached>(std::move(cfg));
}

} // namespace warren::bridges
