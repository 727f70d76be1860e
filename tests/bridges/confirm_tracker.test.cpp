#include "owner/confirm_tracker.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

using warren::bridges::detail::confirm_result;
using warren::bridges::detail::confirm_tracker;

namespace {

using tracker = confirm_tracker<std::string>;
using settled_list = std::vector<std::pair<std::string, confirm_result>>;

// Publishes n messages "m1".."mn" with payloads "p1".."pn".
tracker published(int n) {
  tracker t;
  for (int i = 1; i <= n; ++i)
    t.add("m" + std::to_string(i), "p" + std::to_string(i));
  return t;
}

settled_list confirm(tracker& t, uint64_t tag, bool multiple, bool ack) {
  settled_list out;
  t.confirm(tag, multiple, ack, [&](tracker::entry& e, confirm_result r) {
    out.emplace_back(e.payload, r);
  });
  return out;
}

} // namespace

TEST_CASE("a multiple ack settles every message up to its tag, in order",
          "[confirm_tracker]") {
  auto t = published(5);
  CHECK(confirm(t, 3, true, true) ==
        settled_list{{"p1", confirm_result::confirmed},
                     {"p2", confirm_result::confirmed},
                     {"p3", confirm_result::confirmed}});
  CHECK(t.size() == 2);
}

TEST_CASE("single acks out of order settle once each and free the prefix "
          "only when it is complete",
          "[confirm_tracker]") {
  auto t = published(3);
  CHECK(confirm(t, 2, false, true) ==
        settled_list{{"p2", confirm_result::confirmed}});
  CHECK(t.size() == 3);                      // m1 still holds the front
  CHECK(confirm(t, 2, false, true).empty()); // a repeated ack settles nothing
  CHECK(confirm(t, 1, false, true) ==
        settled_list{{"p1", confirm_result::confirmed}});
  CHECK(t.size() == 1);
  // A multiple ack over an already settled message skips it.
  CHECK(confirm(t, 3, true, true) ==
        settled_list{{"p3", confirm_result::confirmed}});
  CHECK(t.empty());
}

TEST_CASE("a nack settles its messages as nacked", "[confirm_tracker]") {
  auto t = published(2);
  CHECK(confirm(t, 2, true, false) ==
        settled_list{{"p1", confirm_result::nacked},
                     {"p2", confirm_result::nacked}});
}

TEST_CASE("a returned mandatory message is settled as returned when its ack "
          "comes",
          "[confirm_tracker]") {
  auto t = published(3);
  t.returned("m2", "312 NO_ROUTE");
  settled_list got;
  t.confirm(3, true, true, [&](tracker::entry& e, confirm_result r) {
    got.emplace_back(e.payload, r);
    if (e.payload == "p2")
      CHECK(e.return_reason == "312 NO_ROUTE");
  });
  CHECK(got == settled_list{{"p1", confirm_result::confirmed},
                            {"p2", confirm_result::returned},
                            {"p3", confirm_result::confirmed}});
}

TEST_CASE("returns matched oldest first: of messages sharing an id (or none), "
          "the first unroutable one is returned, the next confirmed",
          "[confirm_tracker]") {
  tracker t;
  t.add("", "p1");
  t.add("", "p2");
  t.add("same", "p3");
  t.add("same", "p4");
  t.returned("", "312 NO_ROUTE");
  t.returned("same", "312 NO_ROUTE");
  CHECK(confirm(t, 4, true, true) ==
        settled_list{{"p1", confirm_result::returned},
                     {"p2", confirm_result::confirmed},
                     {"p3", confirm_result::returned},
                     {"p4", confirm_result::confirmed}});
}

TEST_CASE("after a lost channel the unsettled messages come back in order and "
          "tags restart at 1",
          "[confirm_tracker]") {
  auto t = published(4);
  confirm(t, 3, false, true);
  auto back = t.take_unsettled();
  REQUIRE(back.size() == 3);
  CHECK(back[0].payload == "p1");
  CHECK(back[1].payload == "p2");
  CHECK(back[2].payload == "p4");
  CHECK(t.empty());
  t.add("again", "q1");
  CHECK(confirm(t, 1, false, true) ==
        settled_list{{"q1", confirm_result::confirmed}});
}

TEST_CASE("a settle callback may publish more while confirms are processed",
          "[confirm_tracker]") {
  auto t = published(2);
  t.confirm(2, true, true, [&](tracker::entry& e, confirm_result) {
    if (e.payload == "p1")
      t.add("m3", "p3");
  });
  CHECK(confirm(t, 3, false, true) ==
        settled_list{{"p3", confirm_result::confirmed}});
}
