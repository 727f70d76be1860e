// A sharded actor's changelog records and the rule every node applies them
// by, and its snapshots: their chunks on the wire and put back together, and
// a reader's decisions (when its file is behind the stream, which snapshot
// it can go on from, when it writes one). Pure: no broker, no file.

#include "cluster/changelog_record.hpp"
#include "cluster/changelog_rule.hpp"
#include "cluster/changelog_snapshot.hpp"
#include "warren/core/errc.hpp"
#include "warren/runtime/node.hpp"

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

// -- snapshots ----------------------------------------------------------------

namespace {

// Chunks through the wire format and back.
std::vector<changelog_record> on_the_wire(std::vector<changelog_record> in) {
  std::vector<changelog_record> out;
  for (const auto& r : in) {
    auto m = to_message(r, "bank.log");
    auto back = from_message(m.properties, m.body);
    if (!back)
      FAIL(describe(back.error()));
    out.push_back(std::move(*back));
  }
  return out;
}

std::string bytes(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(static_cast<char>(i * 7 % 256));
  return out;
}

} // namespace

TEST_CASE("a snapshot travels as chunks of at most the chunk size, each "
          "naming its offset, number and count, and comes back whole",
          "[changelog][snapshot]") {
  auto content = bytes(2500);
  auto chunks = on_the_wire(snapshot_chunks(content, 812, 4, "a", "a-1", 1000));
  REQUIRE(chunks.size() == 3);
  for (uint32_t i = 0; i < 3; ++i) {
    CHECK(chunks[i].kind == record_kind::snapshot);
    CHECK(chunks[i].upto == 812);
    CHECK(chunks[i].shards == 4);
    CHECK(chunks[i].node == "a");
    CHECK(chunks[i].incarnation == "a-1");
    CHECK(chunks[i].chunk == i);
    CHECK(chunks[i].chunks == 3);
  }
  CHECK(chunks[2].changeset.size() == 500);
  // A chunk published twice is the same message; another writer's snapshot
  // of the same offset is another.
  auto first = snapshot_chunks(content, 812, 4, "a", "a-1", 1000);
  CHECK(to_message(first[1], "bank.log").properties.message_id ==
        to_message(first[1], "bank.log").properties.message_id);
  CHECK(to_message(first[1], "bank.log").properties.message_id !=
        to_message(snapshot_chunks(content, 812, 4, "b", "b-1", 1000)[1],
                   "bank.log")
          .properties.message_id);

  snapshot_assembler assembler;
  CHECK_FALSE(assembler.add(chunks[0], 900));
  CHECK_FALSE(assembler.add(chunks[1], 903));
  auto whole = assembler.add(chunks[2], 904);
  REQUIRE(whole);
  CHECK(whole->content == content);
  CHECK(whole->bytes == 2500);
  CHECK(whole->upto == 812);
  CHECK(whole->shards == 4);
  CHECK(whole->node == "a");
  CHECK(whole->first_offset == 900);
  CHECK(whole->last_offset == 904);
  CHECK(assembler.partial() == 0);

  // An empty state is one empty chunk.
  auto empty = snapshot_chunks("", 5, 1, "a", "a-run");
  REQUIRE(empty.size() == 1);
  auto none = snapshot_assembler{}.add(on_the_wire(empty)[0], 6);
  REQUIRE(none);
  CHECK(none->content.empty());
  CHECK(none->upto == 5);
}

TEST_CASE("a snapshot chunk that is not well formed is refused with the "
          "reason, and the rule ignores snapshots",
          "[changelog][snapshot]") {
  auto good =
    to_message(snapshot_chunks(bytes(10), 7, 2, "a", "a-run")[0], "bank.log");
  auto refused = [](message_properties props, const std::string& body) {
    auto r = from_message(props, body);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::validation_failed);
    return describe(r.error());
  };
  auto props = good.properties;
  set_field(props.headers, "x-warren-chunk", int64_t{1});
  CHECK_THAT(refused(props, good.body), Catch::Contains("chunk 1 of 1"));
  props = good.properties;
  set_field(props.headers, "x-warren-chunks", int64_t{0});
  CHECK_THAT(refused(props, good.body), Catch::Contains("chunk 0 of 0"));
  props = good.properties;
  set_field(props.headers, "x-warren-upto", int64_t{-3});
  CHECK_THAT(refused(props, good.body), Catch::Contains("negative"));
  props = good.properties;
  set_field(props.headers, "x-warren-shards", int64_t{0});
  CHECK_THAT(refused(props, good.body), Catch::Contains("x-warren-shards"));
  props = good.properties;
  set_field(props.headers, "x-warren-node", std::string{});
  CHECK_THAT(refused(props, good.body), Catch::Contains("x-warren-node"));

  changelog_rule rule;
  auto chunk = from_message(good.properties, good.body);
  REQUIRE(chunk);
  CHECK(rule.apply(*chunk, 0) == verdict::snapshot);
  CHECK(rule.shards() == 0);
  rule.apply(shards(2), 1);
  rule.apply(claim(0, "a"), 2);
  auto before = rule.shards_view();
  CHECK(rule.apply(*chunk, 3) == verdict::snapshot);
  CHECK(rule.shard(0).epoch == before[0].epoch);
  CHECK(rule.shard(0).sequence == before[0].sequence);
}

TEST_CASE("a snapshot is used only whole: a copy of a chunk is skipped, a "
          "lost chunk or a start cut off by retention drops it, and two "
          "writers' chunks may interleave",
          "[changelog][snapshot]") {
  auto content = bytes(30);
  auto a = snapshot_chunks(content, 100, 2, "a", "a-1", 10);
  REQUIRE(a.size() == 3);

  SECTION("a chunk published twice (a retried publish)") {
    snapshot_assembler s;
    CHECK_FALSE(s.add(a[0], 1));
    CHECK_FALSE(s.add(a[0], 2));
    CHECK_FALSE(s.add(a[1], 3));
    CHECK_FALSE(s.add(a[1], 4));
    auto whole = s.add(a[2], 5);
    REQUIRE(whole);
    CHECK(whole->content == content);
    // A copy of the last chunk after it is whole starts nothing.
    CHECK_FALSE(s.add(a[2], 6));
    CHECK(s.partial() == 0);
  }
  SECTION("a chunk lost (not confirmed, not in the stream)") {
    snapshot_assembler s;
    CHECK_FALSE(s.add(a[0], 1));
    CHECK_FALSE(s.add(a[2], 2));
    CHECK(s.partial() == 0);
    // The writer's next snapshot is whole.
    auto next = snapshot_chunks(content, 180, 2, "a", "a-1", 10);
    CHECK_FALSE(s.add(next[0], 3));
    CHECK_FALSE(s.add(next[1], 4));
    auto whole = s.add(next[2], 5);
    REQUIRE(whole);
    CHECK(whole->upto == 180);
  }
  SECTION("the first chunks deleted by retention") {
    snapshot_assembler s;
    CHECK_FALSE(s.add(a[1], 50));
    CHECK_FALSE(s.add(a[2], 51));
    CHECK(s.partial() == 0);
  }
  SECTION("a writer starting over before finishing") {
    snapshot_assembler s;
    CHECK_FALSE(s.add(a[0], 1));
    CHECK_FALSE(s.add(a[1], 2));
    auto next = snapshot_chunks(bytes(15), 150, 2, "a", "a-1", 10);
    CHECK_FALSE(s.add(next[0], 3));
    CHECK_FALSE(s.add(a[2], 4)); // the old one's last: not this one's
    CHECK(s.partial() == 0);
  }
  SECTION("two writers (shard 0 changed hands) interleaved") {
    auto b = snapshot_chunks(bytes(20), 104, 2, "b", "b-1", 10);
    snapshot_assembler s;
    CHECK_FALSE(s.add(a[0], 1));
    CHECK_FALSE(s.add(b[0], 2));
    CHECK_FALSE(s.add(a[1], 3));
    auto from_b = s.add(b[1], 4);
    REQUIRE(from_b);
    CHECK(from_b->upto == 104);
    CHECK(from_b->content == bytes(20));
    auto from_a = s.add(a[2], 5);
    REQUIRE(from_a);
    CHECK(from_a->content == content);
  }
  SECTION("counting sizes only") {
    snapshot_assembler s{false};
    s.add(a[0], 1);
    s.add(a[1], 2);
    auto whole = s.add(a[2], 3);
    REQUIRE(whole);
    CHECK(whole->content.empty());
    CHECK(whole->bytes == 30);
  }
}

TEST_CASE("a reader applies the next record, skips what it applied, and is "
          "behind when the stream begins after its position, it goes on "
          "only from a snapshot whose records after it are all retained",
          "[changelog][snapshot]") {
  CHECK(next_step(10, 10) == read_step::apply);
  CHECK(next_step(10, 9) == read_step::skip);
  // Offset 10 is the broker's own chunk at a segment's start.
  CHECK(next_step(10, 11) == read_step::apply);
  // Retention took a segment: its chunk and at least one record.
  CHECK(next_step(10, 12) == read_step::behind);
  // A new node's empty file and a stream whose start retention dropped.
  CHECK(next_step(0, 0) == read_step::apply);
  CHECK(next_step(0, 5000) == read_step::behind);

  snapshot s;
  s.upto = 6000;
  // File at 0, stream from 5000: the records from 6000 on are there.
  CHECK(usable(s, 5000, 0));
  // Exactly from the first retained record, or from the broker's chunk
  // just before it.
  CHECK(usable(s, 6000, 0));
  CHECK(usable(s, 6001, 0));
  // Retention cut between the snapshot's offset and its chunks: record
  // 6000 is gone (with its segment's chunk), the snapshot cannot be
  // continued.
  CHECK_FALSE(usable(s, 6002, 0));
  // A snapshot older than the file is never loaded over it.
  CHECK_FALSE(usable(s, 5000, 6000));
  CHECK_FALSE(usable(s, 5000, 7000));
}

TEST_CASE("the latest claimant of shard 0 writes a snapshot once enough was "
          "applied since the last one in the stream, never two at a time, "
          "and never more often than the last one's size",
          "[changelog][snapshot]") {
  changelog_rule rule;
  snapshot_schedule schedule{1000};
  schedule.applied(5000);
  // Before the shard count and any claim: nobody writes.
  CHECK_FALSE(schedule.due(rule, "a", "a-run"));
  rule.apply(shards(2), 0);
  CHECK_FALSE(schedule.due(rule, "a", "a-run"));
  rule.apply(claim(1, "a"), 1);
  CHECK_FALSE(schedule.due(rule, "a", "a-run")); // shard 1 is not shard 0
  rule.apply(claim(0, "a"), 2);
  CHECK(schedule.due(rule, "a", "a-run"));
  CHECK_FALSE(schedule.due(rule, "b", "b-run"));
  CHECK_FALSE(schedule.due(rule, "a", "a-old")); // an earlier run of a
  CHECK_FALSE(schedule.due(rule, "", ""));       // a reader that never writes

  schedule.writing();
  CHECK(schedule.since() == 0);
  schedule.applied(2000);
  schedule.sized(300);
  CHECK_FALSE(schedule.due(rule, "a", "a-run")); // its last one is on its way
  schedule.written();
  CHECK(schedule.due(rule, "a", "a-run"));

  // Another node's snapshot went by: the count starts again from it.
  schedule.seen(200);
  schedule.applied(999);
  CHECK_FALSE(schedule.due(rule, "a", "a-run"));
  schedule.applied(1);
  CHECK(schedule.due(rule, "a", "a-run"));

  // A snapshot larger than the interval: the next one after as much.
  schedule.seen(4000);
  schedule.applied(3999);
  CHECK_FALSE(schedule.due(rule, "a", "a-run"));
  schedule.applied(1);
  CHECK(schedule.due(rule, "a", "a-run"));

  // Shard 0 taken over by b: b writes, a no more.
  rule.apply(claim(0, "b"), 3);
  CHECK_FALSE(schedule.due(rule, "a", "a-run"));
  CHECK(schedule.due(rule, "b", "b-run"));
}

TEST_CASE("a node declares a sharded actor's changelog bounded by "
          "cluster.changelog_max_bytes, in segments of an eighth of it",
          "[changelog][snapshot]") {
  config::node_config cfg;
  cfg.node_name = "n1";
  config::actor_spec bank;
  bank.name = "bank";
  bank.queue = "bank";
  bank.kind = "counter";
  bank.shards = 4;
  cfg.actors.push_back(bank);
  cfg.cluster.changelog_max_bytes = 1024 * 1024;
  auto topo = runtime::effective_topology(cfg);
  const bridges::queue_spec* log = nullptr;
  for (const auto& q : topo.queues)
    if (q.name == "bank.log")
      log = &q;
  REQUIRE(log != nullptr);
  CHECK(log->type == bridges::queue_type::stream);
  REQUIRE(log->max_length_bytes);
  CHECK(*log->max_length_bytes == 1024 * 1024);
  REQUIRE(log->stream_max_segment_size_bytes);
  CHECK(*log->stream_max_segment_size_bytes == 128 * 1024);
}
