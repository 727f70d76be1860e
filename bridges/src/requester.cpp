#include "warren/bridges/requester.hpp"

#include "owner/confirm_tracker.hpp"
#include "owner/connection_actor.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/core/envelope.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

#include <boost/json/parse.hpp>
#include <caf/all.hpp>
#include <deque>
#include <map>
#include <unordered_map>

namespace warren::bridges {

namespace {

constexpr uint16_t request_channel = 2;
constexpr uint16_t reply_channel = 3;
constexpr std::chrono::milliseconds idle_poll{200};
constexpr int events_per_poll = 256;

using clock_type = std::chrono::steady_clock;

struct pending_call {
  caf::response_promise promise;
  clock_type::time_point deadline;
  // Published: from then on a lost connection fails the call (the service
  // may have acted on it), rather than publishing it again.
  bool published = false;
};

class requester_impl : public detail::connection_actor {
 public:
  requester_impl(caf::actor_config& cfg, requester_config config)
    : connection_actor(cfg), config_(std::move(config)), conn_(config_.broker) {
    reply_queue_ = "warren.reply." + config_.node_name + "." +
                   make_message_id().substr(0, 12);
    set_exit_handler([this](const caf::exit_msg& msg) {
      fail_all(make_error(errc::shutting_down, "requester stopped"));
      conn_.close();
      quit(msg.reason);
    });
  }

  caf::behavior make_behavior() override {
    send(this, reconnect_atom::value);
    return {
      [this](call_atom, outgoing_message& request,
             int64_t timeout_ms) -> caf::result<boost::json::value> {
        auto id = make_message_id();
        request.properties.reply_to = reply_queue_;
        request.properties.correlation_id = id;
        if (request.properties.message_id.empty())
          request.properties.message_id = id;
        request.mandatory = true;
        auto promise = make_response_promise();
        // Deadlines are checked by the poll loop: a timer per call would wake
        // CAF's clock thread on the critical path of every call.
        auto deadline =
          clock_type::now() + std::chrono::milliseconds{timeout_ms};
        calls_.emplace(id, pending_call{promise, deadline, false});
        deadlines_.emplace(deadline, id);
        waiting_.push_back(std::move(request));
        publish_waiting();
        return promise;
      },
      [this](stats_atom) -> consumer_stats {
        consumer_stats st;
        st.consuming = conn_.connected();
        st.in_flight = calls_.size();
        return st;
      },
      [this](poll_atom) {
        poll_started();
        poll();
      },
      [this](reconnect_atom) { reconnect(); },
      [this](call_timeout_atom) {
        expiry_armed_ = false;
        arm_expiry();
      },
    };
  }

 private:
  void reconnect() {
    if (conn_.connected())
      return;
    queue_spec reply;
    reply.name = reply_queue_;
    reply.durable = false;
    reply.exclusive = true;
    reply.auto_delete = true;
    reply.dead_letter_queue = false;
    caf::error err = conn_.connect();
    if (!err)
      if (auto declared = conn_.declare_queue(reply); !declared)
        err = declared.error();
    if (!err)
      err = conn_.open_channel(request_channel);
    if (!err)
      err = conn_.confirm_select(request_channel);
    if (!err)
      err = conn_.open_channel(reply_channel);
    if (!err)
      if (auto tag = conn_.consume(reply_channel, reply_queue_, true, true);
          !tag)
        err = tag.error();
    if (err) {
      conn_.destroy();
      arm_expiry();
      auto delay = next_backoff(config_.broker);
      log::warning("requester cannot connect ({}); retrying in {} ms",
                   describe(err), delay.count());
      delayed_send(this, delay, reconnect_atom::value);
      return;
    }
    reset_backoff();
    publish_waiting();
    schedule_poll();
  }

  void connection_lost(const std::string& why) {
    log::warning("requester lost its connection: {}", why);
    conn_.destroy();
    arm_expiry();
    // Requests already out may or may not have reached their service: fail
    // them rather than call twice. Unsent ones wait for the reconnect.
    std::vector<std::string> out;
    for (auto& [id, call] : calls_)
      if (call.published)
        out.push_back(id);
    for (auto& id : out)
      finish(id, make_error(errc::connection_lost,
                            "connection lost while the call was out: " + why));
    confirms_.take_unsettled();
    delayed_send(this, next_backoff(config_.broker), reconnect_atom::value);
  }

  void publish_waiting() {
    if (!conn_.connected())
      return;
    while (!waiting_.empty()) {
      auto& request = waiting_.front();
      const auto& id = request.properties.correlation_id;
      auto i = calls_.find(id);
      if (i != calls_.end()) { // still wanted (not timed out)
        if (auto err = conn_.publish(request_channel, request)) {
          connection_lost(describe(err));
          return;
        }
        i->second.published = true;
        confirms_.add(request.properties.message_id, id);
      }
      waiting_.pop_front();
    }
    schedule_poll();
  }

  // Fails overdue calls; returns how long until the next deadline.
  std::chrono::milliseconds expire_calls() {
    auto now = clock_type::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      finish(deadlines_.begin()->second,
             make_error(errc::timeout, "no reply within the call timeout"));
      deadlines_.erase(deadlines_.begin());
    }
    if (deadlines_.empty())
      return idle_poll;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadlines_.begin()->first - now) +
                std::chrono::milliseconds{1};
    return std::min(left, idle_poll);
  }

  // While disconnected no poll loop runs; one timer keeps calls timing out.
  void arm_expiry() {
    auto next = expire_calls();
    if (conn_.connected() || deadlines_.empty() || expiry_armed_)
      return;
    expiry_armed_ = true;
    delayed_send(this, next, call_timeout_atom::value);
  }

  void poll() {
    auto timeout = expire_calls();
    if (!conn_.connected())
      return;
    wait_for_io(conn_, timeout);
    for (int n = 0; n < events_per_poll; ++n) {
      auto ev = conn_.next_event();
      using kind = detail::amqp_event::kind;
      if (ev.what == kind::none)
        break;
      switch (ev.what) {
        case kind::delivery:
          on_reply(ev.message);
          break;
        case kind::confirm:
          on_confirm(ev.delivery_tag, ev.multiple, ev.ack);
          break;
        case kind::returned:
          // basic.return comes before the confirm of the same message.
          finish(ev.message.properties.correlation_id,
                 make_error(errc::unroutable,
                            "no service '" + ev.message.routing_key +
                              "' (no queue took the request: " + ev.reason +
                              ")"));
          break;
        case kind::consumer_cancelled:
        case kind::channel_closed:
        case kind::connection_lost:
          connection_lost(ev.reason.empty() ? "reply consumer cancelled"
                                            : ev.reason);
          return;
        default:
          break;
      }
    }
    schedule_poll();
  }

  // Confirms matter only when they fail: a reply is what completes a call.
  void on_confirm(uint64_t tag, bool multiple, bool ack) {
    confirms_.confirm(
      tag, multiple, ack, [this](auto& entry, detail::confirm_result result) {
        if (result == detail::confirm_result::nacked)
          finish(entry.payload, make_error(errc::publish_nacked,
                                           "the broker nacked the request"));
      });
  }

  void on_reply(const envelope& reply) {
    const auto& id = reply.properties.correlation_id;
    if (calls_.count(id) == 0)
      return; // Late or foreign reply.
    if (reply.properties.type == "warren.error") {
      std::string text = "the service failed";
      if (auto* msg = find_field(reply.properties.headers, header::error))
        if (auto* s = std::get_if<std::string>(msg))
          text = *s;
      finish(id, make_error(errc::remote_error, text));
      return;
    }
    boost::json::error_code ec;
    auto body = reply.raw_body.empty() ? boost::json::value{}
                                       : boost::json::parse(reply.raw_body, ec);
    if (ec)
      finish(id, make_error(errc::malformed_body,
                            "the reply is not JSON: " + ec.message()));
    else
      finish(id, std::move(body));
  }

  template<class T>
  void finish(const std::string& id, T&& result) {
    auto i = calls_.find(id);
    if (i == calls_.end())
      return;
    i->second.promise.deliver(std::forward<T>(result));
    // The deadline entry goes when it comes due; erasing it here would need
    // a search, and a stale entry finds no call.
    calls_.erase(i);
  }

  void fail_all(const caf::error& err) {
    for (auto& entry : calls_)
      entry.second.promise.deliver(err);
    calls_.clear();
  }

  requester_config config_;
  detail::amqp_connection conn_;
  std::string reply_queue_;
  std::unordered_map<std::string, pending_call> calls_;
  // Correlation ids of published requests, by publisher-confirm tag.
  detail::confirm_tracker<std::string> confirms_;
  std::multimap<clock_type::time_point, std::string> deadlines_;
  bool expiry_armed_ = false;
  std::deque<outgoing_message> waiting_;
};

} // namespace

caf::actor spawn_requester(caf::actor_system& sys, requester_config cfg) {
  return sys.spawn<requester_impl, caf::detached>(std::move(cfg));
}

} // namespace warren::bridges
