#include "raw_baseline.hpp"

#include "stats.hpp"
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

namespace warren::bench {

namespace {

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

std::string to_string(amqp_bytes_t bytes) {
  if (bytes.len == 0)
    return {};
  return std::string{static_cast<const char*>(bytes.bytes), bytes.len};
}

/// rabbitmq-c takes non-const pointers but never writes through them for
/// outgoing data; amqp_cstring_bytes would stop at an embedded NUL.
amqp_bytes_t as_bytes(const std::string& str) {
  amqp_bytes_t bytes;
  bytes.len = str.size();
  bytes.bytes = const_cast<char*>(str.data());
  return bytes;
}

timeval to_timeval(std::chrono::microseconds us) {
  timeval tv;
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(us.count() / 1000000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us.count() % 1000000);
  return tv;
}

double seconds_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// -- error checking ----------------------------------------------------------

std::string describe_method(const amqp_method_t& method) {
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

std::string describe_reply(const amqp_rpc_reply_t& reply) {
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

void check_reply(const amqp_rpc_reply_t& reply, const std::string& what) {
  if (reply.reply_type != AMQP_RESPONSE_NORMAL)
    throw std::runtime_error("rabbitmq-c: " + what +
                             " failed: " + describe_reply(reply));
}

void check_status(int status, const std::string& what) {
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
[[noreturn]] void throw_unexpected(amqp_connection_state_t state,
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
bool consume_one(amqp_connection_state_t state, amqp_envelope_t& envelope,
                 const std::string& what) {
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

void recreate_queue(const broker_target& target, const std::string& queue) {
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

void delete_queue(const broker_target& target, const std::string& queue) {
  // A fresh connection: one kept idle through the run would have missed its
  // heartbeats (rabbitmq-c services them only inside library calls).
  connection admin{target, "warren-bench-raw-cleanup"};
  amqp_queue_delete(admin.get(), channel_id, as_bytes(queue), 0, 0);
  admin.check_last_rpc("queue.delete '" + queue + "'");
}

// -- coordination between the two threads of a run --------------------------

class run_state {
 public:
  /// Records the first error and tells the other thread to stop.
  void fail(std::exception_ptr error) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!error_)
      error_ = std::move(error);
    aborted_ = true;
    changed_.notify_all();
  }

  void throw_if_aborted() const {
    if (aborted_.load(std::memory_order_relaxed))
      throw run_aborted{};
  }

  /// Called by the consuming side once its consumer is registered, so the
  /// timed part does not include its setup.
  void set_ready() {
    std::lock_guard<std::mutex> guard{mutex_};
    ready_ = true;
    changed_.notify_all();
  }

  void wait_ready() {
    std::unique_lock<std::mutex> lock{mutex_};
    if (!changed_.wait_for(lock, stall_limit,
                           [this] { return ready_ || aborted_.load(); }))
      throw std::runtime_error("the consuming thread was not ready after " +
                               std::to_string(stall_limit.count()) + " s");
    if (aborted_)
      throw run_aborted{};
  }

  void request_stop() { stop_ = true; }
  bool stop_requested() const { return stop_.load(); }

  bool failed() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return error_ != nullptr;
  }

  void rethrow_if_failed() const {
    std::lock_guard<std::mutex> guard{mutex_};
    if (error_)
      std::rethrow_exception(error_);
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::exception_ptr error_;
  bool ready_ = false;
  std::atomic<bool> aborted_{false};
  std::atomic<bool> stop_{false};
};

template<class F>
std::thread spawn(run_state& run, F body) {
  return std::thread([&run, body]() mutable {
    try {
      body();
    } catch (...) {
      run.fail(std::current_exception());
    }
  });
}

/// Joins both threads, deletes the queue and rethrows the first error of
/// the run. A cleanup error is reported only if the run itself succeeded, so
/// it never hides the original cause.
void finish_run(run_state& run, std::thread& a, std::thread& b,
                const broker_target& target, const std::string& queue) {
  a.join();
  b.join();
  try {
    delete_queue(target, queue);
  } catch (...) {
    if (!run.failed())
      throw;
  }
  run.rethrow_if_failed();
}

// -- throughput --------------------------------------------------------------

/// Reads frames until every tag in [first_tag, last_tag] is confirmed.
/// Confirms may be single or cumulative (multiple=true); a nack, a returned
/// message or a channel error aborts with an error.
void await_confirms(amqp_connection_state_t state, uint64_t first_tag,
                    uint64_t last_tag, const run_state& run) {
  std::vector<bool> confirmed(last_tag - first_tag + 1, false);
  auto outstanding = confirmed.size();
  auto last_progress = steady::now();
  const std::string what = "waiting for publisher confirms";
  while (outstanding > 0) {
    run.throw_if_aborted();
    amqp_frame_t frame;
    auto tv = to_timeval(poll_interval);
    int status = amqp_simple_wait_frame_noblock(state, &frame, &tv);
    if (status == AMQP_STATUS_TIMEOUT) {
      if (steady::now() - last_progress > stall_limit)
        throw std::runtime_error("rabbitmq-c: no publisher confirm for " +
                                 std::to_string(stall_limit.count()) + " s (" +
                                 std::to_string(outstanding) + " of batch " +
                                 std::to_string(first_tag) + ".." +
                                 std::to_string(last_tag) + " unconfirmed)");
      continue;
    }
    check_status(status, what);
    if (frame.frame_type != AMQP_FRAME_METHOD ||
        frame.payload.method.id != AMQP_BASIC_ACK_METHOD)
      throw_unexpected(state, frame, what);
    auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
    if (ack->delivery_tag > last_tag)
      throw std::runtime_error("rabbitmq-c: broker confirmed delivery_tag " +
                               std::to_string(ack->delivery_tag) +
                               " that was never published");
    // Tags before first_tag belong to earlier, fully confirmed batches.
    auto from =
      std::max(ack->multiple ? first_tag : ack->delivery_tag, first_tag);
    for (auto tag = from; tag <= ack->delivery_tag; ++tag) {
      if (!confirmed[tag - first_tag]) {
        confirmed[tag - first_tag] = true;
        --outstanding;
      }
    }
    last_progress = steady::now();
  }
  amqp_maybe_release_buffers(state);
}

} // namespace

// -- public functions --------------------------------------------------------

broker_target parse_target(const std::string& amqp_uri) {
  // Parsing is not measured, so the baseline shares warren's parser.
  auto endpoint = bridges::parse_broker_uri(amqp_uri);
  if (!endpoint)
    throw std::invalid_argument(describe(endpoint.error()));
  if (endpoint->tls)
    throw std::invalid_argument("the raw baseline needs an amqp:// URI, got '" +
                                endpoint->redacted() + "'");
  return {endpoint->host, endpoint->port, endpoint->user, endpoint->password,
          endpoint->vhost};
}

throughput_result raw_throughput(const broker_target& target,
                                 const std::string& queue, std::size_t messages,
                                 std::size_t body_bytes) {
  if (messages == 0)
    throw std::invalid_argument("raw_throughput needs at least one message");
  recreate_queue(target, queue);

  run_state run;
  steady::time_point first_publish;
  steady::time_point last_consumed;

  auto consumer = spawn(run, [&] {
    connection conn{target, "warren-bench-raw-consumer"};
    auto* state = conn.get();
    amqp_basic_qos(state, channel_id, 0, throughput_prefetch, 0);
    conn.check_last_rpc("basic.qos");
    amqp_basic_consume(state, channel_id, as_bytes(queue), amqp_empty_bytes,
                       /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0,
                       amqp_empty_table);
    conn.check_last_rpc("basic.consume on '" + queue + "'");
    run.set_ready();

    const std::string what = "consuming from '" + queue + "'";
    std::size_t received = 0;
    std::size_t unacked = 0;
    uint64_t last_tag = 0;
    auto last_progress = steady::now();
    while (received < messages) {
      run.throw_if_aborted();
      amqp_envelope_t envelope;
      if (!consume_one(state, envelope, what)) {
        if (steady::now() - last_progress > stall_limit)
          throw std::runtime_error(
            "no message for " + std::to_string(stall_limit.count()) +
            " s after " + std::to_string(received) + " of " +
            std::to_string(messages) + " on '" + queue + "'");
        continue;
      }
      envelope_guard guard{envelope};
      if (envelope.message.body.len != body_bytes)
        throw std::runtime_error(
          "received a " + std::to_string(envelope.message.body.len) +
          "-byte body, expected " + std::to_string(body_bytes));
      ++received;
      ++unacked;
      last_tag = envelope.delivery_tag;
      last_progress = steady::now();
      if (unacked == ack_batch) {
        check_status(amqp_basic_ack(state, channel_id, last_tag, 1),
                     "basic.ack");
        unacked = 0;
      }
    }
    last_consumed = steady::now();
    if (unacked > 0)
      check_status(amqp_basic_ack(state, channel_id, last_tag, 1),
                   "final basic.ack");
  });

  auto publisher = spawn(run, [&] {
    connection conn{target, "warren-bench-raw-publisher"};
    auto* state = conn.get();
    amqp_confirm_select(state, channel_id);
    conn.check_last_rpc("confirm.select");
    const std::string body(body_bytes, 'x');
    amqp_basic_properties_t properties{};
    properties._flags =
      AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    properties.content_type = amqp_cstring_bytes("application/octet-stream");
    properties.delivery_mode = 2; // persistent
    run.wait_ready();

    first_publish = steady::now();
    std::size_t sent = 0;
    while (sent < messages) {
      auto batch = std::min(confirm_batch, messages - sent);
      for (std::size_t i = 0; i < batch; ++i) {
        // mandatory: if the queue vanished, the default exchange would
        // silently drop (and still confirm) the message; a basic.return
        // turns that into an error instead of a 30 s consumer stall.
        check_status(amqp_basic_publish(state, channel_id, amqp_empty_bytes,
                                        as_bytes(queue), /*mandatory=*/1,
                                        /*immediate=*/0, &properties,
                                        as_bytes(body)),
                     "basic.publish");
      }
      // Delivery tags count from 1 on a channel in confirm mode.
      await_confirms(state, sent + 1, sent + batch, run);
      sent += batch;
    }
  });

  finish_run(run, consumer, publisher, target, queue);
  auto seconds = seconds_between(first_publish, last_consumed);
  return {messages, seconds, static_cast<double>(messages) / seconds};
}

latency_result raw_rpc(const broker_target& target,
                       const std::string& request_queue, std::size_t calls,
                       rpc_server server_kind) {
  if (calls == 0)
    throw std::invalid_argument("raw_rpc needs at least one call");
  const bool external = server_kind == rpc_server::external;
  if (!external)
    recreate_queue(target, request_queue);

  run_state run;
  std::vector<double> latencies_us;
  latencies_us.reserve(calls);
  steady::time_point first_request;
  steady::time_point last_reply;

  auto server = spawn(run, [&] {
    if (external) {
      run.set_ready(); // someone else serves the queue
      return;
    }
    connection conn{target, "warren-bench-raw-rpc-server"};
    auto* state = conn.get();
    amqp_basic_qos(state, channel_id, 0, rpc_prefetch, 0);
    conn.check_last_rpc("basic.qos");
    amqp_basic_consume(state, channel_id, as_bytes(request_queue),
                       amqp_empty_bytes, 0, /*no_ack=*/0, 0, amqp_empty_table);
    conn.check_last_rpc("basic.consume on '" + request_queue + "'");
    run.set_ready();

    const std::string what = "consuming requests from '" + request_queue + "'";
    amqp_basic_properties_t reply_properties{};
    reply_properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                              AMQP_BASIC_DELIVERY_MODE_FLAG |
                              AMQP_BASIC_CORRELATION_ID_FLAG;
    reply_properties.content_type = amqp_cstring_bytes("application/json");
    reply_properties.delivery_mode = 1; // transient
    // The server has no progress deadline of its own: it idles legitimately
    // between calls, and the client detects a lost request or reply.
    while (!run.stop_requested()) {
      run.throw_if_aborted();
      amqp_envelope_t envelope;
      if (!consume_one(state, envelope, what))
        continue;
      envelope_guard guard{envelope};
      const auto& request = envelope.message.properties;
      if (!(request._flags & AMQP_BASIC_REPLY_TO_FLAG) ||
          !(request._flags & AMQP_BASIC_CORRELATION_ID_FLAG))
        throw std::runtime_error("request without reply_to or correlation_id");
      reply_properties.correlation_id = request.correlation_id;
      // Echo the request body: the baseline measures transport, not work.
      check_status(amqp_basic_publish(state, channel_id, amqp_empty_bytes,
                                      request.reply_to, /*mandatory=*/0,
                                      /*immediate=*/0, &reply_properties,
                                      envelope.message.body),
                   "basic.publish of a reply");
      // Ack after the reply is handed to the socket, as an at-least-once
      // server would.
      check_status(amqp_basic_ack(state, channel_id, envelope.delivery_tag, 0),
                   "basic.ack of a request");
    }
  });

  auto client = spawn(run, [&] {
    // Whatever happens, let the server loop end.
    struct stop_server {
      run_state& run;
      ~stop_server() { run.request_stop(); }
    } stop{run};

    connection conn{target, "warren-bench-raw-rpc-client"};
    auto* state = conn.get();
    auto* declared =
      amqp_queue_declare(state, channel_id, amqp_empty_bytes,
                         /*passive=*/0, /*durable=*/0,
                         /*exclusive=*/1, /*auto_delete=*/1, amqp_empty_table);
    conn.check_last_rpc("queue.declare of the reply queue");
    // Copy now: the reply lives in a connection pool that later calls reuse.
    const auto reply_queue = to_string(declared->queue);
    amqp_basic_consume(state, channel_id, as_bytes(reply_queue),
                       amqp_empty_bytes, 0, /*no_ack=*/1, /*exclusive=*/1,
                       amqp_empty_table);
    conn.check_last_rpc("basic.consume on the reply queue");

    amqp_basic_properties_t properties{};
    properties._flags =
      AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
      AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG;
    properties.content_type = amqp_cstring_bytes("application/json");
    properties.delivery_mode = 1; // transient
    properties.reply_to = as_bytes(reply_queue);
    // Unique per run as well as per call, in case a stale reply from another
    // run ever reached this queue.
    const auto id_prefix =
      "raw-" + std::to_string(steady::now().time_since_epoch().count()) + "-";
    const std::string what = "waiting for a reply on '" + reply_queue + "'";
    run.wait_ready();

    for (std::size_t call = 0; call < calls; ++call) {
      auto correlation_id = id_prefix + std::to_string(call);
      auto body =
        R"({"op":"echo","seq":)" + std::to_string(call) + R"(,"pad":")";
      body.append(rpc_request_bytes > body.size() + 2
                    ? rpc_request_bytes - body.size() - 2
                    : 0,
                  'x');
      body += R"("})";
      properties.correlation_id = as_bytes(correlation_id);

      auto sent_at = steady::now();
      if (call == 0)
        first_request = sent_at;
      // mandatory: a missing request queue gives a basic.return (reported by
      // consume_one) rather than a 30 s timeout.
      check_status(amqp_basic_publish(state, channel_id, amqp_empty_bytes,
                                      as_bytes(request_queue), /*mandatory=*/1,
                                      /*immediate=*/0, &properties,
                                      as_bytes(body)),
                   "basic.publish of a request");
      for (;;) {
        run.throw_if_aborted();
        amqp_envelope_t envelope;
        if (!consume_one(state, envelope, what)) {
          if (steady::now() - sent_at > stall_limit)
            throw std::runtime_error(
              "no reply to call " + std::to_string(call) + " within " +
              std::to_string(stall_limit.count()) + " s");
          continue;
        }
        envelope_guard guard{envelope};
        const auto& reply = envelope.message.properties;
        auto got = (reply._flags & AMQP_BASIC_CORRELATION_ID_FLAG)
                     ? to_string(reply.correlation_id)
                     : std::string{"<none>"};
        // Calls are sequential, so any other id is a protocol bug, not a
        // late reply to skip.
        if (got != correlation_id)
          throw std::runtime_error("reply correlation_id '" + got +
                                   "', expected '" + correlation_id + "'");
        if (to_string(envelope.message.body) != body)
          throw std::runtime_error("reply body differs from the request");
        break;
      }
      auto received_at = steady::now();
      latencies_us.push_back(
        std::chrono::duration<double, std::micro>(received_at - sent_at)
          .count());
      last_reply = received_at;
    }
  });

  if (external) {
    server.join();
    client.join();
    run.rethrow_if_failed();
  } else {
    finish_run(run, server, client, target, request_queue);
  }
  auto seconds = seconds_between(first_request, last_reply);
  std::sort(latencies_us.begin(), latencies_us.end());
  return {calls, seconds, static_cast<double>(calls) / seconds,
          percentile_sorted(latencies_us, 50),
          percentile_sorted(latencies_us, 99)};
}

} // namespace warren::bench
