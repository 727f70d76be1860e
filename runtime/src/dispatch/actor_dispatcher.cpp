#include "dispatch/admission.hpp"
#include "dispatch/dispatchers.hpp"
#include "dispatch/settle.hpp"
#include "warren/core/log.hpp"

namespace warren::detail {

namespace {

// Runs one `warren::actor` instance's handlers for the deliveries of its
// consumer, in the consumer's own thread.
class actor_dispatcher : public bridges::delivery_handler {
 public:
  actor_dispatcher(std::shared_ptr<actor> user, dispatch_services services,
                   dispatch_settings settings)
    : user_(std::move(user)), instance_(std::make_shared<instance_scope>()) {
    instance_->services = std::move(services);
    instance_->settings = std::move(settings);
    instance_->user = user_.get();
    instance_->again = [this](bridges::consumer_host& host,
                              bridges::delivery msg,
                              std::function<void(bridges::settlement)> done) {
      run(host, std::move(msg), std::move(done));
    };
    user_->setup(table_);
  }

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override {
    if (auto rejected = admit(*msg, instance_->admission())) {
      done(to_settlement(*rejected, *msg, instance_->actor_name(),
                         instance_->services.node_name));
      return;
    }
    run(host, std::move(msg), std::move(done));
  }

 private:
  // The stages after admission (an immediate retry starts here).
  void run(bridges::consumer_host& host, bridges::delivery msg,
           std::function<void(bridges::settlement)> done) {
    auto scope = open_scope(instance_, host, std::move(msg), std::move(done));
    if (!scope)
      return;
    const auto& env = scope->message();
    const auto* handler = table_.find(env.properties.type);
    if (handler == nullptr) {
      scope->failure = unknown_type(env);
    } else {
      run_in_context(scope,
                     [&](context& ctx) { return (*handler)(ctx, env.body); });
      if (scope->failure.is_ok() && user_->replies_with_errors() &&
          !scope->replied && !env.properties.reply_to.empty())
        log::warning(log::scope{user_->name(), env.properties.message_id,
                                trace_of(env.properties)},
                     "handler finished without replying to a request");
    }
    flush_effects(scope);
    finish_if_done(scope);
  }

  std::shared_ptr<actor> user_;
  std::shared_ptr<instance_scope> instance_;
  handlers table_;
};

// Hands each admitted delivery to a raw CAF kind's actor.
class raw_dispatcher : public bridges::delivery_handler {
 public:
  raw_dispatcher(delivery_actor target, std::string actor_name,
                 dispatch_services services, dispatch_settings settings)
    : target_(std::move(target)), actor_name_(std::move(actor_name)),
      services_(std::move(services)), rules_{services_.max_body_bytes,
                                             settings.require_message_id} {
    // Nothing else to do.
  }

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override {
    if (auto rejected = admit(*msg, rules_)) {
      done(settle(*rejected, *msg));
      return;
    }
    const auto& env = *msg;
    host.ask(
      target_, env, [this, &host, msg, done](caf::expected<outcome> result) {
        // An actor that died or could not answer gives the message
        // back to the broker.
        if (!result)
          result = outcome::retry(errc::handler_failed,
                                  "actor failed: " + describe(result.error()));
        if (result->what != outcome::status::retry) {
          done(settle(*result, *msg));
          return;
        }
        // Given back after a pause, never in a tight loop: 100 ms,
        // or 1.6 s for a message that already came back before.
        auto pause = msg->redelivered ? backoff_after(5) : backoff_after(1);
        host.after(pause, [this, msg, done, retry = *result] {
          done(settle(retry, *msg));
        });
      });
  }

 private:
  bridges::settlement settle(const outcome& result, const envelope& env) {
    return to_settlement(result, env, actor_name_, services_.node_name);
  }

  delivery_actor target_;
  std::string actor_name_;
  dispatch_services services_;
  admission_rules rules_;
};

} // namespace

std::shared_ptr<bridges::delivery_handler>
make_actor_dispatcher(std::shared_ptr<actor> user, dispatch_services services,
                      dispatch_settings settings) {
  return std::make_shared<actor_dispatcher>(
    std::move(user), std::move(services), std::move(settings));
}

std::shared_ptr<bridges::delivery_handler>
make_raw_dispatcher(delivery_actor target, std::string actor_name,
                    dispatch_services services, dispatch_settings settings) {
  return std::make_shared<raw_dispatcher>(
    std::move(target), std::move(actor_name), std::move(services),
    std::move(settings));
}

} // namespace warren::detail
