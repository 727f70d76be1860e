#include "dispatch/message_scope.hpp"

#include "warren/bridges/atoms.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/log.hpp"

#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <ctime>

namespace warren::detail {

namespace {

uint64_t now_seconds() {
  return static_cast<uint64_t>(std::time(nullptr));
}

} // namespace

outgoing_message make_outgoing(const envelope& cause, std::string exchange,
                               std::string routing_key, std::string type,
                               const boost::json::value& body) {
  outgoing_message msg;
  msg.exchange = std::move(exchange);
  msg.routing_key = std::move(routing_key);
  msg.properties.message_id = warren::make_message_id();
  msg.properties.type = std::move(type);
  msg.properties.timestamp = now_seconds();
  // Carry the trace id along so a chain of messages can be followed.
  if (auto* trace =
        warren::find_field(cause.properties.headers, warren::header::trace))
    warren::set_field(msg.properties.headers, warren::header::trace, *trace);
  else if (!cause.properties.message_id.empty())
    warren::set_field(msg.properties.headers, warren::header::trace,
                      cause.properties.message_id);
  msg.body = boost::json::serialize(body);
  return msg;
}

namespace {

class context_impl : public context {
 public:
  explicit context_impl(scope_ptr scope) : scope_(std::move(scope)) {}

  const envelope& message() const override { return scope_->message(); }

  const std::string& actor_name() const override {
    return scope_->user->name();
  }

  const boost::json::object& options() const override {
    return scope_->user->options();
  }

  void reply_json(boost::json::value body, std::string type) override {
    const auto& req = message();
    if (req.properties.reply_to.empty()) {
      log::warning(log::scope{actor_name(), req.properties.message_id},
                   "reply dropped, the request has no reply_to");
      return;
    }
    auto msg =
      make_outgoing(req, "", req.properties.reply_to, std::move(type), body);
    msg.properties.correlation_id = req.properties.correlation_id;
    // Replies are as durable as their request; a caller that is gone no
    // longer has a queue, and the broker drops the reply (not mandatory).
    msg.properties.delivery_mode = req.properties.delivery_mode;
    scope_->outbox.push_back(std::move(msg));
    scope_->replied = true;
  }

  void send_json(const std::string& actor, std::string type,
                 boost::json::value body) override {
    auto msg = make_outgoing(message(), bridges::actors_exchange, actor,
                             std::move(type), body);
    msg.mandatory = true;
    scope_->outbox.push_back(std::move(msg));
  }

  void publish_json(const std::string& exchange, const std::string& routing_key,
                    std::string type, boost::json::value body,
                    publish_options opts) override {
    auto msg =
      make_outgoing(message(), exchange, routing_key, std::move(type), body);
    msg.mandatory = opts.mandatory;
    msg.properties.delivery_mode = opts.persistent ? 2 : 1;
    msg.properties.priority = opts.priority;
    if (opts.ttl_ms > 0)
      msg.properties.expiration = std::to_string(opts.ttl_ms);
    for (auto& [key, value] : opts.headers)
      warren::set_field(msg.properties.headers, key, std::move(value));
    scope_->outbox.push_back(std::move(msg));
  }

  void call_json(const std::string& service, std::string type,
                 boost::json::value body, call_continuation then,
                 std::chrono::milliseconds timeout) override {
    if (scope_->stateful) {
      // Its continuation would change state outside the message's
      // transaction.
      fail(status::fail(errc::validation_failed,
                        "a stateful actor cannot call '" + service +
                          "'; send a request and handle the reply as a "
                          "message",
                        true));
      return;
    }
    auto msg = make_outgoing(message(), bridges::actors_exchange, service,
                             std::move(type), body);
    msg.mandatory = true;
    // Requests are transient: a reply to a caller that restarted is useless.
    msg.properties.delivery_mode = 1;
    if (timeout.count() <= 0)
      timeout = scope_->services->call_timeout;
    scope_->calls.push_back({std::move(msg), timeout, std::move(then)});
  }

  void fail(status why) override {
    if (scope_->failure.is_ok())
      scope_->failure = std::move(why);
  }

  void stop() override {
    if (scope_->next == warren::outcome::lifecycle::carry_on)
      scope_->next = warren::outcome::lifecycle::actor_stopped;
  }

 private:
  scope_ptr scope_;
};

// Runs a handler or continuation, turning exceptions into failures.
template<class F>
void run_guarded(const scope_ptr& scope, F&& fn) {
  try {
    auto result = fn();
    if (!result.is_ok() && scope->failure.is_ok())
      scope->failure = std::move(result);
  } catch (const permanent_error& e) {
    if (scope->failure.is_ok())
      scope->failure = status::fail(errc::handler_failed, e.what(), true);
  } catch (const actor_failure& e) {
    scope->next = warren::outcome::lifecycle::actor_failed;
    scope->failure = status::fail(
      errc::actor_failed, std::string{"actor failed: "} + e.what(), false);
  } catch (const std::exception& e) {
    if (scope->failure.is_ok())
      scope->failure = status::fail(
        errc::handler_failed, std::string{"handler threw: "} + e.what(), false);
  } catch (...) {
    if (scope->failure.is_ok())
      scope->failure = status::fail(
        errc::handler_failed, "handler threw a non-standard exception", false);
  }
}

} // namespace

void run_in_context(const scope_ptr& scope,
                    const std::function<status(context&)>& fn) {
  context_impl ctx{scope};
  run_guarded(scope, [&] { return fn(ctx); });
}

// Publishes what the handler produced (only if it succeeded) and starts its
// calls; each decrements `outstanding` when settled.
void flush_effects(const scope_ptr& scope) {
  auto outbox = std::move(scope->outbox);
  auto calls = std::move(scope->calls);
  scope->outbox.clear();
  scope->calls.clear();
  if (!scope->failure.is_ok())
    return; // A failed message sends nothing.
  for (auto& msg : outbox) {
    ++scope->outstanding;
    scope->host->publish(std::move(msg), [scope](const caf::error& err) {
      --scope->outstanding;
      if (err && scope->failure.is_ok())
        scope->failure = status::fail(code_of(err), describe(err), false);
      finish_if_done(scope);
    });
  }
  for (auto& call : calls) {
    ++scope->outstanding;
    auto then = std::make_shared<call_continuation>(std::move(call.then));
    auto run = [scope, then](call_result result) {
      --scope->outstanding;
      if (*scope->ended) {
        // The instance ended while the call was out: its code must not run
        // again; the broker gives the message to the next instance.
        if (!scope->answered) {
          scope->answered = true;
          auto done = std::move(scope->done);
          done(outcome::retry(errc::actor_failed,
                              "the actor ended before the reply arrived"));
        }
        return;
      }
      context_impl ctx{scope};
      run_guarded(scope, [&] {
        (*then)(ctx, std::move(result));
        return status::ok();
      });
      flush_effects(scope);
      finish_if_done(scope);
    };
    scope->host->self()
      ->request(scope->services->requester, caf::infinite,
                bridges::call_atom::value, std::move(call.request),
                static_cast<int64_t>(call.timeout.count()))
      .then([run](boost::json::value& reply) { run(std::move(reply)); },
            [run](caf::error& err) { run(std::move(err)); });
  }
}

scope_ptr open_scope(const instance_scope& instance,
                     bridges::delivery_handler& dispatcher,
                     bridges::consumer_host& host, const caf::message& delivery,
                     std::function<void(outcome)> done) {
  auto scope = std::make_shared<message_scope>();
  scope->host = &host;
  scope->services = instance.services;
  scope->settings = instance.settings;
  scope->again = [&dispatcher, &host](caf::message next,
                                      std::function<void(outcome)> again_done) {
    dispatcher.handle(host, next, std::move(again_done));
  };
  scope->user = instance.user;
  scope->delivery = delivery;
  scope->done = std::move(done);
  scope->ended = instance.ended;
  scope->stateful = instance.stateful;
  if (*instance.ended) {
    answer(scope, outcome::retry(errc::actor_failed, "the actor has ended"));
    return nullptr;
  }
  return scope;
}

status unknown_type(const envelope& env) {
  return status::fail(
    errc::unknown_type,
    env.properties.type.empty()
      ? "message has no type and the actor has no default handler"
      : "unknown message type '" + env.properties.type + "'",
    true);
}

void answer(const scope_ptr& scope, outcome result) {
  scope->answered = true;
  result.next = scope->next;
  if (result.next != outcome::lifecycle::carry_on)
    *scope->ended = true;
  auto done = std::move(scope->done);
  done(std::move(result));
}

void finish_if_done(const scope_ptr& scope) {
  if (scope->outstanding > 0 || scope->answered)
    return;
  if (scope->failure.is_ok()) {
    if (scope->on_success) {
      auto staged = std::move(scope->on_success);
      scope->on_success = nullptr;
      staged(scope);
      return;
    }
    answer(scope, outcome::done());
    return;
  }
  const auto& why = scope->failure;
  const auto& req = scope->message();
  auto attempt = static_cast<uint32_t>(warren::attempt_of(req.properties));
  auto decision =
    runtime::decide_retry(scope->settings->retry, attempt, why.permanent());
  using action = runtime::retry_decision::action;
  if (decision.what == action::retry_now &&
      scope->next != outcome::lifecycle::carry_on) {
    // The instance is ending: the retry goes through the queue to the
    // restarted instance (or another one) with the attempt counted.
    log::info(log::scope{scope->user->name(), req.properties.message_id},
              "attempt {} of message {} failed ({}); retrying after the "
              "restart",
              attempt, req.properties.message_id, why.reason());
    answer(scope,
           outcome::republish(why.code(), why.reason(), scope->settings->queue,
                              decision.next_attempt));
    return;
  }
  if (decision.what == action::retry_now) {
    log::info(log::scope{scope->user->name(), req.properties.message_id},
              "attempt {} of message {} failed ({}); retrying at once", attempt,
              req.properties.message_id, why.reason());
    // The handler sees the attempt number, as it would after a redelivery.
    auto next = req;
    warren::set_field(next.properties.headers, warren::header::attempt,
                      static_cast<int64_t>(decision.next_attempt));
    scope->answered = true;
    scope->again(
      caf::make_message(bridges::deliver_atom::value, std::move(next)),
      std::move(scope->done));
    return;
  }
  if (decision.what == action::retry_later) {
    log::info(log::scope{scope->user->name(), req.properties.message_id},
              "attempt {} of message {} failed ({}); retrying through step {} "
              "of the retry ladder",
              attempt, req.properties.message_id, why.reason(), decision.step);
    answer(scope, outcome::republish(why.code(), why.reason(),
                                     runtime::retry_queue_name(
                                       scope->settings->queue, decision.step),
                                     decision.next_attempt));
    return;
  }
  auto result = outcome::reject(why.code(), why.reason(), attempt);
  if (!scope->user->replies_with_errors() || req.properties.reply_to.empty()) {
    answer(scope, std::move(result));
    return;
  }
  // A service tells its caller what went wrong instead of letting it time out.
  boost::json::object error;
  error["code"] = to_string(why.code());
  error["message"] = why.reason();
  boost::json::object body;
  body["error"] = std::move(error);
  auto reply =
    make_outgoing(req, "", req.properties.reply_to, "warren.error", body);
  reply.properties.correlation_id = req.properties.correlation_id;
  reply.properties.delivery_mode = req.properties.delivery_mode;
  warren::set_field(reply.properties.headers, warren::header::error,
                    why.reason());
  warren::set_field(reply.properties.headers, warren::header::error_code,
                    std::string{to_string(why.code())});
  scope->answered = true;
  result.next = scope->next;
  if (result.next != outcome::lifecycle::carry_on)
    *scope->ended = true;
  auto done = std::move(scope->done);
  scope->host->publish(std::move(reply),
                       [done, result](const caf::error&) { done(result); });
}

} // namespace warren::detail
