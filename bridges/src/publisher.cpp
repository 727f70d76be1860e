#include "warren/bridges/publisher.hpp"

#include "owner/confirm_tracker.hpp"
#include "owner/connection_actor.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

#include <caf/all.hpp>
#include <deque>

namespace warren::bridges {

namespace {

constexpr uint16_t publish_channel = 2;
// While messages wait or confirms are due, poll without sleeping; otherwise
// sleep up to this long (heartbeats are serviced at least this often).
constexpr std::chrono::milliseconds idle_poll{200};
// Events read per poll before the mailbox gets its turn again.
constexpr int events_per_poll = 512;

// The requester of one publish request, shared by the messages of a batch:
// answered once, when the last of them is settled (or the first fails).
struct publish_request {
  caf::response_promise promise;
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

// A message and who waits for it, before and after it is published.
struct pending_publish {
  outgoing_message msg;
  std::shared_ptr<publish_request> request;
};

class publisher_impl : public detail::connection_actor {
 public:
  publisher_impl(caf::actor_config& cfg, publisher_config config)
    : connection_actor(cfg), config_(std::move(config)), conn_(config_.broker) {
    set_exit_handler([this](const caf::exit_msg& msg) {
      fail_all(make_error(errc::shutting_down, "publisher stopped"));
      conn_.close();
      quit(msg.reason);
    });
  }

  caf::behavior make_behavior() override {
    send(this, reconnect_atom::value);
    return {
      [this](publish_atom, outgoing_message& msg) -> caf::result<caf::ok_atom> {
        auto request = std::make_shared<publish_request>();
        request->promise = make_response_promise();
        request->remaining = 1;
        waiting_.push_back(pending_publish{std::move(msg), request});
        publish_waiting();
        return request->promise;
      },
      [this](publish_atom, publish_batch& batch) -> caf::result<caf::ok_atom> {
        if (batch.messages.empty())
          return caf::ok_atom::value;
        auto request = std::make_shared<publish_request>();
        request->promise = make_response_promise();
        request->remaining = batch.messages.size();
        for (auto& msg : batch.messages)
          waiting_.push_back(pending_publish{std::move(msg), request});
        publish_waiting();
        return request->promise;
      },
      [this](drain_atom) -> caf::result<caf::ok_atom> {
        if (unconfirmed_.empty() && waiting_.empty())
          return caf::ok_atom::value;
        auto promise = make_response_promise();
        drains_.push_back(promise);
        return promise;
      },
      [this](stats_atom) -> publisher_stats {
        stats_.unconfirmed = unconfirmed_.size();
        stats_.waiting = waiting_.size();
        stats_.connected = conn_.connected();
        return stats_;
      },
      [this](poll_atom) {
        poll_started();
        poll();
      },
      [this](reconnect_atom) { reconnect(); },
    };
  }

 private:
  void reconnect() {
    if (conn_.connected())
      return;
    auto err = conn_.connect();
    if (!err)
      err = conn_.declare(config_.topo);
    if (!err)
      err = conn_.open_channel(publish_channel);
    if (!err)
      err = conn_.confirm_select(publish_channel);
    if (err) {
      conn_.destroy();
      auto delay = next_backoff(config_.broker);
      log::warning("publisher cannot connect ({}); retrying in {} ms",
                   describe(err), delay.count());
      delayed_send(this, delay, reconnect_atom::value);
      return;
    }
    if (stats_.reconnects++ > 0 || !unconfirmed_.empty())
      log::info("publisher connected to {}", conn_.endpoint_name());
    reset_backoff();
    publish_waiting();
    schedule_poll();
  }

  void connection_lost(const std::string& why) {
    log::warning("publisher lost its connection: {}", why);
    conn_.destroy();
    // Unconfirmed messages go back to the front, in their original order.
    auto back = unconfirmed_.take_unsettled();
    stats_.republished += back.size();
    for (auto i = back.rbegin(); i != back.rend(); ++i)
      waiting_.push_front(std::move(i->payload));
    delayed_send(this, next_backoff(config_.broker), reconnect_atom::value);
  }

  void publish_waiting() {
    if (!conn_.connected())
      return;
    while (!waiting_.empty() && unconfirmed_.size() < config_.max_unconfirmed) {
      auto& next = waiting_.front();
      if (auto err = conn_.publish(publish_channel, next.msg)) {
        connection_lost(describe(err));
        return;
      }
      ++stats_.published;
      auto id = next.msg.properties.message_id;
      unconfirmed_.add(std::move(id), std::move(next));
      waiting_.pop_front();
    }
    schedule_poll();
  }

  void poll() {
    if (!conn_.connected())
      return;
    auto busy = !unconfirmed_.empty() || !waiting_.empty();
    wait_for_io(conn_, busy ? std::chrono::milliseconds{50} : idle_poll);
    for (int i = 0; i < events_per_poll; ++i) {
      auto ev = conn_.next_event();
      using kind = detail::amqp_event::kind;
      if (ev.what == kind::none)
        break;
      switch (ev.what) {
        case kind::confirm:
          on_confirm(ev.delivery_tag, ev.multiple, ev.ack);
          break;
        case kind::returned:
          on_return(ev);
          break;
        case kind::channel_closed:
        case kind::connection_lost:
          // A closed publish channel loses its confirm state: start over on
          // a fresh connection so delivery tags restart cleanly.
          connection_lost(ev.reason);
          return;
        default:
          break;
      }
    }
    publish_waiting();
    if (unconfirmed_.empty() && waiting_.empty())
      answer_drains();
    schedule_poll();
  }

  void on_confirm(uint64_t tag, bool multiple, bool ack) {
    unconfirmed_.confirm(
      tag, multiple, ack, [this](auto& entry, detail::confirm_result result) {
        auto& p = entry.payload;
        switch (result) {
          case detail::confirm_result::confirmed:
            ++stats_.confirmed;
            p.request->settle(caf::none);
            break;
          case detail::confirm_result::nacked:
            ++stats_.nacked;
            p.request->settle(
              make_error(errc::publish_nacked, "broker nacked message " +
                                                 p.msg.properties.message_id));
            break;
          case detail::confirm_result::returned:
            ++stats_.returned;
            p.request->settle(
              make_error(errc::unroutable,
                         "no queue took the message sent to exchange '" +
                           p.msg.exchange + "' with routing key '" +
                           p.msg.routing_key + "': " + entry.return_reason));
            break;
        }
      });
  }

  void on_return(const detail::amqp_event& ev) {
    unconfirmed_.returned(ev.message.properties.message_id, ev.reason);
  }

  void answer_drains() {
    for (auto& promise : drains_)
      promise.deliver(caf::ok_atom::value);
    drains_.clear();
  }

  void fail_all(const caf::error& err) {
    for (auto& e : unconfirmed_.take_unsettled())
      e.payload.request->settle(err);
    for (auto& p : waiting_)
      p.request->settle(err);
    waiting_.clear();
    for (auto& promise : drains_)
      promise.deliver(err);
    drains_.clear();
  }

  publisher_config config_;
  detail::amqp_connection conn_;
  detail::confirm_tracker<pending_publish> unconfirmed_;
  std::deque<pending_publish> waiting_;
  std::vector<caf::response_promise> drains_;
  publisher_stats stats_;
};

} // namespace

caf::actor spawn_publisher(caf::actor_system& sys, publisher_config cfg) {
  return sys.spawn<publisher_impl, caf::detached>(std::move(cfg));
}

} // namespace warren::bridges
