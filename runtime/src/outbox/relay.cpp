#include "outbox/relay.hpp"

#include "warren/core/dead_letter.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/kill_point.hpp"
#include "warren/core/log.hpp"

namespace warren::detail {

outbox_relay::outbox_relay(std::string actor, std::string node,
                           std::string queue, std::size_t max_unconfirmed)
  : actor_(std::move(actor)), node_(std::move(node)), queue_(std::move(queue)),
    max_unconfirmed_(max_unconfirmed) {
  // Nothing else to do.
}

void outbox_relay::restore(std::vector<runtime::outbox_row> rows) {
  for (auto& row : rows) {
    if (row.damaged.empty())
      continue;
    // What it was meant to be is unknown: its text goes to the dead-letter
    // queue for a person to look at, and the row leaves the outbox once
    // that copy is confirmed.
    log::error(log::scope{actor_}, "{}; dead-lettering its text", row.damaged);
    message_properties props;
    props.message_id = "outbox-row-" + std::to_string(row.id);
    props.content_type = "application/octet-stream";
    row.message =
      make_dead_letter(props, row.message.body, "", "", queue_,
                       {errc::store_failed, row.damaged, actor_, node_}, 1);
    ++dead_lettered_;
  }
  committed(std::move(rows));
}

void outbox_relay::committed(std::vector<runtime::outbox_row> rows) {
  for (auto& row : rows) {
    unconfirmed_.emplace(row.id, std::move(row.message));
    to_publish_.push_back(row.id);
  }
}

void outbox_relay::relay(const publisher& publish) {
  auto rows = std::move(to_publish_);
  to_publish_.clear();
  for (auto id : rows) {
    auto i = unconfirmed_.find(id);
    if (i == unconfirmed_.end())
      continue;
    publish(i->second,
            [this, id](const caf::error& err) { on_confirm(id, err); });
    kill_point("during_publish");
  }
}

std::vector<int64_t> outbox_relay::take_confirmed() {
  auto rows = std::move(confirmed_);
  confirmed_.clear();
  return rows;
}

void outbox_relay::keep_confirmed(std::vector<int64_t> rows) {
  confirmed_.insert(confirmed_.end(), rows.begin(), rows.end());
}

void outbox_relay::on_confirm(int64_t row, const caf::error& err) {
  auto i = unconfirmed_.find(row);
  if (i == unconfirmed_.end())
    return;
  if (!err) {
    unconfirmed_.erase(i);
    confirmed_.push_back(row);
    return;
  }
  if (code_of(err) == errc::connection_lost) {
    to_publish_.push_back(row); // At the next relay, on a new connection.
    return;
  }
  if (code_of(err) == errc::publish_nacked) {
    // The broker could not take it now (a quorum queue electing a new
    // leader after a broker died, a full queue that rejects publishes): it
    // is published again at the next relay, not dead-lettered. Meanwhile
    // it stays in the outbox, whose bound holds new work back.
    const auto& nacked = i->second.properties;
    log::debug(log::scope{actor_, nacked.message_id, trace_of(nacked)},
               "outbox message {} nacked by the broker; publishing it again",
               nacked.message_id);
    to_publish_.push_back(row);
    return;
  }
  auto& msg = i->second;
  if (msg.routing_key == dead_letter_queue_name(queue_) &&
      msg.exchange.empty()) {
    // The dead-letter copy itself was refused: try again at the next relay
    // rather than in a loop.
    log::error(
      log::scope{actor_, msg.properties.message_id, trace_of(msg.properties)},
      "outbox message {} cannot be dead-lettered either: {}",
      msg.properties.message_id, describe(err));
    to_publish_.push_back(row);
    return;
  }
  log::warning(
    log::scope{actor_, msg.properties.message_id, trace_of(msg.properties)},
    "outbox message {} to '{}' / '{}' dead-lettered: {}",
    msg.properties.message_id, msg.exchange, msg.routing_key, describe(err));
  msg =
    make_dead_letter(msg.properties, msg.body, msg.exchange, msg.routing_key,
                     queue_, {code_of(err), describe(err), actor_, node_}, 1);
  ++dead_lettered_;
  to_publish_.push_back(row);
}

} // namespace warren::detail
