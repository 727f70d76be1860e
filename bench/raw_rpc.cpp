// The raw request-response baseline: a server thread and a client, each with
// its own rabbitmq-c connection. The client runs on its caller's thread, so a
// benchmark can interleave its calls to the raw server with calls to a warren
// service, and compare both at the same moments.

#include "raw_run.hpp"
#include "stats.hpp"

namespace warren::bench {

using namespace raw;

namespace {

// The server thread: consumes requests, publishes each reply (transient, no
// confirm) and acks the request.
void serve(const broker_target& target, const std::string& request_queue,
           run_state& run) {
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
}

// The request a client sends for `call`: about 64 bytes of JSON.
std::string request_body(std::size_t call) {
  auto body = R"({"op":"echo","seq":)" + std::to_string(call) + R"(,"pad":")";
  body.append(rpc_request_bytes > body.size() + 2
                ? rpc_request_bytes - body.size() - 2
                : 0,
              'x');
  body += R"("})";
  return body;
}

// Waits for the reply to `call`, which must echo `body`.
void await_reply(amqp_connection_state_t state,
                 const std::string& correlation_id, const std::string& body,
                 std::size_t call, steady::time_point sent_at,
                 const std::string& what) {
  for (;;) {
    amqp_envelope_t envelope;
    if (!consume_one(state, envelope, what)) {
      if (steady::now() - sent_at > stall_limit)
        throw std::runtime_error("no reply to call " + std::to_string(call) +
                                 " within " +
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
    return;
  }
}

} // namespace

struct raw_rpc_server::state {
  broker_target target;
  std::string queue;
  run_state run;
  std::thread thread;
};

raw_rpc_server::raw_rpc_server(const broker_target& target, std::string queue)
  : state_(std::make_unique<state>()) {
  state_->target = target;
  state_->queue = std::move(queue);
  recreate_queue(target, state_->queue);
  auto* st = state_.get();
  st->thread = spawn(st->run, [st] { serve(st->target, st->queue, st->run); });
  st->run.wait_ready();
}

raw_rpc_server::~raw_rpc_server() {
  state_->run.request_stop();
  state_->thread.join();
  delete_queue(state_->target, state_->queue);
}

struct raw_rpc_client::state {
  explicit state(const broker_target& target)
    : conn(target, "warren-bench-raw-rpc-client") {
    auto* amqp = conn.get();
    auto* declared =
      amqp_queue_declare(amqp, channel_id, amqp_empty_bytes,
                         /*passive=*/0, /*durable=*/0,
                         /*exclusive=*/1, /*auto_delete=*/1, amqp_empty_table);
    conn.check_last_rpc("queue.declare of the reply queue");
    // Copy now: the reply lives in a connection pool that later calls reuse.
    reply_queue = to_string(declared->queue);
    amqp_basic_consume(amqp, channel_id, as_bytes(reply_queue),
                       amqp_empty_bytes, 0, /*no_ack=*/1, /*exclusive=*/1,
                       amqp_empty_table);
    conn.check_last_rpc("basic.consume on the reply queue");
    properties._flags =
      AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
      AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG;
    properties.content_type = amqp_cstring_bytes("application/json");
    properties.delivery_mode = 1; // transient
    properties.reply_to = as_bytes(reply_queue);
    what = "waiting for a reply on '" + reply_queue + "'";
  }

  connection conn;
  std::string reply_queue;
  amqp_basic_properties_t properties{};
  std::string what;
  // Unique per run as well as per call, in case a stale reply from another
  // run ever reached this queue.
  std::string id_prefix =
    "raw-" + std::to_string(steady::now().time_since_epoch().count()) + "-";
  std::size_t calls = 0;
};

raw_rpc_client::raw_rpc_client(const broker_target& target)
  : state_(std::make_unique<state>(target)) {
  // Nothing else to do.
}

raw_rpc_client::~raw_rpc_client() = default;

double raw_rpc_client::call(const std::string& queue) {
  auto& st = *state_;
  auto call = st.calls++;
  auto correlation_id = st.id_prefix + std::to_string(call);
  auto body = request_body(call);
  st.properties.correlation_id = as_bytes(correlation_id);
  auto sent_at = steady::now();
  // mandatory: a missing request queue gives a basic.return (reported by
  // consume_one) rather than a 30 s timeout.
  check_status(amqp_basic_publish(st.conn.get(), channel_id, amqp_empty_bytes,
                                  as_bytes(queue), /*mandatory=*/1,
                                  /*immediate=*/0, &st.properties,
                                  as_bytes(body)),
               "basic.publish of a request");
  await_reply(st.conn.get(), correlation_id, body, call, sent_at, st.what);
  return std::chrono::duration<double, std::micro>(steady::now() - sent_at)
    .count();
}

} // namespace warren::bench
