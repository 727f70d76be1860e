// amqp_connection: declarations and inspections on the control channel
// (exchanges, queues with their dead-letter queues, bindings; passive
// declares, purges, deletes). A refusal closes only the control channel,
// which is reopened (see check_rpc); the error carries the broker's code.

#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"
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
amqp_connection::declare_queue_with(const queue_spec& spec,
                                    const field_table& args) {
  std::vector<amqp_table_entry_t> entries;
  auto table = encode_table(args, entries);
  auto* ok =
    amqp_queue_declare(conn_, control_channel, bytes_of(spec.name), 0,
                       spec.durable, spec.exclusive, spec.auto_delete, table);
  if (auto err = check_rpc("queue.declare"))
    return make_error(code_of(err),
                      "queue '" + spec.name + "': " + describe(err));
  return string_of(ok->queue);
}

caf::expected<std::string>
amqp_connection::declare_queue(const queue_spec& spec) {
  if (conn_ == nullptr)
    return not_connected();
  auto args = queue_arguments(spec);
  auto name = declare_queue_with(spec, args);
  auto legacy = legacy_queue_arguments(spec);
  bool used_legacy = false;
  if (!name && code_of(name.error()) == errc::channel_error && legacy != args) {
    // Declared by an earlier warren, without the dead-letter routing it now
    // adds: keep it as it is rather than refuse to start.
    auto as_before = declare_queue_with(spec, legacy);
    if (!as_before)
      return name.error();
    log::warning("queue '{}' was declared by an earlier warren: the broker's "
                 "own dead letters of it (a delivery limit, an expired "
                 "message) are not routed to '{}'; to route them, move its "
                 "messages, delete it and let warren declare it again",
                 spec.name, dead_letter_queue_name(spec.name));
    name = std::move(as_before);
    used_legacy = true;
  }
  if (!name && spec.type == queue_type::stream && !spec.name.empty() &&
      code_of(name.error()) == errc::channel_error && inspect(spec.name)) {
    // A stream's retention is fixed when it is first declared (a policy
    // changes it): keep the stream as it is rather than refuse to start.
    log::warning("stream '{}' exists with other arguments than configured "
                 "and keeps its own ({}); to change a stream's retention, set "
                 "a policy (max-length-bytes, stream-max-segment-size-bytes) "
                 "or delete it",
                 spec.name, describe(name.error()));
    name = spec.name;
  }
  if (!name)
    return name.error();
  if (!spec.name.empty()) {
    // Where the broker sends what is rejected from it, as declared.
    const auto& declared = used_legacy ? legacy : args;
    if (find_field(declared, "x-dead-letter-exchange") != nullptr)
      routed_queues_.insert(spec.name);
    else
      routed_queues_.erase(spec.name);
  }
  if (spec.dead_letter_queue && !spec.name.empty() &&
      spec.type != queue_type::stream)
    if (auto err = declare_dead_letter_queue(spec))
      return err;
  return name;
}

caf::error amqp_connection::declare_dead_letter_queue(const queue_spec& spec) {
  queue_spec dlq;
  dlq.name = dead_letter_queue_name(spec.name);
  dlq.type = spec.type; // a quorum queue's dead letters as safe as it is
  dlq.dead_letter_queue = false;
  auto declared = declare_queue_with(dlq, queue_arguments(dlq));
  if (declared || spec.type == queue_type::classic ||
      code_of(declared.error()) != errc::channel_error)
    return declared ? caf::none : declared.error();
  // An earlier warren declared it classic: keep it.
  auto classic = declare_queue_with(dlq, field_table{});
  if (!classic)
    return declared.error();
  log::warning("dead-letter queue '{}' is a classic queue (declared by an "
               "earlier warren); to keep the dead letters of quorum queue "
               "'{}' in a quorum queue, move its messages and delete it",
               dlq.name, spec.name);
  return caf::none;
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

caf::expected<std::pair<uint32_t, uint32_t>>
amqp_connection::queue_counts(const std::string& queue) {
  auto ok = inspect(queue);
  if (!ok)
    return ok.error();
  return std::make_pair((*ok)->message_count, (*ok)->consumer_count);
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
