#include "owner/confirm_channel.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"
#include "wire/amqp_connection.hpp"

#include <optional>

namespace warren::bridges::detail {

confirm_channel::confirm_channel(confirm_policy policy, std::string owner)
  : policy_(policy), owner_(std::move(owner)) {
  // Nothing else to do.
}

caf::error confirm_channel::open(amqp_connection& conn) {
  if (auto err = conn.open_channel(publish_channel))
    return err;
  if (auto err = conn.confirm_select(publish_channel))
    return err;
  open_ = true;
  return pump(conn);
}

caf::error confirm_channel::publish(amqp_connection& conn, outgoing_message msg,
                                    callback done) {
  if (!open_ || !conn.connected()) {
    if (!policy_.wait_while_disconnected) {
      done(make_error(errc::connection_lost, "not connected"));
      return caf::none;
    }
    waiting_.push_back(pending{std::move(msg), std::move(done)});
    return caf::none;
  }
  if (probing() || !waiting_.empty() || conn.blocked() ||
      tracker_.size() >= policy_.max_unconfirmed) {
    waiting_.push_back(pending{std::move(msg), std::move(done)});
    return caf::none;
  }
  return publish_now(conn, pending{std::move(msg), std::move(done)});
}

caf::error confirm_channel::publish_now(amqp_connection& conn, pending p) {
  if (auto err = conn.publish(publish_channel, p.msg)) {
    // The connection is gone; the message is kept for `on_connection_lost`
    // in its place: after everything published before it.
    waiting_.push_front(std::move(p));
    return err;
  }
  ++stats_.published;
  metrics_.published.inc();
  if (metrics_.confirm_seconds)
    p.sent = std::chrono::steady_clock::now();
  auto id = p.msg.properties.message_id;
  tracker_.add(std::move(id), std::move(p));
  metrics_.unconfirmed.set(static_cast<double>(tracker_.size()));
  return caf::none;
}

caf::error confirm_channel::pump(amqp_connection& conn) {
  // Blocked: publishes wait, in order, until the broker unblocks.
  if (!open_ || conn.blocked())
    return caf::none;
  if (probing()) {
    if (probe_out_ || !tracker_.empty() || doubtful_.empty())
      return caf::none;
    auto next = std::move(doubtful_.front());
    doubtful_.pop_front();
    probe_out_ = true;
    return publish_now(conn, std::move(next));
  }
  while (!waiting_.empty() && tracker_.size() < policy_.max_unconfirmed) {
    auto next = std::move(waiting_.front());
    waiting_.pop_front();
    if (auto err = publish_now(conn, std::move(next)))
      return err;
  }
  return caf::none;
}

void confirm_channel::settle(typename confirm_tracker<pending>::entry& e,
                             confirm_result result) {
  auto& msg = e.payload.msg;
  caf::error err;
  if (metrics_.confirm_seconds)
    metrics_.confirm_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                    e.payload.sent)
        .count());
  switch (result) {
    case confirm_result::confirmed:
      ++stats_.confirmed;
      metrics_.confirmed.inc();
      break;
    case confirm_result::nacked:
      ++stats_.nacked;
      metrics_.nacked.inc();
      err = make_error(errc::publish_nacked,
                       "the broker nacked message " + e.message_id);
      break;
    case confirm_result::returned:
      ++stats_.returned;
      metrics_.returned.inc();
      err = make_error(errc::unroutable,
                       "no queue took the message sent to exchange '" +
                         msg.exchange + "' with routing key '" +
                         msg.routing_key + "': " + e.return_reason);
      break;
  }
  // Moved out first: the callback may publish again, or end its owner.
  auto done = std::move(e.payload.done);
  done(err);
}

caf::error confirm_channel::on_confirm(amqp_connection& conn, uint64_t tag,
                                       bool multiple, bool ack) {
  tracker_.confirm(tag, multiple, ack,
                   [this](auto& e, confirm_result r) { settle(e, r); });
  metrics_.unconfirmed.set(static_cast<double>(tracker_.size()));
  if (probe_out_ && tracker_.empty())
    probe_out_ = false;
  return pump(conn);
}

void confirm_channel::on_return(const amqp_event& ev) {
  tracker_.returned(ev.message.properties.message_id, ev.reason);
}

caf::error confirm_channel::on_closed(amqp_connection& conn, int reply_code,
                                      const std::string& reason) {
  ++stats_.channel_errors;
  open_ = false;
  auto unsettled = tracker_.take_unsettled();
  bool known = probe_out_ || unsettled.size() == 1;
  probe_out_ = false;
  std::optional<pending> culprit;
  if (known && !unsettled.empty()) {
    culprit = std::move(unsettled.front().payload);
  } else {
    if (!unsettled.empty())
      log::warning("{}: the broker closed the publish channel ({}); "
                   "publishing {} unconfirmed messages again one at a time to "
                   "find the one it refuses",
                   owner_, reason, unsettled.size());
    for (auto i = unsettled.rbegin(); i != unsettled.rend(); ++i)
      doubtful_.push_front(std::move(i->payload));
  }
  auto reopen_error = open(conn);
  if (culprit) {
    if (reopen_error) {
      // Stays in doubt, for the connection's own loss path.
      doubtful_.push_front(std::move(*culprit));
      return reopen_error;
    }
    auto& msg = culprit->msg;
    auto text = "publishing to exchange '" + msg.exchange +
                "' with routing key '" + msg.routing_key + "': " + reason;
    log::warning("{}: the broker refused message {} and closed the channel: "
                 "{}",
                 owner_, msg.properties.message_id, text);
    auto done = std::move(culprit->done);
    done(make_error(errc_of_reply_code(reply_code), text));
  }
  return reopen_error;
}

void confirm_channel::on_connection_lost(const std::string& why) {
  open_ = false;
  probe_out_ = false;
  std::deque<pending> published;
  for (auto& e : tracker_.take_unsettled())
    published.push_back(std::move(e.payload));
  for (auto& p : doubtful_)
    published.push_back(std::move(p));
  doubtful_.clear();
  auto err = make_error(errc::connection_lost,
                        "the connection was lost before the broker confirmed "
                        "the message: " +
                          why);
  std::deque<pending> failed;
  if (policy_.republish_after_loss) {
    stats_.republished += published.size();
    for (auto i = published.rbegin(); i != published.rend(); ++i)
      waiting_.push_front(std::move(*i));
  } else {
    failed = std::move(published);
  }
  if (!policy_.wait_while_disconnected) {
    for (auto& p : waiting_)
      failed.push_back(std::move(p));
    waiting_.clear();
  }
  for (auto& p : failed) {
    auto done = std::move(p.done);
    done(err);
  }
}

void confirm_channel::fail_all(const caf::error& err) {
  std::deque<pending> failed;
  for (auto& e : tracker_.take_unsettled())
    failed.push_back(std::move(e.payload));
  for (auto* queue : {&doubtful_, &waiting_}) {
    for (auto& p : *queue)
      failed.push_back(std::move(p));
    queue->clear();
  }
  probe_out_ = false;
  for (auto& p : failed) {
    auto done = std::move(p.done);
    done(err);
  }
}

} // namespace warren::bridges::detail
