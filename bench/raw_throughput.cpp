// The raw throughput baseline: one publisher thread and one consumer
// thread, each with its own rabbitmq-c connection.

#include "raw_run.hpp"
#include "stats.hpp"

namespace warren::bench {

using namespace raw;

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

namespace {

// The consumer thread: prefetch 500, a multiple-ack every 100.
void consume(const broker_target& target, const std::string& queue,
             std::size_t messages, std::size_t body_bytes, run_state& run,
             steady::time_point& last_consumed) {
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
      check_status(amqp_basic_ack(state, channel_id, last_tag, 1), "basic.ack");
      unacked = 0;
    }
  }
  last_consumed = steady::now();
  if (unacked > 0)
    check_status(amqp_basic_ack(state, channel_id, last_tag, 1),
                 "final basic.ack");
}

// The publisher thread: publishes 100, waits for their confirms.
void publish(const broker_target& target, const std::string& queue,
             std::size_t messages, std::size_t body_bytes, run_state& run,
             steady::time_point& first_publish) {
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
}

} // namespace

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
    consume(target, queue, messages, body_bytes, run, last_consumed);
  });
  auto publisher = spawn(run, [&] {
    publish(target, queue, messages, body_bytes, run, first_publish);
  });
  finish_run(run, consumer, publisher, target, queue);
  auto seconds = seconds_between(first_publish, last_consumed);
  return {messages, seconds, static_cast<double>(messages) / seconds};
}

} // namespace warren::bench
