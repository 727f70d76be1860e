// Supervision decisions, named after the cases of Erlang/OTP's
// supervisor_SUITE that they mirror. Pure logic: no actors, no clocks but
// the ones the tests set.

#include "warren/runtime/supervision/supervision.hpp"

#include "warren/core/errc.hpp"
#include "warren/runtime/supervision/supervisor.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace warren::runtime;
using warren::errc;
using warren::make_error;
using namespace std::chrono_literals;
using indexes = std::vector<std::size_t>;

namespace {

std::vector<child_spec> children(std::vector<restart_type> types) {
  std::vector<child_spec> result;
  for (std::size_t i = 0; i < types.size(); ++i)
    result.push_back(
      child_spec{"child" + std::to_string(i + 1), types[i], 5000ms});
  return result;
}

constexpr auto permanent = restart_type::permanent;
constexpr auto transient = restart_type::transient;
constexpr auto temporary = restart_type::temporary;

} // namespace

TEST_CASE("permanent_normal: a permanent child is restarted even after a "
          "normal exit",
          "[supervision]") {
  auto plan = plan_restart(restart_strategy::one_for_one, children({permanent}),
                           0, exit_kind::normal);
  CHECK(plan.restart == indexes{0});
  CHECK_FALSE(plan.remove_exited);
}

TEST_CASE("permanent_abnormal: a permanent child is restarted after a crash",
          "[supervision]") {
  auto plan = plan_restart(restart_strategy::one_for_one, children({permanent}),
                           0, exit_kind::abnormal);
  CHECK(plan.restart == indexes{0});
}

TEST_CASE("transient_normal: a transient child that ends normally or is shut "
          "down is not restarted and keeps its place",
          "[supervision]") {
  for (auto how : {exit_kind::normal, exit_kind::shutdown}) {
    auto plan = plan_restart(restart_strategy::one_for_one,
                             children({transient}), 0, how);
    CHECK(plan.empty());
    CHECK_FALSE(plan.remove_exited);
  }
}

TEST_CASE("transient_abnormal: a transient child that crashes is restarted",
          "[supervision]") {
  auto plan = plan_restart(restart_strategy::one_for_one, children({transient}),
                           0, exit_kind::abnormal);
  CHECK(plan.restart == indexes{0});
}

TEST_CASE("temporary_normal and temporary_abnormal: a temporary child is never "
          "restarted and leaves the supervisor",
          "[supervision]") {
  for (auto how : {exit_kind::normal, exit_kind::abnormal}) {
    auto plan = plan_restart(restart_strategy::one_for_all,
                             children({permanent, temporary}), 1, how);
    CHECK(plan.empty());
    CHECK(plan.remove_exited);
  }
}

TEST_CASE("one_for_one: only the crashed child is restarted", "[supervision]") {
  auto plan = plan_restart(restart_strategy::one_for_one,
                           children({permanent, permanent, permanent}), 1,
                           exit_kind::abnormal);
  CHECK(plan.stop.empty());
  CHECK(plan.restart == indexes{1});
}

TEST_CASE("one_for_all: the others are stopped in reverse start order, then "
          "all restart in start order",
          "[supervision]") {
  auto plan = plan_restart(restart_strategy::one_for_all,
                           children({permanent, permanent, permanent}), 1,
                           exit_kind::abnormal);
  CHECK(plan.stop == indexes{2, 0});
  CHECK(plan.restart == indexes{0, 1, 2});
}

TEST_CASE("released: a child that let its work go is started again alone "
          "and at once, whatever the strategy, a temporary one is not",
          "[supervision]") {
  for (auto strategy :
       {restart_strategy::one_for_one, restart_strategy::one_for_all,
        restart_strategy::rest_for_one}) {
    for (auto type : {permanent, transient}) {
      auto plan = plan_restart(strategy, children({permanent, type, permanent}),
                               1, exit_kind::released);
      CHECK(plan.stop.empty());
      CHECK(plan.restart == indexes{1});
      CHECK(plan.at_once);
    }
  }
  auto plan =
    plan_restart(restart_strategy::one_for_all,
                 children({permanent, temporary}), 1, exit_kind::released);
  CHECK(plan.restart.empty());
  CHECK(plan.remove_exited);
  CHECK(classify_exit(make_error(errc::released, "handed over")) ==
        exit_kind::released);
  CHECK_FALSE(plan_restart(restart_strategy::one_for_one, children({permanent}),
                           0, exit_kind::abnormal)
                .at_once);
}

TEST_CASE("one_for_all_temporary: a temporary sibling stopped by one_for_all "
          "is not started again",
          "[supervision]") {
  auto plan = plan_restart(restart_strategy::one_for_all,
                           children({permanent, temporary, permanent}), 0,
                           exit_kind::abnormal);
  CHECK(plan.stop == indexes{2, 1});
  CHECK(plan.restart == indexes{0, 2});
}

TEST_CASE("rest_for_one: the children started after the crashed one are "
          "stopped and restarted with it, the ones before keep running",
          "[supervision]") {
  auto plan =
    plan_restart(restart_strategy::rest_for_one,
                 children({permanent, permanent, permanent, permanent}), 1,
                 exit_kind::abnormal);
  CHECK(plan.stop == indexes{3, 2});
  CHECK(plan.restart == indexes{1, 2, 3});
}

TEST_CASE("rest_for_one_last: when the last child crashes only it restarts",
          "[supervision]") {
  auto plan =
    plan_restart(restart_strategy::rest_for_one,
                 children({permanent, permanent}), 1, exit_kind::abnormal);
  CHECK(plan.stop.empty());
  CHECK(plan.restart == indexes{1});
}

TEST_CASE("strategies apply only when the exited child is restarted",
          "[supervision]") {
  // A transient child ending normally under one_for_all leaves its
  // siblings alone.
  auto plan =
    plan_restart(restart_strategy::one_for_all,
                 children({transient, permanent}), 0, exit_kind::normal);
  CHECK(plan.empty());
}

TEST_CASE("one_for_one_escalation: more than max_restarts within the period "
          "exceeds the intensity",
          "[supervision]") {
  restart_intensity intensity{{2, 1000ms}};
  restart_intensity::clock::time_point t0{};
  CHECK(intensity.record(t0));
  CHECK(intensity.record(t0 + 100ms));
  CHECK_FALSE(intensity.record(t0 + 200ms)); // the third within 1 s
}

TEST_CASE("restarts older than the period no longer count", "[supervision]") {
  restart_intensity intensity{{1, 1000ms}};
  restart_intensity::clock::time_point t0{};
  CHECK(intensity.record(t0));
  // Exactly one period later the first restart still counts (OTP keeps
  // restarts R >= Now - Period)...
  CHECK(intensity.restarts_within(t0 + 1000ms) == 1);
  // ...and just after it, it does not.
  CHECK(intensity.record(t0 + 1001ms));
  CHECK(intensity.restarts_within(t0 + 1001ms) == 1);
}

TEST_CASE("OTP's default intensity allows one restart in five seconds",
          "[supervision]") {
  restart_intensity intensity;
  CHECK(intensity.limits().max_restarts == 1);
  CHECK(intensity.limits().period == 5000ms);
  restart_intensity::clock::time_point t0{};
  CHECK(intensity.record(t0));
  CHECK_FALSE(intensity.record(t0 + 4999ms));
}

TEST_CASE("backoff doubles from min up to max", "[supervision]") {
  backoff_limits limits{100ms, 1000ms, 0.0};
  CHECK(backoff_delay(limits, 1, 0.5) == 100ms);
  CHECK(backoff_delay(limits, 2, 0.5) == 200ms);
  CHECK(backoff_delay(limits, 3, 0.5) == 400ms);
  CHECK(backoff_delay(limits, 4, 0.5) == 800ms);
  CHECK(backoff_delay(limits, 5, 0.5) == 1000ms);
  CHECK(backoff_delay(limits, 60, 0.5) == 1000ms); // no overflow
  CHECK(backoff_delay(limits, 0, 0.5) == 0ms);
}

TEST_CASE("backoff jitter spreads the delay by the given fraction both ways",
          "[supervision]") {
  backoff_limits limits{1000ms, 10000ms, 0.2};
  CHECK(backoff_delay(limits, 1, 0.0) == 800ms);
  CHECK(backoff_delay(limits, 1, 0.5) == 1000ms);
  CHECK(backoff_delay(limits, 1, 0.99999) == 1200ms);
}
