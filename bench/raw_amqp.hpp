#pragma once

// The raw baseline's rabbitmq-c plumbing (private to warren-bench): one
// connection per thread, error checks that throw with what failed, and the
// coordination of the two threads of a run. Nothing of warren is used on the
// measured path; that is the point of the baseline.

#include "raw_baseline.hpp"
#include "warren/bridges/broker.hpp"
#include "warren/core/errc.hpp"

#include <algorithm>
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace warren::bench::raw {

using steady = std::chrono::steady_clock;

/// Every connection uses a single channel: throughput here is about the
/// client library and the broker, not about channel multiplexing.
constexpr amqp_channel_t channel_id = 1;

/// Abort a run when nothing moves for this long, so a lost message or a dead
/// broker gives an error instead of a hang.
constexpr auto stall_limit = std::chrono::seconds{30};

/// How long one amqp_consume_message / wait-frame call may block. Short, so
/// a thread notices within this time that its peer thread failed.
constexpr auto poll_interval = std::chrono::milliseconds{200};

/// Same as warren's default, so both sides pay the same heartbeat cost.
constexpr int heartbeat_seconds = 30;

constexpr std::size_t confirm_batch = 100;
constexpr std::size_t ack_batch = 100;
constexpr uint16_t throughput_prefetch = 500;
constexpr uint16_t rpc_prefetch = 100;
constexpr std::size_t rpc_request_bytes = 64;

/// Thrown by a thread that stops because its peer failed; the peer's error is
/// the one reported.
struct run_aborted : std::runtime_error {
  run_aborted() : std::runtime_error("run aborted by the other thread") {}
};

// -- small conversions -------------------------------------------------------

inline std::string to_string(amqp_bytes_t bytes) {
  if (bytes.len == 0)
    return {};
  return std::string{static_cast<const char*>(bytes.bytes), bytes.len};
}

/// rabbitmq-c takes non-const pointers but never writes through them for
/// outgoing data; amqp_cstring_bytes would stop at an embedded NUL.
inline amqp_bytes_t as_bytes(const std::string& str) {
  amqp_bytes_t bytes;
  bytes.len = str.size();
  bytes.bytes = const_cast<char*>(str.data());
  return bytes;
}

inline timeval to_timeval(std::chrono::microseconds us) {
  timeval tv;
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(us.count() / 1000000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us.count() % 1000000);
  return tv;
}

inline double seconds_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// -- error checking ----------------------------------------------------------

inline std::string describe_method(const amqp_method_t& method) {
  switch (method.id) {
    case AMQP_CONNECTION_CLOSE_METHOD: {
      auto* close = static_cast<amqp_connection_close_t*>(method.decoded);
      return "connection closed by broker: " +
             std::to_string(close->reply_code) + " " +
             to_string(close->reply_text);
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      auto* close = static_cast<amqp_channel_close_t*>(method.decoded);
      return "channel closed by broker: " + std::to_string(close->reply_code) +
             " " + to_string(close->reply_text);
    }
    case AMQP_BASIC_CANCEL_METHOD:
      return "consumer cancelled by broker (queue deleted?)";
    case AMQP_BASIC_RETURN_METHOD: {
      auto* ret = static_cast<amqp_basic_return_t*>(method.decoded);
      return "message returned as unroutable: " +
             std::to_string(ret->reply_code) + " " +
             to_string(ret->reply_text) + " (routing key '" +
             to_string(ret->routing_key) + "')";
    }
    case AMQP_BASIC_NACK_METHOD: {
      auto* nack = static_cast<amqp_basic_nack_t*>(method.decoded);
      return "broker nacked publish delivery_tag=" +
             std::to_string(nack->delivery_tag) +
             (nack->multiple ? " (multiple)" : "");
    }
    default:
      return std::string{"unexpected method "} + amqp_method_name(method.id);
  }
}

inline std::string describe_reply(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      // The library returns this when no RPC was made at all, e.g. when the
      // socket was already broken before the request was written.
      return "no RPC reply (missing reply type)";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return std::string{"library error: "} +
             amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      return describe_method(reply.reply);
  }
  return "unknown reply type";
}

inline void check_reply(const amqp_rpc_reply_t& reply,
                        const std::string& what) {
  if (reply.reply_type != AMQP_RESPONSE_NORMAL)
    throw std::runtime_error("rabbitmq-c: " + what +
                             " failed: " + describe_reply(reply));
}

inline void check_status(int status, const std::string& what) {
  if (status != AMQP_STATUS_OK)
    throw std::runtime_error(
      "rabbitmq-c: " + what +
      " failed: library error: " + amqp_error_string2(status));
}

// -- connection --------------------------------------------------------------

/// One TCP connection with one open channel, owned by exactly one thread.
class connection {
 public:
  connection(const broker_target& target, const std::string& name)
    : state_(amqp_new_connection()) {
    if (state_ == nullptr)
      throw std::runtime_error("rabbitmq-c: amqp_new_connection failed");
    try {
      open(target, name);
    } catch (...) {
      amqp_destroy_connection(state_);
      throw;
    }
  }

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  ~connection() {
    // Best effort: a short RPC timeout so closing a connection the broker
    // already dropped cannot hang the benchmark.
    auto tv = to_timeval(std::chrono::seconds{2});
    amqp_set_rpc_timeout(state_, &tv);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
  }

  amqp_connection_state_t get() const { return state_; }

  /// Checks the reply of the last synchronous call (queue.declare, ...).
  void check_last_rpc(const std::string& what) const {
    check_reply(amqp_get_rpc_reply(state_), what);
  }

 private:
  void open(const broker_target& target, const std::string& name) {
    auto* socket = amqp_tcp_socket_new(state_);
    if (socket == nullptr)
      throw std::runtime_error("rabbitmq-c: amqp_tcp_socket_new failed");
    auto connect_timeout = to_timeval(std::chrono::seconds{5});
    check_status(amqp_socket_open_noblock(socket, target.host.c_str(),
                                          target.port, &connect_timeout),
                 "connecting to " + target.host + ":" +
                   std::to_string(target.port));
    // Without a bound, a broker that accepts TCP but never answers (e.g.
    // blocked on a resource alarm) would hang every synchronous call.
    auto rpc_timeout = to_timeval(stall_limit);
    check_status(amqp_set_rpc_timeout(state_, &rpc_timeout),
                 "amqp_set_rpc_timeout");

    // consumer_cancel_notify: otherwise a deleted queue just looks like
    // endless consume timeouts instead of a basic.cancel we can report.
    amqp_table_entry_t capabilities[1];
    capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
    capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[0].value.value.boolean = 1;
    amqp_table_entry_t properties[2];
    properties[0].key = amqp_cstring_bytes("capabilities");
    properties[0].value.kind = AMQP_FIELD_KIND_TABLE;
    properties[0].value.value.table.num_entries = 1;
    properties[0].value.value.table.entries = capabilities;
    properties[1].key = amqp_cstring_bytes("connection_name");
    properties[1].value.kind = AMQP_FIELD_KIND_UTF8;
    properties[1].value.value.bytes = as_bytes(name);
    amqp_table_t table;
    table.num_entries = 2;
    table.entries = properties;
    check_reply(
      amqp_login_with_properties(
        state_, target.vhost.c_str(), AMQP_DEFAULT_MAX_CHANNELS,
        AMQP_DEFAULT_FRAME_SIZE, heartbeat_seconds, &table,
        AMQP_SASL_METHOD_PLAIN, target.user.c_str(), target.password.c_str()),
      "login as '" + target.user + "' to vhost '" + target.vhost + "'");
    amqp_channel_open(state_, channel_id);
    check_last_rpc("channel.open");
  }

  amqp_connection_state_t state_;
};

/// Frees an envelope on scope exit, also when a check throws.
class envelope_guard {
 public:
  explicit envelope_guard(amqp_envelope_t& envelope) : envelope_(envelope) {}
  envelope_guard(const envelope_guard&) = delete;
  envelope_guard& operator=(const envelope_guard&) = delete;
  ~envelope_guard() { amqp_destroy_envelope(&envelope_); }

 private:
  amqp_envelope_t& envelope_;
};

/// Throws for a frame that a consume or confirm loop did not expect,
/// answering a channel.close or connection.close first so the broker sees a
/// clean shutdown instead of waiting for the close-ok.
[[noreturn]] inline void throw_unexpected(amqp_connection_state_t state,
                                          const amqp_frame_t& frame,
                                          const std::string& what) {
  if (frame.frame_type != AMQP_FRAME_METHOD)
    throw std::runtime_error("rabbitmq-c: " + what +
                             ": unexpected frame type " +
                             std::to_string(frame.frame_type));
  if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    amqp_channel_close_ok_t ok{};
    amqp_send_method(state, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  } else if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_ok_t ok{};
    amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
  }
  throw std::runtime_error("rabbitmq-c: " + what + ": " +
                           describe_method(frame.payload.method));
}

/// Waits up to poll_interval for one delivery. Returns false on a timeout;
/// throws on any other outcome.
inline bool consume_one(amqp_connection_state_t state,
                        amqp_envelope_t& envelope, const std::string& what) {
  // Decoded frames live in the connection's pools until released; without
  // this the consumer's memory grows with every message.
  amqp_maybe_release_buffers(state);
  auto tv = to_timeval(poll_interval);
  auto reply = amqp_consume_message(state, &envelope, &tv, 0);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL)
    return true;
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    if (reply.library_error == AMQP_STATUS_TIMEOUT)
      return false;
    if (reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // amqp_consume_message put a non-delivery frame (channel.close,
      // basic.cancel, basic.return, ...) back into the queue; retrying the
      // consume would spin on it forever, so read and report it.
      amqp_frame_t frame;
      check_status(amqp_simple_wait_frame(state, &frame), what);
      throw_unexpected(state, frame, what);
    }
  }
  throw std::runtime_error("rabbitmq-c: " + what +
                           " failed: " + describe_reply(reply));
}

inline void recreate_queue(const broker_target& target,
                           const std::string& queue) {
  connection admin{target, "warren-bench-raw-setup"};
  auto q = as_bytes(queue);
  // Delete first so every run starts from an empty queue with exactly the
  // arguments below, whatever an earlier (crashed) run left behind.
  amqp_queue_delete(admin.get(), channel_id, q, 0, 0);
  admin.check_last_rpc("queue.delete '" + queue + "'");
  amqp_table_entry_t arguments[1];
  arguments[0].key = amqp_cstring_bytes("x-queue-type");
  arguments[0].value.kind = AMQP_FIELD_KIND_UTF8;
  arguments[0].value.value.bytes = amqp_cstring_bytes("classic");
  amqp_table_t table;
  table.num_entries = 1;
  table.entries = arguments;
  amqp_queue_declare(admin.get(), channel_id, q, /*passive=*/0,
                     /*durable=*/1, /*exclusive=*/0, /*auto_delete=*/0, table);
  admin.check_last_rpc("queue.declare '" + queue + "'");
}

inline void delete_queue(const broker_target& target,
                         const std::string& queue) {
  // A fresh connection: one kept idle through the run would have missed its
  // heartbeats (rabbitmq-c services them only inside library calls).
  connection admin{target, "warren-bench-raw-cleanup"};
  amqp_queue_delete(admin.get(), channel_id, as_bytes(queue), 0, 0);
  admin.check_last_rpc("queue.delete '" + queue + "'");
}

} // namespace warren::bench::raw
