#pragma once

/// Exchanges, queues and bindings a node declares on every (re)connect.
/// Declarations are idempotent at the broker; a declaration that conflicts
/// with an existing entity (406) fails with `errc::topology_failed`.

#include "warren/core/dead_letter.hpp"
#include "warren/core/envelope.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warren::bridges {

enum class exchange_type { direct, fanout, topic, headers };

const char* to_string(exchange_type t) noexcept;

struct exchange_spec {
  std::string name;
  exchange_type type = exchange_type::direct;
  /// Default true.
  bool durable = true;
  bool auto_delete = false;
  bool internal = false;
};

/// What a full queue does (`x-overflow`).
enum class overflow_mode { drop_head, reject_publish, reject_publish_dlx };

const char* to_string(overflow_mode m) noexcept;

/// A stream is an append-only log the broker replicates like a quorum
/// queue; consumers read it from an offset and acks only give credit (a
/// shard's changelog: README.md, "Clustering").
enum class queue_type { classic, quorum, stream };

const char* to_string(queue_type t) noexcept;

struct queue_spec {
  std::string name;
  /// Default true.
  bool durable = true;
  bool exclusive = false;
  bool auto_delete = false;
  queue_type type = queue_type::classic;
  /// `x-message-ttl` in milliseconds.
  std::optional<int64_t> message_ttl_ms;
  /// `x-expires`: delete the queue after it is unused this long.
  std::optional<int64_t> expires_ms;
  /// `x-dead-letter-exchange` (may be "" for the default exchange).
  std::optional<std::string> dead_letter_exchange;
  /// `x-dead-letter-routing-key`.
  std::optional<std::string> dead_letter_routing_key;
  /// `x-max-length` in messages.
  std::optional<int64_t> max_length;
  /// `x-max-length-bytes`.
  std::optional<int64_t> max_length_bytes;
  /// `x-overflow`; the broker's default is drop_head.
  std::optional<overflow_mode> overflow;
  /// `x-max-priority` (classic queues only), 1..255.
  std::optional<int64_t> max_priority;
  /// `x-single-active-consumer`.
  bool single_active_consumer = false;
  /// `x-max-age` of a stream: its segments older than this go, e.g. "7D".
  std::optional<std::string> max_age;
  /// `x-stream-max-segment-size-bytes`: a stream's retention works in
  /// segments of this size.
  std::optional<int64_t> stream_max_segment_size_bytes;
  /// Declare `<name>.dlq` (durable, of the same type) for warren's dead
  /// letters. Default true. For a quorum queue without a dead-letter
  /// exchange of its own, the broker's dead letters (a delivery limit, an
  /// expired message) go there too, at least once (`queue_arguments`).
  bool dead_letter_queue = true;
  /// `x-dead-letter-strategy` (quorum queues): "at-least-once" (needs
  /// `overflow` reject-publish) or "at-most-once".
  std::optional<std::string> dead_letter_strategy;
};

struct binding_spec {
  std::string exchange;
  std::string queue;
  std::string routing_key;
  /// Binding arguments; for headers exchanges the header values to match and
  /// `x-match` ("all" or "any").
  field_table arguments;
};

struct topology {
  std::vector<exchange_spec> exchanges;
  std::vector<queue_spec> queues;
  std::vector<binding_spec> bindings;
};

/// The queue arguments table for a spec (`x-message-ttl`, ...). A quorum
/// queue with `dead_letter_queue` and no dead-letter exchange of its own
/// also gets the broker's dead letters routed to `<name>.dlq` (what a
/// delivery limit or a TTL would otherwise drop), at least once when its
/// overflow allows (unset or reject-publish; unset becomes reject-publish,
/// which only matters with a length limit).
field_table queue_arguments(const queue_spec& spec);

/// `queue_arguments` as an earlier warren declared them (without the
/// dead-letter routing it now adds to quorum queues): to stay compatible
/// with queues it already declared.
field_table legacy_queue_arguments(const queue_spec& spec);

/// warren's own exchange for addressing actors by name: a durable direct
/// exchange; an actor's queue is bound with the actor's name as routing key.
constexpr const char* actors_exchange = "warren.actors";

} // namespace warren::bridges
