#include "dispatch/context_impl.hpp"

#include "cluster/shard_directory.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/batch.hpp"
#include "warren/core/log.hpp"
#include "warren/core/text.hpp"

#include <boost/json/serialize.hpp>
#include <ctime>

namespace warren::detail {

outgoing_message make_outgoing(message_scope& scope, std::string exchange,
                               std::string routing_key, std::string type,
                               const boost::json::value& body) {
  const auto& cause = scope.message();
  outgoing_message msg;
  msg.exchange = std::move(exchange);
  msg.routing_key = std::move(routing_key);
  msg.properties.message_id = effect_id(
    cause.properties.message_id, scope.instance->actor_name(), scope.made++);
  msg.properties.type = std::move(type);
  msg.properties.timestamp = static_cast<uint64_t>(std::time(nullptr));
  // Carry the trace id along so a chain of messages can be followed.
  if (auto trace = trace_of(cause.properties); !trace.empty())
    set_field(msg.properties.headers, header::trace, std::string{trace});
  // JSON has no NaN or infinity, and its text is UTF-8: such a message
  // would be unreadable downstream, so the handler fails instead.
  if (auto what = unwritable_json(body); what && scope.failure.is_ok())
    scope.failure = status::fail(
      errc::validation_failed,
      "message '" + msg.properties.type + "' would hold " + *what, true);
  msg.body = boost::json::serialize(body);
  return msg;
}

const envelope& context_impl::message() const {
  return scope_->message();
}

const std::string& context_impl::actor_name() const {
  return scope_->instance->actor_name();
}

const boost::json::object& context_impl::options() const {
  return scope_->instance->user->options();
}

bool context_impl::can_reply() const {
  const auto& req = message();
  if (!req.properties.reply_to.empty())
    return true;
  // Debug, not a warning: a command sent without asking for an answer (a
  // send, not a call: an append, a deposit) is normal, and a warning for
  // each would flood the log of a node under such a load.
  log::debug(log::scope{actor_name(), req.properties.message_id,
                        trace_of(req.properties)},
             "reply dropped, the request has no reply_to");
  return false;
}

void context_impl::reply_json(boost::json::value body, std::string type) {
  if (!can_reply())
    return;
  const auto& req = message();
  auto msg =
    make_outgoing(*scope_, "", req.properties.reply_to, std::move(type), body);
  msg.properties.correlation_id = req.properties.correlation_id;
  // Replies are as durable as their request; a caller that is gone no
  // longer has a queue, and the broker drops the reply (not mandatory).
  msg.properties.delivery_mode = req.properties.delivery_mode;
  queue_reply(std::move(msg));
}

void context_impl::reply_error(const std::string& code,
                               const std::string& message,
                               boost::json::object details) {
  if (!can_reply())
    return;
  queue_reply(make_error_reply(*scope_, code, message, std::move(details)));
}

void context_impl::queue_reply(outgoing_message msg) {
  const auto& req = message();
  // A stateful actor's reply leaves with its unit of work, like everything
  // it sends.
  if (req.properties.delivery_mode != 2 &&
      (!scope_->instance->stateful || scope_->query))
    scope_->replies.push_back(std::move(msg));
  else
    scope_->effects.push_back(std::move(msg));
  scope_->replied = true;
}

void context_impl::to_shard(const std::string& actor, outgoing_message& msg,
                            boost::json::value& body) const {
  const auto& shards = scope_->instance->services.shards;
  if (!shards || !shards->has(actor))
    return;
  // The key is read from the message as its receiver will see it; the
  // properties and body are lent, not copied.
  envelope probe;
  probe.properties = std::move(msg.properties);
  probe.body = std::move(body);
  auto queue = shards->shard_queue(actor, probe);
  msg.properties = std::move(probe.properties);
  if (queue.empty())
    return;
  msg.exchange.clear();
  msg.routing_key = std::move(queue);
}

void context_impl::send_json(const std::string& actor, std::string type,
                             boost::json::value body) {
  auto msg = make_outgoing(*scope_, bridges::actors_exchange, actor,
                           std::move(type), body);
  msg.mandatory = true;
  to_shard(actor, msg, body);
  scope_->effects.push_back(std::move(msg));
}

void context_impl::publish_json(const std::string& exchange,
                                const std::string& routing_key,
                                std::string type, boost::json::value body,
                                publish_options opts) {
  auto msg =
    make_outgoing(*scope_, exchange, routing_key, std::move(type), body);
  apply(msg, opts);
  scope_->effects.push_back(std::move(msg));
}

void context_impl::apply(outgoing_message& msg, publish_options& opts) {
  msg.mandatory = opts.mandatory;
  msg.properties.delivery_mode = opts.persistent ? 2 : 1;
  msg.properties.priority = opts.priority;
  if (opts.ttl_ms > 0)
    msg.properties.expiration = std::to_string(opts.ttl_ms);
  for (auto& [key, value] : opts.headers)
    set_field(msg.properties.headers, key, std::move(value));
  if (!opts.message_id.empty())
    msg.properties.message_id = std::move(opts.message_id);
  msg.properties.reply_to = std::move(opts.reply_to);
  msg.properties.correlation_id = std::move(opts.correlation_id);
}

outgoing_message
context_impl::make_batch(std::string exchange, std::string routing_key,
                         std::string type,
                         std::vector<boost::json::value> bodies) {
  // The entries' ids first, then the batch's: all stable, so a redelivered
  // cause sends the same batch with the same entry ids.
  std::vector<batch_entry> entries;
  entries.reserve(bodies.size());
  const auto& cause = scope_->message().properties.message_id;
  for (auto& body : bodies)
    entries.push_back(
      {effect_id(cause, actor_name(), scope_->made++), {}, std::move(body)});
  auto msg = make_outgoing(*scope_, std::move(exchange), std::move(routing_key),
                           std::move(type), boost::json::value{});
  for (const auto& entry : entries)
    if (auto what = unwritable_json(entry.body);
        what && scope_->failure.is_ok())
      scope_->failure = status::fail(
        errc::validation_failed,
        "batch entry '" + entry.id + "' would hold " + *what, true);
  msg.body = encode_batch(entries, msg.properties);
  return msg;
}

void context_impl::send_batch_json(const std::string& actor, std::string type,
                                   std::vector<boost::json::value> bodies) {
  auto msg = make_batch(bridges::actors_exchange, actor, std::move(type),
                        std::move(bodies));
  msg.mandatory = true;
  scope_->effects.push_back(std::move(msg));
}

void context_impl::publish_batch_json(const std::string& exchange,
                                      const std::string& routing_key,
                                      std::string type,
                                      std::vector<boost::json::value> bodies,
                                      publish_options opts) {
  auto msg =
    make_batch(exchange, routing_key, std::move(type), std::move(bodies));
  apply(msg, opts);
  scope_->effects.push_back(std::move(msg));
}

void context_impl::call_json(const std::string& service, std::string type,
                             boost::json::value body, call_continuation then,
                             std::chrono::milliseconds timeout) {
  if (scope_->instance->stateful) {
    // Its continuation would change state outside the message's
    // transaction.
    fail(status::fail(errc::validation_failed,
                      "a stateful actor cannot call '" + service +
                        "'; send a request and handle the reply as a message",
                      true));
    return;
  }
  auto msg = make_outgoing(*scope_, bridges::actors_exchange, service,
                           std::move(type), body);
  to_shard(service, msg, body);
  // Requests are transient: a reply to a caller that restarted is useless.
  msg.properties.delivery_mode = 1;
  if (timeout.count() <= 0)
    timeout = scope_->instance->services.call_timeout;
  scope_->calls.push_back({std::move(msg), timeout, std::move(then)});
}

void context_impl::fail(status why) {
  if (scope_->failure.is_ok())
    scope_->failure = std::move(why);
}

void context_impl::stop() {
  if (scope_->next == outcome::lifecycle::carry_on)
    scope_->next = outcome::lifecycle::actor_stopped;
}

} // namespace warren::detail
