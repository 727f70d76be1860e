#include "owner/call_client.hpp"

#include "warren/core/errc.hpp"
#include "wire/amqp_connection.hpp"

namespace warren::bridges::detail {

call_client::call_client(std::string reply_queue, uint16_t reply_channel)
  : reply_queue_(std::move(reply_queue)), reply_channel_(reply_channel) {
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
  if (auto tag = conn.consume(reply_channel_, reply_queue_, true, true); !tag)
    return tag.error();
  open_ = true;
  return caf::none;
}

confirm_channel::callback
call_client::prepare(outgoing_message& request,
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
  return [this, id, service = request.routing_key](const caf::error& err) {
    if (!err) {
      calls_.mark_sent(id);
    } else if (code_of(err) == errc::unroutable) {
      calls_.fail(
        id, make_error(errc::unroutable, "no service '" + service +
                                           "' (no queue took the request)"));
    } else {
      calls_.fail(id, err);
    }
  };
}

void call_client::on_connection_lost(const caf::error& err) {
  open_ = false;
  calls_.fail_sent(err);
}

void call_client::on_channel_closed(const caf::error& err) {
  open_ = false;
  calls_.fail_sent(err);
}

} // namespace warren::bridges::detail
