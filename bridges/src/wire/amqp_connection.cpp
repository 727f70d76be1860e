#include "wire/amqp_connection.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <poll.h>

namespace warren::bridges::detail {

namespace {

// Frames up to 128 KiB; larger bodies are split by rabbitmq-c.
constexpr int frame_max = 131072;

} // namespace

amqp_connection::amqp_connection(broker_settings settings)
  : settings_(std::move(settings)) {
  // Nothing to do.
}

amqp_connection::~amqp_connection() {
  close();
}

caf::error amqp_connection::lost(std::string what) {
  destroy();
  return make_error(errc::connection_lost, std::move(what));
}

caf::error amqp_connection::not_connected() const {
  return make_error(errc::connection_lost, "not connected");
}

caf::error amqp_connection::check_rpc(const char* what, uint16_t channel) {
  auto reply = amqp_get_rpc_reply(conn_);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL)
    return caf::none;
  auto text = std::string{what} + ": " + describe_reply(reply);
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
      reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    // A channel error: answer the close so the connection stays usable, and
    // reopen the control channel (the owner of any other channel decides
    // when to reopen it). Only this operation fails.
    auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
    auto code = errc_of_reply_code(close->reply_code);
    amqp_channel_close_ok_t close_ok;
    amqp_send_method(conn_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
    log::debug("{}: {}", settings_.connection_name, text);
    if (channel == control_channel)
      if (auto err = open_channel(control_channel))
        return err;
    return make_error(code, std::move(text));
  }
  return lost(std::move(text));
}

caf::error amqp_connection::connect() {
  destroy();
  if (settings_.endpoints.empty())
    return make_error(errc::connection_failed, "no broker endpoint configured");
  std::string failures;
  for (size_t n = 0; n < settings_.endpoints.size(); ++n) {
    const auto& ep = settings_.endpoints[next_endpoint_];
    next_endpoint_ = (next_endpoint_ + 1) % settings_.endpoints.size();
    log::debug("{}: connecting to {} as user '{}'", settings_.connection_name,
               ep.redacted(), ep.user);
    if (!open_socket(ep, failures) || !login(ep, failures)) {
      destroy();
      continue;
    }
    endpoint_name_ = ep.redacted();
    log::debug("{}: connected to {}", settings_.connection_name,
               endpoint_name_);
    return open_channel(control_channel);
  }
  if (failures.size() >= 2)
    failures.resize(failures.size() - 2);
  return make_error(errc::connection_failed, std::move(failures));
}

bool amqp_connection::open_socket(const broker_endpoint& ep,
                                  std::string& failures) {
  conn_ = amqp_new_connection();
  amqp_socket_t* socket = nullptr;
  if (ep.tls) {
    socket = amqp_ssl_socket_new(conn_);
    if (socket != nullptr) {
      const auto& tls = settings_.tls;
      amqp_ssl_socket_set_verify_peer(socket, tls.verify_peer ? 1 : 0);
      amqp_ssl_socket_set_verify_hostname(socket, tls.verify_hostname ? 1 : 0);
      if (!tls.ca_file.empty() &&
          amqp_ssl_socket_set_cacert(socket, tls.ca_file.c_str()) !=
            AMQP_STATUS_OK) {
        failures +=
          ep.redacted() + ": cannot load CA file " + tls.ca_file + "; ";
        return false;
      }
      if (!tls.cert_file.empty() &&
          amqp_ssl_socket_set_key(socket, tls.cert_file.c_str(),
                                  tls.key_file.c_str()) != AMQP_STATUS_OK) {
        failures += ep.redacted() + ": cannot load client certificate " +
                    tls.cert_file + "; ";
        return false;
      }
    }
  } else {
    socket = amqp_tcp_socket_new(conn_);
  }
  if (socket == nullptr) {
    failures += ep.redacted() + ": cannot create socket; ";
    return false;
  }
  auto tv = to_timeval(settings_.connect_timeout);
  amqp_set_handshake_timeout(conn_, &tv);
  amqp_set_rpc_timeout(conn_, &tv);
  auto rc = amqp_socket_open_noblock(socket, ep.host.c_str(), ep.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    failures += ep.redacted() + ": " + amqp_error_string2(rc) + "; ";
    return false;
  }
  return true;
}

bool amqp_connection::login(const broker_endpoint& ep, std::string& failures) {
  // consumer_cancel_notify: without it a deleted queue looks like endless
  // timeouts; connection.blocked: resource alarms are reported.
  // connection_name shows in the management UI.
  const char* capability_names[] = {"consumer_cancel_notify",
                                    "publisher_confirms", "basic.nack",
                                    "connection.blocked"};
  amqp_table_entry_t capability_entries[4];
  for (int i = 0; i < 4; ++i) {
    capability_entries[i].key = amqp_cstring_bytes(capability_names[i]);
    capability_entries[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability_entries[i].value.value.boolean = 1;
  }
  amqp_table_entry_t client_entries[3];
  client_entries[0].key = amqp_cstring_bytes("capabilities");
  client_entries[0].value.kind = AMQP_FIELD_KIND_TABLE;
  client_entries[0].value.value.table.num_entries = 4;
  client_entries[0].value.value.table.entries = capability_entries;
  client_entries[1].key = amqp_cstring_bytes("connection_name");
  client_entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
  client_entries[1].value.value.bytes = bytes_of(settings_.connection_name);
  client_entries[2].key = amqp_cstring_bytes("product");
  client_entries[2].value.kind = AMQP_FIELD_KIND_UTF8;
  client_entries[2].value.value.bytes = amqp_cstring_bytes("warren");
  amqp_table_t client_properties{3, client_entries};
  auto reply = amqp_login_with_properties(
    conn_, ep.vhost.c_str(), 0, frame_max, settings_.heartbeat_seconds,
    &client_properties, AMQP_SASL_METHOD_PLAIN, ep.user.c_str(),
    ep.password.c_str());
  if (reply.reply_type == AMQP_RESPONSE_NORMAL)
    return true;
  failures += ep.redacted() + ": login failed: " + describe_reply(reply) + "; ";
  return false;
}

void amqp_connection::close() {
  if (conn_ == nullptr)
    return;
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  destroy();
}

void amqp_connection::destroy() {
  if (conn_ == nullptr)
    return;
  amqp_destroy_connection(conn_);
  conn_ = nullptr;
}

caf::error amqp_connection::open_channel(uint16_t channel) {
  if (conn_ == nullptr)
    return not_connected();
  amqp_channel_open(conn_, channel);
  auto reply = amqp_get_rpc_reply(conn_);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL)
    return lost("channel.open: " + describe_reply(reply));
  return caf::none;
}

caf::error amqp_connection::close_channel(uint16_t channel) {
  if (conn_ == nullptr)
    return not_connected();
  auto reply = amqp_channel_close(conn_, channel, AMQP_REPLY_SUCCESS);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL)
    return lost("channel.close: " + describe_reply(reply));
  return caf::none;
}

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

caf::error amqp_connection::confirm_select(uint16_t channel) {
  if (conn_ == nullptr)
    return not_connected();
  amqp_confirm_select(conn_, channel);
  return check_rpc("confirm.select", channel);
}

caf::error amqp_connection::qos(uint16_t channel, uint16_t prefetch) {
  if (conn_ == nullptr)
    return not_connected();
  amqp_basic_qos(conn_, channel, 0, prefetch, 0);
  return check_rpc("basic.qos", channel);
}

caf::expected<std::string> amqp_connection::consume(uint16_t channel,
                                                    const std::string& queue,
                                                    bool no_ack,
                                                    bool exclusive) {
  if (conn_ == nullptr)
    return not_connected();
  auto* ok =
    amqp_basic_consume(conn_, channel, bytes_of(queue), amqp_empty_bytes, 0,
                       no_ack, exclusive, amqp_empty_table);
  if (auto err = check_rpc("basic.consume", channel))
    return make_error(code_of(err),
                      "consuming queue '" + queue + "': " + describe(err));
  return string_of(ok->consumer_tag);
}

caf::error amqp_connection::cancel(uint16_t channel,
                                   const std::string& consumer_tag) {
  if (conn_ == nullptr)
    return not_connected();
  amqp_basic_cancel(conn_, channel, bytes_of(consumer_tag));
  return check_rpc("basic.cancel", channel);
}

caf::error amqp_connection::publish(uint16_t channel,
                                    const outgoing_message& msg) {
  if (conn_ == nullptr)
    return not_connected();
  const auto* props = encoder_.encode(msg.properties);
  auto rc = amqp_basic_publish(conn_, channel, bytes_of(msg.exchange),
                               bytes_of(msg.routing_key), msg.mandatory, 0,
                               props, bytes_of(msg.body));
  if (rc != AMQP_STATUS_OK)
    return lost(std::string{"basic.publish: "} + amqp_error_string2(rc));
  return caf::none;
}

caf::error amqp_connection::ack(uint16_t channel, uint64_t tag, bool multiple) {
  if (conn_ == nullptr)
    return not_connected();
  auto rc = amqp_basic_ack(conn_, channel, tag, multiple);
  if (rc != AMQP_STATUS_OK)
    return lost(std::string{"basic.ack: "} + amqp_error_string2(rc));
  return caf::none;
}

caf::error amqp_connection::nack(uint16_t channel, uint64_t tag, bool multiple,
                                 bool requeue) {
  if (conn_ == nullptr)
    return not_connected();
  auto rc = amqp_basic_nack(conn_, channel, tag, multiple, requeue);
  if (rc != AMQP_STATUS_OK)
    return lost(std::string{"basic.nack: "} + amqp_error_string2(rc));
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

bool amqp_connection::wait_readable(std::chrono::milliseconds timeout,
                                    int wake_fd) {
  if (conn_ == nullptr)
    return false;
  if (amqp_frames_enqueued(conn_) || amqp_data_in_buffer(conn_))
    return true;
  pollfd fds[2];
  fds[0].fd = amqp_get_sockfd(conn_);
  fds[0].events = POLLIN;
  fds[0].revents = 0;
  fds[1].fd = wake_fd;
  fds[1].events = POLLIN;
  fds[1].revents = 0;
  auto rc =
    ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
  return rc > 0 && fds[0].revents != 0;
}

amqp_event amqp_connection::next_event() {
  amqp_event ev;
  if (conn_ == nullptr) {
    ev.what = amqp_event::kind::connection_lost;
    ev.reason = "not connected";
    return ev;
  }
  amqp_frame_t frame;
  timeval zero{0, 0};
  auto rc = amqp_simple_wait_frame_noblock(conn_, &frame, &zero);
  if (rc == AMQP_STATUS_TIMEOUT)
    return ev;
  if (rc != AMQP_STATUS_OK) {
    ev.what = amqp_event::kind::connection_lost;
    ev.reason = amqp_error_string2(rc);
    destroy();
    return ev;
  }
  if (frame.frame_type != AMQP_FRAME_METHOD)
    return ev; // Stray header/body frames of nothing we asked for.
  ev.channel = frame.channel;
  decode_method(frame, ev);
  if (conn_ != nullptr)
    amqp_maybe_release_buffers(conn_);
  return ev;
}

bool amqp_connection::read_content(uint16_t channel, amqp_event& ev) {
  amqp_message_t message;
  auto reply = amqp_read_message(conn_, channel, &message, 0);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    ev.what = amqp_event::kind::connection_lost;
    ev.reason = "reading message content: " + describe_reply(reply);
    destroy();
    return false;
  }
  decode_properties(message.properties, ev.message.properties);
  ev.message.raw_body = string_of(message.body);
  amqp_destroy_message(&message);
  return true;
}

void amqp_connection::decode_method(const amqp_frame_t& frame, amqp_event& ev) {
  const auto* decoded = frame.payload.method.decoded;
  using kind = amqp_event::kind;
  switch (frame.payload.method.id) {
    case AMQP_BASIC_DELIVER_METHOD: {
      const auto* m = static_cast<const amqp_basic_deliver_t*>(decoded);
      ev.what = kind::delivery;
      ev.consumer_tag = string_of(m->consumer_tag);
      ev.message.delivery_tag = m->delivery_tag;
      ev.message.redelivered = m->redelivered != 0;
      ev.message.exchange = string_of(m->exchange);
      ev.message.routing_key = string_of(m->routing_key);
      read_content(frame.channel, ev);
      return;
    }
    case AMQP_BASIC_ACK_METHOD: {
      const auto* m = static_cast<const amqp_basic_ack_t*>(decoded);
      ev.what = kind::confirm;
      ev.delivery_tag = m->delivery_tag;
      ev.multiple = m->multiple != 0;
      ev.ack = true;
      return;
    }
    case AMQP_BASIC_NACK_METHOD: {
      const auto* m = static_cast<const amqp_basic_nack_t*>(decoded);
      ev.what = kind::confirm;
      ev.delivery_tag = m->delivery_tag;
      ev.multiple = m->multiple != 0;
      ev.ack = false;
      return;
    }
    case AMQP_BASIC_RETURN_METHOD: {
      const auto* m = static_cast<const amqp_basic_return_t*>(decoded);
      ev.what = kind::returned;
      ev.reply_code = m->reply_code;
      ev.reason =
        std::to_string(m->reply_code) + " " + string_of(m->reply_text);
      ev.message.exchange = string_of(m->exchange);
      ev.message.routing_key = string_of(m->routing_key);
      read_content(frame.channel, ev);
      return;
    }
    case AMQP_BASIC_CANCEL_METHOD: {
      const auto* m = static_cast<const amqp_basic_cancel_t*>(decoded);
      ev.what = kind::consumer_cancelled;
      ev.consumer_tag = string_of(m->consumer_tag);
      return;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* m = static_cast<const amqp_channel_close_t*>(decoded);
      ev.what = kind::channel_closed;
      ev.reply_code = m->reply_code;
      ev.reason =
        std::to_string(m->reply_code) + " " + string_of(m->reply_text);
      amqp_channel_close_ok_t close_ok;
      amqp_send_method(conn_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD,
                       &close_ok);
      return;
    }
    case AMQP_CONNECTION_BLOCKED_METHOD: {
      const auto* m = static_cast<const amqp_connection_blocked_t*>(decoded);
      ev.what = kind::blocked;
      ev.reason = string_of(m->reason);
      return;
    }
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      ev.what = kind::unblocked;
      return;
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* m = static_cast<const amqp_connection_close_t*>(decoded);
      ev.what = kind::connection_lost;
      ev.reply_code = m->reply_code;
      ev.reason =
        "connection closed by broker: " + std::to_string(m->reply_code) + " " +
        string_of(m->reply_text);
      amqp_connection_close_ok_t close_ok;
      amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
      destroy();
      return;
    }
    default:
      return;
  }
}

} // namespace warren::bridges::detail
