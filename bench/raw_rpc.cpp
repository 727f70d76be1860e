// The raw request-response baseline: a server thread and a client thread,
// each with its own rabbitmq-c connection.

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
                 std::size_t call, steady::time_point sent_at, run_state& run,
                 const std::string& what) {
  for (;;) {
    run.throw_if_aborted();
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

// The client thread: one call after the other, each timed.
void call_all(const broker_target& target, const std::string& request_queue,
              std::size_t calls, run_state& run,
              std::vector<double>& latencies_us,
              steady::time_point& first_request,
              steady::time_point& last_reply) {
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
  amqp_basic_consume(state, channel_id, as_bytes(reply_queue), amqp_empty_bytes,
                     0, /*no_ack=*/1, /*exclusive=*/1, amqp_empty_table);
  conn.check_last_rpc("basic.consume on the reply queue");

  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                      AMQP_BASIC_DELIVERY_MODE_FLAG |
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
    auto body = request_body(call);
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
    await_reply(state, correlation_id, body, call, sent_at, run, what);
    auto received_at = steady::now();
    latencies_us.push_back(
      std::chrono::duration<double, std::micro>(received_at - sent_at).count());
    last_reply = received_at;
  }
}

} // namespace

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
    if (external)
      run.set_ready(); // someone else serves the queue
    else
      serve(target, request_queue, run);
  });
  auto client = spawn(run, [&] {
    call_all(target, request_queue, calls, run, latencies_us, first_request,
             last_reply);
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
