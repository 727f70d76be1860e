#include "warren/bridges/requester.hpp"

#include "owner/call_client.hpp"
#include "owner/connection_owner.hpp"
#include "warren/core/errc.hpp"

#include <caf/all.hpp>

namespace warren::bridges {

namespace {

constexpr uint16_t reply_channel = 3;
constexpr uint16_t request_channel = 4;

// While disconnected no poll loop runs; this timer keeps calls timing out.
using expire_atom = caf::atom_constant<caf::atom("expire")>;

using requester_impl_actor =
  requester_actor::extend<caf::reacts_to<poll_atom>,
                          caf::reacts_to<reconnect_atom>,
                          caf::reacts_to<expire_atom>>;

// Requests wait for the connection (within their timeout); one whose publish
// is in doubt when the connection goes fails (the service may have got it).
detail::confirm_policy requester_policy() {
  detail::confirm_policy p;
  p.wait_while_disconnected = true;
  p.republish_after_loss = false;
  return p;
}

class requester_impl : public detail::connection_owner<requester_impl_actor> {
 public:
  requester_impl(caf::actor_config& cfg, requester_config config)
    : connection_owner(cfg, config.broker, {}, requester_policy(), "requester"),
      calls_("warren.reply." + config.node_name + "." +
               make_message_id().substr(0, 12),
             reply_channel, request_channel) {
    calls_.limit_replies(config.max_reply_bytes);
    core_.set_metrics(config.connection_metrics, {});
    set_exit_handler([this](const caf::exit_msg& msg) {
      calls_.fail_all(make_error(errc::shutting_down, "requester stopped"));
      core_.close();
      quit(msg.reason);
    });
  }

  behavior_type make_behavior() override {
    start_connecting();
    return {
      [this](call_atom, outgoing_message& request,
             int64_t timeout_ms) -> caf::result<boost::json::value> {
        auto promise = make_response_promise<boost::json::value>();
        // Deadlines are checked by the poll loop: a timer per call would
        // wake CAF's clock thread on the critical path of every call.
        auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds{timeout_ms};
        auto err =
          calls_.call(core_.conn(), std::move(request), deadline,
                      [promise](caf::expected<envelope> reply) mutable {
                        auto body = reply ? detail::reply_body(*reply)
                                          : std::move(reply.error());
                        if (body)
                          promise.deliver(std::move(*body));
                        else
                          promise.deliver(std::move(body.error()));
                      });
        if (err)
          lose(describe(err));
        arm_expiry();
        return promise;
      },
      [this](stats_atom) -> requester_stats {
        return {!core_.down() && calls_.is_open(), calls_.size(), reconnects()};
      },
      [this](poll_atom) { handle_poll(); },
      [this](reconnect_atom) { handle_reconnect(); },
      [this](expire_atom) {
        expiry_armed_ = false;
        arm_expiry();
      },
    };
  }

 protected:
  caf::error on_connected() override { return calls_.open(core_.conn()); }

  void on_connection_lost(const std::string& why) override {
    calls_.on_connection_lost(make_error(
      errc::connection_lost, "connection lost while the call was out: " + why));
    arm_expiry();
  }

  std::chrono::milliseconds next_wait() override {
    return calls_.expire(detail::idle_poll);
  }

  void on_delivery(envelope&& env, uint16_t channel) override {
    if (channel == reply_channel)
      calls_.on_reply(env);
  }

  void on_returned(const envelope& msg, const std::string& reason) override {
    calls_.on_returned(msg, reason);
  }

  caf::error on_unblocked() override { return calls_.resume(core_.conn()); }

  caf::error on_channel_closed(uint16_t channel, int,
                               const std::string& reason) override {
    auto err = make_error(errc::channel_error, "the broker closed channel " +
                                                 std::to_string(channel) +
                                                 ": " + reason);
    calls_.on_channel_closed(err);
    return calls_.open(core_.conn());
  }

 private:
  // While connected the poll loop expires calls; while not, this timer.
  void arm_expiry() {
    auto next = calls_.expire(detail::idle_poll);
    if (!core_.down() || calls_.size() == 0 || expiry_armed_)
      return;
    expiry_armed_ = true;
    delayed_send(this, next, expire_atom::value);
  }

  detail::call_client calls_;
  bool expiry_armed_ = false;
};

} // namespace

requester_actor spawn_requester(caf::actor_system& sys, requester_config cfg) {
  return sys.spawn<requester_impl, caf::detached>(std::move(cfg));
}

} // namespace warren::bridges
