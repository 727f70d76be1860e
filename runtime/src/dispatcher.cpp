#include "dispatcher.hpp"

#include "message_scope.hpp"

namespace warren::detail {

namespace {

class dispatcher : public bridges::delivery_handler {
 public:
  dispatcher(std::shared_ptr<actor> user, dispatch_services services,
             dispatch_settings settings)
    : user_(std::move(user)),
      services_(std::make_shared<dispatch_services>(std::move(services))),
      settings_(std::make_shared<dispatch_settings>(std::move(settings))) {
    user_->setup(table_);
  }

  void handle(bridges::consumer_host& host, const caf::message& delivery,
              std::function<void(outcome)> done) override {
    auto scope = std::make_shared<message_scope>();
    scope->host = &host;
    scope->services = services_;
    scope->settings = settings_;
    scope->again = [this, &host](caf::message next,
                                 std::function<void(outcome)> again_done) {
      handle(host, next, std::move(again_done));
    };
    scope->user = user_.get();
    scope->delivery = delivery;
    scope->done = std::move(done);
    scope->ended = ended_;
    if (*ended_) {
      answer(scope, outcome::retry(errc::actor_failed, "the actor has ended"));
      return;
    }
    const auto& env = scope->message();
    const auto* handler = table_.find(env.properties.type);
    if (handler == nullptr) {
      scope->failure = status::fail(
        errc::unknown_type,
        env.properties.type.empty()
          ? "message has no type and the actor has no default handler"
          : "unknown message type '" + env.properties.type + "'",
        true);
    } else {
      run_in_context(scope,
                     [&](context& ctx) { return (*handler)(ctx, env.body); });
      if (scope->failure.is_ok() && user_->replies_with_errors() &&
          !scope->replied && !env.properties.reply_to.empty())
        std::cerr << "warren: " << user_->name()
                  << ": handler finished without replying to a request\n";
    }
    flush_effects(scope);
    finish_if_done(scope);
  }

 private:
  std::shared_ptr<actor> user_;
  std::shared_ptr<const dispatch_services> services_;
  std::shared_ptr<const dispatch_settings> settings_;
  std::shared_ptr<bool> ended_ = std::make_shared<bool>(false);
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
