#include "dispatch/dispatcher.hpp"

#include "dispatch/message_scope.hpp"
#include "warren/core/log.hpp"

namespace warren::detail {

namespace {

class dispatcher : public bridges::delivery_handler {
 public:
  dispatcher(std::shared_ptr<actor> user, dispatch_services services,
             dispatch_settings settings)
    : user_(std::move(user)) {
    instance_.services =
      std::make_shared<dispatch_services>(std::move(services));
    instance_.settings =
      std::make_shared<dispatch_settings>(std::move(settings));
    instance_.user = user_.get();
    user_->setup(table_);
  }

  void handle(bridges::consumer_host& host, const caf::message& delivery,
              std::function<void(outcome)> done) override {
    auto scope = open_scope(instance_, *this, host, delivery, std::move(done));
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
        log::warning(log::scope{user_->name(), env.properties.message_id},
                     "handler finished without replying to a request");
    }
    flush_effects(scope);
    finish_if_done(scope);
  }

 private:
  std::shared_ptr<actor> user_;
  instance_scope instance_;
  handlers table_;
};

} // namespace

std::shared_ptr<bridges::delivery_handler>
make_dispatcher(std::shared_ptr<actor> user, dispatch_services services,
                dispatch_settings settings) {
  return std::make_shared<dispatcher>(std::move(user), std::move(services),
                                      std::move(settings));
}

} // namespace warren::detail
