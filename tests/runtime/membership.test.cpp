// Cluster membership: announcements on the wire, what a node's status
// announces, and how `warren cluster status` sums the announcements up
// (pure: no broker).

#include "warren/runtime/membership.hpp"

#include "cluster/announcer.hpp"
#include "cluster/changelog_record.hpp"
#include "cluster/member_status.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <thread>

using namespace warren;
using namespace warren::runtime;
using namespace warren::runtime::membership;

namespace {

announcement node(const std::string& name, int64_t at_ms,
                  std::vector<owned_shard> owned, int64_t position = 10) {
  announcement a;
  a.node = name;
  a.incarnation = name + "-run";
  a.started_ms = 1000;
  a.at_ms = at_ms;
  a.interval_ms = 2000;
  actor_report r;
  r.actor = "accounts";
  r.shards = 4;
  r.owned = std::move(owned);
  r.position = position;
  r.lag_seconds = 0.25;
  a.actors.push_back(std::move(r));
  return a;
}

std::string wire(const announcement& a) {
  return boost::json::serialize(to_json(a));
}

} // namespace

TEST_CASE("an announcement reads back as it was written", "[membership]") {
  auto a = node("a", 50'000, {{1, 7}, {3, 12}});
  a.leaving = true;
  auto back = parse_announcement(wire(a));
  REQUIRE(back);
  CHECK(back->node == "a");
  CHECK(back->incarnation == "a-run");
  CHECK(back->at_ms == 50'000);
  CHECK(back->interval_ms == 2000);
  CHECK(back->leaving);
  REQUIRE(back->actors.size() == 1);
  const auto& r = back->actors[0];
  CHECK(r.actor == "accounts");
  CHECK(r.shards == 4);
  CHECK(r.position == 10);
  REQUIRE(r.lag_seconds);
  CHECK(*r.lag_seconds == Approx(0.25));
  REQUIRE(r.owned.size() == 2);
  CHECK(r.owned[1].shard == 3);
  CHECK(r.owned[1].epoch == 12);
}

TEST_CASE("an announcement that is not one says what is wrong",
          "[membership]") {
  CHECK(code_of(parse_announcement("not json").error()) ==
        errc::validation_failed);
  auto no_node = parse_announcement(R"({"incarnation": "x"})");
  REQUIRE(!no_node);
  CHECK(describe(no_node.error()).find("\"node\"") != std::string::npos);
  auto a = node("a", 1, {{9, 1}});
  auto bad_shard = parse_announcement(wire(a));
  REQUIRE(!bad_shard);
  CHECK(describe(bad_shard.error()).find("owned shard 9") != std::string::npos);
}

TEST_CASE("each shard's owner is the live node announcing the highest epoch",
          "[membership]") {
  // b took shard 1 over from a (epoch 20 after 7); a has not let go yet.
  std::vector<announcement> heard{node("a", 9'000, {{0, 3}, {1, 7}}),
                                  node("b", 9'500, {{1, 20}, {2, 21}})};
  auto st = summarize(heard, 10'000);
  REQUIRE(st.nodes.size() == 2);
  CHECK(st.nodes[0].live);
  CHECK(st.nodes[1].live);
  REQUIRE(st.actors.size() == 1);
  const auto& shards = st.actors[0].shard;
  REQUIRE(shards.size() == 4);
  CHECK(shards[0].owner == "a");
  CHECK(shards[0].epoch == 3);
  CHECK(shards[0].queue == "accounts.s0");
  CHECK(shards[1].owner == "b");
  CHECK(shards[1].epoch == 20);
  CHECK(shards[1].stale_owners == std::vector<std::string>{"a"});
  CHECK(shards[2].owner == "b");
  CHECK(shards[3].owner.empty());
  CHECK(shards[3].epoch == -1);
}

TEST_CASE("a node silent for three of its intervals is gone and owns nothing",
          "[membership]") {
  std::vector<announcement> heard{node("a", 1'000, {{0, 3}}),
                                  node("a", 3'000, {{0, 3}, {1, 4}}),
                                  node("b", 9'000, {{2, 5}})};
  // a's last word at 3 s, interval 2 s: live up to 9 s, gone after.
  CHECK(summarize(heard, 9'000).nodes[0].live);
  auto st = summarize(heard, 9'001);
  REQUIRE(st.nodes.size() == 2);
  CHECK(st.nodes[0].node == "a");
  CHECK_FALSE(st.nodes[0].live);
  CHECK(st.nodes[0].last_heard_ms == 3'000);
  CHECK(st.nodes[0].owned == 0);
  CHECK(st.actors[0].shard[0].owner.empty());
  CHECK(st.actors[0].shard[1].owner.empty());
  CHECK(st.actors[0].shard[2].owner == "b");
  // Its reader is not counted among the live ones.
  REQUIRE(st.actors[0].readers.size() == 1);
  CHECK(st.actors[0].readers[0].node == "b");
}

namespace {

// `name`'s announcement of `at_ms` (its clock), heard here at `heard_ms`.
heard_announcement heard_at(const std::string& name, int64_t at_ms,
                            int64_t heard_ms, bool leaving = false) {
  auto a = node(name, at_ms, {});
  a.leaving = leaving;
  return {std::move(a), heard_ms};
}

std::vector<std::string> names_of(const std::vector<silent_node>& down) {
  std::vector<std::string> out;
  for (const auto& n : down)
    out.push_back(n.node);
  return out;
}

} // namespace

TEST_CASE("downing: the first live node downs those silent past the bound",
          "[membership][downing]") {
  // Heard here at 10 s (a), 9.5 s (b), 7.9 s (c), 8 s (d); bound 2 s at 10 s.
  std::vector<heard_announcement> heard{
    heard_at("a", 100, 10'000), heard_at("b", 200, 9'500),
    heard_at("c", 300, 7'900), heard_at("d", 400, 8'000)};
  auto down = nodes_to_down(heard, "a", 10'000, 2'000);
  // c is 2.1 s silent; d exactly 2 s is not past the bound.
  REQUIRE(names_of(down) == std::vector<std::string>{"c"});
  CHECK(down[0].incarnation == "c-run");
  CHECK(down[0].said_ms == 300);
  CHECK(down[0].silent_ms == 2'100);
  // Silence is measured on this node's clock, never on the sender's: c's
  // own clock (at_ms) says nothing about it.
  heard[2].said.at_ms = 9'999'999;
  CHECK(names_of(nodes_to_down(heard, "a", 10'000, 2'000)) ==
        std::vector<std::string>{"c"});
  // b is not the first live node: it leaves it to a.
  CHECK(nodes_to_down(heard, "b", 10'000, 2'000).empty());
}

TEST_CASE("downing: the second live node acts once the silence lasts twice "
          "the bound",
          "[membership][downing]") {
  // c silent since 10 s; a and b heard all along (a could not close c's
  // connections: no management API answered it).
  std::vector<heard_announcement> heard{heard_at("a", 100, 13'999),
                                        heard_at("b", 200, 13'999),
                                        heard_at("c", 300, 10'000)};
  CHECK(names_of(nodes_to_down(heard, "a", 14'000, 2'000)) ==
        std::vector<std::string>{"c"});
  CHECK(nodes_to_down(heard, "b", 14'000, 2'000).empty());
  CHECK(names_of(nodes_to_down(heard, "b", 14'001, 2'000)) ==
        std::vector<std::string>{"c"});
}

TEST_CASE("downing: the next node acts when the first is the silent one",
          "[membership][downing]") {
  // a silent for 3 s: b, now the first live node, acts; c (second) would
  // after 4 s.
  std::vector<heard_announcement> heard{heard_at("a", 100, 7'000),
                                        heard_at("b", 200, 9'500),
                                        heard_at("c", 300, 9'800)};
  CHECK(names_of(nodes_to_down(heard, "b", 10'000, 2'000)) ==
        std::vector<std::string>{"a"});
  CHECK(nodes_to_down(heard, "c", 10'000, 2'000).empty());
}

TEST_CASE("downing: a node that does not hear itself downs nobody",
          "[membership][downing]") {
  // A node cut off from the brokers (or whose reader is behind) hears
  // nobody, itself included: everyone looks silent to it.
  std::vector<heard_announcement> heard{heard_at("a", 100, 5'000),
                                        heard_at("b", 200, 5'000)};
  CHECK(nodes_to_down(heard, "a", 10'000, 2'000).empty());
  // Nor does one that never heard itself, or that is leaving.
  CHECK(nodes_to_down(heard, "z", 5'500, 2'000).empty());
  heard[0].heard_ms = 9'900;
  heard[0].said.leaving = true;
  CHECK(nodes_to_down(heard, "a", 10'000, 2'000).empty());
}

TEST_CASE("downing: leaving nodes are neither downed nor the one to act",
          "[membership][downing]") {
  std::vector<heard_announcement> heard{
    heard_at("a", 100, 9'900, true), heard_at("b", 200, 9'900),
    heard_at("c", 300, 1'000, true), heard_at("d", 400, 1'000)};
  CHECK(names_of(nodes_to_down(heard, "b", 10'000, 2'000)) ==
        std::vector<std::string>{"d"});
  CHECK(nodes_to_down(heard, "a", 10'000, 2'000).empty());
}

TEST_CASE("downing: a node's latest word counts, heard in any order",
          "[membership][downing]") {
  // b's replayed older word, read last, does not hide its newer one.
  std::vector<heard_announcement> heard{heard_at("a", 100, 9'900),
                                        heard_at("b", 500, 9'800),
                                        heard_at("b", 400, 1'000)};
  CHECK(nodes_to_down(heard, "a", 10'000, 2'000).empty());
  std::vector<heard_announcement> later{heard_at("a", 100, 9'900),
                                        heard_at("b", 400, 9'800),
                                        heard_at("b", 500, 1'000)};
  CHECK(names_of(nodes_to_down(later, "a", 10'000, 2'000)) ==
        std::vector<std::string>{"b"});
}

TEST_CASE("a node's latest announcement counts, whatever order they are read "
          "in",
          "[membership]") {
  std::vector<announcement> heard{node("a", 5'000, {{1, 9}}),
                                  node("a", 4'000, {{0, 3}})};
  auto st = summarize(heard, 6'000);
  CHECK(st.actors[0].shard[0].owner.empty());
  CHECK(st.actors[0].shard[1].owner == "a");
}

TEST_CASE("a leaving node is shown as left at once", "[membership]") {
  auto bye = node("a", 5'000, {});
  bye.leaving = true;
  std::vector<announcement> heard{node("a", 4'000, {{0, 3}}), bye};
  auto st = summarize(heard, 5'001);
  CHECK_FALSE(st.nodes[0].live);
  CHECK(st.nodes[0].leaving);
  CHECK(st.actors[0].shard[0].owner.empty());
  CHECK(to_text(st).find("left") != std::string::npos);
}

TEST_CASE("a shard is stuck only with messages waiting and no live owner",
          "[membership]") {
  std::vector<announcement> heard{node("a", 9'000, {{0, 3}})};
  auto st = summarize(heard, 10'000);
  auto& shards = st.actors[0].shard;
  shards[0].queue_state = queue_figures{5, 2}; // owned: a backlog
  shards[1].queue_state = queue_figures{0, 2}; // idle, never claimed
  shards[2].queue_state = queue_figures{3, 1}; // waiting, nobody owns it
  CHECK_FALSE(shards[0].stuck());
  CHECK_FALSE(shards[1].stuck());
  CHECK(shards[2].stuck());
  CHECK_FALSE(shards[3].stuck()); // not read
  CHECK(st.stuck_shards() == 1);
  auto json = to_json(st);
  CHECK(json.at("stuck_shards").as_uint64() == 1);
  CHECK(json.at("actors").at(0).at("shard").at(2).at("owner").is_null());
  CHECK(to_text(st).find("NO OWNER") != std::string::npos);
}

TEST_CASE("a reader's lag in records is measured from the furthest live "
          "reader",
          "[membership]") {
  std::vector<announcement> heard{node("a", 9'000, {}, 100),
                                  node("b", 9'000, {}, 140)};
  auto st = summarize(heard, 10'000);
  const auto& readers = st.actors[0].readers;
  REQUIRE(readers.size() == 2);
  CHECK(readers[0].behind == 40);
  CHECK(readers[1].behind == 0);
}

TEST_CASE("status for one actor leaves the others out", "[membership]") {
  auto a = node("a", 9'000, {});
  auto other = a.actors[0];
  other.actor = "ledger";
  a.actors.push_back(other);
  CHECK(summarize({a}, 10'000).actors.size() == 2);
  auto st = summarize({a}, 10'000, "ledger");
  REQUIRE(st.actors.size() == 1);
  CHECK(st.actors[0].actor == "ledger");
}

TEST_CASE("a node announces the shards its owners hold and its reader's "
          "progress",
          "[membership]") {
  cluster::member_status status{"accounts", 4};
  status.owned(2, 17);
  status.owned(0, 5);
  status.released(0);
  status.applied(30, 3, {0.5, 0.125});
  cluster::announcer_config cfg;
  cfg.node = "a";
  cfg.incarnation = "run-1";
  cfg.started_ms = 100;
  cfg.interval = std::chrono::milliseconds{1500};
  auto a = cluster::make_announcement(cfg, {status.read()}, 2000, false);
  CHECK(a.interval_ms == 1500);
  REQUIRE(a.actors.size() == 1);
  REQUIRE(a.actors[0].owned.size() == 1);
  CHECK(a.actors[0].owned[0].shard == 2);
  CHECK(a.actors[0].owned[0].epoch == 17);
  CHECK(a.actors[0].position == 30);
  REQUIRE(a.actors[0].lag_seconds);
  CHECK(*a.actors[0].lag_seconds == Approx(0.125));
  // Leaving, it owns nothing any more.
  auto bye = cluster::make_announcement(cfg, {status.read()}, 2500, true);
  CHECK(bye.leaving);
  CHECK(bye.actors[0].owned.empty());
  auto msg = cluster::announcement_message(a);
  CHECK(msg.routing_key == "warren.cluster");
  CHECK(parse_announcement(msg.body));
}

namespace {

// What a publisher was given, in order.
struct published_log {
  std::mutex mutex;
  std::vector<announcement> heard;

  std::vector<announcement> read() {
    std::lock_guard<std::mutex> guard{mutex};
    return heard;
  }
};

// A publisher that confirms at once, except a leaving announcement, whose
// confirm takes `leave_confirm` (a broker slow to confirm on a loaded
// machine).
bridges::publisher_actor::behavior_type
slow_to_confirm_a_leave(bridges::publisher_actor::pointer,
                        std::shared_ptr<published_log> log,
                        std::chrono::milliseconds leave_confirm) {
  return {
    [log, leave_confirm](bridges::publish_atom, const outgoing_message& msg) {
      // (No Catch assertion here: this runs on a scheduler thread. One that
      // does not parse is left out and the test's counts fail.)
      auto a = parse_announcement(msg.body);
      if (!a)
        return caf::ok_atom::value;
      bool leaving = a->leaving;
      {
        std::lock_guard<std::mutex> guard{log->mutex};
        log->heard.push_back(std::move(*a));
      }
      if (leaving)
        std::this_thread::sleep_for(leave_confirm);
      return caf::ok_atom::value;
    },
    [](bridges::publish_atom, const bridges::publish_batch&) {
      return caf::ok_atom::value;
    },
    [](bridges::drain_atom) { return caf::ok_atom::value; },
    [](bridges::stats_atom) { return bridges::publisher_stats{}; },
  };
}

} // namespace

TEST_CASE("a leave is final: no periodic announcement of a node follows "
          "its leave, even when the broker confirms the leave slowly",
          "[membership]") {
  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", size_t{2});
  sys_cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{sys_cfg};
  auto log = std::make_shared<published_log>();
  constexpr auto interval = std::chrono::milliseconds{20};
  cluster::announcer_config cfg;
  cfg.node = "a";
  cfg.incarnation = "run-1";
  cfg.interval = interval;
  cfg.members = std::make_shared<cluster::member_directory>();
  cfg.members->add(std::make_shared<cluster::member_status>("accounts", 2));
  cfg.publisher = sys.spawn(slow_to_confirm_a_leave, log, interval * 10);
  auto announcer = cluster::spawn_announcer(sys, cfg);
  // It announces on its own timer.
  for (int i = 0; i < 200 && log->read().size() < 2; ++i)
    std::this_thread::sleep_for(interval);
  REQUIRE(log->read().size() >= 2);
  caf::scoped_actor self{sys};
  bool confirmed = false;
  self->request(announcer, std::chrono::seconds{5}, cluster::leave_atom::value)
    .receive([&](caf::ok_atom) { confirmed = true; }, [](const caf::error&) {});
  CHECK(confirmed);
  // Ten more intervals: the announcer is still running, and silent.
  std::this_thread::sleep_for(interval * 10);
  auto heard = log->read();
  REQUIRE_FALSE(heard.empty());
  CHECK(heard.back().leaving);
  CHECK(std::count_if(heard.begin(), heard.end(),
                      [](const auto& a) { return a.leaving; }) == 1);
  self->send_exit(announcer, caf::exit_reason::user_shutdown);
  self->send_exit(cfg.publisher, caf::exit_reason::user_shutdown);
}

TEST_CASE("a changelog record carries its publish time, and one without it "
          "still reads",
          "[membership]") {
  cluster::changelog_record r;
  r.kind = cluster::record_kind::claim;
  r.shard = 1;
  r.node = "a";
  r.incarnation = "i";
  r.sequence = 1;
  auto old = cluster::to_message(r, "accounts.log");
  auto back = cluster::from_message(old.properties, old.body);
  REQUIRE(back);
  CHECK(back->published_ms == -1);
  r.published_ms = 1'700'000'000'123;
  auto stamped = cluster::to_message(r, "accounts.log");
  CHECK(stamped.properties.message_id == old.properties.message_id);
  back = cluster::from_message(stamped.properties, stamped.body);
  REQUIRE(back);
  CHECK(back->published_ms == 1'700'000'000'123);
}
