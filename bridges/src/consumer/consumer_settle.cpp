// The consumer bridge: its deliveries and their settlements, the ack
// ledger, and pausing, stopping and ending (see consumer_impl.hpp).

#include "consumer/consumer_impl.hpp"
#include "warren/core/kill_point.hpp"
#include "warren/core/log.hpp"

namespace warren::bridges::detail {

namespace {

// How long a delivery whose copy could not be moved waits before it goes
// back to its queue.
constexpr std::chrono::milliseconds move_retry_delay{1000};

// When a message was sent, in milliseconds since the epoch (0: unknown):
// the header `timestamp_in_ms` (RabbitMQ's message timestamp plugin sets
// it; so may clients) when present, else the timestamp property, which has
// whole seconds.
uint64_t sent_at_ms(const message_properties& props) {
  if (const auto* v = find_field(props.headers, "timestamp_in_ms"))
    if (const auto* ms = std::get_if<int64_t>(v); ms && *ms > 0)
      return static_cast<uint64_t>(*ms);
  return props.timestamp * 1000;
}

} // namespace

void consumer_impl::on_message(envelope&& env) {
  ++stats_.delivered;
  if (holds_late_deliveries()) {
    // Not in the ledger, never settled: the connection's close gives it
    // back, before newer messages, to the queue's next consumer. Every tag
    // in the ledger is older, so no multiple-ack covers it.
    log::debug(log::scope{config_.actor_name},
               "holding a message of '{}' until the consumer closes",
               config_.queue);
    return;
  }
  const auto& metrics = config_.delivery_metrics;
  env.queue = config_.queue;
  env.channel_generation = generation_;
  auto tag = env.delivery_tag;
  ledger_.add(tag);
  metrics.in_flight.set(static_cast<double>(ledger_.size()));
  if (exiting_ || paused_) {
    // Stopping, or the hosted actor is gone: back to the broker for
    // another consumer.
    requeue(tag, "the consumer is stopping", log::level::debug);
    return;
  }
  // Counted once it is the actor's (not when given back unread).
  metrics.received.inc();
  if (env.body_dropped) {
    reject_oversized(tag, env);
    return;
  }
  auto gen = generation_;
  // Headers are read for the latency only when someone looks at it.
  auto sent = metrics.latency_seconds ? sent_at_ms(env.properties) : 0;
  // Only read the clock when someone looks at the figure.
  auto started = metrics.handler_seconds
                   ? std::chrono::steady_clock::now()
                   : std::chrono::steady_clock::time_point{};
  auto msg = std::make_shared<envelope>(std::move(env));
  config_.handler->handle(
    *this, std::move(msg), [this, tag, gen, started, sent](settlement result) {
      on_settled(tag, gen, std::move(result), started, sent);
    });
}

void consumer_impl::count_settled(const settlement& result,
                                  std::chrono::steady_clock::time_point started,
                                  uint64_t sent) {
  auto& metrics = config_.delivery_metrics;
  // A move counts as retried or dead-lettered once its copy is confirmed
  // (move_and_ack): a copy that cannot be moved goes back to the queue.
  switch (result.what) {
    case settlement::action::ack:
      metrics.handled.inc();
      if (result.duplicate)
        metrics.duplicates.inc();
      break;
    case settlement::action::requeue:
      metrics.failed.of(result.code).inc();
      metrics.retried.inc();
      break;
    case settlement::action::move:
      metrics.failed.of(result.code).inc();
      break;
  }
  if (!metrics.handler_seconds)
    return;
  auto now = std::chrono::steady_clock::now();
  metrics.handler_seconds.observe(
    std::chrono::duration<double>(now - started).count());
  if (sent != 0) {
    // Clocks of other hosts may be behind: never below 0.
    auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    metrics.latency_seconds.observe(std::max(
      0.0, static_cast<double>(wall_ms - static_cast<int64_t>(sent)) / 1000.0));
  }
}

void consumer_impl::on_settled(uint64_t tag, uint64_t gen, settlement result,
                               std::chrono::steady_clock::time_point started,
                               uint64_t sent) {
  bool current = gen == generation_ && ledger_.is_working(tag);
  if (current)
    count_settled(result, started, sent);
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

void consumer_impl::reject_oversized(uint64_t tag, const envelope& env) {
  // Its body was never held (bounded memory): the broker dead-letters the
  // message, intact, to the queue's dead-letter route (`<queue>.dlq`, with
  // x-first-death-reason "rejected").
  log::error(log::scope{config_.actor_name, env.properties.message_id,
                        trace_of(env.properties)},
             "message {} of '{}': its body of {} bytes exceeds the limit of "
             "{} bytes; rejected to the queue's dead-letter route",
             env.properties.message_id, config_.queue, env.body_size,
             config_.max_body_bytes);
  if (auto err = core_.conn().nack(consume_channel, tag, false, false)) {
    lose(describe(err));
    return;
  }
  ++stats_.dead_lettered;
  config_.delivery_metrics.failed.of(errc::oversized_body).inc();
  config_.delivery_metrics.dead_lettered.of(errc::oversized_body).inc();
  ledger_.settle(tag, ledger_state::settled);
  advance();
}

void consumer_impl::requeue(uint64_t tag, const std::string& why,
                            log::level lvl) {
  log::emit(lvl, log::scope{config_.actor_name},
            "requeueing a message of '{}': {}", config_.queue, why);
  if (reads_stream()) {
    // A stream refuses nack and reject (it closes the connection): its
    // records stay in it, and the reader resumes from its own offset, so
    // the delivery is only let go.
    ledger_.settle(tag, ledger_state::ack_due);
    return;
  }
  ++stats_.requeued;
  if (auto err = core_.conn().nack(consume_channel, tag, false, true)) {
    lose(describe(err));
    return;
  }
  ledger_.settle(tag, ledger_state::settled);
}

void consumer_impl::move_and_ack(uint64_t tag, settlement result) {
  auto gen = generation_;
  auto dead_letter = result.dead_letter;
  auto code = result.code;
  auto& copy = *result.copy;
  auto target = copy.routing_key;
  if (dead_letter)
    log::warning(log::scope{config_.actor_name, copy.properties.message_id,
                            trace_of(copy.properties)},
                 "dead-lettering message {} to {}: {}",
                 copy.properties.message_id, target, result.reason);
  publish(std::move(copy),
          [this, tag, gen, dead_letter, code, target](const caf::error& err) {
            // A lost connection has given the delivery back already.
            if (core_.down() || gen != generation_ || !ledger_.is_working(tag))
              return;
            if (err) {
              requeue_later(tag, "moving the message to '" + target +
                                   "' failed: " + describe(err));
              return;
            }
            ++(dead_letter ? stats_.dead_lettered : stats_.retried);
            if (dead_letter)
              config_.delivery_metrics.dead_lettered.of(code).inc();
            else
              config_.delivery_metrics.retried.inc();
            ledger_.settle(tag, ledger_state::ack_due);
            advance();
          });
}

void consumer_impl::requeue_later(uint64_t tag, std::string why) {
  // At once, the same copy would be refused again in a tight loop (a
  // missing or full .dlq): the delivery goes back after a pause.
  log::error(log::scope{config_.actor_name},
             "{}; the message goes back to '{}' in {} ms", why, config_.queue,
             move_retry_delay.count());
  auto gen = generation_;
  after(move_retry_delay, [this, tag, gen, why = std::move(why)] {
    if (core_.down() || gen != generation_ || !ledger_.is_working(tag))
      return;
    requeue(tag, why, log::level::debug);
    advance();
  });
}

void consumer_impl::advance() {
  if (ledger_.settled_prefix().due >= config_.ack_batch)
    flush_acks();
  if (exiting_)
    exit_if_done();
}

void consumer_impl::flush_acks() {
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
    config_.handler->acked(generation_, prefix.last_due, true);
  }
  ledger_.drop_front(prefix.length);
  config_.delivery_metrics.in_flight.set(static_cast<double>(ledger_.size()));
  if (ledger_.empty())
    answer_drains();
}

void consumer_impl::answer_drains() {
  for (auto& promise : drains_)
    promise.deliver(caf::ok_atom::value);
  drains_.clear();
}

void consumer_impl::pause() {
  paused_ = true;
  // The broker stops reading a connection it blocked once it published:
  // a cancel would wait for an answer that cannot come. What is still
  // delivered is given back unread (`on_message`), and the close returns
  // the rest.
  if (core_.blocked())
    return;
  // On a single-active-consumer queue (a shard) a cancel would make the
  // broker activate the next consumer at once, while this one still
  // finishes the deliveries it holds: the next one would take newer
  // messages before those come back (a key's order), and claim a shard
  // whose unit this one is still building (fencing it: work done twice).
  // So such a consumer stays registered, holds what is still delivered
  // (`on_message`), and its connection's close gives everything back and
  // activates the next consumer in one step, as `release` does.
  if (single_active()) {
    config_.delivery_metrics.consuming.set(0);
    return;
  }
  if (!core_.down() && !consumer_tag_.empty()) {
    if (auto err = core_.conn().cancel(consume_channel, consumer_tag_))
      log::warning(log::scope{config_.actor_name},
                   "cancelling the consumer of '{}': {}", config_.queue,
                   describe(err));
    consumer_tag_.clear();
    config_.delivery_metrics.consuming.set(0);
  }
}

void consumer_impl::begin_end(uint64_t tag, const settlement& result) {
  ending_ = true;
  exiting_ = true;
  // Tags start at 1: 0 waits for no delivery.
  ending_tag_ = tag;
  if (result.next == outcome::lifecycle::actor_failed)
    exit_reason_ =
      make_error(errc::actor_failed,
                 "actor '" + config_.actor_name + "' failed: " + result.reason);
  else
    exit_reason_ = caf::exit_reason::normal;
  pause();
  if (tag == 0)
    exit_if_done();
}

void consumer_impl::begin_stop(caf::error reason) {
  if (!exiting_) {
    exiting_ = true;
    exit_reason_ = std::move(reason);
  }
  pause();
  exit_if_done();
}

bool consumer_impl::may_exit() const {
  if (!exiting_)
    return false;
  if (core_.down())
    return true;
  return ending_ ? !ledger_.is_working(ending_tag_) : !ledger_.any_working();
}

void consumer_impl::exit_if_done() {
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
      config_.handler->acked(generation_, tag, false);
    }
    core_.close();
  }
  ledger_.clear();
  config_.delivery_metrics.in_flight.set(0);
  calls_.fail_all(make_error(errc::shutting_down, "the consumer stopped"));
  answer_drains();
  quit(exit_reason_);
}

} // namespace warren::bridges::detail
