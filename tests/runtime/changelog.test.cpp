// A sharded actor's changelog records and the rule every node applies them
// by (pure: no broker, no file).

#include "cluster/changelog_record.hpp"
#include "cluster/changelog_rule.hpp"
#include "warren/core/errc.hpp"

#include <catch2/catch.hpp>

using namespace warren;
using namespace warren::runtime::cluster;

namespace {

changelog_record claim(uint32_t shard, const std::string& node) {
  changelog_record r;
  r.kind = record_kind::claim;
  r.shard = shard;
  r.node = node;
  r.incarnation = node + "-run";
  r.sequence = 1;
  return r;
}

changelog_record batch(uint32_t shard, int64_t epoch, uint64_t sequence) {
  changelog_record r;
  r.kind = record_kind::batch;
  r.shard = shard;
  r.node = "n";
  r.incarnation = "i";
  r.epoch = epoch;
  r.sequence = sequence;
  r.changeset = std::string{"\x12\x00\xff", 3};
  return r;
}

changelog_record shards(uint32_t n) {
  changelog_record r;
  r.kind = record_kind::shards;
  r.shards = n;
  return r;
}

// Through the wire format and back.
changelog_record round_trip(const changelog_record& r) {
  auto m = to_message(r, "bank.log");
  auto back = from_message(m.properties, m.body);
  if (!back)
    FAIL(describe(back.error()));
  return *back;
}

} // namespace

TEST_CASE("changelog records survive their wire format: headers for scalars, "
          "the body for a batch's changeset and messages",
          "[changelog]") {
  auto b = batch(3, 17, 2);
  outgoing_message sent;
  sent.exchange = "warren.actors";
  sent.routing_key = "ledger";
  sent.properties.message_id = "m-1/bank/0";
  sent.properties.type = "deposited";
  set_field(sent.properties.headers, "x-warren-trace", std::string{"t"});
  sent.body = R"({"amount":5})";
  b.outbox = {sent, sent};
  b.outbox[1].properties.message_id = "m-1/bank/1";
  auto m = to_message(b, "bank.log");
  CHECK(m.routing_key == "bank.log");
  CHECK(m.exchange.empty());
  // The same batch is the same message: a retried publish is a copy.
  CHECK(m.properties.message_id ==
        to_message(b, "bank.log").properties.message_id);
  CHECK(m.properties.message_id !=
        to_message(batch(3, 17, 3), "bank.log").properties.message_id);
  auto back = round_trip(b);
  CHECK(back.kind == record_kind::batch);
  CHECK(back.shard == 3);
  CHECK(back.epoch == 17);
  CHECK(back.sequence == 2);
  CHECK(back.node == "n");
  CHECK(back.incarnation == "i");
  CHECK(back.changeset == b.changeset);
  REQUIRE(back.outbox.size() == 2);
  CHECK(back.outbox[0].properties.message_id == "m-1/bank/0");
  CHECK(back.outbox[1].properties.message_id == "m-1/bank/1");
  CHECK(back.outbox[0].body == sent.body);
  CHECK(back.outbox[0].routing_key == "ledger");

  auto c = round_trip(claim(5, "node-a"));
  CHECK(c.kind == record_kind::claim);
  CHECK(c.shard == 5);
  CHECK(c.node == "node-a");
  CHECK(c.incarnation == "node-a-run");
  CHECK(c.sequence == 1);
  auto again = claim(5, "node-a");
  again.sequence = 2;
  CHECK(to_message(again, "bank.log").properties.message_id !=
        to_message(claim(5, "node-a"), "bank.log").properties.message_id);
  CHECK(round_trip(shards(16)).shards == 16);
  changelog_record f = claim(2, "node-b");
  f.kind = record_kind::flushed;
  f.upto = 99;
  CHECK(round_trip(f).upto == 99);
}

TEST_CASE("a message that is not a well-formed changelog record is refused "
          "with the reason",
          "[changelog]") {
  auto good = to_message(batch(1, 4, 1), "bank.log");
  auto refused = [](message_properties props, const std::string& body) {
    auto r = from_message(props, body);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::validation_failed);
    return describe(r.error());
  };
  CHECK_THAT(refused({}, good.body), Catch::Contains("x-warren-record"));
  auto props = good.properties;
  set_field(props.headers, "x-warren-record", std::string{"snapshot?"});
  CHECK_THAT(refused(props, good.body), Catch::Contains("unknown record kind"));
  props = good.properties;
  set_field(props.headers, "x-warren-shard", int64_t{5000});
  CHECK_THAT(refused(props, good.body), Catch::Contains("x-warren-shard"));
  props = good.properties;
  set_field(props.headers, "x-warren-epoch", std::string{"17"});
  CHECK_THAT(refused(props, good.body), Catch::Contains("x-warren-epoch"));
  props = good.properties;
  set_field(props.headers, "x-warren-sequence", int64_t{0});
  CHECK_THAT(refused(props, good.body), Catch::Contains("not positive"));
  // Every truncation of the body is an error, never a crash.
  for (std::size_t n = 0; n < good.body.size(); ++n)
    refused(good.properties, good.body.substr(0, n));
  CHECK_THAT(refused(good.properties, good.body + "x"),
             Catch::Contains("after its last message"));
}

TEST_CASE("the rule: a claim's offset is the shard's epoch, and a batch "
          "counts only in the current epoch as the next of it",
          "[changelog]") {
  changelog_rule rule;
  // Nothing counts before the shard count.
  CHECK(rule.apply(claim(0, "a"), 0) == verdict::invalid_shard);
  CHECK(rule.apply(shards(4), 1) == verdict::shards_set);
  CHECK(rule.apply(shards(4), 2) == verdict::shards_set);
  CHECK(rule.apply(shards(8), 3) == verdict::shards_conflict);
  CHECK(rule.shards() == 4);
  CHECK(rule.apply(claim(4, "a"), 4) == verdict::invalid_shard);

  // No owner yet: a batch is fenced.
  CHECK(rule.apply(batch(1, -1, 1), 5) == verdict::fenced);
  CHECK(rule.apply(claim(1, "a"), 10) == verdict::claimed);
  CHECK(rule.shard(1).epoch == 10);
  CHECK(rule.shard(1).node == "a");
  // A copy of the claim (its publish retried) changes nothing.
  CHECK(rule.apply(claim(1, "a"), 10) == verdict::duplicate);
  CHECK(rule.shard(1).epoch == 10);
  CHECK(rule.apply(batch(1, 10, 1), 11) == verdict::accepted);
  CHECK(rule.apply(batch(1, 10, 1), 12) == verdict::duplicate);
  CHECK(rule.apply(batch(1, 10, 3), 13) == verdict::out_of_order);
  CHECK(rule.apply(batch(1, 10, 2), 14) == verdict::accepted);
  CHECK(rule.shard(1).sequence == 2);
  // Shards are independent.
  CHECK(rule.apply(batch(2, 10, 1), 15) == verdict::fenced);
  CHECK(rule.shard(2).epoch == -1);
}

TEST_CASE("the rule fences a zombie: after another node's claim, the old "
          "owner's batches never count, whatever their sequence",
          "[changelog]") {
  changelog_rule rule;
  rule.apply(shards(2), 0);
  CHECK(rule.apply(claim(0, "a"), 1) == verdict::claimed);
  CHECK(rule.apply(batch(0, 1, 1), 2) == verdict::accepted);
  // b takes over (a is paused); a wakes up and goes on.
  CHECK(rule.apply(claim(0, "b"), 3) == verdict::claimed);
  CHECK(rule.apply(batch(0, 1, 2), 4) == verdict::fenced);
  CHECK(rule.apply(batch(0, 3, 1), 5) == verdict::accepted);
  CHECK(rule.apply(batch(0, 1, 3), 6) == verdict::fenced);
  // a claims back: b's batches made before it see it and are fenced.
  CHECK(rule.apply(claim(0, "a"), 7) == verdict::claimed);
  CHECK(rule.apply(batch(0, 3, 2), 8) == verdict::fenced);
  CHECK(rule.apply(batch(0, 7, 1), 9) == verdict::accepted);
  CHECK(rule.shard(0).node == "a");
  CHECK(rule.shard(0).epoch == 7);
}

TEST_CASE("the rule's flushed mark only moves forward, and a rule resumed "
          "from stored views decides as the one that wrote them",
          "[changelog]") {
  changelog_rule rule;
  rule.apply(shards(2), 0);
  rule.apply(claim(1, "a"), 1);
  rule.apply(batch(1, 1, 1), 2);
  changelog_record f = claim(1, "a");
  f.kind = record_kind::flushed;
  f.upto = 2;
  CHECK(rule.apply(f, 3) == verdict::flushed);
  f.upto = 1;
  rule.apply(f, 4);
  CHECK(rule.shard(1).flushed == 2);

  changelog_rule resumed{rule.shards(), rule.shards_view()};
  CHECK(resumed.apply(batch(1, 1, 1), 5) == verdict::duplicate);
  CHECK(resumed.apply(batch(1, 1, 2), 5) == verdict::accepted);
  CHECK(resumed.apply(batch(0, 1, 1), 6) == verdict::fenced);
}
