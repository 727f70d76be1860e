#pragma once

/// A raw rabbitmq-c baseline (no warren code on the measured path, no CAF)
/// that the benchmark runs in the same process run as warren's own figures,
/// so the cost warren adds over the bare client library can be read off
/// directly.
///
/// Every function opens its own connections (one per thread, as rabbitmq-c
/// requires), declares the queue it uses fresh, deletes it afterwards, and
/// throws std::runtime_error with a message naming the failing AMQP step on
/// any library or broker error, or when no progress is made for 30 s.

#include <cstddef>
#include <memory>
#include <string>

namespace warren::bench {

/// End-to-end throughput of one run.
struct throughput_result {
  std::size_t messages;
  /// From the first publish to the last message consumed.
  double seconds;
  double msgs_per_sec;
};

/// Sequential request/reply latency of one run.
struct latency_result {
  std::size_t calls;
  /// From the first request published to the last reply received.
  double seconds;
  double calls_per_sec;
  /// Nearest-rank percentiles of the per-call round trip, in microseconds.
  double p50_us;
  double p99_us;
};

/// Where the baseline connects. Plain TCP only (no TLS).
struct broker_target {
  std::string host;
  int port;
  std::string user, password, vhost;
};

/// Parses an `amqp://` URI with warren's `parse_broker_uri` (the same
/// defaults and percent-decoding). Throws std::invalid_argument for a bad URI
/// or an `amqps://` one (the baseline is plain TCP).
broker_target parse_target(const std::string& amqp_uri);

/// Measures persistent throughput with rabbitmq-c alone: one publisher and
/// one consumer thread, each with its own connection, through a fresh durable
/// classic queue named `queue` (deleted first if it exists, and again after
/// the run).
///
/// The publisher sends `messages` persistent (delivery_mode 2) messages of
/// `body_bytes` bytes in batches of 100 with publisher confirms, waiting for
/// every batch to be confirmed before the next (a nack aborts the run). The
/// consumer uses basic.qos prefetch 500 and manual acks, acknowledging every
/// 100 messages with multiple=true plus a final ack. Timed from the first
/// publish to the last message consumed; connection setup is not included.
throughput_result raw_throughput(const broker_target& target,
                                 const std::string& queue, std::size_t messages,
                                 std::size_t body_bytes = 256);

/// The raw request-response server: a thread with its own rabbitmq-c
/// connection that consumes the fresh durable classic queue `queue`
/// (prefetch 100, manual acks), publishes each reply (transient, no confirm)
/// to the request's reply_to with its correlation_id, then acks the request
/// on the same channel. The queue is deleted when the server goes.
class raw_rpc_server {
 public:
  raw_rpc_server(const broker_target& target, std::string queue);
  ~raw_rpc_server();

  raw_rpc_server(const raw_rpc_server&) = delete;
  raw_rpc_server& operator=(const raw_rpc_server&) = delete;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

/// The raw request-response client, on the calling thread: its own
/// connection and server-named exclusive auto-delete reply queue (consumed
/// with no_ack); each call publishes a transient 64-byte JSON request
/// (mandatory, no confirm) with a unique correlation_id and waits for the
/// reply, which must echo the request.
class raw_rpc_client {
 public:
  explicit raw_rpc_client(const broker_target& target);
  ~raw_rpc_client();

  raw_rpc_client(const raw_rpc_client&) = delete;
  raw_rpc_client& operator=(const raw_rpc_client&) = delete;

  /// One call to the server consuming `queue` (a raw server or a warren
  /// service): its round trip in microseconds.
  double call(const std::string& queue);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

} // namespace warren::bench
