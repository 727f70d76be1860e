#include "warren/core/dead_letter.hpp"

namespace warren {

std::string dead_letter_queue_name(const std::string& queue) {
  return queue + ".dlq";
}

namespace {

outgoing_message make_copy(const message_properties& props,
                           const std::string& body, const std::string& exchange,
                           const std::string& routing_key,
                           const move_reason& why, std::string target) {
  outgoing_message msg;
  msg.exchange = "";
  msg.routing_key = std::move(target);
  msg.properties = props;
  msg.properties.expiration.clear();
  msg.properties.delivery_mode = 2;
  auto& h = msg.properties.headers;
  // The copy stays in its message's trace (one that started it: its id).
  if (auto trace = trace_of(props); !trace.empty())
    set_field(h, header::trace, std::string{trace});
  set_field(h, header::error, why.text);
  set_field(h, header::error_code, std::string{to_string(why.code)});
  set_field(h, header::actor, why.actor);
  set_field(h, header::node, why.node);
  if (find_field(h, header::original_exchange) == nullptr) {
    set_field(h, header::original_exchange, exchange);
    set_field(h, header::original_routing_key, routing_key);
  }
  msg.body = body;
  msg.mandatory = true;
  return msg;
}

} // namespace

outgoing_message make_dead_letter(const message_properties& props,
                                  const std::string& body,
                                  const std::string& exchange,
                                  const std::string& routing_key,
                                  const std::string& queue,
                                  const move_reason& why, int64_t attempts) {
  auto msg = make_copy(props, body, exchange, routing_key, why,
                       dead_letter_queue_name(queue));
  set_field(msg.properties.headers, header::attempts, attempts);
  return msg;
}

outgoing_message make_dead_letter(const envelope& env, const move_reason& why,
                                  int64_t attempts) {
  return make_dead_letter(
    env.properties, env.raw_body, env.exchange, env.routing_key, env.queue, why,
    attempts != 0 ? attempts : attempt_of(env.properties));
}

outgoing_message make_retry_copy(const envelope& env, const move_reason& why,
                                 const std::string& target_queue,
                                 int64_t attempt) {
  auto msg = make_copy(env.properties, env.raw_body, env.exchange,
                       env.routing_key, why, target_queue);
  set_field(msg.properties.headers, header::attempt, attempt);
  return msg;
}

} // namespace warren
