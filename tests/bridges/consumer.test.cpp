// The consumer bridge against the real test broker: how it lets go of its
// deliveries when it ends.

#include "warren/bridges/consumer.hpp"

#include "broker_env.hpp"
#include "warren/bridges/client.hpp"
#include "warren/core/errc.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;

namespace {

// Takes every delivery and never settles one: they stay unacked for as long
// as the consumer's connection is open.
struct holding_handler : bridges::delivery_handler {
  std::atomic<int> received{0};
  std::vector<std::function<void(bridges::settlement)>> held;
  void handle(bridges::consumer_host&, bridges::delivery,
              std::function<void(bridges::settlement)> done) override {
    held.push_back(std::move(done));
    ++received;
  }
};

// Holds its deliveries like holding_handler and, told that the connection
// is lost, ends the consumer (as a shard owner gives its shard up).
struct quitting_handler : holding_handler {
  std::atomic<int> lost{0};
  void connection_lost(bridges::consumer_host& host) override {
    ++lost;
    host.fail("its connection was lost");
  }
};

// Acks every delivery at once and notes its message id, in order.
struct noting_handler : bridges::delivery_handler {
  std::mutex mtx;
  std::vector<std::string> ids;
  void handle(bridges::consumer_host&, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ids.push_back(msg->properties.message_id);
    }
    done(bridges::settlement::ack());
  }
  std::vector<std::string> noted() {
    std::lock_guard<std::mutex> guard{mtx};
    return ids;
  }
};

// Two scheduler threads, no CAF log on the console.
struct quiet_config : caf::actor_system_config {
  quiet_config() {
    set("scheduler.max-threads", size_t{2});
    set("logger.console", caf::atom("none"));
  }
};

// A consumer of the queue `topo` declares, run by `handler`.
bridges::consumer_config
consumer_of(const bridges::topology& topo,
            std::shared_ptr<bridges::delivery_handler> handler,
            bridges::broker_settings broker, std::string actor_name) {
  bridges::consumer_config cc;
  cc.broker = std::move(broker);
  cc.topo = topo;
  cc.queue = topo.queues[0].name;
  cc.handler = std::move(handler);
  cc.actor_name = std::move(actor_name);
  return cc;
}

// A non-durable queue of the test's own holding 5 messages (`m-0`..`m-4`),
// a client to look at it, and an actor system for a consumer of it.
// Deletes the queue.
struct queue_fixture {
  explicit queue_fixture(const std::string& prefix,
                         bool single_active_consumer = false) {
    auto connected = bridges::blocking_client::connect(test::broker_settings());
    REQUIRE(connected);
    client = std::move(*connected);
    bridges::queue_spec q;
    q.name = queue = test::unique(prefix);
    q.durable = false;
    q.dead_letter_queue = false;
    q.single_active_consumer = single_active_consumer;
    topo.queues.push_back(q);
    REQUIRE_FALSE(client->declare(topo));
    publish(0, 5);
  }

  // Publishes `m-<from>`..`m-<to - 1>` to the queue.
  void publish(int from, int to) {
    for (int i = from; i < to; ++i) {
      outgoing_message msg;
      msg.routing_key = queue;
      msg.properties.message_id = "m-" + std::to_string(i);
      msg.body = "{}";
      REQUIRE_FALSE(client->publish(msg, 10s));
    }
  }

  ~queue_fixture() { client->delete_queue(queue); }

  // Its ready messages.
  uint32_t ready() { return *client->message_count(queue); }

  std::unique_ptr<bridges::blocking_client> client;
  std::string queue;
  bridges::topology topo;
  quiet_config cfg;
  caf::actor_system sys{cfg};
};

} // namespace

TEST_CASE("a consumer that is killed closes its connection at once: its "
          "unacked deliveries are ready in the queue again while its handle "
          "is still held",
          "[broker][consumer]") {
  queue_fixture f{"bt-killed"};
  auto handler = std::make_shared<holding_handler>();
  auto consumer = bridges::spawn_consumer(
    f.sys, consumer_of(f.topo, handler, test::broker_settings(), "killed"));
  REQUIRE(test::wait_until([&] { return handler->received == 5; }, 10s));
  CHECK(f.ready() == 0);
  // `consumer` keeps a handle: only the kill can release the deliveries.
  caf::anon_send_exit(consumer, caf::exit_reason::kill);
  CHECK(test::wait_until([&] { return f.ready() == 5; }, 5s));
}

TEST_CASE(
  "a consumer whose connection the broker closes: it tells its handler, which "
  "may end it there, and then exits with the handler's reason instead of "
  "connecting again, and its deliveries are back in the queue",
  "[broker][consumer]") {
  auto user = test::unique("bt-user");
  auto password = test::unique("pw");
  REQUIRE(test::broker_script("add-user", user + " " + password) == 0);
  queue_fixture f{"bt-lost"};
  auto handler = std::make_shared<quitting_handler>();
  auto consumer = bridges::spawn_consumer(
    f.sys, consumer_of(f.topo, handler, test::broker_settings(user, password),
                       "lost"));
  REQUIRE(test::wait_until([&] { return handler->received == 5; }, 10s));
  caf::scoped_actor self{f.sys};
  self->monitor(consumer);
  REQUIRE(test::broker_script("close-connections", user) == 0);
  caf::error reason;
  bool down = false;
  self->receive(
    [&](caf::down_msg& msg) {
      down = true;
      reason = msg.reason;
    },
    caf::after(10s) >> [] {});
  REQUIRE(down);
  CHECK(handler->lost == 1);
  CHECK(code_of(reason) == errc::actor_failed);
  CHECK_THAT(describe(reason), Catch::Contains("its connection was lost"));
  CHECK(test::wait_until([&] { return f.ready() == 5; }, 5s));
}

TEST_CASE("a paused consumer of a single-active-consumer queue sends no "
          "cancel: the next consumer stays inactive while it lives, what "
          "still comes is held unread, and its close hands that to the next "
          "consumer first, in order",
          "[broker][consumer]") {
  queue_fixture f{"bt-sac", true};
  auto first = std::make_shared<noting_handler>();
  auto second = std::make_shared<noting_handler>();
  auto active = bridges::spawn_consumer(
    f.sys, consumer_of(f.topo, first, test::broker_settings(), "first"));
  REQUIRE(test::wait_until([&] { return first->noted().size() == 5; }, 10s));
  auto standby = bridges::spawn_consumer(
    f.sys, consumer_of(f.topo, second, test::broker_settings(), "second"));
  caf::scoped_actor self{f.sys};
  self->request(active, 10s, bridges::pause_atom::value)
    .receive([](caf::ok_atom) {},
             [](const caf::error& err) { FAIL(describe(err)); });
  f.publish(5, 10);
  // A cancel would have activated the standby: it would take these now.
  CHECK_FALSE(
    test::wait_until([&] { return !second->noted().empty(); }, 1500ms));
  CHECK(first->noted().size() == 5);
  // Delivered to the paused consumer, unacked, not handed to its handler.
  CHECK(f.ready() == 0);
  self->monitor(active);
  caf::anon_send_exit(active, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(10s) >>
                  [] { FAIL("the paused consumer did not stop"); });
  REQUIRE(test::wait_until([&] { return second->noted().size() == 5; }, 10s));
  CHECK(second->noted() ==
        std::vector<std::string>{"m-5", "m-6", "m-7", "m-8", "m-9"});
  CHECK(first->noted() ==
        std::vector<std::string>{"m-0", "m-1", "m-2", "m-3", "m-4"});
  caf::anon_send_exit(standby, caf::exit_reason::user_shutdown);
}
