#include "warren/runtime/supervision/supervisor.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <deque>
#include <random>

namespace warren::runtime {

namespace {

// The backoff timer; carries an epoch so an outdated timer is ignored.
using restart_timer_atom = caf::atom_constant<caf::atom("svrestart")>;
// Starts the children (the supervisor's first message).
using start_atom = caf::atom_constant<caf::atom("svstart")>;
// The end of a member's shutdown time: kill it if it is still there.
using shutdown_timer_atom = caf::atom_constant<caf::atom("svkill")>;

using clock = std::chrono::steady_clock;

std::function<double()> default_random() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine] {
    return std::uniform_real_distribution<double>{0.0, 1.0}(*engine);
  };
}

// A supervisor's own messages; nobody else sends it any (besides exit and
// down messages), so its public handle is a plain `caf::actor`.
using supervisor_impl_actor = caf::typed_actor<
  caf::replies_to<add_child_atom, supervised_child>::with<caf::ok_atom>,
  caf::replies_to<remove_child_atom, std::string>::with<caf::ok_atom>,
  caf::reacts_to<start_atom>, caf::reacts_to<restart_timer_atom, uint64_t>,
  caf::reacts_to<shutdown_timer_atom, caf::actor>>;

class supervisor_actor : public supervisor_impl_actor::base {
 public:
  supervisor_actor(caf::actor_config& cfg, supervisor_spec spec,
                   supervisor_options options)
    : supervisor_impl_actor::base(cfg), spec_(std::move(spec)),
      options_(std::move(options)), intensity_(spec_.intensity) {
    if (!options_.random)
      options_.random = default_random();
    if (options_.metrics != nullptr)
      metrics_ = metrics::make_supervision_metrics(*options_.metrics, spec_.id);
    for (auto& def : spec_.children) {
      children_.emplace_back();
      children_.back().def = std::move(def);
    }
    spec_.children.clear();
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    set_exit_handler([this](caf::exit_msg& msg) {
      if (!shutting_down_)
        shut_down(std::move(msg.reason));
    });
  }

  behavior_type make_behavior() override {
    // Children start from the first message rather than here, so that a
    // failed start can quit the actor the ordinary way.
    send(this, start_atom::value);
    return {
      [this](add_child_atom, supervised_child& def) {
        return add_child(std::move(def));
      },
      [this](remove_child_atom, const std::string& id) {
        return remove_child(id);
      },
      [this](start_atom) {
        for (std::size_t i = 0; i < children_.size() && !shutting_down_; ++i) {
          // A child added before this message (add_child_atom) runs.
          if (children_[i].ph != phase::idle)
            continue;
          if (auto err = start_child(i)) {
            // OTP: a child that cannot start makes the supervisor's start
            // fail.
            give_up(make_error(errc::supervisor_gave_up,
                               "supervisor '" + spec_.id + "': child '" +
                                 children_[i].def.spec.id +
                                 "' failed to start: " + describe(err)));
          }
        }
      },
      [this](restart_timer_atom, uint64_t epoch) {
        if (epoch != timer_epoch_)
          return;
        restart_due_ = true;
        start_pending();
      },
      [this](shutdown_timer_atom, const caf::actor& member) {
        for (auto& c : children_)
          for (auto& m : c.members)
            if (m == member) {
              report(kind::exited, c, exit_kind::abnormal,
                     "did not stop within its shutdown time; killed");
              send_exit(member, caf::exit_reason::kill);
            }
      },
    };
  }

 private:
  using kind = supervisor_event::kind;

  enum class phase : uint8_t { idle, running, stopping, removed };

  struct child_state {
    supervised_child def;
    phase ph = phase::idle;
    std::vector<caf::actor> members;
    // The member told to exit while stopping (members stop one at a time).
    caf::actor_addr stopping_member;
    // Leaves the supervisor once stopped (a temporary child).
    bool remove_when_stopped = false;
    bool restart_pending = false;
    // Started before: a start is then a restart (counted).
    bool started_once = false;
    uint32_t consecutive_restarts = 0;
    clock::time_point started_at;
  };

  // -- dynamic children ------------------------------------------------------

  std::size_t find_child(const std::string& id) const {
    for (std::size_t i = 0; i < children_.size(); ++i)
      if (children_[i].def.spec.id == id)
        return i;
    return children_.size();
  }

  caf::result<caf::ok_atom> add_child(supervised_child def) {
    if (shutting_down_)
      return make_error(errc::shutting_down,
                        "supervisor '" + spec_.id + "' is stopping");
    auto i = find_child(def.spec.id);
    if (i < children_.size() && children_[i].ph != phase::removed)
      return make_error(errc::invalid_config, "supervisor '" + spec_.id +
                                                "' has a child '" +
                                                def.spec.id + "' already");
    if (i == children_.size()) {
      children_.emplace_back();
    } else {
      // The place of a removed child: nothing may still point at it.
      stop_queue_.erase(std::remove(stop_queue_.begin(), stop_queue_.end(), i),
                        stop_queue_.end());
      children_[i] = child_state{};
    }
    children_[i].def = std::move(def);
    if (auto err = start_child(i)) {
      remove(children_[i]); // Not kept (OTP's start_child error).
      return err;
    }
    return caf::ok_atom::value;
  }

  caf::result<caf::ok_atom> remove_child(const std::string& id) {
    if (shutting_down_) // Its children stop anyway, in their order.
      return make_error(errc::shutting_down,
                        "supervisor '" + spec_.id + "' is stopping");
    auto i = find_child(id);
    if (i == children_.size() || children_[i].ph == phase::removed)
      return make_error(errc::not_found, "supervisor '" + spec_.id +
                                           "' has no child '" + id + "'");
    auto& c = children_[i];
    c.restart_pending = false;
    c.remove_when_stopped = true;
    auto promise = make_response_promise<caf::ok_atom>();
    removals_.emplace_back(id, promise);
    if (c.ph == phase::idle)
      remove(c); // Waiting for a restart: nothing to stop.
    else if (c.ph == phase::running)
      begin_stop(i);
    // Stopping already: answered when it is down.
    return promise;
  }

  void report(kind what, const child_state& c, exit_kind how = {},
              std::string reason = {}, std::chrono::milliseconds delay = {}) {
    supervisor_event ev{what,
                        spec_.id,
                        c.def.spec.id,
                        how,
                        delay,
                        std::move(reason),
                        std::chrono::steady_clock::now()};
    if (options_.log)
      log_event(ev);
    count(what);
    if (options_.observer)
      send(options_.observer, std::move(ev));
  }

  void count(kind what) {
    if (what == kind::gave_up)
      metrics_.escalations.inc();
    auto alive = std::count_if(
      children_.begin(), children_.end(),
      [](const child_state& c) { return c.ph == phase::running; });
    metrics_.children_alive.set(static_cast<double>(alive));
  }

  caf::error start_child(std::size_t i) {
    auto& c = children_[i];
    caf::expected<child_members> started{child_members{}};
    try {
      started = c.def.start();
    } catch (const std::exception& e) {
      started = make_error(errc::actor_failed,
                           std::string{"starting threw: "} + e.what());
    } catch (...) {
      started = make_error(errc::actor_failed,
                           "starting threw a non-standard exception");
    }
    if (!started) {
      report(kind::start_failed, c, exit_kind::abnormal,
             describe(started.error()));
      return started.error();
    }
    c.members = std::move(*started);
    if (c.started_once)
      metrics_.restarts.inc();
    c.started_once = true;
    c.ph = phase::running;
    c.started_at = clock::now();
    // Monitoring an actor that is already gone sends its down message at
    // once, so a member that died during start is not missed.
    for (const auto& m : c.members)
      monitor(m);
    report(kind::started, c);
    if (c.members.empty()) // Nothing to run: it ended as soon as it began.
      child_exited(i, exit_kind::normal, "started no actors");
    return caf::none;
  }

  std::size_t find_member(const caf::actor_addr& who, std::size_t& member) {
    for (std::size_t i = 0; i < children_.size(); ++i)
      for (std::size_t k = 0; k < children_[i].members.size(); ++k)
        if (children_[i].members[k].address() == who) {
          member = k;
          return i;
        }
    return children_.size();
  }

  void on_down(const caf::down_msg& msg) {
    std::size_t member = 0;
    auto i = find_member(msg.source, member);
    if (i == children_.size())
      return;
    auto& c = children_[i];
    c.members.erase(c.members.begin() + static_cast<std::ptrdiff_t>(member));
    if (c.ph == phase::stopping) {
      continue_stop(i);
      return;
    }
    if (c.ph != phase::running)
      return;
    auto how = classify_exit(msg.reason);
    child_exited(i, how, msg.reason ? describe(msg.reason) : std::string{});
  }

  // A running child ended: its remaining members are stopped, then the
  // strategy decides.
  void child_exited(std::size_t i, exit_kind how, std::string reason) {
    auto& c = children_[i];
    report(kind::exited, c, how, reason);
    bool ran_long = clock::now() - c.started_at >= spec_.intensity.period;
    if (c.members.empty())
      c.ph = phase::idle;
    else
      begin_stop(i);
    if (shutting_down_) {
      shut_down_next();
      return;
    }
    if (absorbed_by_plan(i))
      return;
    // The strategy sees the children still in the supervisor, in order.
    std::vector<std::size_t> present;
    std::vector<child_spec> specs;
    std::size_t exited = 0;
    for (std::size_t j = 0; j < children_.size(); ++j) {
      if (children_[j].ph == phase::removed || children_[j].remove_when_stopped)
        continue;
      if (j == i)
        exited = present.size();
      present.push_back(j);
      specs.push_back(children_[j].def.spec);
    }
    auto plan = plan_restart(spec_.strategy, specs, exited, how);
    if (plan.remove_exited) {
      c.remove_when_stopped = true;
      if (c.ph != phase::stopping)
        remove(c);
    }
    if (plan.empty())
      return;
    if (plan.at_once) {
      restart_at_once(i);
      return;
    }
    if (!intensity_.record(clock::now())) {
      give_up(make_error(
        errc::supervisor_gave_up,
        "supervisor '" + spec_.id + "': more than " +
          std::to_string(spec_.intensity.max_restarts) + " restart(s) in " +
          std::to_string(spec_.intensity.period.count()) +
          " ms; last: child '" + c.def.spec.id + "' exited (" + to_string(how) +
          (reason.empty() ? "" : ": " + reason) + ")"));
      return;
    }
    if (ran_long)
      c.consecutive_restarts = 0;
    apply(plan, present, i, how);
  }

  // A child a plan already stops (it waits in the stop queue) or restarts,
  // or one on its way out of the supervisor, ended on its own: the plan in
  // progress covers it (as in OTP, which absorbs such exits). It is stopped
  // now; it counts as no extra restart.
  bool absorbed_by_plan(std::size_t i) {
    auto& c = children_[i];
    auto queued = std::find(stop_queue_.begin(), stop_queue_.end(), i);
    if (queued == stop_queue_.end() && !c.restart_pending &&
        !c.remove_when_stopped)
      return false;
    if (queued != stop_queue_.end())
      stop_queue_.erase(queued);
    if (c.ph == phase::idle) {
      report(kind::stopped, c);
      if (c.remove_when_stopped)
        remove(c);
    }
    stop_next();
    start_pending();
    return true;
  }

  // Carries out `plan` for child `i` (`present` maps the plan's indexes to
  // the supervisor's): the children to stop go into the stop queue, the
  // ones to restart are marked, and the restart waits its backoff.
  void apply(const restart_plan& plan, const std::vector<std::size_t>& present,
             std::size_t i, exit_kind how) {
    auto& c = children_[i];
    auto delay =
      backoff_delay(spec_.backoff, ++c.consecutive_restarts, options_.random());
    for (auto j : plan.stop) {
      auto& other = children_[present[j]];
      if (other.def.spec.restart == restart_type::temporary)
        other.remove_when_stopped = true;
      if (other.ph == phase::running)
        stop_queue_.push_back(present[j]);
      else if (other.remove_when_stopped && other.ph == phase::idle)
        remove(other);
    }
    for (auto j : plan.restart)
      children_[present[j]].restart_pending = true;
    report(kind::restart_scheduled, c, how, {}, delay);
    schedule_restart(delay);
    stop_next();
  }

  // OTP stops the children of a plan one at a time, in the plan's order.
  void stop_next() {
    while (!stop_queue_.empty()) {
      auto j = stop_queue_.front();
      if (children_[j].ph == phase::stopping)
        return; // Under way.
      if (children_[j].ph == phase::running) {
        begin_stop(j);
        return;
      }
      stop_queue_.pop_front();
    }
  }

  // A released child (exit_kind::released): started again as soon as its
  // members are down, uncounted. A restart already pending for others keeps
  // its backoff; this child then starts with them.
  void restart_at_once(std::size_t i) {
    auto& c = children_[i];
    bool others_pending = std::any_of(
      children_.begin(), children_.end(),
      [](const child_state& other) { return other.restart_pending; });
    c.restart_pending = true;
    report(kind::restart_scheduled, c, exit_kind::released, {},
           std::chrono::milliseconds{0});
    if (!others_pending)
      schedule_restart(std::chrono::milliseconds{0});
  }

  void schedule_restart(std::chrono::milliseconds delay) {
    // A later exit postpones every pending restart to its own delay: the
    // restarts of one plan must happen together, in order.
    restart_due_ = false;
    auto epoch = ++timer_epoch_;
    if (delay.count() <= 0)
      send(this, restart_timer_atom::value, epoch);
    else
      delayed_send(this, delay, restart_timer_atom::value, epoch);
  }

  void remove(child_state& c) {
    c.ph = phase::removed;
    c.restart_pending = false;
    report(kind::removed, c);
    for (auto k = removals_.begin(); k != removals_.end();) {
      if (k->first == c.def.spec.id) {
        k->second.deliver(caf::ok_atom::value);
        k = removals_.erase(k);
      } else {
        ++k;
      }
    }
  }

  // Stops a child's members in reverse start order, one at a time.
  void begin_stop(std::size_t i) {
    children_[i].ph = phase::stopping;
    continue_stop(i);
  }

  void continue_stop(std::size_t i) {
    auto& c = children_[i];
    if (c.members.empty()) {
      c.stopping_member = caf::actor_addr{};
      c.ph = phase::idle;
      report(kind::stopped, c);
      if (c.remove_when_stopped)
        remove(c);
      if (!stop_queue_.empty() && stop_queue_.front() == i)
        stop_queue_.pop_front();
      if (shutting_down_) {
        shut_down_next();
      } else {
        stop_next();
        start_pending();
      }
      return;
    }
    const auto& last = c.members.back();
    if (c.stopping_member == last.address())
      return; // Already told; waiting for it.
    c.stopping_member = last.address();
    if (c.def.spec.shutdown.count() == 0) {
      send_exit(last, caf::exit_reason::kill);
      return;
    }
    send_exit(last, caf::exit_reason::user_shutdown);
    if (c.def.spec.shutdown != std::chrono::milliseconds::max())
      delayed_send(this, c.def.spec.shutdown, shutdown_timer_atom::value, last);
  }

  void start_pending() {
    if (!restart_due_ || shutting_down_)
      return;
    for (const auto& c : children_)
      if (c.ph == phase::stopping)
        return; // Restart once every child of the plan is down.
    for (std::size_t i = 0; i < children_.size() && restart_due_; ++i) {
      auto& c = children_[i];
      if (!c.restart_pending)
        continue;
      c.restart_pending = false;
      if (c.ph != phase::idle)
        continue; // Never a second copy of a child that still runs.
      if (auto err = start_child(i)) {
        // A failed restart is one more abnormal exit.
        c.ph = phase::running;
        c.started_at = clock::now();
        child_exited(i, exit_kind::abnormal,
                     "failed to start: " + describe(err));
      }
    }
  }

  void give_up(caf::error reason) {
    report(kind::gave_up, child_state{}, exit_kind::abnormal, describe(reason));
    shut_down(std::move(reason));
  }

  // Stops every child, last started first, then exits with `reason`.
  void shut_down(caf::error reason) {
    shutting_down_ = true;
    final_reason_ = std::move(reason);
    stop_queue_.clear();
    for (auto& c : children_)
      c.restart_pending = false;
    shut_down_next();
  }

  void shut_down_next() {
    for (std::size_t i = children_.size(); i-- > 0;) {
      auto& c = children_[i];
      if (c.ph == phase::stopping)
        return; // One at a time: wait for it.
      if (c.ph == phase::running) {
        begin_stop(i);
        return;
      }
    }
    quit(final_reason_);
  }

  supervisor_spec spec_;
  supervisor_options options_;
  metrics::supervision_metrics metrics_;
  restart_intensity intensity_;
  std::vector<child_state> children_;
  // Children a restart plan stops, in order; the front one is stopping.
  std::deque<std::size_t> stop_queue_;
  bool restart_due_ = false;
  uint64_t timer_epoch_ = 0;
  bool shutting_down_ = false;
  caf::error final_reason_;
  // remove_child requests waiting for their child to be down, by child id.
  std::vector<std::pair<std::string, caf::typed_response_promise<caf::ok_atom>>>
    removals_;
};

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_spec spec,
                            supervisor_options options) {
  return caf::actor_cast<caf::actor>(
    sys.spawn<supervisor_actor>(std::move(spec), std::move(options)));
}

child_starter subtree_starter(caf::actor_system& sys, supervisor_spec spec,
                              supervisor_options options) {
  return [&sys, spec = std::move(spec),
          options = std::move(options)]() -> caf::expected<child_members> {
    return child_members{spawn_supervisor(sys, spec, options)};
  };
}

} // namespace warren::runtime
