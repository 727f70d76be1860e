#include "warren/bridges/publisher.hpp"

#include "owner/connection_owner.hpp"
#include "warren/core/errc.hpp"

#include <caf/all.hpp>
#include <memory>

namespace warren::bridges {

namespace {

using publisher_impl_actor =
  publisher_actor::extend<caf::reacts_to<poll_atom>,
                          caf::reacts_to<reconnect_atom>>;

// The requester of one publish request, shared by the messages of a batch:
// answered once, when the last of them is settled (or the first fails).
struct publish_request {
  caf::typed_response_promise<caf::ok_atom> promise;
  std::size_t remaining = 0;
  bool answered = false;

  void settle(const caf::error& err) {
    if (answered)
      return;
    if (err) {
      answered = true;
      promise.deliver(err);
    } else if (--remaining == 0) {
      answered = true;
      promise.deliver(caf::ok_atom::value);
    }
  }
};

// Publishes wait for the connection, and unconfirmed ones go out again
// after a reconnect: at least once.
detail::confirm_policy publisher_policy(std::size_t max_unconfirmed) {
  detail::confirm_policy p;
  p.wait_while_disconnected = true;
  p.republish_after_loss = true;
  p.max_unconfirmed = max_unconfirmed;
  return p;
}

class publisher_impl : public detail::connection_owner<publisher_impl_actor> {
 public:
  publisher_impl(caf::actor_config& cfg, publisher_config config)
    : connection_owner(cfg, config.broker, config.topo,
                       publisher_policy(config.max_unconfirmed), "publisher") {
    core_.set_metrics(config.connection_metrics, config.publish_metrics);
    set_exit_handler([this](const caf::exit_msg& msg) {
      auto stopped = make_error(errc::shutting_down, "publisher stopped");
      answer_drains(stopped);
      core_.confirms().fail_all(stopped);
      core_.close();
      quit(msg.reason);
    });
  }

  behavior_type make_behavior() override {
    start_connecting();
    return {
      [this](publish_atom, outgoing_message& msg) -> caf::result<caf::ok_atom> {
        auto request = new_request(1);
        submit(std::move(msg), request);
        return request->promise;
      },
      [this](publish_atom, publish_batch& batch) -> caf::result<caf::ok_atom> {
        if (batch.messages.empty())
          return caf::ok_atom::value;
        auto request = new_request(batch.messages.size());
        for (auto& msg : batch.messages)
          submit(std::move(msg), request);
        return request->promise;
      },
      [this](drain_atom) -> caf::result<caf::ok_atom> {
        if (core_.confirms().idle())
          return caf::ok_atom::value;
        drains_.push_back(make_response_promise<caf::ok_atom>());
        return drains_.back();
      },
      [this](stats_atom) -> publisher_stats { return stats(); },
      [this](poll_atom) { handle_poll(); },
      [this](reconnect_atom) { handle_reconnect(); },
    };
  }

 protected:
  void on_connection_lost(const std::string&) override {
    // The confirm channel keeps every unconfirmed message for the next
    // connection.
  }

  void on_idle() override {
    if (core_.confirms().idle())
      answer_drains(caf::none);
  }

 private:
  std::shared_ptr<publish_request> new_request(std::size_t messages) {
    auto request = std::make_shared<publish_request>();
    request->promise = make_response_promise<caf::ok_atom>();
    request->remaining = messages;
    return request;
  }

  void submit(outgoing_message msg,
              const std::shared_ptr<publish_request>& request) {
    // Every message warren publishes has an id: downstream de-duplication
    // needs one.
    if (msg.properties.message_id.empty())
      msg.properties.message_id = make_message_id();
    publish(std::move(msg), [this, request](const caf::error& err) {
      request->settle(err);
      if (core_.confirms().idle())
        answer_drains(caf::none);
    });
  }

  publisher_stats stats() {
    const auto& c = core_.confirms().stats();
    publisher_stats st;
    st.published = c.published;
    st.confirmed = c.confirmed;
    st.nacked = c.nacked;
    st.returned = c.returned;
    st.republished = c.republished;
    st.channel_errors = c.channel_errors;
    st.reconnects = reconnects();
    st.unconfirmed = core_.confirms().unconfirmed();
    st.waiting = core_.confirms().waiting();
    st.connected = !core_.down();
    st.blocked = core_.blocked();
    return st;
  }

  void answer_drains(const caf::error& err) {
    for (auto& promise : drains_)
      if (err)
        promise.deliver(err);
      else
        promise.deliver(caf::ok_atom::value);
    drains_.clear();
  }

  std::vector<caf::typed_response_promise<caf::ok_atom>> drains_;
};

} // namespace

publisher_actor spawn_publisher(caf::actor_system& sys, publisher_config cfg) {
  return sys.spawn<publisher_impl, caf::detached>(std::move(cfg));
}

} // namespace warren::bridges
