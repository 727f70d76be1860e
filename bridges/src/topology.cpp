#include "warren/bridges/topology.hpp"

namespace warren::bridges {

const char* to_string(exchange_type t) noexcept {
  switch (t) {
    case exchange_type::direct:
      return "direct";
    case exchange_type::fanout:
      return "fanout";
    case exchange_type::topic:
      return "topic";
    case exchange_type::headers:
      return "headers";
  }
  return "direct";
}

const char* to_string(overflow_mode m) noexcept {
  switch (m) {
    case overflow_mode::drop_head:
      return "drop-head";
    case overflow_mode::reject_publish:
      return "reject-publish";
    case overflow_mode::reject_publish_dlx:
      return "reject-publish-dlx";
  }
  return "drop-head";
}

const char* to_string(queue_type t) noexcept {
  switch (t) {
    case queue_type::classic:
      return "classic";
    case queue_type::quorum:
      return "quorum";
    case queue_type::stream:
      return "stream";
  }
  return "classic";
}

namespace {

// Whether warren routes the broker's dead letters of `spec` to its .dlq (a
// stream dead-letters nothing).
bool routes_to_dlq(const queue_spec& spec) {
  return spec.dead_letter_queue && !spec.name.empty() &&
         !spec.dead_letter_exchange && spec.type != queue_type::stream;
}

} // namespace

field_table queue_arguments(const queue_spec& spec) {
  if (!routes_to_dlq(spec))
    return legacy_queue_arguments(spec);
  auto routed = spec;
  routed.dead_letter_exchange = "";
  routed.dead_letter_routing_key = dead_letter_queue_name(spec.name);
  // Classic queues dead-letter at most once whatever is set.
  if (spec.type == queue_type::quorum) {
    if (!routed.overflow)
      routed.overflow = overflow_mode::reject_publish;
    if (!routed.dead_letter_strategy &&
        routed.overflow == overflow_mode::reject_publish)
      routed.dead_letter_strategy = "at-least-once";
  }
  return legacy_queue_arguments(routed);
}

field_table legacy_queue_arguments(const queue_spec& spec) {
  field_table args;
  auto add = [&args](const char* key, field_value value) {
    args.emplace_back(key, std::move(value));
  };
  // Classic queues get no x-queue-type: a queue declared earlier without the
  // argument would otherwise fail redeclaration with 406 on older brokers.
  if (spec.type != queue_type::classic)
    add("x-queue-type", std::string{to_string(spec.type)});
  if (spec.message_ttl_ms)
    add("x-message-ttl", *spec.message_ttl_ms);
  if (spec.expires_ms)
    add("x-expires", *spec.expires_ms);
  if (spec.dead_letter_exchange)
    add("x-dead-letter-exchange", *spec.dead_letter_exchange);
  if (spec.dead_letter_routing_key)
    add("x-dead-letter-routing-key", *spec.dead_letter_routing_key);
  if (spec.dead_letter_strategy)
    add("x-dead-letter-strategy", *spec.dead_letter_strategy);
  if (spec.max_length)
    add("x-max-length", *spec.max_length);
  if (spec.max_length_bytes)
    add("x-max-length-bytes", *spec.max_length_bytes);
  if (spec.overflow)
    add("x-overflow", std::string{to_string(*spec.overflow)});
  if (spec.max_priority)
    add("x-max-priority", *spec.max_priority);
  // Only sent when on, so queues declared without it stay equivalent.
  if (spec.single_active_consumer)
    add("x-single-active-consumer", true);
  if (spec.max_age)
    add("x-max-age", *spec.max_age);
  if (spec.stream_max_segment_size_bytes)
    add("x-stream-max-segment-size-bytes", *spec.stream_max_segment_size_bytes);
  return args;
}

} // namespace warren::bridges
