// The retry policy and its ladder: pure logic.

#include "warren/runtime/dispatch/retry_policy.hpp"

#include <catch2/catch.hpp>

using namespace warren::runtime;
using namespace std::chrono_literals;
using action = retry_decision::action;

namespace {

retry_policy policy(uint32_t immediate,
                    std::vector<std::chrono::milliseconds> delays) {
  retry_policy p;
  p.immediate = immediate;
  p.delays = std::move(delays);
  return p;
}

} // namespace

TEST_CASE("a transient failure is retried at once, then through each ladder "
          "step, then dead-lettered",
          "[retry]") {
  auto p = policy(2, {1s, 10s});
  REQUIRE(p.max_attempts() == 5);
  auto d1 = decide_retry(p, 1, false);
  CHECK(d1.what == action::retry_now);
  CHECK(d1.next_attempt == 2);
  auto d2 = decide_retry(p, 2, false);
  CHECK(d2.what == action::retry_now);
  CHECK(d2.next_attempt == 3);
  auto d3 = decide_retry(p, 3, false);
  CHECK(d3.what == action::retry_later);
  CHECK(d3.step == 1);
  CHECK(d3.next_attempt == 4);
  auto d4 = decide_retry(p, 4, false);
  CHECK(d4.what == action::retry_later);
  CHECK(d4.step == 2);
  CHECK(decide_retry(p, 5, false).what == action::dead_letter);
  CHECK(decide_retry(p, 9, false).what == action::dead_letter);
}

TEST_CASE("a permanent failure is dead-lettered on its first attempt",
          "[retry]") {
  CHECK(decide_retry(policy(2, {1s}), 1, true).what == action::dead_letter);
}

TEST_CASE("a policy without retries dead-letters every failure", "[retry]") {
  auto p = policy(0, {});
  CHECK(p.max_attempts() == 1);
  CHECK(decide_retry(p, 1, false).what == action::dead_letter);
}

TEST_CASE("a delivery without an attempt header counts as the first attempt",
          "[retry]") {
  auto d = decide_retry(policy(1, {}), 0, false);
  CHECK(d.what == action::retry_now);
  CHECK(d.next_attempt == 2);
}

TEST_CASE("the ladder has one queue per delay whose TTL dead-letters back to "
          "the original queue",
          "[retry]") {
  auto ladder = retry_ladder("orders", policy(2, {1s, 30s}),
                             warren::bridges::queue_type::quorum);
  REQUIRE(ladder.size() == 2);
  CHECK(ladder[0].name == "orders.retry.1");
  CHECK(ladder[0].message_ttl_ms == 1000);
  CHECK(ladder[1].name == "orders.retry.2");
  CHECK(ladder[1].message_ttl_ms == 30000);
  for (const auto& step : ladder) {
    CHECK(step.durable);
    CHECK(step.type == warren::bridges::queue_type::quorum);
    CHECK(step.dead_letter_exchange == std::string{});
    CHECK(step.dead_letter_routing_key == std::string{"orders"});
    CHECK_FALSE(step.dead_letter_queue);
    // Back to a full queue at least once: the message waits on its step.
    CHECK(step.dead_letter_strategy == std::string{"at-least-once"});
    CHECK(step.overflow == warren::bridges::overflow_mode::reject_publish);
  }
  auto classic = retry_ladder("orders", policy(0, {1s}),
                              warren::bridges::queue_type::classic);
  CHECK_FALSE(classic[0].dead_letter_strategy);
}
