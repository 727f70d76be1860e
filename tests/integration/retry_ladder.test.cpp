// The retry ladder's queues on a real broker: a message parked on a step
// comes back to its queue when the step's TTL runs out; on a quorum queue
// that is full, it waits on its step until there is room (at-least-once
// dead-lettering), never dropped.

#include "support.hpp"
#include "warren/runtime/dispatch/retry_policy.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;

TEST_CASE("a message parked on a retry ladder step returns to its queue "
          "after the step's delay",
          "[broker][retry]") {
  test::broker_scratch broker;
  auto queue = broker.queue("ladder");
  runtime::retry_policy policy;
  policy.immediate = 0;
  policy.delays = {400ms, 5000ms};
  bridges::topology topo;
  bridges::queue_spec original;
  original.name = queue;
  topo.queues.push_back(original);
  for (auto& step : runtime::retry_ladder(queue, policy)) {
    broker.track_queue(step.name);
    topo.queues.push_back(step);
  }
  REQUIRE_FALSE(broker.client().declare(topo));
  auto parked_at = std::chrono::steady_clock::now();
  broker.publish_to_queue(runtime::retry_queue_name(queue, 1), R"({"n":1})");
  CHECK(broker.count(queue) == 0);
  CHECK(broker.wait_for_count(queue, 1, 10s) == 1);
  auto waited = std::chrono::steady_clock::now() - parked_at;
  CHECK(waited >= 400ms);
  CHECK(broker.count(runtime::retry_queue_name(queue, 1)) == 0);
}

TEST_CASE("a message for a full quorum queue: parked on its retry step while "
          "the queue is full (reject-publish), it waits there and enters the "
          "queue once there is room, never nowhere",
          "[broker][retry]") {
  test::broker_scratch broker;
  auto queue = broker.queue("full-ladder");
  runtime::retry_policy policy;
  policy.delays = {300ms};
  bridges::topology topo;
  bridges::queue_spec original;
  original.name = queue;
  original.type = bridges::queue_type::quorum;
  original.max_length = 1;
  original.overflow = bridges::overflow_mode::reject_publish;
  topo.queues.push_back(original);
  for (auto& step :
       runtime::retry_ladder(queue, policy, bridges::queue_type::quorum)) {
    broker.track_queue(step.name);
    topo.queues.push_back(step);
  }
  REQUIRE_FALSE(broker.client().declare(topo));
  auto step = runtime::retry_queue_name(queue, 1);
  // Filled until the broker refuses a publish (a quorum queue takes one
  // message past its limit before it refuses).
  std::size_t fillers = 0;
  for (; fillers < 5; ++fillers) {
    outgoing_message filler;
    filler.routing_key = queue;
    filler.properties.message_id = make_message_id();
    filler.body = R"({"filler":true})";
    if (broker.client().publish(filler, 10s))
      break;
  }
  REQUIRE(fillers < 5);
  auto full = broker.count(queue);
  broker.publish_to_queue(step, R"({"parked":true})");
  // Its TTL ran out long ago, and the queue refused it: it is kept.
  std::this_thread::sleep_for(1500ms);
  CHECK(broker.count(queue) == full);
  auto taken = broker.receive(queue, full);
  REQUIRE(taken.size() == full);
  for (const auto& msg : taken)
    CHECK(msg.raw_body == R"({"filler":true})");
  // Room again: the parked message comes in (the broker tries again every
  // second here; 120 s by RabbitMQ's default).
  auto back = broker.wait_and_receive(queue, 1, 20s);
  CHECK(back[0].raw_body == R"({"parked":true})");
  CHECK(broker.count(step) == 0);
}
