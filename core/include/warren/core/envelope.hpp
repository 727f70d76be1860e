#pragma once

/// The message as it travels: AMQP properties plus a JSON body.
///
/// On the wire (see README.md, "Wire format") a warren message is an AMQP
/// message with `content_type: application/json`, a `message_id` that stays the
/// same across retries, a `type` naming the message type, a `timestamp`,
/// `correlation_id`/`reply_to` for request-response, `delivery_mode: 2` unless
/// the route is transient, optional `priority` and `expiration`, and the
/// headers `x-warren-attempt`, `x-warren-trace` and, on dead letters,
/// `x-warren-error`. Only the body is required of a foreign client.
///
/// Inside the node an `envelope` carries the same fields with the body parsed.

#include <boost/json/value.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace warren {

/// A value in an AMQP field table (message headers, queue/binding arguments).
using field_value = std::variant<bool, int64_t, double, std::string>;

/// An ordered AMQP field table. Small in practice, so a vector beats a map.
using field_table = std::vector<std::pair<std::string, field_value>>;

/// Returns the value stored under `key`, or nullptr.
const field_value* find_field(const field_table& table, std::string_view key);

/// Sets `key` to `value`, replacing an existing entry.
void set_field(field_table& table, std::string key, field_value value);

/// Header names warren reads and writes.
namespace header {
constexpr const char* attempt = "x-warren-attempt";
constexpr const char* trace = "x-warren-trace";
constexpr const char* error = "x-warren-error";
constexpr const char* error_code = "x-warren-error-code";
constexpr const char* actor = "x-warren-actor";
constexpr const char* attempts = "x-warren-attempts";
constexpr const char* original_exchange = "x-warren-original-exchange";
constexpr const char* original_routing_key = "x-warren-original-routing-key";
constexpr const char* node = "x-warren-node";
/// Marks a batched envelope (warren/core/batch.hpp): its value is the
/// number of entries.
constexpr const char* batch = "x-warren-batch";
} // namespace header

/// AMQP message properties warren uses. Empty strings mean "not set".
struct message_properties {
  std::string message_id;
  /// The message type name; selects the handler. Empty: the default handler.
  std::string type;
  std::string correlation_id;
  std::string reply_to;
  /// Content type; a message without one is treated as JSON.
  std::string content_type = "application/json";
  /// Seconds since the epoch; 0 means not set.
  uint64_t timestamp = 0;
  /// Per-message TTL in milliseconds as AMQP's `expiration` string.
  std::string expiration;
  std::optional<uint8_t> priority;
  /// 2 (persistent) unless the route is declared transient.
  uint8_t delivery_mode = 2;
  std::string app_id;
  field_table headers;
};

/// A message to publish. The body is already serialized so the publisher does
/// no JSON work on its thread and the bytes confirmed are the bytes sent.
struct outgoing_message {
  std::string exchange;
  std::string routing_key;
  message_properties properties;
  std::string body;
  /// Ask the broker to return the message if no queue takes it.
  bool mandatory = false;
};

/// A delivery from a queue, after decoding.
struct envelope {
  message_properties properties;
  /// The parsed body (null when the body was empty).
  boost::json::value body;
  /// The body as received, kept for dead-lettering byte for byte.
  std::string raw_body;
  std::string exchange;
  std::string routing_key;
  std::string queue;
  bool redelivered = false;
  /// The message came without a `message_id`; `properties.message_id`
  /// holds a fresh one warren gave this delivery (see `content_key`).
  bool anonymous = false;
  /// Admitted already (an entry split from an admitted batch, its body
  /// parsed): admission leaves it as it is.
  bool admitted = false;
  /// The body's size as the broker announced it (the content header).
  uint64_t body_size = 0;
  /// The body was over the channel's limit and was not kept: `raw_body` is
  /// empty (bounded memory; see `amqp_connection::set_body_limit`).
  bool body_dropped = false;
  /// Broker delivery tag on the consuming channel; with `channel_generation`
  /// it names the delivery to ack. Tags from an older generation are stale.
  uint64_t delivery_tag = 0;
  uint64_t channel_generation = 0;
};

/// A message made out of delivery `from` (a batch entry, a reassembled
/// transfer) gets its route and delivery (exchange, routing key, queue,
/// redelivered, tag and channel generation) and is marked admitted.
void take_delivery_of(envelope& made, const envelope& from);

/// Returns a new unique message id (random 128-bit, hex).
std::string make_message_id();

/// What a delivery without `message_id` is recognised by when the broker
/// redelivers it: a hash of its route, properties, headers and body. Two
/// different messages may share it (the same deposit sent twice), so it is
/// never an identity: it only tells a redelivery which earlier, unacked
/// delivery it may repeat (README.md, "Message identity").
std::string content_key(const envelope& env);

/// 32 hex digits that recognise `text` (two 64-bit FNV-1a hashes): the
/// same text always gives the same digits, on every build. Not a security
/// boundary.
std::string content_hash(std::string_view text);

/// The id of the `index`-th message sent while handling message `cause_id`
/// by `actor`: `<cause_id>/<actor>/<index>`, or, when that would not fit in
/// AMQP's 255-byte short string, a hash of it with the index. The same
/// input (a redelivery, a retry) sends the same ids, so downstream inboxes
/// drop the copies.
std::string effect_id(const std::string& cause_id, const std::string& actor,
                      std::size_t index);

/// The id of entry `index` of batch `batch_id` that came without an id of
/// its own: `<batch_id>#<index>`, or a hash of the batch id with the index
/// when that would not fit in 255 bytes. The same batch sent again gives its
/// entries the same ids.
std::string batch_entry_id(const std::string& batch_id, std::size_t index);

/// The trace id of a message: its `x-warren-trace` header (a string), or,
/// when it has none, its own id (it starts a trace). Everything warren
/// publishes because of a message (sends, replies, calls, retry copies,
/// dead letters, outbox rows) carries this value in `x-warren-trace`.
std::string_view trace_of(const message_properties& props);

/// Reads the attempt counter header (1 when absent or not an integer).
int64_t attempt_of(const message_properties& props);

} // namespace warren

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(boost::json::value)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::envelope)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::outgoing_message)
