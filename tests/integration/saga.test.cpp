// The saga kind end to end (actors/src/saga/saga_actor.hpp): an order saga
// of three steps whose participants are `test.step` actors (each applies a
// saga key at most once and counts what it took), against the private
// broker and a real SQLite file: success, a refusal and a timeout
// compensated in reverse order, a late reply ignored, a compensation that
// fails and is retried, a stuck saga resumed and aborted by hand, timers
// that fire after a restart, a start repeated, the seed's execute_saga sent
// by pika, and kill -9 at every commit point.

#include "support.hpp"
#include "warren/core/shard.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using reply = test::call_reply;

reply call(const std::string& actor, const std::string& type,
           const json::value& body) {
  return test::call_actor(actor, type, body);
}

// An order saga: create_order (orders) -> reserve_inventory (inventory) ->
// charge_payment (payment), each undone by its compensation.
struct order_system {
  test::temp_dir dir;
  test::broker_scratch broker;
  std::string sagas = broker.queue("sagas");
  std::string orders = broker.queue("orders");
  std::string inventory = broker.queue("inventory");
  std::string payment = broker.queue("payment");
  std::string events = broker.exchange("saga-events");
  std::string feed = broker.queue("saga-feed");
  std::string records = dir.file("applied.jsonl");
  // Per participant: its test.step options besides the record path.
  std::map<std::string, json::object> behaviour;
  int64_t timeout_ms = 5000;
  // Reserve and charge in parallel, after create.
  bool parallel = false;
  json::object step_retry{{"max", 2}, {"backoff_ms", 100}};
  json::object compensation_retry{{"max", 5}, {"backoff_ms", 100}};
  // The lifecycle events to publish (empty: every one).
  json::array lifecycle_events;

  json::object step(const char* id, const std::string& actor,
                    const char* action, const char* undo) const {
    return {{"id", id},
            {"action", {{"actor", actor}, {"type", action}}},
            {"compensation", {{"actor", actor}, {"type", undo}}},
            {"timeout_ms", timeout_ms},
            {"retry", step_retry}};
  }

  json::object config() const {
    auto cfg = test::node_config(dir);
    cfg["topology"] = json::object{
      {"exchanges", json::array{{{"name", events}, {"type", "topic"}}}},
      {"queues", json::array{{{"name", feed}}}},
      {"bindings",
       json::array{
         {{"exchange", events}, {"queue", feed}, {"routing_key", "#"}}}}};
    json::array actors;
    auto reserve =
      step("reserve", inventory, "reserve_inventory", "release_inventory");
    auto charge = step("charge", payment, "charge_payment", "refund_payment");
    json::array steps{step("create", orders, "create_order", "cancel_order")};
    if (parallel) {
      steps.push_back(json::object{{"parallel", json::array{reserve, charge}}});
    } else {
      steps.push_back(reserve);
      steps.push_back(charge);
    }
    json::object definition{{"steps", steps},
                            {"compensation_retry", compensation_retry},
                            {"compensation_timeout_ms", 5000}};
    json::object routes{
      {"create_order", orders},         {"cancel_order", orders},
      {"reserve_inventory", inventory}, {"release_inventory", inventory},
      {"charge_payment", payment},      {"refund_payment", payment}};
    json::object options;
    options["definitions"] = json::object{{"order", definition}};
    options["execute_saga"] = json::object{{"routes", routes}};
    options["lifecycle"] = json::object{{"exchange", events}};
    if (!lifecycle_events.empty())
      options["lifecycle"].as_object()["events"] = lifecycle_events;
    options["timer_resolution_ms"] = 20;
    actors.push_back(
      json::object{{"name", sagas}, {"kind", "saga"}, {"options", options}});
    for (const auto& name : {orders, inventory, payment}) {
      json::object options{{"path", records}};
      if (auto it = behaviour.find(name); it != behaviour.end())
        for (const auto& [k, v] : it->second)
          options[k] = v;
      actors.push_back(json::object{
        {"name", name}, {"kind", "test.step"}, {"options", options}});
    }
    cfg["actors"] = std::move(actors);
    cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
    return cfg;
  }

  json::object start(const std::string& saga_id, json::object data = {}) {
    auto r = call(sagas, "saga.start",
                  json::object{{"saga", "order"},
                               {"saga_id", saga_id},
                               {"data", std::move(data)}});
    INFO("warren call: " << r.err);
    REQUIRE(r.exit_code == 0);
    return r.body.as_object();
  }

  json::object get(const std::string& saga_id) {
    auto r = call(sagas, "saga.get", json::object{{"saga_id", saga_id}});
    INFO("warren call: " << r.err);
    REQUIRE(r.exit_code == 0);
    return r.body.as_object();
  }

  // Waits until the saga's committed status is `status`; its state.
  json::object wait_for(const std::string& saga_id, const std::string& status,
                        std::chrono::milliseconds timeout = 30s) {
    json::object last;
    bool reached = test::eventually(
      [&] {
        auto r = call(sagas, "saga.get", json::object{{"saga_id", saga_id}});
        if (r.exit_code != 0)
          return false;
        last = r.body.as_object();
        return last.at("status").as_string() == status;
      },
      timeout);
    INFO("saga " << saga_id << ": " << json::serialize(last));
    REQUIRE(reached);
    return last;
  }

  // The applications of every participant, in the order they happened:
  // "<type> <saga key>".
  std::vector<std::string> applied() const {
    std::vector<std::string> out;
    for (const auto& line : test::read_records(records))
      out.push_back(std::string{line.body.at("type").as_string()} + " " +
                    std::string{line.body.at("key").as_string()});
    return out;
  }

  // What each participant's state says per saga key (read from the file).
  std::map<std::string, json::object> states(const std::string& actor) const {
    auto r = test::warren(
      {"state", "show", "--db", dir.file("state") + "/warren.db", actor});
    INFO("warren state show: " << r.err);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, json::object> out;
    std::istringstream lines{r.out};
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) {
        auto o = json::parse(line).as_object();
        out[std::string{o.at("key").as_string()}] = o.at("state").as_object();
      }
    return out;
  }

  // The lifecycle events published so far: "<event> <step>".
  std::vector<std::string> lifecycle(std::size_t n) {
    std::vector<std::string> out;
    for (const auto& msg : broker.wait_and_receive(feed, n)) {
      const auto& body = msg.body.as_object();
      auto line = std::string{body.at("event").as_string()};
      if (const auto* step = body.if_contains("step"))
        line += " " + std::string{step->as_string()};
      out.push_back(line);
    }
    return out;
  }
};

std::string key(const std::string& saga, const char* step, const char* phase) {
  return saga + "/" + step + "/" + phase;
}

} // namespace

TEST_CASE("a saga whose steps all succeed runs them in order, each once, "
          "and publishes its lifecycle",
          "[broker][saga]") {
  order_system sys;
  test::node_process node{sys.dir, sys.config()};
  auto accepted = sys.start("o-1", {{"order_id", "o-1"}, {"amount", 120}});
  CHECK(accepted.at("saga_id") == "o-1");
  CHECK(accepted.at("existing") == false);
  auto done = sys.wait_for("o-1", "completed");
  CHECK(done.at("definition") == "order");
  CHECK(done.at("data").at("amount") == 120);
  const auto& steps = done.at("steps").as_array();
  REQUIRE(steps.size() == 3);
  for (const auto& s : steps) {
    CHECK(s.at("status") == "completed");
    CHECK(s.at("sends") == 1);
    // The participant's reply is the step's result.
    CHECK(s.at("result").at("ok") == true);
  }
  CHECK(sys.applied() ==
        std::vector<std::string>{"create_order o-1/create/a",
                                 "reserve_inventory o-1/reserve/a",
                                 "charge_payment o-1/charge/a"});
  // The commands carry the saga's data when the step names no body.
  auto lines = test::read_records(sys.records);
  CHECK(lines.at(0).body.at("body").at("order_id") == "o-1");
  CHECK(lines.at(0).message_id == "o-1/create/a/1");
  CHECK(sys.lifecycle(5) ==
        std::vector<std::string>{"started", "step_completed create",
                                 "step_completed reserve",
                                 "step_completed charge", "completed"});
  auto port = node.metrics_port();
  CHECK(test::metric_sample(port, "warren_saga_completed_total",
                            {"saga=\"order\""}) == 1);
  CHECK(test::metric_sample(port, "warren_saga_active",
                            {"status=\"running\""}) == 0);
}

TEST_CASE("a step that is refused compensates the completed steps in "
          "reverse order",
          "[broker][saga]") {
  order_system sys;
  // The seed's payment service: refused above 10,000.
  sys.behaviour[sys.payment] = {
    {"refuse_above", {{"field", "amount"}, {"limit", 10000}}}};
  sys.lifecycle_events = {"step_failed", "compensated"};
  test::node_process node{sys.dir, sys.config()};
  sys.start("o-2", {{"order_id", "o-2"}, {"amount", 20000}});
  auto done = sys.wait_for("o-2", "compensated");
  CHECK_THAT(std::string{done.at("error").as_string()},
             Catch::Contains("step charge failed"));
  const auto& steps = done.at("steps").as_array();
  CHECK(steps[0].at("status") == "compensated");
  CHECK(steps[1].at("status") == "compensated");
  CHECK(steps[2].at("status") == "failed");
  // A refusal is final: not sent again.
  CHECK(steps[2].at("sends") == 1);
  CHECK(sys.applied() ==
        std::vector<std::string>{
          "create_order o-2/create/a", "reserve_inventory o-2/reserve/a",
          "release_inventory o-2/reserve/c", "cancel_order o-2/create/c"});
  CHECK(test::metric_sample(node.metrics_port(),
                            "warren_saga_compensated_total",
                            {"saga=\"order\""}) == 1);
  // Only the events asked for.
  CHECK(sys.lifecycle(2) ==
        std::vector<std::string>{"step_failed charge", "compensated"});
  CHECK(sys.broker.count(sys.feed) == 0);
}

TEST_CASE("a parallel group sends its steps together, when one is refused "
          "the other is waited for and undone before the steps before it",
          "[broker][saga]") {
  order_system sys;
  sys.parallel = true;
  sys.behaviour[sys.payment] = {{"refuse", json::array{"charge_payment"}}};
  // Reserve answers 800 ms after the refusal of the charge sent with it.
  sys.behaviour[sys.inventory] = {{"delay_ms", {{"reserve_inventory", 800}}}};
  test::node_process node{sys.dir, sys.config()};
  sys.start("o-p1");
  auto done = sys.wait_for("o-p1", "compensated");
  CHECK(done.at("steps").at(1).at("status") == "compensated");
  CHECK(done.at("steps").at(2).at("status") == "failed");
  // Released after it was reserved, and before the order is cancelled.
  CHECK(sys.applied() ==
        std::vector<std::string>{
          "create_order o-p1/create/a", "reserve_inventory o-p1/reserve/a",
          "release_inventory o-p1/reserve/c", "cancel_order o-p1/create/c"});
}

TEST_CASE("a step that times out is compensated too (it may have been "
          "applied), and its reply arriving after the timeout is ignored",
          "[broker][saga]") {
  order_system sys;
  sys.timeout_ms = 400;
  sys.step_retry = {{"max", 0}};
  // Payment answers after 1.5 s: too late.
  sys.behaviour[sys.payment] = {{"delay_ms", {{"charge_payment", 1500}}}};
  test::node_process node{sys.dir, sys.config()};
  sys.start("o-3", {{"amount", 10}});
  auto done = sys.wait_for("o-3", "compensated");
  CHECK_THAT(std::string{done.at("steps").at(2).at("error").as_string()},
             Catch::Contains("no reply within 400 ms"));
  // The charge was applied after all: its refund comes first.
  CHECK(sys.applied() ==
        std::vector<std::string>{
          "create_order o-3/create/a", "reserve_inventory o-3/reserve/a",
          "charge_payment o-3/charge/a", "refund_payment o-3/charge/c",
          "release_inventory o-3/reserve/c", "cancel_order o-3/create/c"});
  // The late success changed nothing.
  CHECK(test::eventually(
    [&] {
      return test::metric_sample(node.metrics_port(),
                                 "warren_saga_late_replies_total") >= 1;
    },
    10s));
  CHECK(sys.get("o-3").at("status") == "compensated");
}

TEST_CASE("a compensation that fails twice is retried and then succeeds",
          "[broker][saga]") {
  order_system sys;
  sys.step_retry = {{"max", 0}};
  sys.behaviour[sys.payment] = {{"refuse", json::array{"charge_payment"}}};
  sys.behaviour[sys.inventory] = {{"fail_times", {{"release_inventory", 2}}}};
  test::node_process node{sys.dir, sys.config()};
  sys.start("o-4");
  auto done = sys.wait_for("o-4", "compensated");
  CHECK(done.at("steps").at(1).at("compensation_sends") == 3);
  auto inventory = sys.states(sys.inventory);
  CHECK(inventory.at(key("o-4", "reserve", "c")).at("failures") == 2);
  CHECK(inventory.at(key("o-4", "reserve", "c")).at("applied") == 1);
  CHECK(inventory.at(key("o-4", "reserve", "c")).at("sends") == 3);
  CHECK(sys.applied() ==
        std::vector<std::string>{
          "create_order o-4/create/a", "reserve_inventory o-4/reserve/a",
          "release_inventory o-4/reserve/c", "cancel_order o-4/create/c"});
}

TEST_CASE("a compensation out of its budget leaves the saga stuck, visible "
          "and counted, resumed by hand it compensates, aborted it fails",
          "[broker][saga]") {
  order_system sys;
  sys.step_retry = {{"max", 0}};
  sys.compensation_retry = {{"max", 1}, {"backoff_ms", 50}};
  auto broken = sys.dir.file("inventory-broken");
  test::write_file(broken, "");
  sys.behaviour[sys.payment] = {{"refuse", json::array{"charge_payment"}}};
  sys.behaviour[sys.inventory] = {
    {"fail_while_file", {{"release_inventory", broken}}}};
  test::node_process node{sys.dir, sys.config()};
  sys.start("o-5");
  sys.start("o-6");
  auto stuck = sys.wait_for("o-5", "stuck");
  CHECK_THAT(std::string{stuck.at("error").as_string()},
             Catch::Contains("compensation of step reserve"));
  sys.wait_for("o-6", "stuck");
  CHECK(test::eventually(
    [&] {
      return test::metric_sample(node.metrics_port(), "warren_saga_stuck") == 2;
    },
    10s));
  auto listed = call(sys.sagas, "saga.list", json::object{{"status", "stuck"}});
  REQUIRE(listed.exit_code == 0);
  CHECK(listed.body.at("sagas").as_array().size() == 2);
  // Only a stuck saga is resumed.
  auto refused = call(sys.sagas, "saga.resume", json::object{{"saga_id", "x"}});
  CHECK(refused.exit_code == 6);
  CHECK(refused.body.at("error").at("code") == "not_found");

  // The operator's view: the file, read beside the running node.
  auto db = sys.dir.file("state") + "/warren.db";
  auto listing =
    test::warren({"saga", "list", "--db", db, sys.sagas, "--status", "stuck"});
  INFO(listing.err);
  REQUIRE(listing.exit_code == 0);
  CHECK_THAT(listing.out, Catch::Contains("o-5 status=stuck definition=order"));
  CHECK_THAT(listing.out, Catch::Contains("o-6 status=stuck"));
  auto shown = test::warren({"saga", "show", "--db", db, sys.sagas, "o-5"});
  REQUIRE(shown.exit_code == 0);
  auto view = json::parse(shown.out);
  CHECK(view.at("steps").at(1).at("id") == "reserve");
  CHECK(view.at("steps").at(1).at("status") == "compensating");
  CHECK(view.at("steps").at(1).at("compensation_sends") == 2);
  CHECK(
    test::warren({"saga", "show", "--db", db, sys.sagas, "nope"}).exit_code ==
    1);

  std::remove(broken.c_str()); // the inventory service is fixed
  auto resumed = test::warren(
    {"saga", "resume", "-u", test::broker_uri(), sys.sagas, "o-5"});
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(json::parse(resumed.out).at("status") == "compensating");
  sys.wait_for("o-5", "compensated");
  // The other is given up: it ends failed, its compensations not run.
  auto aborted = test::warren({"saga", "abort", "-u", test::broker_uri(),
                               sys.sagas, "o-6", "--reason", "accepted"});
  REQUIRE(aborted.exit_code == 0);
  CHECK(json::parse(aborted.out).at("status") == "failed");
  auto failed = sys.get("o-6");
  CHECK(failed.at("status") == "failed");
  CHECK_THAT(std::string{failed.at("error").as_string()},
             Catch::Contains("accepted"));
  auto orders = sys.states(sys.orders);
  CHECK(orders.at(key("o-5", "create", "c")).at("applied") == 1);
  CHECK(orders.count(key("o-6", "create", "c")) == 0);
  CHECK(test::metric_sample(node.metrics_port(), "warren_saga_stuck") == 0);
  auto again = test::warren(
    {"saga", "resume", "-u", test::broker_uri(), sys.sagas, "o-5"});
  CHECK(again.exit_code == 6);
  CHECK(json::parse(again.out).at("error").at("code") == "not_stuck");
}

TEST_CASE("a saga's timers survive a restart and fire after it",
          "[broker][saga]") {
  order_system sys;
  sys.timeout_ms = 1500;
  sys.step_retry = {{"max", 0}};
  sys.behaviour[sys.payment] = {{"silent", json::array{"charge_payment"}}};
  auto cfg = sys.config();
  {
    test::node_process node{sys.dir, cfg};
    sys.start("o-7");
    CHECK(test::eventually(
      [&] {
        auto a = sys.applied();
        return a.size() == 3;
      },
      20s));
    node.force_stop();
  }
  // The timeout is due while no node runs.
  std::this_thread::sleep_for(1600ms);
  test::node_process node{sys.dir, cfg};
  auto done = sys.wait_for("o-7", "compensated");
  CHECK_THAT(std::string{done.at("steps").at(2).at("error").as_string()},
             Catch::Contains("no reply within 1500 ms"));
}

TEST_CASE("a sharded saga actor on two nodes: its owner killed with kill -9 "
          "while sagas wait on a step's timeout, the other node takes the "
          "shards over, their timers fire there and every saga is "
          "compensated, no command applied twice",
          "[broker][saga][shards]") {
  order_system sys;
  sys.timeout_ms = 1500;
  sys.step_retry = {{"max", 0}};
  sys.behaviour[sys.payment] = {{"silent", json::array{"charge_payment"}}};
  const uint32_t shards = 3;
  for (uint32_t i = 0; i < shards; ++i)
    sys.broker.track_queue(shard_name(sys.sagas, i));
  sys.broker.track_queue(sys.sagas + ".log");
  auto full = sys.config();
  // The participants on a node of their own; the sagas on two others.
  auto participants = full;
  json::array steps;
  json::object saga_actor;
  for (const auto& a : full.at("actors").as_array())
    if (a.at("name").as_string() == sys.sagas)
      saga_actor = a.as_object();
    else
      steps.push_back(a);
  participants["actors"] = std::move(steps);
  saga_actor["shards"] = shards;
  auto sagas_in = [&](const test::temp_dir& dir) {
    auto cfg = test::node_config(dir);
    cfg["topology"] = full.at("topology");
    cfg["actors"] = json::array{saga_actor};
    return cfg;
  };
  auto taken = [](const std::string& log) {
    return test::occurrences(log, "taken over in epoch");
  };
  test::node_process steps_node{sys.dir, participants};
  test::temp_dir first_dir;
  test::temp_dir second_dir;
  auto first =
    std::make_unique<test::node_process>(first_dir, sagas_in(first_dir));
  CHECK(test::eventually([&] { return taken(first->err()) == shards; }, 20s));
  test::node_process second{second_dir, sagas_in(second_dir)};
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back("sh-" + std::to_string(i));
    sys.start(ids.back());
  }
  // Every charge applied and not answered: each saga waits on its timer.
  INFO("participants: " << steps_node.err());
  INFO("first: " << first->err());
  REQUIRE(test::eventually(
    [&] {
      auto a = sys.applied();
      return std::count_if(a.begin(), a.end(), [](const std::string& line) {
               return line.rfind("charge_payment", 0) == 0;
             }) == 6;
    },
    20s));
  REQUIRE(::kill(first->pid(), SIGKILL) == 0);
  first->stop();
  first.reset();
  for (const auto& id : ids) {
    auto done = sys.wait_for(id, "compensated");
    CHECK_THAT(std::string{done.at("steps").at(2).at("error").as_string()},
               Catch::Contains("no reply within 1500 ms"));
  }
  std::multiset<std::string> applied;
  for (const auto& line : sys.applied())
    applied.insert(line);
  std::multiset<std::string> expected;
  for (const auto& id : ids)
    for (const auto& line : {"create_order " + key(id, "create", "a"),
                             "reserve_inventory " + key(id, "reserve", "a"),
                             "charge_payment " + key(id, "charge", "a"),
                             "refund_payment " + key(id, "charge", "c"),
                             "release_inventory " + key(id, "reserve", "c"),
                             "cancel_order " + key(id, "create", "c")})
      expected.insert(line);
  CHECK(applied == expected);
  INFO(second.err());
  CHECK(taken(second.err()) == shards);
}

TEST_CASE("a start for a saga id that exists starts nothing and answers its "
          "status",
          "[broker][saga]") {
  order_system sys;
  test::node_process node{sys.dir, sys.config()};
  sys.start("o-8");
  sys.wait_for("o-8", "completed");
  auto again = sys.start("o-8");
  CHECK(again.at("existing") == true);
  CHECK(again.at("status") == "completed");
  CHECK(sys.applied().size() == 3);
  auto bad = call(sys.sagas, "saga.start",
                  json::object{{"saga", "nope"}, {"saga_id", "o-9"}});
  CHECK(bad.exit_code == 6);
  CHECK_THAT(json::serialize(bad.body),
             Catch::Contains("no saga definition named 'nope'"));
}

TEST_CASE("the seed's execute_saga message, published by pika without a "
          "message id or type, runs its steps and compensates",
          "[broker][saga]") {
  order_system sys;
  sys.behaviour[sys.payment] = {{"refuse", json::array{"charge_payment"}}};
  auto bus = sys.broker.exchange("saga-bus");
  auto cfg = sys.config();
  auto& topo = cfg["topology"].as_object();
  topo["exchanges"].as_array().push_back(
    json::object{{"name", bus}, {"type", "topic"}});
  topo["bindings"].as_array().push_back(json::object{
    {"exchange", bus}, {"queue", sys.sagas}, {"routing_key", "saga.*"}});
  test::node_process node{sys.dir, cfg};
  // The seed's own message (seed 002, section 5).
  auto message = json::object{
    {"type", "execute_saga"},
    {"saga",
     {{"saga_id", "order_saga_123"},
      {"steps",
       json::array{
         {{"step_id", "create_order"},
          {"action_name", "create_order"},
          {"compensate_name", "cancel_order"},
          {"action_data", {{"order_id", "order_123"}}},
          {"compensate_data", {{"order_id", "order_123"}}}},
         {{"step_id", "reserve_inventory"},
          {"action_name", "reserve_inventory"},
          {"compensate_name", "release_inventory"},
          {"action_data",
           {{"items", json::array{{{"id", "item1"}, {"quantity", 5}}}}}},
          {"compensate_data",
           {{"items", json::array{{{"id", "item1"}, {"quantity", 5}}}}}}},
         {{"step_id", "charge_payment"},
          {"action_name", "charge_payment"},
          {"compensate_name", "refund_payment"},
          {"action_data", {{"amount", 299.99}}},
          {"compensate_data", {{"amount", 299.99}}},
          {"max_retries", 0}}}}}}};
  auto r = test::run_command(
    {"/usr/bin/python3", test::source_file("pika_publish.py"),
     test::broker_uri(), bus, "saga.transactions", json::serialize(message)});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto done = sys.wait_for("order_saga_123", "compensated");
  CHECK(done.at("definition") == "execute_saga");
  CHECK(sys.applied() ==
        std::vector<std::string>{
          "create_order order_saga_123/create_order/a",
          "reserve_inventory order_saga_123/reserve_inventory/a",
          "release_inventory order_saga_123/reserve_inventory/c",
          "cancel_order order_saga_123/create_order/c"});
  // The compensation gets compensate_data.
  auto lines = test::read_records(sys.records);
  CHECK(lines.at(2).body.at("body").at("items").at(0).at("quantity") == 5);
}

namespace {

// One run: a node that kills itself at the `nth` pass of `point` while 12
// sagas run, then a clean node on the same files. Every saga ends, and each
// step's action and compensation was sent once (the same decision after a
// restart sends the same ids, which the participants' inboxes drop) and
// applied at most once. With `timeouts` every charge goes unanswered and
// its timer decides (so kills also fall on timer fires); else every other
// charge is refused. Whether the node was killed.
bool saga_kill_run(const std::string& point, int nth, bool timeouts) {
  order_system sys;
  if (timeouts) {
    sys.behaviour[sys.payment] = {{"silent", json::array{"charge_payment"}}};
    sys.step_retry = {{"max", 0}};
  } else {
    sys.behaviour[sys.payment] = {
      {"refuse_above", {{"field", "amount"}, {"limit", 100}}}};
  }
  sys.timeout_ms = timeouts ? 300 : 5000;
  constexpr int sagas = 12;
  auto cfg = sys.config();
  bool killed = false;
  {
    test::node_process doomed{
      sys.dir, cfg, {"WARREN_KILL_POINT=" + point + ":" + std::to_string(nth)}};
    for (int i = 0; i < sagas; ++i) {
      outgoing_message msg;
      msg.routing_key = sys.sagas;
      msg.properties.type = "saga.start";
      msg.properties.message_id = "start-" + std::to_string(i);
      msg.body = json::serialize(
        json::object{{"saga", "order"},
                     {"saga_id", "k" + std::to_string(i)},
                     {"data", {{"amount", i % 2 == 0 ? 50 : 500}}}});
      sys.broker.publish(msg);
    }
    test::eventually([&] { return !doomed.running(); }, 5s);
    killed = doomed.stop() == -1;
  }
  test::node_process clean{sys.dir, cfg};
  for (int i = 0; i < sagas; ++i)
    sys.wait_for("k" + std::to_string(i),
                 timeouts || i % 2 != 0 ? "compensated" : "completed");
  for (const auto& actor : {sys.orders, sys.inventory, sys.payment})
    for (const auto& [k, state] : sys.states(actor)) {
      INFO(point << ":" << nth << (timeouts ? " timeouts " : " refusals ")
                 << actor << " " << k << ": " << json::serialize(state));
      CHECK(state.at("applied").as_int64() <= 1);
      CHECK(state.at("sends").as_int64() == 1);
    }
  return killed;
}

} // namespace

TEST_CASE("kill -9 at every point of a saga's path (commits, publishes, "
          "acks, timer fires) loses no saga, sends no step twice and applies "
          "none twice",
          "[broker][saga][kill]") {
  // Default: one run per point and flavour; WARREN_TEST_FULL=1: 20.
  const char* full = std::getenv("WARREN_TEST_FULL");
  int runs = full != nullptr && std::string{full} == "1" ? 20 : 1;
  // Roughly how often a run passes each point (every actor of the node
  // counts): the kills are spread over that.
  const std::vector<std::pair<std::string, int>> points = {
    {"after_receive", 120},     {"after_state_write", 120},
    {"after_outbox_write", 60}, {"after_commit", 60},
    {"before_ack", 40},         {"after_ack", 40},
    {"during_publish", 120}};
  for (const auto& [point, reach] : points)
    for (bool timeouts : {false, true}) {
      int killed = 0;
      for (int run = 0; run < runs; ++run) {
        int nth = 2 + (run * 7919) % reach;
        if (saga_kill_run(point, nth, timeouts))
          ++killed;
      }
      INFO("kill point " << point << (timeouts ? " with timeouts" : ""));
      // The kills happened (the run is not a run without failures).
      CHECK(killed >= (runs + 1) / 2);
    }
}

TEST_CASE("a saga defined in C++ by a plugin branches on its data: an "
          "express order skips the reservation, and what ran is undone",
          "[broker][saga]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto sagas = broker.queue("branching");
  auto records = dir.file("applied.jsonl");
  auto cfg = test::node_config(dir);
  json::array actors{json::object{{"name", sagas},
                                  {"kind", "test.branching_saga"},
                                  {"options", {{"timer_resolution_ms", 20}}}}};
  for (const char* name : {"orders", "inventory", "payment"}) {
    auto actor = std::string{"saga-branch."} + name;
    broker.track_queue(actor);
    json::object options{{"path", records}};
    if (std::string{name} == "payment")
      options["refuse_above"] =
        json::object{{"field", "amount"}, {"limit", 100}};
    actors.push_back(json::object{
      {"name", actor}, {"kind", "test.step"}, {"options", options}});
  }
  cfg["actors"] = actors;
  test::node_process node{dir, cfg};
  auto start = [&](const char* id, bool express, int amount) {
    auto r =
      call(sagas, "saga.start",
           json::object{{"saga", "express"},
                        {"saga_id", id},
                        {"data", {{"express", express}, {"amount", amount}}}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  };
  auto status = [&](const char* id) {
    std::string last;
    test::eventually(
      [&] {
        auto r = call(sagas, "saga.get", json::object{{"saga_id", id}});
        last =
          r.exit_code == 0 ? std::string{r.body.at("status").as_string()} : "";
        return last == "completed" || last == "compensated";
      },
      30s);
    return last;
  };
  start("e-1", true, 10);
  CHECK(status("e-1") == "completed");
  start("e-2", false, 10);
  CHECK(status("e-2") == "completed");
  start("e-3", true, 1000); // refused by payment: only create is undone
  CHECK(status("e-3") == "compensated");
  std::vector<std::string> applied;
  for (const auto& line : test::read_records(records))
    applied.push_back(std::string{line.body.at("key").as_string()});
  CHECK(applied == std::vector<std::string>{"e-1/create/a", "e-1/charge/a",
                                            "e-2/create/a", "e-2/reserve/a",
                                            "e-2/charge/a", "e-3/create/a",
                                            "e-3/create/c"});
}
