#include "dispatch/message_scope.hpp"

#include "dispatch/context_impl.hpp"
#include "dispatch/settle.hpp"
#include "warren/core/log.hpp"

#include <boost/json/object.hpp>

namespace warren::detail {

namespace {

// Runs a handler or continuation, turning exceptions into failures.
template<class F>
void run_guarded(const scope_ptr& scope, F&& fn) {
  auto fail = [&scope](status why) {
    if (scope->failure.is_ok())
      scope->failure = std::move(why);
  };
  try {
    auto result = fn();
    if (!result.is_ok())
      fail(std::move(result));
  } catch (const permanent_error& e) {
    fail(status::fail(errc::handler_failed, e.what(), true));
  } catch (const actor_failure& e) {
    scope->next = outcome::lifecycle::actor_failed;
    scope->failure = status::fail(
      errc::actor_failed, std::string{"actor failed: "} + e.what(), false);
  } catch (const std::exception& e) {
    fail(status::fail(errc::handler_failed,
                      std::string{"handler threw: "} + e.what(), false));
  } catch (...) {
    fail(status::fail(errc::handler_failed,
                      "handler threw a non-standard exception", false));
  }
}

// Failures of the broker's own making that no retry can fix.
bool is_permanent(errc code) {
  return code == errc::not_found || code == errc::access_refused;
}

void start_call(const scope_ptr& scope, message_scope::pending_call call) {
  ++scope->outstanding;
  auto then = std::make_shared<call_continuation>(std::move(call.then));
  scope->host->call(
    std::move(call.request), call.timeout, [scope, then](call_result result) {
      --scope->outstanding;
      if (scope->instance->ended) {
        // The instance ended while the call was out: its code must not run
        // again; the broker gives the message to the next instance.
        if (!scope->answered)
          answer(scope, outcome::retry(errc::actor_failed,
                                       "the actor ended before the reply "
                                       "arrived"));
        return;
      }
      context_impl ctx{scope};
      run_guarded(scope, [&] {
        (*then)(ctx, std::move(result));
        return status::ok();
      });
      flush_effects(scope);
      finish_if_done(scope);
    });
}

// Hands the settlement for `result` to the consumer.
void settle_now(const scope_ptr& scope, outcome result) {
  result.next = scope->next;
  if (result.next != outcome::lifecycle::carry_on)
    scope->instance->ended = true;
  const auto& inst = *scope->instance;
  auto done = std::move(scope->done);
  done(to_settlement(result, scope->message(), inst.actor_name(),
                     inst.services.node_name));
}

// A service tells its caller what went wrong instead of letting it time out;
// the request is answered `result` once the reply is out.
void reply_with_error(const scope_ptr& scope, const status& why,
                      outcome result) {
  auto reply =
    make_error_reply(*scope, std::string{to_string(why.code())}, why.reason());
  scope->answered = true;
  if (reply.properties.delivery_mode != 2 &&
      !scope->host->publishing_blocked()) {
    scope->host->send_reply(reply);
    settle_now(scope, std::move(result));
    return;
  }
  scope->host->publish(std::move(reply),
                       [scope, result](const caf::error&) mutable {
                         settle_now(scope, std::move(result));
                       });
}

} // namespace

outgoing_message make_error_reply(message_scope& scope, const std::string& code,
                                  const std::string& message,
                                  boost::json::object details) {
  const auto& req = scope.message();
  details["code"] = code;
  details["message"] = message;
  boost::json::object body{{"error", std::move(details)}};
  auto reply =
    make_outgoing(scope, "", req.properties.reply_to, "warren.error", body);
  reply.properties.correlation_id = req.properties.correlation_id;
  reply.properties.delivery_mode = req.properties.delivery_mode;
  set_field(reply.properties.headers, header::error, message);
  set_field(reply.properties.headers, header::error_code, code);
  return reply;
}

scope_ptr open_scope(const std::shared_ptr<instance_scope>& instance,
                     bridges::consumer_host& host, bridges::delivery msg,
                     std::function<void(bridges::settlement)> done) {
  auto scope = std::make_shared<message_scope>();
  scope->instance = instance;
  scope->host = &host;
  scope->msg = std::move(msg);
  scope->done = std::move(done);
  if (instance->ended) {
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

void run_in_context(const scope_ptr& scope,
                    const std::function<status(context&)>& fn) {
  context_impl ctx{scope};
  run_guarded(scope, [&] { return fn(ctx); });
}

void flush_effects(const scope_ptr& scope) {
  auto effects = std::move(scope->effects);
  auto replies = std::move(scope->replies);
  auto calls = std::move(scope->calls);
  scope->effects.clear();
  scope->replies.clear();
  scope->calls.clear();
  if (!scope->failure.is_ok())
    return; // A failed message sends nothing.
  if (scope->host->publishing_blocked()) {
    // Held with a confirm like the effects: their answers hold the
    // delivery (bounded by the prefetch) until the broker unblocks.
    for (auto& reply : replies)
      effects.push_back(std::move(reply));
    replies.clear();
  }
  for (const auto& reply : replies)
    if (auto err = scope->host->send_reply(reply)) {
      scope->failure = status::fail(code_of(err), describe(err), false);
      return;
    }
  for (auto& msg : effects) {
    ++scope->outstanding;
    scope->host->publish(std::move(msg), [scope](const caf::error& err) {
      --scope->outstanding;
      if (err && scope->failure.is_ok())
        scope->failure =
          status::fail(code_of(err), describe(err), is_permanent(code_of(err)));
      finish_if_done(scope);
    });
  }
  for (auto& call : calls)
    start_call(scope, std::move(call));
}

void answer(const scope_ptr& scope, outcome result) {
  if (scope->answered)
    return;
  scope->answered = true;
  settle_now(scope, std::move(result));
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
  const auto& inst = *scope->instance;
  auto attempt = static_cast<uint32_t>(attempt_of(req.properties));
  auto plan =
    plan_failure(inst.settings.retry, inst.settings.queue, attempt,
                 why.permanent(), scope->next != outcome::lifecycle::carry_on);
  log::scope about{inst.actor_name(), req.properties.message_id,
                   trace_of(req.properties)};
  switch (plan.what) {
    case failure_plan::action::run_again: {
      inst.settings.immediate_retries.inc();
      if (scope->back_off)
        log::info(about,
                  "attempt {} of message {} failed ({}); retrying in {} ms",
                  attempt, req.properties.message_id, why.reason(),
                  backoff_after(attempt).count());
      else
        log::info(about,
                  "attempt {} of message {} failed ({}); retrying at once",
                  attempt, req.properties.message_id, why.reason());
      // The handler sees the attempt number, as it would after a redelivery.
      auto next = std::make_shared<envelope>(req);
      set_field(next->properties.headers, header::attempt,
                static_cast<int64_t>(plan.next_attempt));
      scope->answered = true;
      if (!scope->back_off) {
        inst.again(*scope->host, std::move(next), std::move(scope->done));
        return;
      }
      scope->host->after(backoff_after(attempt),
                         [instance = scope->instance, host = scope->host, next,
                          done = std::move(scope->done)] {
                           instance->again(*host, next, done);
                         });
      return;
    }
    case failure_plan::action::park:
      if (plan.target_queue == inst.settings.queue)
        log::info(about,
                  "attempt {} of message {} failed ({}); retrying after the "
                  "restart",
                  attempt, req.properties.message_id, why.reason());
      else
        log::info(
          about, "attempt {} of message {} failed ({}); retrying through {}",
          attempt, req.properties.message_id, why.reason(), plan.target_queue);
      answer(scope, outcome_of(plan, why.code(), why.reason()));
      return;
    case failure_plan::action::dead_letter:
      break;
  }
  auto result = outcome_of(plan, why.code(), why.reason());
  if (inst.user->replies_with_errors() && !req.properties.reply_to.empty())
    reply_with_error(scope, why, std::move(result));
  else
    answer(scope, std::move(result));
}

} // namespace warren::detail
