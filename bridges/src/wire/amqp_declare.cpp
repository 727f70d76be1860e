// amqp_connection: declarations and inspections on the control channel
// (exchanges, queues with their dead-letter queues, bindings; passive
// declares, purges, deletes). A refusal closes only the control channel,
// which is reopened (see check_rpc); the error carries the broker's code.

#include "warren/core/errc.hpp"
#include "wire/amqp_connection.hpp"

#include <amqp_framing.h>

namespace warren::bridges::detail {

caf::error amqp_connection::declare_exchange(const exchange_spec& spec) {
  if (conn_ == nullptr)
    return not_connected();
  amqp_exchange_declare(conn_, control_channel, bytes_of(spec.name),
                        amqp_cstring_bytes(to_string(spec.type)), 0,
                        spec.durable, spec.auto_delete, spec.internal,
                        amqp_empty_table);
  if (auto err = check_rpc("exchange.declare"))
    return make_error(code_of(err),
                      "exchange '" + spec.name + "': " + describe(err));
  return caf::none;
}

caf::expected<std::string>
amqp_connection::declare_queue(const queue_spec& spec) {
  if (conn_ == nullptr)
    return not_connected();
  auto args = queue_arguments(spec);
  std::vector<amqp_table_entry_t> entries;
  auto table = encode_table(args, entries);
  auto* ok =
    amqp_queue_declare(conn_, control_channel, bytes_of(spec.name), 0,
                       spec.durable, spec.exclusive, spec.auto_delete, table);
  if (auto err = check_rpc("queue.declare"))
    return make_error(code_of(err),
                      "queue '" + spec.name + "': " + describe(err));
  auto name = string_of(ok->queue);
  if (spec.dead_letter_queue && !spec.name.empty()) {
    queue_spec dlq;
    dlq.name = dead_letter_queue_name(spec.name);
    dlq.type = spec.type;
    dlq.dead_letter_queue = false;
    amqp_queue_declare(conn_, control_channel, bytes_of(dlq.name), 0, 1, 0, 0,
                       amqp_empty_table);
    if (auto err = check_rpc("queue.declare"))
      return make_error(code_of(err),
                        "queue '" + dlq.name + "': " + describe(err));
  }
  return name;
}

caf::error amqp_connection::bind(const binding_spec& spec) {
  if (conn_ == nullptr)
    return not_connected();
  std::vector<amqp_table_entry_t> entries;
  auto table = encode_table(spec.arguments, entries);
  amqp_queue_bind(conn_, control_channel, bytes_of(spec.queue),
                  bytes_of(spec.exchange), bytes_of(spec.routing_key), table);
  if (auto err = check_rpc("queue.bind"))
    return make_error(code_of(err), "binding of queue '" + spec.queue +
                                      "' to '" + spec.exchange +
                                      "': " + describe(err));
  return caf::none;
}

caf::error amqp_connection::declare(const topology& topo) {
  for (const auto& ex : topo.exchanges)
    if (auto err = declare_exchange(ex))
      return err;
  for (const auto& q : topo.queues)
    if (auto res = declare_queue(q); !res)
      return res.error();
  for (const auto& b : topo.bindings)
    if (auto err = bind(b))
      return err;
  return caf::none;
}

caf::expected<amqp_queue_declare_ok_t*>
amqp_connection::inspect(const std::string& queue) {
  if (conn_ == nullptr)
    return not_connected();
  auto* ok = amqp_queue_declare(conn_, control_channel, bytes_of(queue), 1, 0,
                                0, 0, amqp_empty_table);
  if (auto err = check_rpc("queue.declare(passive)"))
    return make_error(code_of(err), "queue '" + queue + "': " + describe(err));
  return ok;
}

caf::expected<uint32_t>
amqp_connection::queue_message_count(const std::string& queue) {
  auto ok = inspect(queue);
  if (!ok)
    return ok.error();
  return (*ok)->message_count;
}

caf::expected<uint32_t>
amqp_connection::queue_consumer_count(const std::string& queue) {
  auto ok = inspect(queue);
  if (!ok)
    return ok.error();
  return (*ok)->consumer_count;
}

caf::expected<uint32_t> amqp_connection::purge(const std::string& queue) {
  if (conn_ == nullptr)
    return not_connected();
  auto* ok = amqp_queue_purge(conn_, control_channel, bytes_of(queue));
  if (auto err = check_rpc("queue.purge"))
    return make_error(code_of(err), "queue '" + queue + "': " + describe(err));
  return ok->message_count;
}

caf::error amqp_connection::delete_queue(const std::string& queue) {
  if (conn_ == nullptr)
    return not_connected();
  amqp_queue_delete(conn_, control_channel, bytes_of(queue), 0, 0);
  return check_rpc("queue.delete");
}

} // namespace warren::bridges::detail
