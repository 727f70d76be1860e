#include "warren/bridges/client.hpp"

#include "warren/core/errc.hpp"
#include "wire/amqp_connection.hpp"

#include <boost/json/parse.hpp>

namespace warren::bridges {

namespace {

constexpr uint16_t confirm_channel = 2;
constexpr uint16_t reply_channel = 4;
constexpr uint16_t receive_channel = 5;

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds remaining(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  return left.count() > 0 ? left : std::chrono::milliseconds{0};
}

// Fills `body` from `raw_body`; a body that is not JSON stays null (the
// bytes are in raw_body), since tools must be able to show bad messages.
envelope with_parsed_body(envelope env) {
  if (!env.raw_body.empty()) {
    boost::json::error_code ec;
    auto value = boost::json::parse(env.raw_body, ec);
    if (!ec)
      env.body = std::move(value);
  }
  return env;
}

} // namespace

caf::expected<std::unique_ptr<blocking_client>>
blocking_client::connect(const broker_settings& settings) {
  auto conn = std::make_unique<detail::amqp_connection>(settings);
  if (auto err = conn->connect())
    return err;
  return std::unique_ptr<blocking_client>{new blocking_client(std::move(conn))};
}

blocking_client::blocking_client(std::unique_ptr<detail::amqp_connection> conn)
  : conn_(std::move(conn)) {
  // Nothing else to do.
}

blocking_client::~blocking_client() = default;

caf::error blocking_client::declare(const topology& topo) {
  return conn_->declare(topo);
}

caf::error blocking_client::ensure_confirm_channel() {
  if (confirm_channel_open_)
    return caf::none;
  if (auto err = conn_->open_channel(confirm_channel))
    return err;
  if (auto err = conn_->confirm_select(confirm_channel))
    return err;
  confirm_channel_open_ = true;
  return caf::none;
}

caf::error blocking_client::publish(const outgoing_message& msg,
                                    std::chrono::milliseconds timeout) {
  std::vector<envelope> ignored;
  return publish_and_confirm(msg, clock_type::now() + timeout, ignored);
}

caf::error
blocking_client::publish_and_confirm(const outgoing_message& msg,
                                     clock_type::time_point deadline,
                                     std::vector<envelope>& deliveries) {
  if (auto err = ensure_confirm_channel())
    return err;
  if (auto err = conn_->publish(confirm_channel, msg))
    return err;
  auto tag = next_tag_++;
  std::string returned;
  for (;;) {
    auto left = remaining(deadline);
    if (left.count() == 0)
      return make_error(errc::timeout, "no publisher confirm in time");
    if (!conn_->wait_readable(left, -1))
      continue;
    for (;;) {
      auto ev = conn_->next_event();
      using kind = detail::amqp_event::kind;
      if (ev.what == kind::none)
        break;
      if (ev.what == kind::delivery) {
        // E.g. the reply to a persistent request, which often comes before
        // the request's confirm (that waits for the disk).
        deliveries.push_back(std::move(ev.message));
      } else if (ev.what == kind::returned) {
        returned = ev.reason;
      } else if (ev.what == kind::confirm && ev.channel == confirm_channel &&
                 (ev.delivery_tag == tag ||
                  (ev.multiple && ev.delivery_tag >= tag))) {
        if (!ev.ack)
          return make_error(errc::publish_nacked,
                            "the broker nacked the message");
        if (!returned.empty())
          return make_error(errc::unroutable,
                            "no queue took the message (exchange '" +
                              msg.exchange + "', routing key '" +
                              msg.routing_key + "'): " + returned);
        return caf::none;
      } else if (ev.what == kind::channel_closed) {
        if (ev.channel == confirm_channel)
          confirm_channel_open_ = false;
        return make_error(errc::topology_failed,
                          "the broker closed the channel: " + ev.reason);
      } else if (ev.what == kind::connection_lost) {
        return make_error(errc::connection_lost, ev.reason);
      }
    }
  }
}

caf::expected<envelope>
blocking_client::call(outgoing_message request,
                      std::chrono::milliseconds timeout) {
  auto result = call_once(std::move(request), timeout);
  // Closing the channel ends its consumer; the exclusive reply queue goes
  // with it (auto-delete), so every call starts clean.
  if (conn_->connected())
    conn_->close_channel(reply_channel);
  return result;
}

caf::expected<envelope>
blocking_client::call_once(outgoing_message request,
                           std::chrono::milliseconds timeout) {
  queue_spec reply;
  reply.durable = false;
  reply.exclusive = true;
  reply.auto_delete = true;
  reply.dead_letter_queue = false;
  auto reply_queue = conn_->declare_queue(reply);
  if (!reply_queue)
    return reply_queue.error();
  if (auto err = conn_->open_channel(reply_channel))
    return err;
  auto tag = conn_->consume(reply_channel, *reply_queue, true, true);
  if (!tag)
    return tag.error();
  request.properties.reply_to = *reply_queue;
  if (request.properties.correlation_id.empty())
    request.properties.correlation_id = make_message_id();
  if (request.properties.message_id.empty())
    request.properties.message_id = request.properties.correlation_id;
  auto deadline = clock_type::now() + timeout;
  const auto& cid = request.properties.correlation_id;
  std::vector<envelope> early;
  if (auto err = publish_and_confirm(request, deadline, early))
    return err;
  for (auto& env : early)
    if (env.properties.correlation_id == cid)
      return with_parsed_body(std::move(env));
  for (;;) {
    auto left = remaining(deadline);
    if (left.count() == 0)
      return make_error(errc::timeout, "no reply within " +
                                         std::to_string(timeout.count()) +
                                         " ms");
    if (!conn_->wait_readable(left, -1))
      continue;
    for (;;) {
      auto ev = conn_->next_event();
      using kind = detail::amqp_event::kind;
      if (ev.what == kind::none)
        break;
      if (ev.what == kind::delivery &&
          ev.message.properties.correlation_id == cid)
        return with_parsed_body(std::move(ev.message));
      if (ev.what == kind::channel_closed || ev.what == kind::connection_lost)
        return make_error(errc::connection_lost, ev.reason);
    }
  }
}

caf::expected<std::vector<envelope>>
blocking_client::receive(const std::string& queue, std::size_t max,
                         std::chrono::milliseconds idle_timeout, bool ack) {
  auto taken = take(queue, max, idle_timeout);
  if (!taken)
    return taken;
  std::vector<uint64_t> done;
  if (ack)
    for (const auto& env : *taken)
      done.push_back(env.delivery_tag);
  if (auto err = settle(done))
    return err;
  return taken;
}

caf::expected<std::vector<envelope>>
blocking_client::take(const std::string& queue, std::size_t max,
                      std::chrono::milliseconds idle_timeout) {
  std::vector<envelope> result;
  if (max == 0)
    return result;
  if (auto err = conn_->open_channel(receive_channel))
    return err;
  // Prefetch exactly `max` and settle everything at the end: acking as they
  // come would let the broker send more than we take, and those deliveries
  // would still be buffered when the channel number is reused.
  max = std::min<std::size_t>(max, 65535);
  if (auto err = conn_->qos(receive_channel, static_cast<uint16_t>(max)))
    return err;
  auto tag = conn_->consume(receive_channel, queue, false, false);
  if (!tag)
    return tag.error();
  taking_tag_ = *tag;
  auto deadline = clock_type::now() + idle_timeout;
  while (result.size() < max) {
    auto left = remaining(deadline);
    if (left.count() == 0)
      break;
    if (!conn_->wait_readable(left, -1))
      continue;
    for (;;) {
      auto ev = conn_->next_event();
      using kind = detail::amqp_event::kind;
      if (ev.what == kind::none)
        break;
      if (ev.what == kind::delivery && ev.channel == receive_channel) {
        ev.message.queue = queue;
        result.push_back(with_parsed_body(std::move(ev.message)));
        deadline = clock_type::now() + idle_timeout;
        if (result.size() >= max)
          break;
      } else if (ev.what == kind::channel_closed ||
                 ev.what == kind::connection_lost) {
        return make_error(errc::connection_lost, ev.reason);
      }
    }
  }
  if (auto err = conn_->cancel(receive_channel, taking_tag_))
    return err;
  return result;
}

caf::error blocking_client::settle(const std::vector<uint64_t>& done) {
  if (taking_tag_.empty())
    return caf::none;
  taking_tag_.clear();
  for (auto tag : done)
    if (auto err = conn_->ack(receive_channel, tag, false))
      return err;
  // Closing the channel returns every delivery still unacked to the queue.
  return conn_->close_channel(receive_channel);
}

caf::expected<uint32_t>
blocking_client::message_count(const std::string& queue) {
  return conn_->queue_message_count(queue);
}

caf::expected<uint32_t>
blocking_client::consumer_count(const std::string& queue) {
  return conn_->queue_consumer_count(queue);
}

caf::expected<uint32_t> blocking_client::purge(const std::string& queue) {
  return conn_->purge(queue);
}

caf::error blocking_client::delete_queue(const std::string& queue) {
  return conn_->delete_queue(queue);
}

} // namespace warren::bridges
