#include "cluster/announcer.hpp"

#include "warren/core/log.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>

namespace warren::runtime::cluster {

namespace {

struct announcer_state {
  announcer_config cfg;
  // A failure is logged once until a publish works again.
  bool failing = false;
  // Set by the leave: no periodic announcement may follow it (one composed
  // while the leave awaits its confirm would carry a later time and be
  // read as the node's latest word, alive again until it went silent).
  bool left = false;
  static inline const char* name = "warren.announcer";
};

using announcer_pointer = announcer_actor::stateful_pointer<announcer_state>;

void announce(announcer_pointer self, bool leaving,
              std::function<void()> then) {
  auto& st = self->state;
  auto msg = announcement_message(
    make_announcement(st.cfg, st.cfg.members->read(), now_ms(), leaving));
  // A leave waits longer for its confirm: it is the node's last word, and a
  // broker slow to confirm (a loaded machine) must not make it one that
  // never came.
  auto timeout = leaving ? std::max<std::chrono::milliseconds>(
                             st.cfg.interval * 2, std::chrono::seconds{3})
                         : std::chrono::milliseconds{st.cfg.interval * 2};
  self
    ->request(st.cfg.publisher, timeout, bridges::publish_atom::value,
              std::move(msg))
    .then(
      [self, then](caf::ok_atom) {
        if (self->state.failing)
          log::info("membership: announcing on {} works again",
                    membership::stream_name);
        self->state.failing = false;
        then();
      },
      [self, then](const caf::error& err) {
        if (!self->state.failing)
          log::warning("membership: announcing on {} failed: {}",
                       membership::stream_name, describe(err));
        self->state.failing = true;
        then();
      });
}

announcer_actor::behavior_type announcer(announcer_pointer self,
                                         announcer_config cfg) {
  self->state.cfg = std::move(cfg);
  self->send(self, announce_atom::value);
  return {
    [self](announce_atom) {
      if (self->state.left)
        return;
      announce(self, false, [] {});
      self->delayed_send(self, self->state.cfg.interval, announce_atom::value);
    },
    [self](leave_atom) {
      auto rp = self->make_response_promise<caf::ok_atom>();
      self->state.left = true;
      announce(self, true, [rp]() mutable { rp.deliver(caf::ok_atom::value); });
      return rp;
    },
  };
}

} // namespace

void member_directory::add(std::shared_ptr<member_status> status) {
  std::lock_guard<std::mutex> guard{mutex_};
  members_.push_back(std::move(status));
}

bool member_directory::empty() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return members_.empty();
}

std::vector<member_status::snapshot> member_directory::read() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<member_status::snapshot> out;
  out.reserve(members_.size());
  for (const auto& m : members_)
    out.push_back(m->read());
  return out;
}

const std::string& process_incarnation() {
  static const std::string id = make_message_id();
  return id;
}

int64_t process_started_ms() {
  static const int64_t started = now_ms();
  return started;
}

membership::announcement
make_announcement(const announcer_config& cfg,
                  const std::vector<member_status::snapshot>& members,
                  int64_t at_ms, bool leaving) {
  membership::announcement a;
  a.node = cfg.node;
  a.incarnation = cfg.incarnation;
  a.started_ms = cfg.started_ms;
  a.at_ms = at_ms;
  a.interval_ms = cfg.interval.count();
  a.leaving = leaving;
  for (const auto& m : members) {
    a.actors.push_back(m);
    // A leaving node owns nothing any more as far as anyone should know.
    if (leaving)
      a.actors.back().owned.clear();
  }
  return a;
}

outgoing_message announcement_message(const membership::announcement& a) {
  outgoing_message m;
  m.routing_key = membership::stream_name;
  m.properties.content_type = "application/json";
  m.properties.type = membership::announcement_type;
  m.properties.message_id =
    a.node + "/" + a.incarnation + "/" + std::to_string(a.at_ms);
  m.properties.timestamp = static_cast<uint64_t>(a.at_ms / 1000);
  m.body = boost::json::serialize(membership::to_json(a));
  return m;
}

announcer_actor spawn_announcer(caf::actor_system& sys, announcer_config cfg) {
  return sys.spawn(announcer, std::move(cfg));
}

} // namespace warren::runtime::cluster
