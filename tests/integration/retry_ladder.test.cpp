// The retry ladder's queues on a real broker: a message parked on a step
// comes back to its queue when the step's TTL runs out.

#include "support.hpp"
#include "warren/runtime/dispatch/retry_policy.hpp"

#include <catch2/catch.hpp>
#include <chrono>

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
