#include "owner/call_client.hpp"

#include "warren/core/errc.hpp"
#include "wire/amqp_connection.hpp"

namespace warren::bridges::detail {

call_client::call_client(std::string reply_queue, uint16_t reply_channel,
                         uint16_t request_channel)
  : reply_queue_(std::move(reply_queue)), reply_channel_(reply_channel),
    request_channel_(request_channel) {
  // Nothing else to do.
}

caf::error call_client::open(amqp_connection& conn) {
  queue_spec reply;
  reply.name = reply_queue_;
  reply.durable = false;
  reply.exclusive = true;
  reply.auto_delete = true;
  reply.dead_letter_queue = false;
  if (auto declared = conn.declare_queue(reply); !declared)
    return declared.error();
  if (auto err = conn.open_channel(reply_channel_))
    return err;
  conn.set_body_limit(reply_channel_, max_reply_bytes_);
  if (auto tag = conn.consume(reply_channel_, reply_queue_, true, true); !tag)
    return tag.error();
  if (auto err = conn.open_channel(request_channel_))
    return err;
  open_ = true;
  return resume(conn);
}

caf::error call_client::resume(amqp_connection& conn) {
  while (open_ && !conn.blocked() && !waiting_.empty()) {
    // A call that ended meanwhile (its deadline passed) is not made.
    if (calls_.contains(waiting_.front().properties.correlation_id))
      if (auto err = send(conn, waiting_.front()))
        return err;
    waiting_.pop_front();
  }
  return caf::none;
}

caf::error call_client::call(amqp_connection& conn, outgoing_message request,
                             call_table::clock_type::time_point deadline,
                             call_table::reply_handler then) {
  // A caller's own correlation id is kept (tools set one).
  auto id =
    calls_.add(std::move(then), deadline, request.properties.correlation_id);
  request.properties.reply_to = reply_queue_;
  request.properties.correlation_id = id;
  if (request.properties.message_id.empty())
    request.properties.message_id = id;
  request.mandatory = true;
  if (!open_ && conn.connected())
    if (auto err = open(conn); err && code_of(err) != errc::connection_lost)
      calls_.fail(id, err);
  if (!open_ || conn.blocked()) {
    waiting_.push_back(std::move(request));
    return caf::none;
  }
  if (auto err = send(conn, request)) {
    waiting_.push_back(std::move(request));
    return err;
  }
  return caf::none;
}

caf::error call_client::send(amqp_connection& conn,
                             const outgoing_message& request) {
  if (auto err = conn.publish(request_channel_, request))
    return err;
  calls_.mark_sent(request.properties.correlation_id);
  return caf::none;
}

void call_client::on_returned(const envelope& request,
                              const std::string& reason) {
  calls_.fail(request.properties.correlation_id,
              make_error(errc::unroutable,
                         "no service '" + request.routing_key +
                           "' (no queue took the request: " + reason + ")"));
}

void call_client::on_connection_lost(const caf::error& err) {
  open_ = false;
  calls_.fail_sent(err);
}

void call_client::on_channel_closed(const caf::error& err) {
  open_ = false;
  calls_.fail_sent(err);
}

void call_client::fail_all(const caf::error& err) {
  waiting_.clear();
  calls_.fail_all(err);
}

} // namespace warren::bridges::detail
