// The consumer bridge: its connection-owner hooks and what it offers the
// handler it runs (see consumer_impl.hpp).

#include "consumer/consumer_impl.hpp"

#include "warren/core/log.hpp"

namespace warren::bridges {

consumer_host::~consumer_host() = default;

bool consumer_host::publishing_blocked() const {
  return false;
}

delivery_handler::~delivery_handler() = default;

caf::error delivery_handler::start(consumer_host&) {
  return caf::none;
}

void delivery_handler::idle(consumer_host&) {
  // Nothing batched by default.
}

void delivery_handler::acked(uint64_t, uint64_t, bool) {
  // Nothing by default.
}

void delivery_handler::connection_lost(consumer_host&) {
  // Nothing by default.
}

consumer_actor spawn_consumer(caf::actor_system& sys, consumer_config cfg) {
  return sys.spawn<detail::consumer_impl, caf::detached>(std::move(cfg));
}

} // namespace warren::bridges

namespace warren::bridges::detail {

namespace {

// How often a consumer reads its queue's depth (metrics on).
constexpr std::chrono::seconds queue_watch_interval{5};

} // namespace

// A consumer's deliveries fail with it: its publishes fail at once while it
// is disconnected, and unconfirmed ones fail when the connection goes (the
// broker has the deliveries back anyway).
confirm_policy consumer_policy() {
  confirm_policy p;
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

consumer_impl::behavior_type consumer_impl::make_behavior() {
  start_connecting();
  if (config_.watch_queue && config_.delivery_metrics.queue_messages)
    after(queue_watch_interval, [this] { watch_queue(); });
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

void consumer_impl::publish(outgoing_message msg, confirm_callback confirmed) {
  connection_owner::publish(std::move(msg), std::move(confirmed));
}

caf::error consumer_impl::send_reply(const outgoing_message& msg) {
  if (core_.down())
    return make_error(errc::connection_lost, "not connected");
  auto err = core_.conn().publish(consume_channel, msg);
  if (err)
    lose(describe(err));
  return err;
}

void consumer_impl::call(outgoing_message request,
                         std::chrono::milliseconds timeout,
                         reply_callback then) {
  if (core_.down()) {
    // The delivery that makes the call is back in the broker already.
    then(make_error(errc::connection_lost, "not connected"));
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto err =
    calls_.call(core_.conn(), std::move(request), deadline,
                [then](caf::expected<envelope> reply) {
                  then(reply ? reply_body(*reply) : std::move(reply.error()));
                });
  if (err)
    lose(describe(err));
}

void consumer_impl::ask(const delivery_actor& who, const envelope& msg,
                        std::function<void(caf::expected<outcome>)> then) {
  request(who, caf::infinite, deliver_atom::value, msg)
    .then([then](outcome& result) { then(std::move(result)); },
          [then](caf::error& err) { then(std::move(err)); });
}

caf::error consumer_impl::read_queue_counts() {
  auto counts = core_.conn().queue_counts(config_.queue);
  if (!counts)
    return counts.error();
  config_.delivery_metrics.queue_messages.set(counts->first);
  config_.delivery_metrics.queue_consumers.set(counts->second);
  return caf::none;
}

void consumer_impl::watch_queue() {
  // A blocked connection may not be read by the broker: no RPC then.
  if (!core_.down() && !core_.blocked() && !exiting_)
    if (auto err = read_queue_counts(); code_of(err) == errc::connection_lost)
      lose(describe(err));
  if (!exiting_)
    after(queue_watch_interval, [this] { watch_queue(); });
}

void consumer_impl::after(std::chrono::milliseconds delay,
                          std::function<void()> fn) {
  auto id = ++next_timer_;
  timers_.emplace(id, std::move(fn));
  delayed_send(this, delay, timer_atom::value, id);
}

void consumer_impl::fail(std::string reason) {
  if (exiting_)
    return;
  settlement failed;
  failed.next = outcome::lifecycle::actor_failed;
  failed.reason = std::move(reason);
  // Waits for no delivery: whatever is still working is given back.
  begin_end(0, failed);
}

void consumer_impl::release(std::string reason) {
  if (exiting_)
    return;
  log::info(log::scope{config_.actor_name}, "leaving '{}': {}", config_.queue,
            reason);
  ending_ = true;
  exiting_ = true;
  ending_tag_ = 0;
  exit_reason_ = make_error(errc::released, std::move(reason));
  // No basic.cancel first: single-active-consumer would activate the next
  // consumer at once, and it could take newer messages before the ones this
  // consumer gives back (a key's order). Closing the connection gives them
  // back and activates the next one in the same step.
  exit_if_done();
}

const queue_spec* consumer_impl::own_queue() const {
  for (const auto& q : config_.topo.queues)
    if (q.name == config_.queue)
      return &q;
  return nullptr;
}

bool consumer_impl::reads_stream() const {
  const auto* q = own_queue();
  return q != nullptr && q->type == queue_type::stream;
}

bool consumer_impl::single_active() const {
  const auto* q = own_queue();
  return q != nullptr && q->single_active_consumer;
}

bool consumer_impl::holds_late_deliveries() const {
  // Still registered with the broker (no cancel was sent), which would
  // deliver a given-back message to this consumer again at once.
  return (exiting_ || paused_) && !consumer_tag_.empty() && single_active();
}

std::size_t consumer_impl::working() const {
  return ledger_.working();
}

void consumer_impl::on_exit() {
  // However the actor ends (a kill skips the exit handler), its connection
  // closes now, so the broker gives its unacked deliveries to another
  // consumer at once rather than when the last handle to the actor drops.
  core_.close();
  // The handler (and a stateful actor's store connection with it) goes
  // now too, before the supervisor hears of the exit and starts a
  // successor.
  config_.handler.reset();
  timers_.clear();
}

caf::error consumer_impl::on_connected() {
  // The reply queue is declared at the first call, not for every consumer.
  return open_consume_channel();
}

void consumer_impl::on_connection_lost(const std::string& why) {
  consumer_tag_.clear();
  config_.delivery_metrics.consuming.set(0);
  forget_in_flight();
  calls_.on_connection_lost(make_error(
    errc::connection_lost, "connection lost while the call was out: " + why));
  answer_drains();
  if (config_.handler && !exiting_)
    config_.handler->connection_lost(*this);
  if (exiting_)
    exit_if_done(); // The broker has the unacked deliveries back.
}

std::chrono::milliseconds consumer_impl::next_wait() {
  return calls_.expire(idle_poll);
}

void consumer_impl::on_idle() {
  // Quiet socket: the handler may finish a batch (group commit), and the
  // acks we owe go now instead of waiting for a batch.
  if (config_.handler && !ending_)
    config_.handler->idle(*this);
  flush_acks();
}

void consumer_impl::on_delivery(envelope&& env, uint16_t channel) {
  if (channel == reply_channel)
    calls_.on_reply(env);
  else if (channel == consume_channel)
    on_message(std::move(env));
}

void consumer_impl::on_consumer_cancelled(const std::string&) {
  // The queue is gone, and its deliveries with it: declare everything
  // again on this connection and consume afresh.
  log::warning(log::scope{config_.actor_name},
               "the broker cancelled the consumer (queue '{}' deleted?); "
               "declaring it again",
               config_.queue);
  consumer_tag_.clear();
  config_.delivery_metrics.consuming.set(0);
  forget_in_flight();
  auto err = core_.conn().close_channel(consume_channel);
  if (!err)
    err = core_.conn().declare(topo_);
  if (!err)
    err = open_consume_channel();
  if (err)
    lose(describe(err));
}

caf::error consumer_impl::on_channel_closed(uint16_t channel, int,
                                            const std::string& reason) {
  ++channel_errors_;
  if (channel == reply_channel || channel == request_channel) {
    calls_.on_channel_closed(
      make_error(errc::channel_error,
                 "the broker closed the channel of calls: " + reason));
    return caf::none;
  }
  log::warning(log::scope{config_.actor_name},
               "the broker closed the consume channel of '{}' ({}); its "
               "unacked deliveries come back, consuming again",
               config_.queue, reason);
  consumer_tag_.clear();
  config_.delivery_metrics.consuming.set(0);
  forget_in_flight();
  answer_drains();
  return open_consume_channel();
}

void consumer_impl::start_or_reconnect() {
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

caf::error consumer_impl::open_consume_channel() {
  ++generation_;
  auto& conn = core_.conn();
  if (auto err = conn.open_channel(consume_channel))
    return err;
  if (auto err = conn.qos(consume_channel, config_.prefetch))
    return err;
  // A body too large is rejected unread only where the broker routes what
  // is rejected: elsewhere it must be read to be dead-lettered, not lost.
  conn.set_body_limit(consume_channel, conn.routes_dead_letters(config_.queue)
                                         ? config_.max_body_bytes
                                         : 0);
  if (paused_)
    return caf::none;
  auto tag = conn.consume(
    consume_channel, config_.queue, false, false,
    config_.consume_arguments ? config_.consume_arguments() : field_table{});
  if (!tag)
    return tag.error();
  consumer_tag_ = std::move(*tag);
  config_.delivery_metrics.consuming.set(1);
  // The queue's figures at once, not only after the first interval (a
  // lost connection is found by the poll loop, not here mid-connect).
  if (config_.watch_queue && config_.delivery_metrics.queue_messages)
    (void)read_queue_counts();
  return caf::none;
}

void consumer_impl::forget_in_flight() {
  stats_.requeued += ledger_.size();
  ledger_.clear();
  config_.delivery_metrics.in_flight.set(0);
}

void consumer_impl::fire_timer(uint64_t id) {
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

} // namespace warren::bridges::detail
