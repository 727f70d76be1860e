// The worker_pool kind's scaling decisions (actors/src/pool/scaling.hpp),
// stepped by hand with a made-up clock and queue: no broker, no threads.

#include "pool/scaling.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/runtime/node.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using warren::pool_decision;
using warren::pool_view;
using warren::pool_worker_view;
using warren::actors::scaler;
using warren::actors::scaling_options;

namespace {

using action = pool_decision::action;
using clock_type = std::chrono::steady_clock;

const clock_type::time_point t0{std::chrono::hours{1}};

scaling_options options_2_to_6() {
  scaling_options o;
  o.min_workers = 2;
  o.max_workers = 6;
  o.scale_up_depth_per_worker = 10;
  o.scale_up_after = 2s;
  o.scale_up_step = 2;
  o.scale_down_idle = 30s;
  o.cooldown = 5s;
  return o;
}

// `workers` workers (slots 0..n-1), each holding `in_hand` and idle for
// `idle` when it holds nothing; `ready` messages in the queue, consumed by
// this node's workers only.
pool_view view_at(std::chrono::milliseconds since_t0, uint32_t workers,
                  uint32_t ready, std::chrono::milliseconds idle = 0ms,
                  uint32_t in_hand = 0) {
  pool_view v;
  v.now = t0 + since_t0;
  v.queue_known = true;
  v.queue_ready = ready;
  v.queue_consumers = workers;
  for (uint32_t k = 0; k < workers; ++k) {
    pool_worker_view w;
    w.slot = k;
    w.in_hand = in_hand;
    w.idle_for = in_hand > 0 ? 0ms : idle;
    v.workers.push_back(w);
  }
  return v;
}

warren::actors::scaling_options read(const boost::json::object& options,
                                     std::string* error = nullptr) {
  warren::config::config_reader r{"node.json"};
  warren::config::object_reader o{r, options, "$.actors[0].options"};
  auto result = warren::actors::read_scaling_options(o);
  if (error != nullptr)
    *error = r.ok() ? std::string{} : warren::describe(r.error());
  return result;
}

} // namespace

TEST_CASE("a pool below min_workers is filled at once, whatever the queue",
          "[pool]") {
  scaler s{options_2_to_6()};
  auto v = view_at(0ms, 0, 0);
  v.queue_known = false;
  auto d = s.decide(v);
  CHECK(d.what == action::add);
  CHECK(d.count == 2);
  // One of two left for good: one more.
  d = s.decide(view_at(1s, 1, 0));
  CHECK(d.what == action::add);
  CHECK(d.count == 1);
}

TEST_CASE("a pool grows only after the depth stayed above the threshold for "
          "scale_up_after",
          "[pool]") {
  scaler s{options_2_to_6()};
  // Threshold: 10 per consumer, 2 consumers: 20.
  CHECK(s.threshold(view_at(0ms, 2, 0)) == 20);
  CHECK(s.decide(view_at(0ms, 2, 20)).what == action::hold); // not above
  CHECK(s.decide(view_at(1s, 2, 21)).what == action::hold);  // above since 1 s
  CHECK(s.decide(view_at(2s, 2, 50)).what == action::hold);  // 1 s of 2
  auto d = s.decide(view_at(3s, 2, 50));
  CHECK(d.what == action::add);
  CHECK(d.count == 2); // scale_up_step
}

TEST_CASE("a spike shorter than scale_up_after starts no worker", "[pool]") {
  scaler s{options_2_to_6()};
  CHECK(s.decide(view_at(0s, 2, 100)).what == action::hold);
  CHECK(s.decide(view_at(1s, 2, 100)).what == action::hold);
  CHECK(s.decide(view_at(1500ms, 2, 3)).what == action::hold); // gone
  // Above again: the sustain time starts over.
  CHECK(s.decide(view_at(2s, 2, 100)).what == action::hold);
  CHECK(s.decide(view_at(3s, 2, 100)).what == action::hold);
  CHECK(s.decide(view_at(4s, 2, 100)).what == action::add);
}

TEST_CASE("after a change the pool waits its cooldown before the next one",
          "[pool]") {
  scaler s{options_2_to_6()};
  s.decide(view_at(0s, 2, 100));
  REQUIRE(s.decide(view_at(2s, 2, 100)).what == action::add);
  // 4 workers now, still a backlog (threshold 40).
  CHECK(s.decide(view_at(3s, 4, 100)).what == action::hold);
  CHECK(s.decide(view_at(6s, 4, 100)).what == action::hold);
  auto d = s.decide(view_at(7s, 4, 100));
  CHECK(d.what == action::add);
  CHECK(d.count == 2);
}

TEST_CASE("a pool never grows past max_workers: the backlog stays in the "
          "broker, and the hold says so",
          "[pool]") {
  scaler s{options_2_to_6()};
  s.decide(view_at(0s, 5, 1000));
  auto d = s.decide(view_at(10s, 5, 1000));
  CHECK(d.what == action::add);
  CHECK(d.count == 1); // step 2 capped at max 6
  d = s.decide(view_at(20s, 6, 1000));
  CHECK(d.what == action::hold);
  CHECK(d.notable);
  CHECK_THAT(d.reason, Catch::Contains("max_workers"));
}

TEST_CASE("the per-worker threshold counts the queue's consumers on every "
          "node",
          "[pool]") {
  scaler s{options_2_to_6()};
  // Three nodes of 2 workers: 60 ready is 10 per consumer, not above.
  auto v = view_at(0s, 2, 60);
  v.queue_consumers = 6;
  CHECK(s.threshold(v) == 60);
  CHECK(s.decide(v).what == action::hold);
  v.now = t0 + 10s;
  CHECK(s.decide(v).what == action::hold);
  // The broker's count lagging this node's own workers: at least these.
  v.queue_consumers = 0;
  CHECK(s.threshold(v) == 20);
}

TEST_CASE("an absolute scale_up_depth ignores the number of consumers",
          "[pool]") {
  auto o = options_2_to_6();
  o.scale_up_depth = 5;
  scaler s{o};
  CHECK(s.threshold(view_at(0s, 6, 0)) == 5);
  s.decide(view_at(0s, 2, 6));
  CHECK(s.decide(view_at(2s, 2, 6)).what == action::add);
}

TEST_CASE("an idle worker is removed after scale_down_idle, one per "
          "cooldown, never below min_workers",
          "[pool]") {
  scaler s{options_2_to_6()};
  CHECK(s.decide(view_at(0s, 4, 0, 29s)).what == action::hold);
  auto d = s.decide(view_at(1s, 4, 0, 30s));
  CHECK(d.what == action::remove);
  CHECK(d.slot == 3); // the highest slot among the idle ones
  CHECK(s.decide(view_at(2s, 3, 0, 31s)).what == action::hold); // cooldown
  d = s.decide(view_at(6s, 3, 0, 35s));
  CHECK(d.what == action::remove);
  CHECK(d.slot == 2);
  CHECK(s.decide(view_at(60s, 2, 0, 90s)).what == action::hold); // at min
}

TEST_CASE("a busy worker, or one idle for less than scale_down_idle, is "
          "never removed",
          "[pool]") {
  scaler s{options_2_to_6()};
  auto v = view_at(0s, 4, 0, 60s);
  v.workers[3].in_hand = 1;
  v.workers[3].idle_for = 0ms;
  v.workers[2].idle_for = 10s;
  auto d = s.decide(v);
  CHECK(d.what == action::remove);
  CHECK(d.slot == 1);
  // Every worker busy: nothing to remove.
  scaler t{options_2_to_6()};
  CHECK(t.decide(view_at(0s, 4, 0, 0ms, 1)).what == action::hold);
}

TEST_CASE("no worker is removed while the backlog is above the threshold",
          "[pool]") {
  scaler s{options_2_to_6()};
  // Idle workers with a backlog cannot last, but the rule holds anyway.
  CHECK(s.decide(view_at(0s, 4, 100, 60s)).what == action::hold);
}

TEST_CASE("an unknown queue depth holds, and forgets how long it was above",
          "[pool]") {
  scaler s{options_2_to_6()};
  s.decide(view_at(0s, 2, 100));
  auto v = view_at(1s, 2, 100);
  v.queue_known = false;
  CHECK(s.decide(v).what == action::hold);
  CHECK(s.decide(view_at(2s, 2, 100)).what == action::hold); // starts over
  CHECK(s.decide(view_at(4s, 2, 100)).what == action::add);
}

TEST_CASE("worker_pool options: defaults, and errors that name the key",
          "[pool]") {
  std::string error;
  auto o = read({}, &error);
  CHECK(error.empty());
  CHECK(o.min_workers == 1);
  CHECK(o.max_workers == 4);
  CHECK(o.scale_up_depth_per_worker == 1);
  CHECK_FALSE(o.scale_up_depth);
  CHECK(o.scale_up_after == 2s);
  CHECK(o.scale_up_step == 1);
  CHECK(o.scale_down_idle == 30s);
  CHECK(o.cooldown == 5s);
  CHECK(o.check_interval == 1s);
  // max_workers follows a larger min_workers.
  CHECK(read({{"min_workers", 6}}).max_workers == 6);
  read({{"min_workers", 4}, {"max_workers", 2}}, &error);
  CHECK(error == "node.json: $.actors[0].options.max_workers: expected at "
                 "least min_workers (4), found 2");
  read({{"min_workers", 0}}, &error);
  CHECK(error == "node.json: $.actors[0].options.min_workers: expected an "
                 "integer from 1 to 64, found 0");
  read({{"scale_up_depth", 10}, {"scale_up_depth_per_worker", 2}}, &error);
  CHECK_THAT(error, Catch::StartsWith("node.json: "
                                      "$.actors[0].options.scale_up_depth_per_"
                                      "worker: give either scale_up_depth"));
  read({{"workers", 2}}, &error);
  CHECK_THAT(error, Catch::StartsWith("node.json: "
                                      "$.actors[0].options.workers: unknown "
                                      "key"));
  read({{"worker", 2}}, &error);
  CHECK_THAT(error, Catch::StartsWith("node.json: $.actors[0].options.worker: "
                                      "expected an object"));
}

TEST_CASE("a worker_pool of a stateful kind is refused at check, and its "
          "handler's options are checked under options.worker",
          "[pool]") {
  warren::registry kinds;
  warren::actors::register_builtin_kinds(kinds);
  warren::config::node_config cfg;
  cfg.source_file = "node.json";
  warren::config::actor_spec spec;
  spec.name = "resize";
  spec.kind = "worker_pool";
  spec.handler = "record";
  spec.options = boost::json::object{{"min_workers", 2}};
  cfg.actors.push_back(spec);
  auto err = warren::runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK(warren::describe(err) ==
        "node.json: $.actors[0].options.worker.path: required key is missing");
  cfg.actors[0].options["worker"] = boost::json::object{{"path", "/tmp/x"}};
  CHECK_FALSE(warren::runtime::check_kinds(cfg, kinds));
  cfg.actors[0].instances = 3;
  err = warren::runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK_THAT(warren::describe(err),
             Catch::StartsWith("node.json: $.actors[0].instances: a worker "
                               "pool sizes itself"));
  cfg.actors[0].instances = 1;
  // A kind that needs a handler of its own (as service does) does no work
  // itself.
  cfg.actors[0].handler = "service";
  err = warren::runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK_THAT(warren::describe(err),
             Catch::StartsWith("node.json: $.actors[0].handler: kind "
                               "'service' needs a handler of its own"));
  // A stateful kind of a plugin, registered here.
  kinds.add_stateful_kind(
    "test.keeper",
    [](const warren::actor_init&) -> std::unique_ptr<warren::stateful_base> {
      return nullptr;
    });
  cfg.actors[0].handler = "test.keeper";
  cfg.actors[0].options = {};
  err = warren::runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK(warren::describe(err) ==
        "node.json: $.actors[0].handler: the stateful kind 'test.keeper' "
        "cannot be pooled (its state lives in this node, in one instance; a "
        "pool runs several); give it an actor of its own, or pool a stateless "
        "kind");
}
