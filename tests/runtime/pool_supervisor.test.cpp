// The supervisor's dynamic children (add_child_atom, remove_child_atom),
// which a worker pool grows and shrinks by. As in supervisor.test.cpp, every
// assertion is about the order of the events the supervisor reports.

#include "warren/core/errc.hpp"
#include "warren/runtime/supervision/supervisor.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>

using namespace warren;
using namespace warren::runtime;
using namespace std::chrono_literals;
using kind = supervisor_event::kind;

namespace {

caf::behavior idle_worker(caf::event_based_actor*) {
  return {[](int) {
    // Nothing: it only waits to be stopped or crashed.
  }};
}

struct pool_fixture {
  pool_fixture() : sys(cfg.set("scheduler.max-threads", 2)), self(sys) {
    supervisor_spec s;
    s.id = "workers";
    s.intensity = {10, 60000ms};
    s.backoff = backoff_limits{0ms, 0ms, 0.0};
    supervisor_options opts;
    opts.observer = caf::actor_cast<supervisor_observer>(self);
    opts.log = false;
    sup = spawn_supervisor(sys, std::move(s), opts);
  }

  ~pool_fixture() {
    self->send_exit(sup, caf::exit_reason::user_shutdown);
    self->wait_for(sup);
  }

  supervised_child worker(const std::string& id,
                          restart_type type = restart_type::permanent) {
    supervised_child c;
    c.spec = child_spec{id, type, 1000ms};
    auto reg = live;
    auto* system = &sys;
    c.start = [reg, system, id]() -> caf::expected<child_members> {
      auto a = system->spawn(idle_worker);
      std::lock_guard<std::mutex> guard{reg->mtx};
      reg->by_id[id] = a;
      ++reg->starts[id];
      return child_members{a};
    };
    return c;
  }

  caf::error add(supervised_child c) {
    caf::error result;
    self->request(sup, 10s, add_child_atom::value, std::move(c))
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { result = err; });
    return result;
  }

  caf::error remove(const std::string& id) {
    caf::error result;
    self->request(sup, 10s, remove_child_atom::value, id)
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { result = err; });
    return result;
  }

  void expect(kind what, const std::string& child) {
    supervisor_event ev;
    bool got = false;
    self->receive(
      [&](supervisor_event& e) {
        ev = std::move(e);
        got = true;
      },
      caf::after(10s) >> [] {});
    REQUIRE(got);
    INFO("event " << static_cast<int>(ev.what) << " for '" << ev.child << "' ("
                  << ev.reason << ")");
    CHECK(ev.what == what);
    CHECK(ev.child == child);
  }

  int starts(const std::string& id) {
    std::lock_guard<std::mutex> guard{live->mtx};
    return live->starts[id];
  }

  caf::actor current(const std::string& id) {
    std::lock_guard<std::mutex> guard{live->mtx};
    return live->by_id[id];
  }

  struct registry {
    std::mutex mtx;
    std::map<std::string, caf::actor> by_id;
    std::map<std::string, int> starts;
  };

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::actor sup;
  std::shared_ptr<registry> live = std::make_shared<registry>();
};

} // namespace

TEST_CASE("a child added at run time starts at once and is restarted after "
          "a crash like any other",
          "[supervisor][pool]") {
  pool_fixture f;
  REQUIRE_FALSE(f.add(f.worker("p[0]")));
  f.expect(kind::started, "p[0]");
  f.self->send_exit(f.current("p[0]"), caf::exit_reason::unhandled_exception);
  f.expect(kind::exited, "p[0]");
  f.expect(kind::restart_scheduled, "p[0]");
  f.expect(kind::started, "p[0]");
  CHECK(f.starts("p[0]") == 2);
}

TEST_CASE("a removed child is stopped gracefully, answered once down, and "
          "never restarted",
          "[supervisor][pool]") {
  pool_fixture f;
  REQUIRE_FALSE(f.add(f.worker("p[0]")));
  REQUIRE_FALSE(f.add(f.worker("p[1]")));
  f.expect(kind::started, "p[0]");
  f.expect(kind::started, "p[1]");
  CHECK_FALSE(f.remove("p[1]"));
  f.expect(kind::stopped, "p[1]");
  f.expect(kind::removed, "p[1]");
  // Gone for good: removing it again is an error, and the other child's
  // events come next (no restart of p[1] in between).
  CHECK(code_of(f.remove("p[1]")) == errc::not_found);
  f.self->send_exit(f.current("p[0]"), caf::exit_reason::unhandled_exception);
  f.expect(kind::exited, "p[0]");
  f.expect(kind::restart_scheduled, "p[0]");
  f.expect(kind::started, "p[0]");
  CHECK(f.starts("p[1]") == 1);
}

TEST_CASE("a child id runs once: adding a running id is refused, adding a "
          "removed one takes its place again",
          "[supervisor][pool]") {
  pool_fixture f;
  REQUIRE_FALSE(f.add(f.worker("p[0]")));
  f.expect(kind::started, "p[0]");
  CHECK(f.add(f.worker("p[0]")));
  CHECK(f.starts("p[0]") == 1);
  CHECK_FALSE(f.remove("p[0]"));
  f.expect(kind::stopped, "p[0]");
  f.expect(kind::removed, "p[0]");
  CHECK_FALSE(f.add(f.worker("p[0]")));
  f.expect(kind::started, "p[0]");
  CHECK(f.starts("p[0]") == 2);
}

TEST_CASE("a child that fails to start when added is reported and not kept",
          "[supervisor][pool]") {
  pool_fixture f;
  supervised_child bad;
  bad.spec = child_spec{"p[0]", restart_type::permanent, 1000ms};
  bad.start = []() -> caf::expected<child_members> {
    return make_error(errc::actor_failed, "refused to start");
  };
  CHECK(code_of(f.add(std::move(bad))) == errc::actor_failed);
  f.expect(kind::start_failed, "p[0]");
  f.expect(kind::removed, "p[0]");
  // Its place is free.
  CHECK_FALSE(f.add(f.worker("p[0]")));
  f.expect(kind::started, "p[0]");
}
