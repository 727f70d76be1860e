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
  refused_ = false;
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
  // A broker that refused the login (a wrong password, a vhost that does
  // not exist or is not allowed) is not a broker that is down.
  return make_error(refused_ ? errc::access_refused : errc::connection_failed,
                    std::move(failures));
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
  amqp_table_entry_t client_entries[5];
  client_entries[0].key = amqp_cstring_bytes("capabilities");
  client_entries[0].value.kind = AMQP_FIELD_KIND_TABLE;
  client_entries[0].value.value.table.num_entries = 4;
  client_entries[0].value.value.table.entries = capability_entries;
  auto text_entry = [&client_entries](int i, const char* key,
                                      amqp_bytes_t value) {
    client_entries[i].key = amqp_cstring_bytes(key);
    client_entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
    client_entries[i].value.value.bytes = value;
  };
  text_entry(1, "connection_name", bytes_of(settings_.connection_name));
  text_entry(2, "product", amqp_cstring_bytes("warren"));
  // Who opened it: a node downing this one finds its connections by them
  // in the management API (management.hpp).
  int entries = 3;
  if (!settings_.owner.node.empty()) {
    text_entry(3, "warren_node", bytes_of(settings_.owner.node));
    text_entry(4, "warren_incarnation", bytes_of(settings_.owner.incarnation));
    entries = 5;
  }
  amqp_table_t client_properties{entries, client_entries};
  auto reply = amqp_login_with_properties(
    conn_, ep.vhost.c_str(), 0, frame_max, settings_.heartbeat_seconds,
    &client_properties, AMQP_SASL_METHOD_PLAIN, ep.user.c_str(),
    ep.password.c_str());
  if (reply.reply_type == AMQP_RESPONSE_NORMAL)
    return true;
  // 403 ACCESS_REFUSED (the credentials), 530 NOT_ALLOWED (the vhost), or
  // the socket closed by a broker that refused the SASL login.
  refused_ = true;
  failures += ep.redacted() + ": login failed: " + describe_reply(reply) + "; ";
  return false;
}

void amqp_connection::close() {
  if (conn_ == nullptr)
    return;
  // A blocked connection may not be read by the broker: no close handshake
  // to wait for, the socket just closes (the broker then gives the
  // unacked deliveries back all the same).
  if (!blocked_)
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  destroy();
}

void amqp_connection::set_body_limit(uint16_t channel, std::size_t bytes) {
  if (channel < body_limits_.size())
    body_limits_[channel] = bytes;
}

bool amqp_connection::routes_dead_letters(const std::string& queue) const {
  return routed_queues_.count(queue) != 0;
}

void amqp_connection::destroy() {
  blocked_ = false; // A new connection starts unblocked.
  stashed_.clear();
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

caf::expected<std::string>
amqp_connection::consume(uint16_t channel, const std::string& queue,
                         bool no_ack, bool exclusive,
                         const field_table& arguments) {
  if (conn_ == nullptr)
    return not_connected();
  std::vector<amqp_table_entry_t> entries;
  auto table = encode_table(arguments, entries);
  auto* ok = amqp_basic_consume(conn_, channel, bytes_of(queue),
                                amqp_empty_bytes, 0, no_ack, exclusive, table);
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

} // namespace warren::bridges::detail
