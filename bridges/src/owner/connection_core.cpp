#include "owner/connection_core.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

namespace warren::bridges::detail {

event_sink::~event_sink() = default;

void event_sink::on_returned(const envelope&, const std::string&) {
  // Owners that publish outside the publish channel override this.
}

caf::error event_sink::on_unblocked() {
  return caf::none; // Nothing held back outside the publish channel.
}

connection_core::connection_core(broker_settings settings,
                                 confirm_policy policy, std::string description)
  : description_(std::move(description)), conn_(std::move(settings)),
    confirms_(policy, description_) {
  // Nothing else to do.
}

caf::error connection_core::connect(const topology& topo) {
  if (auto err = conn_.connect())
    return err;
  down_ = false;
  metrics_.up.set(1);
  metrics_.blocked.set(0);
  if (auto err = conn_.declare(topo))
    return err;
  return confirms_.open(conn_);
}

std::optional<std::string> connection_core::pump(event_sink& sink, int max,
                                                 int& events) {
  events = 0;
  while (events < max && !down_ && conn_.connected()) {
    auto ev = conn_.next_event();
    if (ev.what == amqp_event::kind::none)
      return std::nullopt;
    ++events;
    if (auto lost = route(ev, sink))
      return lost;
  }
  if (!down_ && !conn_.connected())
    return std::string{"the connection closed"};
  return std::nullopt;
}

std::optional<std::string> connection_core::route(amqp_event& ev,
                                                  event_sink& sink) {
  using kind = amqp_event::kind;
  caf::error err;
  switch (ev.what) {
    case kind::none:
      break;
    case kind::delivery:
      sink.on_delivery(std::move(ev.message), ev.channel);
      break;
    case kind::confirm:
      if (ev.channel == publish_channel)
        err = confirms_.on_confirm(conn_, ev.delivery_tag, ev.multiple, ev.ack);
      break;
    case kind::returned:
      if (ev.channel == publish_channel)
        confirms_.on_return(ev);
      else
        sink.on_returned(ev.message, ev.reason);
      break;
    case kind::consumer_cancelled:
      sink.on_consumer_cancelled(ev.consumer_tag);
      break;
    case kind::channel_closed:
      if (ev.channel == publish_channel)
        err = confirms_.on_closed(conn_, ev.reply_code, ev.reason);
      else if (ev.channel == control_channel)
        err = conn_.open_channel(control_channel);
      else
        err = sink.on_channel_closed(ev.channel, ev.reply_code, ev.reason);
      break;
    case kind::blocked:
      log::warning("{}: the broker blocked the connection ({}); publishes "
                   "wait until it unblocks it",
                   description_, ev.reason);
      metrics_.blocked.set(1);
      break;
    case kind::unblocked:
      log::info("{}: the broker unblocked the connection", description_);
      metrics_.blocked.set(0);
      err = confirms_.resume(conn_);
      if (!err)
        err = sink.on_unblocked();
      break;
    case kind::connection_lost:
      return ev.reason;
  }
  if (err)
    return describe(err);
  return std::nullopt;
}

std::optional<std::string>
connection_core::publish(outgoing_message msg, confirm_channel::callback done) {
  if (auto err = confirms_.publish(conn_, std::move(msg), std::move(done)))
    return describe(err);
  return std::nullopt;
}

bool connection_core::drop(const std::string& why) {
  if (down_) {
    conn_.destroy();
    return false;
  }
  down_ = true;
  metrics_.up.set(0);
  metrics_.blocked.set(0);
  conn_.destroy();
  confirms_.on_connection_lost(why);
  return true;
}

void connection_core::close() {
  down_ = true;
  metrics_.up.set(0);
  conn_.close();
}

void connection_core::set_metrics(metrics::connection_metrics conn,
                                  metrics::publish_metrics publishes) {
  metrics_ = std::move(conn);
  confirms_.set_metrics(std::move(publishes));
}

} // namespace warren::bridges::detail
