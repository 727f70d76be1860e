// The supervisor actor, with children that are plain CAF actors the tests
// end on purpose. Cases are named after Erlang/OTP's supervisor_SUITE.
//
// Deterministic: every assertion is about the order of the events the
// supervisor reports, never about how long something took, and absence is
// shown by a later event of another child arriving first (a supervisor
// reports in the order things happen).

#include "warren/runtime/supervision/supervisor.hpp"

#include "warren/core/errc.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <set>

using namespace warren;
using namespace warren::runtime;
using namespace std::chrono_literals;
using kind = supervisor_event::kind;

namespace {

using finish_atom = caf::atom_constant<caf::atom("finish")>;

caf::behavior worker(caf::event_based_actor* self, bool ignore_shutdown) {
  if (ignore_shutdown)
    self->set_exit_handler([](caf::exit_msg&) {});
  return {[self](finish_atom) {
    self->quit();
  }};
}

struct fixture {
  fixture() : sys(cfg.set("scheduler.max-threads", 2)), self(sys) {}

  // The current incarnation of each worker child, by id.
  struct live_children {
    std::mutex mtx;
    std::map<std::string, caf::actor> by_id;
    std::map<std::string, int> starts;
    // Ids whose next start fails.
    std::map<std::string, int> failing_starts;
  };

  supervised_child child(std::string id, restart_type type,
                         bool ignore_shutdown = false,
                         std::chrono::milliseconds shutdown = 1000ms) {
    auto reg = live;
    auto* system = &sys;
    supervised_child c;
    c.spec = child_spec{id, type, shutdown};
    c.start = [reg, system, id,
               ignore_shutdown]() -> caf::expected<child_members> {
      std::lock_guard<std::mutex> guard{reg->mtx};
      if (reg->failing_starts[id] > 0) {
        --reg->failing_starts[id];
        return make_error(errc::actor_failed, "refused to start");
      }
      auto a = system->spawn(worker, ignore_shutdown);
      reg->by_id[id] = a;
      ++reg->starts[id];
      return child_members{a};
    };
    return c;
  }

  supervisor_spec spec(restart_strategy strategy,
                       std::vector<supervised_child> children,
                       intensity_limits intensity = {10, 60000ms}) {
    supervisor_spec s;
    s.id = "sup";
    s.strategy = strategy;
    s.intensity = intensity;
    // No waiting unless a test wants it; no jitter so delays are exact.
    s.backoff = backoff_limits{0ms, 0ms, 0.0};
    s.children = std::move(children);
    return s;
  }

  caf::actor start(supervisor_spec s) {
    supervisor_options opts;
    opts.observer = caf::actor_cast<supervisor_observer>(self);
    opts.log = false;
    auto sup = spawn_supervisor(sys, std::move(s), opts);
    self->monitor(sup);
    // An actor nobody refers to is gone: the fixture keeps it.
    supervisors.push_back(sup);
    return sup;
  }

  caf::actor current(const std::string& id) {
    std::lock_guard<std::mutex> guard{live->mtx};
    return live->by_id[id];
  }

  int starts(const std::string& id) {
    std::lock_guard<std::mutex> guard{live->mtx};
    return live->starts[id];
  }

  supervisor_event next() {
    supervisor_event result;
    bool got = false;
    self->receive(
      [&](supervisor_event& ev) {
        result = std::move(ev);
        got = true;
      },
      caf::after(std::chrono::seconds{10}) >> [] {});
    if (!got)
      FAIL("no supervisor event within 10 s");
    return result;
  }

  // The next event, which must be `what` for `child`.
  supervisor_event expect(kind what, const std::string& child) {
    auto ev = next();
    INFO("event " << static_cast<int>(ev.what) << " for '" << ev.child << "' ("
                  << ev.reason << ")");
    CHECK(ev.what == what);
    CHECK(ev.child == child);
    return ev;
  }

  // The next events, in any order (they come from different supervisors).
  void expect_any_order(std::multiset<std::pair<kind, std::string>> want) {
    std::multiset<std::pair<kind, std::string>> got;
    for (std::size_t i = 0; i < want.size(); ++i) {
      auto ev = next();
      got.emplace(ev.what, ev.child);
    }
    CHECK(got == want);
  }

  caf::error wait_down() {
    caf::error reason;
    self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                  caf::after(std::chrono::seconds{10}) >>
                    [] { FAIL("supervisor not down within 10 s"); });
    return reason;
  }

  void crash(const std::string& id) {
    self->send_exit(current(id), caf::exit_reason::unhandled_exception);
  }

  void finish(const std::string& id) {
    self->send(current(id), finish_atom::value);
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  std::vector<caf::actor> supervisors;
  std::shared_ptr<live_children> live = std::make_shared<live_children>();
};

constexpr auto permanent = restart_type::permanent;
constexpr auto transient = restart_type::transient;
constexpr auto temporary = restart_type::temporary;

} // namespace

TEST_CASE("supervisor actor, sup_start: children start in order and a stop "
          "from outside stops "
          "them in reverse order",
          "[supervisor]") {
  fixture f;
  auto sup = f.start(f.spec(restart_strategy::one_for_one,
                            {f.child("a", permanent), f.child("b", permanent),
                             f.child("c", permanent)}));
  f.expect(kind::started, "a");
  f.expect(kind::started, "b");
  f.expect(kind::started, "c");
  f.self->send_exit(sup, caf::exit_reason::user_shutdown);
  f.expect(kind::stopped, "c");
  f.expect(kind::stopped, "b");
  f.expect(kind::stopped, "a");
  CHECK(f.wait_down() == caf::exit_reason::user_shutdown);
}

TEST_CASE("supervisor actor, permanent_normal and permanent_abnormal: a "
          "permanent child is "
          "restarted after any exit",
          "[supervisor]") {
  fixture f;
  f.start(f.spec(restart_strategy::one_for_one, {f.child("a", permanent)}));
  f.expect(kind::started, "a");
  f.finish("a");
  CHECK(f.expect(kind::exited, "a").how == exit_kind::normal);
  f.expect(kind::restart_scheduled, "a");
  f.expect(kind::started, "a");
  f.crash("a");
  CHECK(f.expect(kind::exited, "a").how == exit_kind::abnormal);
  f.expect(kind::restart_scheduled, "a");
  f.expect(kind::started, "a");
  CHECK(f.starts("a") == 3);
}

TEST_CASE("supervisor actor, transient_normal: a transient child that ends "
          "normally is not "
          "restarted",
          "[supervisor]") {
  fixture f;
  f.start(f.spec(restart_strategy::one_for_one,
                 {f.child("t", transient), f.child("sentinel", permanent)}));
  f.expect(kind::started, "t");
  f.expect(kind::started, "sentinel");
  f.finish("t");
  CHECK(f.expect(kind::exited, "t").how == exit_kind::normal);
  // The sentinel's restart is reported next: nothing happened to `t`.
  f.crash("sentinel");
  f.expect(kind::exited, "sentinel");
  f.expect(kind::restart_scheduled, "sentinel");
  f.expect(kind::started, "sentinel");
  CHECK(f.starts("t") == 1);
}

TEST_CASE("supervisor actor, transient_shutdown: a transient child told to "
          "shut down is not "
          "restarted",
          "[supervisor]") {
  fixture f;
  f.start(f.spec(restart_strategy::one_for_one,
                 {f.child("t", transient), f.child("sentinel", permanent)}));
  f.expect(kind::started, "t");
  f.expect(kind::started, "sentinel");
  f.self->send_exit(f.current("t"), caf::exit_reason::user_shutdown);
  CHECK(f.expect(kind::exited, "t").how == exit_kind::shutdown);
  f.crash("sentinel");
  f.expect(kind::exited, "sentinel");
  f.expect(kind::restart_scheduled, "sentinel");
  f.expect(kind::started, "sentinel");
  CHECK(f.starts("t") == 1);
}

TEST_CASE("supervisor actor, transient_abnormal: a transient child that "
          "crashes is restarted",
          "[supervisor]") {
  fixture f;
  f.start(f.spec(restart_strategy::one_for_one, {f.child("t", transient)}));
  f.expect(kind::started, "t");
  f.crash("t");
  CHECK(f.expect(kind::exited, "t").how == exit_kind::abnormal);
  f.expect(kind::restart_scheduled, "t");
  f.expect(kind::started, "t");
  CHECK(f.starts("t") == 2);
}

TEST_CASE("supervisor actor, temporary_normal and temporary_abnormal: a "
          "temporary child is "
          "removed, never restarted",
          "[supervisor]") {
  for (bool abnormal : {false, true}) {
    fixture f;
    f.start(f.spec(restart_strategy::one_for_all,
                   {f.child("tmp", temporary), f.child("p", permanent)}));
    f.expect(kind::started, "tmp");
    f.expect(kind::started, "p");
    if (abnormal)
      f.crash("tmp");
    else
      f.finish("tmp");
    f.expect(kind::exited, "tmp");
    f.expect(kind::removed, "tmp");
    // one_for_all restarts what is left: only `p`.
    f.crash("p");
    f.expect(kind::exited, "p");
    f.expect(kind::restart_scheduled, "p");
    f.expect(kind::started, "p");
    CHECK(f.starts("tmp") == 1);
  }
}

TEST_CASE("supervisor actor, one_for_one: only the crashed child is restarted",
          "[supervisor]") {
  fixture f;
  f.start(f.spec(restart_strategy::one_for_one,
                 {f.child("a", permanent), f.child("b", permanent),
                  f.child("c", permanent)}));
  for (auto id : {"a", "b", "c"})
    f.expect(kind::started, id);
  auto a = f.current("a");
  auto c = f.current("c");
  f.crash("b");
  f.expect(kind::exited, "b");
  f.expect(kind::restart_scheduled, "b");
  f.expect(kind::started, "b");
  CHECK(f.current("a") == a);
  CHECK(f.current("c") == c);
}

TEST_CASE("supervisor actor, one_for_all: the others are stopped in reverse "
          "order, then all "
          "start again in order",
          "[supervisor]") {
  fixture f;
  f.start(f.spec(restart_strategy::one_for_all,
                 {f.child("a", permanent), f.child("b", permanent),
                  f.child("c", permanent)}));
  for (auto id : {"a", "b", "c"})
    f.expect(kind::started, id);
  f.crash("b");
  f.expect(kind::exited, "b");
  f.expect(kind::restart_scheduled, "b");
  f.expect(kind::stopped, "c");
  f.expect(kind::stopped, "a");
  f.expect(kind::started, "a");
  f.expect(kind::started, "b");
  f.expect(kind::started, "c");
  for (auto id : {"a", "b", "c"})
    CHECK(f.starts(id) == 2);
}

TEST_CASE("supervisor actor, rest_for_one: the children started after the "
          "crashed one are "
          "restarted with it",
          "[supervisor]") {
  fixture f;
  f.start(f.spec(restart_strategy::rest_for_one,
                 {f.child("a", permanent), f.child("b", permanent),
                  f.child("c", permanent)}));
  for (auto id : {"a", "b", "c"})
    f.expect(kind::started, id);
  f.crash("b");
  f.expect(kind::exited, "b");
  f.expect(kind::restart_scheduled, "b");
  f.expect(kind::stopped, "c");
  f.expect(kind::started, "b");
  f.expect(kind::started, "c");
  CHECK(f.starts("a") == 1);
  CHECK(f.starts("b") == 2);
  CHECK(f.starts("c") == 2);
}

TEST_CASE("supervisor actor, max_restarts: one restart more than the intensity "
          "allows stops "
          "every child in reverse order and fails the supervisor",
          "[supervisor]") {
  fixture f;
  // OTP's default intensity: 1 restart in 5 s.
  f.start(f.spec(restart_strategy::one_for_one,
                 {f.child("a", permanent), f.child("b", permanent)},
                 intensity_limits{}));
  f.expect(kind::started, "a");
  f.expect(kind::started, "b");
  f.crash("a");
  f.expect(kind::exited, "a");
  f.expect(kind::restart_scheduled, "a");
  f.expect(kind::started, "a");
  f.crash("a");
  f.expect(kind::exited, "a");
  auto gave_up = f.expect(kind::gave_up, "");
  CHECK_THAT(gave_up.reason, Catch::Contains("more than 1 restart(s) in "
                                             "5000 ms"));
  f.expect(kind::stopped, "b");
  auto reason = f.wait_down();
  CHECK(code_of(reason) == errc::supervisor_gave_up);
  CHECK(f.starts("a") == 2);
}

TEST_CASE("supervisor actor, escalation: a nested supervisor that gives up is "
          "an abnormal exit "
          "of a child, restarted by its parent with a fresh subtree",
          "[supervisor]") {
  fixture f;
  supervisor_options sub_opts;
  sub_opts.observer = caf::actor_cast<supervisor_observer>(f.self);
  sub_opts.log = false;
  auto inner = f.spec(restart_strategy::one_for_one,
                      {f.child("w1", permanent), f.child("w2", permanent)},
                      intensity_limits{0, 60000ms});
  inner.id = "inner";
  supervised_child subtree;
  subtree.spec = child_spec{"inner", permanent, 1000ms};
  subtree.start = subtree_starter(f.sys, inner, sub_opts);
  auto outer = f.spec(restart_strategy::one_for_one, {std::move(subtree)},
                      intensity_limits{1, 60000ms});
  f.start(std::move(outer));
  // The outer supervisor reports the inner one started while the inner one
  // starts its children: those come in either order.
  f.expect_any_order(
    {{kind::started, "inner"}, {kind::started, "w1"}, {kind::started, "w2"}});
  // The inner supervisor allows no restart: it gives up, the outer one
  // restarts it once, and the second time the outer one gives up too.
  for (int round = 0; round < 2; ++round) {
    f.crash("w1");
    CHECK(f.expect(kind::exited, "w1").supervisor == "inner");
    CHECK(f.expect(kind::gave_up, "").supervisor == "inner");
    f.expect(kind::stopped, "w2");
    auto ev = f.expect(kind::exited, "inner");
    CHECK(ev.how == exit_kind::abnormal);
    CHECK_THAT(ev.reason, Catch::Contains("supervisor 'inner'"));
    if (round == 0) {
      f.expect(kind::restart_scheduled, "inner");
      f.expect_any_order({{kind::started, "inner"},
                          {kind::started, "w1"},
                          {kind::started, "w2"}});
    }
  }
  CHECK(f.expect(kind::gave_up, "").supervisor == "sup");
  CHECK(code_of(f.wait_down()) == errc::supervisor_gave_up);
  CHECK(f.starts("w1") == 2);
}

TEST_CASE("supervisor actor, backoff: restarts wait min doubling up to max, "
          "and the waits are "
          "observed",
          "[supervisor]") {
  fixture f;
  auto s = f.spec(restart_strategy::one_for_one, {f.child("a", permanent)});
  s.backoff = backoff_limits{40ms, 150ms, 0.0};
  f.start(std::move(s));
  f.expect(kind::started, "a");
  std::vector<int64_t> delays;
  for (int i = 0; i < 4; ++i) {
    f.crash("a");
    f.expect(kind::exited, "a");
    auto ev = f.expect(kind::restart_scheduled, "a");
    auto started = f.expect(kind::started, "a");
    delays.push_back(ev.delay.count());
    // A timer never fires early. Both times are the supervisor's own (the
    // timer is set after the event is reported), so a slow test thread
    // cannot make the wait look shorter than it was.
    CHECK(started.at - ev.at >= ev.delay);
  }
  CHECK(delays == std::vector<int64_t>{40, 80, 150, 150});
}

TEST_CASE("supervisor actor, start_failure: a child that cannot start at the "
          "supervisor's start "
          "fails the supervisor, at a restart it counts as another exit",
          "[supervisor]") {
  SECTION("at start") {
    fixture f;
    f.live->failing_starts["b"] = 1;
    f.start(f.spec(restart_strategy::one_for_one,
                   {f.child("a", permanent), f.child("b", permanent)}));
    f.expect(kind::started, "a");
    f.expect(kind::start_failed, "b");
    f.expect(kind::gave_up, "");
    f.expect(kind::stopped, "a");
    CHECK(code_of(f.wait_down()) == errc::supervisor_gave_up);
  }
  SECTION("at a restart") {
    fixture f;
    f.start(f.spec(restart_strategy::one_for_one, {f.child("a", permanent)}));
    f.expect(kind::started, "a");
    f.live->failing_starts["a"] = 1;
    f.crash("a");
    f.expect(kind::exited, "a");
    f.expect(kind::restart_scheduled, "a");
    f.expect(kind::start_failed, "a");
    f.expect(kind::exited, "a");
    f.expect(kind::restart_scheduled, "a");
    f.expect(kind::started, "a");
    CHECK(f.starts("a") == 2);
  }
}

TEST_CASE("supervisor actor, shutdown_timeout: a child that ignores the "
          "shutdown is killed "
          "after its shutdown time",
          "[supervisor]") {
  fixture f;
  auto sup = f.start(f.spec(restart_strategy::one_for_one,
                            {f.child("stubborn", permanent, true, 50ms)}));
  f.expect(kind::started, "stubborn");
  f.self->send_exit(sup, caf::exit_reason::user_shutdown);
  auto killed = f.expect(kind::exited, "stubborn");
  CHECK_THAT(killed.reason, Catch::Contains("killed"));
  f.expect(kind::stopped, "stubborn");
  CHECK(f.wait_down() == caf::exit_reason::user_shutdown);
}

TEST_CASE("supervisor actor, classify_exit maps CAF exit reasons to OTP's",
          "[supervisor]") {
  CHECK(classify_exit(caf::error{}) == exit_kind::normal);
  CHECK(classify_exit(caf::exit_reason::normal) == exit_kind::normal);
  CHECK(classify_exit(caf::exit_reason::user_shutdown) == exit_kind::shutdown);
  CHECK(classify_exit(caf::exit_reason::kill) == exit_kind::abnormal);
  CHECK(classify_exit(make_error(errc::actor_failed, "x")) ==
        exit_kind::abnormal);
}

TEST_CASE("supervisor actor: a child a restart plan is already stopping that "
          "ends on its own is absorbed by the plan, no other child is "
          "restarted and no extra restart is counted",
          "[supervisor]") {
  fixture f;
  // OTP's intensity: one restart more would make the supervisor give up.
  f.start(
    f.spec(restart_strategy::rest_for_one,
           {f.child("a", permanent), f.child("x", permanent),
            f.child("t", temporary), f.child("y", permanent, true, 300ms)},
           intensity_limits{}));
  for (auto id : {"a", "x", "t", "y"})
    f.expect(kind::started, id);
  f.crash("x");
  f.expect(kind::exited, "x");
  f.expect(kind::restart_scheduled, "x");
  // `y` ignores its shutdown, so the plan waits on it; meanwhile `t`, which
  // the plan would stop next, crashes on its own.
  f.crash("t");
  CHECK(f.expect(kind::exited, "t").how == exit_kind::abnormal);
  f.expect(kind::stopped, "t");
  f.expect(kind::removed, "t");
  CHECK_THAT(f.expect(kind::exited, "y").reason, Catch::Contains("killed"));
  f.expect(kind::stopped, "y");
  f.expect(kind::started, "x");
  f.expect(kind::started, "y");
  CHECK(f.starts("a") == 1);
  CHECK(f.starts("t") == 1);
  // Still within the intensity: one more crash is one restart too many.
  f.crash("a");
  f.expect(kind::exited, "a");
  f.expect(kind::gave_up, "");
}
