// The consumer bridge against the real test broker: how it lets go of its
// deliveries when it ends.

#include "warren/bridges/consumer.hpp"

#include "broker_env.hpp"
#include "warren/bridges/client.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <thread>

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

} // namespace

TEST_CASE("a consumer that is killed closes its connection at once: its "
          "unacked deliveries are ready in the queue again while its handle "
          "is still held",
          "[broker][consumer]") {
  auto client = bridges::blocking_client::connect(test::broker_settings());
  REQUIRE(client);
  auto queue = test::unique("bt-killed");
  bridges::topology topo;
  bridges::queue_spec q;
  q.name = queue;
  q.durable = false;
  q.dead_letter_queue = false;
  topo.queues.push_back(q);
  REQUIRE_FALSE((*client)->declare(topo));
  for (int i = 0; i < 5; ++i) {
    outgoing_message msg;
    msg.routing_key = queue;
    msg.properties.message_id = "m-" + std::to_string(i);
    msg.body = "{}";
    REQUIRE_FALSE((*client)->publish(msg, 10s));
  }
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto handler = std::make_shared<holding_handler>();
  bridges::consumer_config cc;
  cc.broker = test::broker_settings();
  cc.topo = topo;
  cc.queue = queue;
  cc.handler = handler;
  cc.actor_name = "killed";
  auto consumer = bridges::spawn_consumer(sys, cc);
  REQUIRE(test::wait_until([&] { return handler->received == 5; }, 10s));
  CHECK(*(*client)->message_count(queue) == 0);
  // `consumer` keeps a handle: only the kill can release the deliveries.
  caf::anon_send_exit(consumer, caf::exit_reason::kill);
  CHECK(test::wait_until([&] { return *(*client)->message_count(queue) == 5; },
                         5s));
  (*client)->delete_queue(queue);
}
