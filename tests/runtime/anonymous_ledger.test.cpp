// The rule by which a stateful actor recognises the broker's redelivery of
// an id-less message it already applied (pure bookkeeping).

#include "dispatch/anonymous_ledger.hpp"

#include <catch2/catch.hpp>

using warren::detail::anonymous_ledger;
using namespace std::chrono_literals;

namespace {

const auto t0 = anonymous_ledger::clock::time_point{} + 1h;

} // namespace

TEST_CASE("a redelivery on the same channel repeats nothing: the channel "
          "still holds what it applied",
          "[anonymous]") {
  anonymous_ledger ledger{60s, 100};
  ledger.seen(1, t0);
  ledger.applied("anon-1", "k", 1, 5);
  // An identical message the broker marks redelivered (requeued earlier)
  // is another message: applied.
  CHECK_FALSE(ledger.repeats("k", 1, 6));
}

TEST_CASE("after a reconnect, a redelivery repeats an applied, unacked "
          "message once per application",
          "[anonymous]") {
  anonymous_ledger ledger{60s, 100};
  ledger.seen(1, t0);
  ledger.applied("anon-1", "k", 1, 5);
  ledger.applied("anon-2", "other", 1, 6);
  ledger.seen(2, t0 + 1s);
  CHECK(ledger.repeats("k", 2, 1));
  // A second identical redelivery: the one application is used up.
  CHECK_FALSE(ledger.repeats("k", 2, 2));
  CHECK(ledger.repeats("other", 2, 3));
}

TEST_CASE("an entry lives until an ack for it is written, also after it "
          "moved to its redelivery",
          "[anonymous]") {
  anonymous_ledger ledger{60s, 100};
  ledger.seen(1, t0);
  ledger.applied("anon-1", "k", 1, 5);
  ledger.applied("anon-2", "k", 1, 9);
  std::vector<std::string> forgotten;
  ledger.acked(1, 7, true, forgotten);
  CHECK(forgotten == std::vector<std::string>{"anon-1"});
  ledger.seen(2, t0 + 1s);
  CHECK(ledger.repeats("k", 2, 3)); // anon-2, given back unacked
  ledger.acked(2, 2, true, forgotten);
  CHECK(ledger.size() == 1);
  ledger.acked(2, 3, false, forgotten);
  CHECK(forgotten == std::vector<std::string>{"anon-1", "anon-2"});
  CHECK(ledger.empty());
}

TEST_CASE("entries of an earlier run are repeated by redeliveries only, and "
          "forgotten after the window",
          "[anonymous]") {
  anonymous_ledger ledger{60s, 100};
  ledger.restore({{"anon-1", "k"}, {"anon-2", "k"}}, t0);
  ledger.seen(1, t0);
  CHECK(ledger.repeats("k", 1, 1));
  std::vector<std::string> forgotten;
  ledger.expire(t0 + 59s, forgotten);
  CHECK(forgotten.empty());
  ledger.expire(t0 + 60s, forgotten);
  // anon-1 moved to delivery 1 (waiting for its ack); anon-2 expired.
  CHECK(forgotten == std::vector<std::string>{"anon-2"});
  CHECK(ledger.size() == 1);
}

TEST_CASE("released entries are bounded: the oldest go first", "[anonymous]") {
  anonymous_ledger ledger{60s, 2};
  ledger.seen(1, t0);
  for (int i = 0; i < 4; ++i)
    ledger.applied("anon-" + std::to_string(i), "k", 1, i + 1);
  ledger.seen(2, t0);
  std::vector<std::string> forgotten;
  ledger.expire(t0, forgotten);
  CHECK(forgotten == std::vector<std::string>{"anon-0", "anon-1"});
  CHECK(ledger.size() == 2);
}
