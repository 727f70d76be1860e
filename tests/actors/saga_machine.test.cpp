// A saga's state machine (pure): runs, retries, timeouts, compensation in
// reverse order, stuck and resumed by hand, and everything late ignored;
// and an instance's JSON row.

#include "saga/saga_machine.hpp"

#include "saga/saga_codec.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren::actors;

namespace {

// create -> reserve -> charge -> notify (notify has no compensation), one
// retry each, timeouts of 1 s, backoff 100 ms doubling.
saga_definition order_saga() {
  saga_definition def;
  def.name = "order";
  for (const char* id : {"create", "reserve", "charge", "notify"}) {
    saga_step_definition step;
    step.id = id;
    step.action = {std::string{id} + "-svc", id, nullptr};
    if (std::string{id} != "notify")
      step.compensation =
        saga_call{std::string{id} + "-svc", std::string{"undo-"} + id, nullptr};
    step.timeout_ms = 1000;
    step.retry = {1, 100, 60000, {"refused"}};
    step.group = def.steps.size(); // one step at a time
    def.steps.push_back(std::move(step));
  }
  def.compensation_retry = {2, 100, 60000, {}};
  def.compensation_timeout_ms = 1000;
  return def;
}

saga_instance fresh(const char* id = "s1") {
  saga_instance inst;
  inst.saga_id = id;
  return inst;
}

saga_reply ok(const std::string& send_id) {
  return {send_id, true, boost::json::value{true}, {}, {}};
}

saga_reply failure(const std::string& send_id, const char* code = "failed") {
  return {send_id, false, nullptr, code, std::string{"it said no: "} + code};
}

std::vector<std::string> ids_of(const saga_effects& e) {
  std::vector<std::string> ids;
  for (const auto& c : e.commands)
    ids.push_back(c.id);
  return ids;
}

std::vector<std::string> events_of(const saga_effects& e) {
  std::vector<std::string> names;
  for (const auto& ev : e.events)
    names.push_back(ev.name);
  return names;
}

using names = std::vector<std::string>;

} // namespace

TEST_CASE("a saga whose steps all succeed runs them in order and completes",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  auto e = start_saga(def, inst, 0);
  CHECK(inst.status == saga_status::running);
  CHECK(ids_of(e) == names{"s1/create/a/1"});
  CHECK(e.commands[0].key == "s1/create/a");
  CHECK(e.commands[0].call->type == "create");
  REQUIRE(e.set.size() == 1);
  CHECK(e.set[0].due_ms == 1000);
  CHECK(events_of(e) == names{"started"});
  CHECK(e.events[0].id == "s1/ev/1");
  auto timer = e.set[0].id;
  for (const char* step : {"create", "reserve", "charge"}) {
    e = on_reply(def, inst, ok("s1/" + std::string{step} + "/a/1"), 10);
    CHECK(events_of(e) == names{"step_completed"});
    // The step's timeout is cancelled, the next one's set.
    REQUIRE(e.cancelled.size() == 1);
    CHECK(e.cancelled[0] == timer);
    REQUIRE(e.set.size() == 1);
    timer = e.set[0].id;
  }
  e = on_reply(def, inst, ok("s1/notify/a/1"), 20);
  CHECK(events_of(e) == names{"step_completed", "completed"});
  CHECK(e.commands.empty());
  CHECK(e.set.empty());
  CHECK(inst.status == saga_status::completed);
  CHECK(finished(inst));
  // Anything after the end is ignored.
  CHECK(on_reply(def, inst, ok("s1/notify/a/1"), 30).ignored);
  CHECK(on_timer(def, inst, timer, 2000).ignored);
}

TEST_CASE("a step that fails for good has the completed steps compensated "
          "in reverse order",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  start_saga(def, inst, 0);
  on_reply(def, inst, ok("s1/create/a/1"), 1);
  on_reply(def, inst, ok("s1/reserve/a/1"), 2);
  // "refused" is final: no retry.
  auto e = on_reply(def, inst, failure("s1/charge/a/1", "refused"), 3);
  CHECK(events_of(e) == names{"step_failed", "compensating"});
  CHECK_FALSE(e.events[0].retrying);
  CHECK(inst.status == saga_status::compensating);
  // The failed step was refused, so not applied: reserve is undone first.
  CHECK(ids_of(e) == names{"s1/reserve/c/1"});
  CHECK(e.commands[0].call->type == "undo-reserve");
  CHECK(e.commands[0].key == "s1/reserve/c");
  e = on_reply(def, inst, ok("s1/reserve/c/1"), 4);
  CHECK(ids_of(e) == names{"s1/create/c/1"});
  e = on_reply(def, inst, ok("s1/create/c/1"), 5);
  CHECK(events_of(e) == names{"step_compensated", "compensated"});
  CHECK(inst.status == saga_status::compensated);
  CHECK(inst.steps[1].status == step_status::compensated);
  CHECK(inst.steps[2].status == step_status::failed);
  CHECK_THAT(inst.error, Catch::Contains("step charge failed"));
}

TEST_CASE("a failure is retried after a backoff with a new send id and the "
          "same key, then given up",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  start_saga(def, inst, 0);
  auto e = on_reply(def, inst, failure("s1/create/a/1"), 10);
  CHECK(events_of(e) == names{"step_failed"});
  CHECK(e.events[0].retrying);
  REQUIRE(e.set.size() == 1);
  CHECK(e.set[0].what == saga_timer::kind::backoff);
  CHECK(e.set[0].due_ms == 110);
  // A second failure of the same send while backing off changes nothing.
  CHECK(on_reply(def, inst, failure("s1/create/a/1"), 20).ignored);
  e = on_timer(def, inst, e.set[0].id, 110);
  CHECK(ids_of(e) == names{"s1/create/a/2"});
  CHECK(e.commands[0].key == "s1/create/a");
  // The one retry spent: nothing completed, nothing to undo.
  e = on_reply(def, inst, failure("s1/create/a/2"), 120);
  CHECK(events_of(e) == names{"step_failed", "compensating", "compensated"});
  CHECK(inst.status == saga_status::compensated);
}

TEST_CASE("a step that times out is retried, then counted as maybe applied "
          "and compensated with the steps before it",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  start_saga(def, inst, 0);
  on_reply(def, inst, ok("s1/create/a/1"), 10);
  auto timer = next_timer(inst)->id;
  auto e = on_timer(def, inst, timer, 1010);
  CHECK(events_of(e) == names{"step_failed"});
  CHECK(e.events[0].retrying);
  e = on_timer(def, inst, next_timer(inst)->id, 1110);
  CHECK(ids_of(e) == names{"s1/reserve/a/2"});
  e = on_timer(def, inst, next_timer(inst)->id, 2110);
  CHECK(events_of(e) == names{"step_failed", "compensating"});
  // reserve may have been applied: it is undone first, then create.
  CHECK(ids_of(e) == names{"s1/reserve/c/1"});
  CHECK(inst.steps[1].maybe_applied);
  // The reply to the first send, arriving now, is ignored: the step was
  // given up.
  CHECK(on_reply(def, inst, ok("s1/reserve/a/1"), 2200).ignored);
  CHECK(inst.status == saga_status::compensating);

  SECTION("unless timed-out steps are not to be compensated") {
    def.compensate_on_timeout = false;
    auto other = fresh("s2");
    start_saga(def, other, 0);
    on_reply(def, other, ok("s2/create/a/1"), 10);
    on_timer(def, other, next_timer(other)->id, 1010);
    on_timer(def, other, next_timer(other)->id, 1110);
    e = on_timer(def, other, next_timer(other)->id, 2110);
    CHECK(ids_of(e) == names{"s2/create/c/1"});
  }
}

TEST_CASE("a step's deadline bounds its retries and its last wait", "[saga]") {
  auto def = order_saga();
  def.steps[0].retry.max = 10;
  def.steps[0].deadline_ms = 2500;
  auto inst = fresh();
  start_saga(def, inst, 0);
  // 1 s per send, 100 ms then 200 ms of backoff: the third send at 2300
  // may wait only until 2500.
  on_timer(def, inst, next_timer(inst)->id, 1000);
  on_timer(def, inst, next_timer(inst)->id, 1100);
  on_timer(def, inst, next_timer(inst)->id, 2100);
  auto e = on_timer(def, inst, next_timer(inst)->id, 2300);
  CHECK(ids_of(e) == names{"s1/create/a/3"});
  REQUIRE(e.set.size() == 1);
  CHECK(e.set[0].due_ms == 2500);
  e = on_timer(def, inst, next_timer(inst)->id, 2500);
  CHECK(events_of(e) == names{"step_failed", "compensating"});
  CHECK_THAT(inst.steps[0].error,
             Catch::Contains("within the step's deadline of 2500 ms"));
  CHECK(inst.status == saga_status::compensating);

  SECTION("a failure with too little time left is not tried again") {
    auto other = fresh("s2");
    start_saga(def, other, 0);
    on_timer(def, other, next_timer(other)->id, 1000);
    on_timer(def, other, next_timer(other)->id, 1100);
    // The second send fails at 2450: a 200 ms backoff passes the deadline.
    e = on_reply(def, other, failure("s2/create/a/2"), 2450);
    CHECK(events_of(e) == names{"step_failed", "compensating"});
    CHECK_FALSE(e.events[0].retrying);
    CHECK_THAT(other.steps[0].error,
               Catch::Contains("leaves no time to try again"));
  }
}

TEST_CASE("a success to an earlier send completes the step, and a stale "
          "timer never acts on a finished step",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  start_saga(def, inst, 0);
  auto first_timeout = next_timer(inst)->id;
  on_timer(def, inst, first_timeout, 1000);                // timed out: backoff
  on_timer(def, inst, next_timer(inst)->id, 1100);         // sent again: /a/2
  auto e = on_reply(def, inst, ok("s1/create/a/1"), 1150); // the first answers
  CHECK(events_of(e) == names{"step_completed"});
  CHECK(ids_of(e) == names{"s1/reserve/a/1"});
  // The old timers are no longer the saga's.
  CHECK(on_timer(def, inst, first_timeout, 3000).ignored);
  CHECK(inst.steps[0].status == step_status::completed);
  // A reply for a step not current, or from another saga, is ignored.
  CHECK(on_reply(def, inst, ok("s1/charge/a/1"), 1200).ignored);
  CHECK(on_reply(def, inst, ok("s9/reserve/a/1"), 1200).ignored);
  CHECK(on_reply(def, inst, ok("s1/reserve/x/1"), 1200).ignored);
}

TEST_CASE("a compensation failing twice then succeeding, and one out of "
          "budget leaves the saga stuck until resumed by hand",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  start_saga(def, inst, 0);
  on_reply(def, inst, ok("s1/create/a/1"), 1);
  on_reply(def, inst, failure("s1/reserve/a/1", "refused"), 2);
  REQUIRE(inst.status == saga_status::compensating);
  // Budget: the first send and two more.
  on_reply(def, inst, failure("s1/create/c/1"), 3);
  auto e = on_timer(def, inst, next_timer(inst)->id, 200);
  CHECK(ids_of(e) == names{"s1/create/c/2"});

  SECTION("the third send succeeds") {
    on_reply(def, inst, failure("s1/create/c/2"), 210);
    e = on_timer(def, inst, next_timer(inst)->id, 500);
    CHECK(ids_of(e) == names{"s1/create/c/3"});
    e = on_reply(def, inst, ok("s1/create/c/3"), 510);
    CHECK(inst.status == saga_status::compensated);
  }

  SECTION("the budget runs out: stuck, then resumed") {
    on_reply(def, inst, failure("s1/create/c/2"), 210);
    on_timer(def, inst, next_timer(inst)->id, 500);
    e = on_timer(def, inst, next_timer(inst)->id, 1510); // c/3 timed out
    CHECK(events_of(e) == names{"stuck"});
    CHECK(inst.status == saga_status::stuck);
    CHECK_FALSE(next_timer(inst));
    CHECK_THAT(inst.error, Catch::Contains("compensation of step create"));
    // Replies and resumes: only a resume moves it.
    CHECK(on_reply(def, inst, ok("s1/create/c/3"), 1600).ignored);
    e = resume_saga(def, inst, 5000);
    CHECK(events_of(e) == names{"resumed"});
    CHECK(ids_of(e) == names{"s1/create/c/4"});
    CHECK(inst.status == saga_status::compensating);
    e = on_reply(def, inst, ok("s1/create/c/4"), 5010);
    CHECK(inst.status == saga_status::compensated);
    CHECK(resume_saga(def, inst, 6000).ignored);
  }
}

TEST_CASE("an aborted saga is compensated, and a stuck one aborted ends "
          "failed",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  start_saga(def, inst, 0);
  on_reply(def, inst, ok("s1/create/a/1"), 1);
  auto e = abort_saga(def, inst, "the customer cancelled", 2);
  CHECK(events_of(e) == names{"compensating"});
  // reserve's action is out: it may be applied, so it is undone too.
  CHECK(ids_of(e) == names{"s1/reserve/c/1"});
  CHECK_THAT(inst.error, Catch::Contains("the customer cancelled"));

  auto stuck = fresh("s3");
  start_saga(def, stuck, 0);
  on_reply(def, stuck, ok("s3/create/a/1"), 1);
  on_reply(def, stuck, failure("s3/reserve/a/1", "refused"), 2);
  for (int i = 0; i < 3; ++i) {
    on_reply(def, stuck,
             failure("s3/create/c/" +
                     std::to_string(stuck.steps[0].compensation_sends)),
             3);
    if (next_timer(stuck))
      on_timer(def, stuck, next_timer(stuck)->id, 10000);
  }
  REQUIRE(stuck.status == saga_status::stuck);
  e = abort_saga(def, stuck, "accepted by hand", 20000);
  CHECK(events_of(e) == names{"failed"});
  CHECK(stuck.status == saga_status::failed);
  CHECK(finished(stuck));
  CHECK(abort_saga(def, stuck, "again", 20001).ignored);
}

TEST_CASE("a saga without steps completes at once, and one starts once",
          "[saga]") {
  saga_definition empty;
  auto inst = fresh();
  auto e = start_saga(empty, inst, 0);
  CHECK(events_of(e) == names{"started", "completed"});
  CHECK(inst.status == saga_status::completed);
  CHECK(start_saga(empty, inst, 1).ignored);
}

TEST_CASE("a saga instance survives its JSON row at every step, and a row "
          "it cannot read is an error, never a default",
          "[saga]") {
  auto def = order_saga();
  auto inst = fresh();
  auto round_trip = [](const saga_instance& i) {
    std::string why;
    auto back = decode_instance(encode_instance(i), why);
    INFO(why);
    REQUIRE(back);
    CHECK(encode_instance(*back) == encode_instance(i));
    return *back;
  };
  start_saga(def, inst, 0);
  inst = round_trip(inst);
  on_reply(def, inst, ok("s1/create/a/1"), 1);
  inst = round_trip(inst);
  on_reply(def, inst, failure("s1/reserve/a/1"), 2);
  inst = round_trip(inst);
  // The restored instance goes on as the original would: its backoff timer
  // fires, the action goes again.
  REQUIRE(next_timer(inst));
  auto e = on_timer(def, inst, next_timer(inst)->id, 200);
  CHECK(ids_of(e) == names{"s1/reserve/a/2"});
  inst = round_trip(inst);
  CHECK(inst.steps[0].result == boost::json::value{true});

  std::string why;
  CHECK_FALSE(decode_instance(boost::json::parse(R"({"v": 3})"), why));
  CHECK_THAT(why, Catch::Contains("version 3"));
  auto damaged = encode_instance(inst);
  damaged.as_object()["status"] = "sleeping";
  CHECK_FALSE(decode_instance(damaged, why));
  CHECK_THAT(why, Catch::Contains("unknown status"));
}

namespace {

// create -> {reserve, fraud} in parallel -> charge.
saga_definition parallel_saga() {
  auto def = order_saga();
  def.steps.pop_back(); // notify
  saga_step_definition fraud = def.steps[1];
  fraud.id = "fraud";
  fraud.action = {"fraud-svc", "fraud", nullptr};
  fraud.compensation = saga_call{"fraud-svc", "undo-fraud", nullptr};
  def.steps.insert(def.steps.begin() + 2, fraud);
  def.steps[0].group = 0;
  def.steps[1].group = 1;
  def.steps[2].group = 1;
  def.steps[3].group = 2;
  REQUIRE(check_groups(def).empty());
  return def;
}

} // namespace

TEST_CASE("a parallel group sends its steps together and goes on when all "
          "of them completed",
          "[saga]") {
  auto def = parallel_saga();
  CHECK(group_count(def) == 3);
  auto inst = fresh();
  start_saga(def, inst, 0);
  auto e = on_reply(def, inst, ok("s1/create/a/1"), 10);
  CHECK(ids_of(e) == names{"s1/reserve/a/1", "s1/fraud/a/1"});
  CHECK(e.set.size() == 2);
  e = on_reply(def, inst, ok("s1/fraud/a/1"), 20);
  CHECK(events_of(e) == names{"step_completed"});
  CHECK(e.commands.empty());
  // Each step has its own timer: reserve's is still set.
  REQUIRE(next_timer(inst));
  CHECK(next_timer(inst)->due_ms == 1010);
  // A retried sibling does not hold the other back.
  e = on_reply(def, inst, failure("s1/reserve/a/1"), 30);
  CHECK(e.events[0].retrying);
  e = on_timer(def, inst, next_timer(inst)->id, 130);
  CHECK(ids_of(e) == names{"s1/reserve/a/2"});
  e = on_reply(def, inst, ok("s1/reserve/a/2"), 140);
  CHECK(ids_of(e) == names{"s1/charge/a/1"});
  CHECK(inst.current == 2);
  e = on_reply(def, inst, ok("s1/charge/a/1"), 150);
  CHECK(inst.status == saga_status::completed);
  CHECK_FALSE(next_timer(inst));
}

TEST_CASE("a parallel group waits for its siblings before compensating, "
          "then undoes what they did in reverse step order",
          "[saga]") {
  auto def = parallel_saga();
  auto inst = fresh();
  start_saga(def, inst, 0);
  on_reply(def, inst, ok("s1/create/a/1"), 10);

  SECTION("a sibling out is waited for, and undone if it completed") {
    auto e = on_reply(def, inst, failure("s1/reserve/a/1", "refused"), 20);
    CHECK(events_of(e) == names{"step_failed", "compensating"});
    // fraud's action is out: nothing is undone before its outcome.
    CHECK(e.commands.empty());
    CHECK(inst.status == saga_status::compensating);
    e = on_reply(def, inst, ok("s1/fraud/a/1"), 30);
    CHECK(events_of(e) == names{"step_completed"});
    CHECK(ids_of(e) == names{"s1/fraud/c/1"});
    e = on_reply(def, inst, ok("s1/fraud/c/1"), 40);
    // reserve was refused (not applied): create is next.
    CHECK(ids_of(e) == names{"s1/create/c/1"});
    on_reply(def, inst, ok("s1/create/c/1"), 50);
    CHECK(inst.status == saga_status::compensated);
  }

  SECTION("a sibling that times out while waited for may be applied") {
    on_reply(def, inst, failure("s1/reserve/a/1", "refused"), 20);
    auto e = on_timer(def, inst, next_timer(inst)->id, 1010);
    CHECK(events_of(e) == names{"step_failed"});
    CHECK_FALSE(e.events[0].retrying); // no retry once compensating
    CHECK(ids_of(e) == names{"s1/fraud/c/1"});
    CHECK(inst.steps[2].maybe_applied);
  }

  SECTION("a sibling backing off is sent nothing more") {
    on_reply(def, inst, failure("s1/fraud/a/1"), 20); // retryable: backoff
    auto e = on_reply(def, inst, failure("s1/reserve/a/1", "refused"), 30);
    CHECK(events_of(e) == names{"step_failed", "compensating"});
    // Nothing out: undoing starts at once, with create.
    CHECK(ids_of(e) == names{"s1/create/c/1"});
    CHECK(e.cancelled.size() == 2); // reserve's timeout, fraud's backoff
    CHECK(inst.steps[2].status == step_status::failed);
  }
}

TEST_CASE("a branch chooses what runs after a group: a later step, the end, "
          "or a failure",
          "[saga]") {
  auto def = order_saga();
  std::string choice;
  def.branches[0] = [&](const saga_instance& inst,
                        const boost::json::value& data) {
    // The create step's result, and the saga's data, decide.
    CHECK(inst.steps[0].result == boost::json::value{true});
    CHECK(data.at("tier") == "gold");
    if (choice == "charge")
      return saga_next{saga_next::kind::step, "charge", {}};
    if (choice == "finish")
      return saga_next{saga_next::kind::finish, {}, {}};
    if (choice == "fail")
      return saga_next{saga_next::kind::fail, {}, "out of stock"};
    return saga_next{saga_next::kind::step, "create", {}};
  };
  boost::json::value data = boost::json::parse(R"({"tier": "gold"})");
  auto inst = fresh();
  start_saga(def, inst, 0);

  SECTION("a later step: the ones between never run, nor are undone") {
    choice = "charge";
    auto e = on_reply(def, inst, ok("s1/create/a/1"), 10, &data);
    CHECK(ids_of(e) == names{"s1/charge/a/1"});
    e = on_reply(def, inst, failure("s1/charge/a/1", "refused"), 20);
    CHECK(ids_of(e) == names{"s1/create/c/1"});
    CHECK(inst.steps[1].status == step_status::waiting);
  }
  SECTION("the end") {
    choice = "finish";
    auto e = on_reply(def, inst, ok("s1/create/a/1"), 10, &data);
    CHECK(events_of(e) == names{"step_completed", "completed"});
  }
  SECTION("a failure compensates") {
    choice = "fail";
    auto e = on_reply(def, inst, ok("s1/create/a/1"), 10, &data);
    CHECK(events_of(e) == names{"step_completed", "compensating"});
    CHECK(ids_of(e) == names{"s1/create/c/1"});
    CHECK_THAT(inst.error, Catch::Contains("out of stock"));
  }
  SECTION("a step that is not later fails the saga, saying why") {
    choice = "back";
    on_reply(def, inst, ok("s1/create/a/1"), 10, &data);
    CHECK(inst.status == saga_status::compensating);
    CHECK_THAT(inst.error,
               Catch::Contains("not the first step of a later group"));
  }
}

TEST_CASE("groups must be numbered in step order", "[saga]") {
  auto def = parallel_saga();
  def.steps[3].group = 3;
  CHECK_THAT(check_groups(def), Catch::Contains("step charge is in group 3"));
  def.steps[3].group = 2;
  def.steps[0].group = 1;
  CHECK_FALSE(check_groups(def).empty());
}

TEST_CASE("an instance row of the first format (one timer per saga) is "
          "read into the step it belongs to",
          "[saga]") {
  auto v1 = boost::json::parse(R"({"v": 1, "saga_id": "s1",
    "status": "compensating", "current": 1, "events": 4, "timers": 3,
    "error": "step reserve failed",
    "steps": [{"status": "completed", "sends": 1, "compensation_sends": 0,
               "budget_from": 0},
              {"status": "compensating", "sends": 1, "compensation_sends": 1,
               "budget_from": 0}],
    "timer": {"id": "s1/t/3", "due_ms": 5000, "kind": "timeout"}})");
  std::string why;
  auto inst = decode_instance(v1, why);
  INFO(why);
  REQUIRE(inst);
  CHECK(inst->undo == 1);
  REQUIRE(inst->steps[1].timer);
  CHECK(inst->steps[1].timer->id == "s1/t/3");
  CHECK_FALSE(inst->steps[0].timer);
  CHECK(next_timer(*inst)->due_ms == 5000);
}
