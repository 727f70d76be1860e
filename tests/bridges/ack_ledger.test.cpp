// The consumer's ack ledger (pure): which settled deliveries one
// multiple-ack may cover.

#include "consumer/ack_ledger.hpp"

#include <catch2/catch.hpp>

using warren::bridges::detail::ack_ledger;
using state = ack_ledger::state;

TEST_CASE("deliveries settled in order are acked up to the last one due",
          "[ack_ledger]") {
  ack_ledger ledger;
  for (uint64_t tag = 1; tag <= 3; ++tag)
    ledger.add(tag);
  CHECK(ledger.settle(1, state::ack_due));
  CHECK(ledger.settle(2, state::ack_due));
  auto p = ledger.settled_prefix();
  CHECK(p.length == 2);
  CHECK(p.due == 2);
  CHECK(p.last_due == 2);
  ledger.drop_front(p.length);
  CHECK(ledger.size() == 1);
  CHECK(ledger.is_working(3));
}

TEST_CASE("a slow delivery holds back the acks of later ones, not their "
          "settling",
          "[ack_ledger]") {
  ack_ledger ledger;
  for (uint64_t tag = 1; tag <= 3; ++tag)
    ledger.add(tag);
  CHECK(ledger.settle(2, state::ack_due));
  CHECK(ledger.settle(3, state::ack_due));
  CHECK(ledger.settled_prefix().length == 0);
  CHECK(ledger.any_working());
  CHECK(ledger.working() == 1);
  CHECK(ledger.all_due() == std::vector<uint64_t>{2, 3});
  CHECK(ledger.settle(1, state::ack_due));
  auto p = ledger.settled_prefix();
  CHECK(p.length == 3);
  CHECK(p.last_due == 3);
  CHECK_FALSE(ledger.any_working());
  CHECK(ledger.working() == 0);
  ledger.add(4);
  ledger.add(5);
  CHECK(ledger.working() == 2);
}

TEST_CASE("a requeued delivery needs no ack but still counts in the settled "
          "prefix, the ack stops at the last one due",
          "[ack_ledger]") {
  ack_ledger ledger;
  for (uint64_t tag = 1; tag <= 3; ++tag)
    ledger.add(tag);
  CHECK(ledger.settle(1, state::ack_due));
  CHECK(ledger.settle(2, state::ack_due));
  CHECK(ledger.settle(3, state::settled));
  auto p = ledger.settled_prefix();
  CHECK(p.length == 3);
  CHECK(p.due == 2);
  CHECK(p.last_due == 2);
}

TEST_CASE("a delivery settles once, unknown and stale tags are refused",
          "[ack_ledger]") {
  ack_ledger ledger;
  ledger.add(5);
  ledger.add(9); // Tags increase, with gaps.
  CHECK(ledger.settle(9, state::ack_due));
  CHECK_FALSE(ledger.settle(9, state::settled));
  CHECK_FALSE(ledger.settle(7, state::ack_due));
  CHECK_FALSE(ledger.is_working(7));
  ledger.clear();
  CHECK_FALSE(ledger.settle(5, state::ack_due));
  CHECK(ledger.empty());
}

TEST_CASE("after the acked prefix is dropped, the next prefix starts at the "
          "first delivery still working",
          "[ack_ledger]") {
  ack_ledger ledger;
  for (uint64_t tag = 1; tag <= 4; ++tag)
    ledger.add(tag);
  ledger.settle(1, state::ack_due);
  ledger.settle(2, state::ack_due);
  ledger.drop_front(ledger.settled_prefix().length);
  ledger.settle(4, state::ack_due);
  CHECK(ledger.settled_prefix().length == 0);
  ledger.settle(3, state::settled);
  auto p = ledger.settled_prefix();
  CHECK(p.length == 2);
  CHECK(p.due == 1);
  CHECK(p.last_due == 4);
}
