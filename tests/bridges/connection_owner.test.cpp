// The connection base every connection owner shares, against the real test
// broker: channel errors are channel errors (one operation fails, the
// channel comes back, the connection stays), and a lost connection is made
// again.

#include "broker_env.hpp"
#include "owner/connection_core.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/core/errc.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
using bridges::detail::connection_core;

namespace {

constexpr uint16_t consume_channel = 3;

// Records what the core routes to its owner; reopens closed channels.
struct recording_sink : bridges::detail::event_sink {
  connection_core* core = nullptr;
  std::vector<envelope> deliveries;
  int channel_closes = 0;
  int last_code = 0;

  void on_delivery(envelope&& msg, uint16_t) override {
    deliveries.push_back(std::move(msg));
  }
  void on_consumer_cancelled(const std::string&) override {
    // Not provoked here.
  }
  caf::error on_channel_closed(uint16_t channel, int code,
                               const std::string&) override {
    ++channel_closes;
    last_code = code;
    return core->conn().open_channel(channel);
  }
};

// A core with a queue of its own, deleted at the end.
struct fixture {
  connection_core core{test::broker_settings(), policy(), "test owner"};
  recording_sink sink;
  std::string queue = test::unique("bt-q");

  static bridges::detail::confirm_policy policy() {
    bridges::detail::confirm_policy p;
    p.wait_while_disconnected = false;
    p.republish_after_loss = false;
    return p;
  }

  fixture() {
    sink.core = &core;
    bridges::topology topo;
    bridges::queue_spec q;
    q.name = queue;
    q.durable = false;
    q.dead_letter_queue = false;
    topo.queues.push_back(q);
    auto err = core.connect(topo);
    REQUIRE_FALSE(err);
  }

  ~fixture() {
    if (!core.down())
      core.conn().delete_queue(queue);
    core.close();
  }

  outgoing_message message(std::string exchange, std::string key, int n) {
    outgoing_message msg;
    msg.exchange = std::move(exchange);
    msg.routing_key = std::move(key);
    msg.mandatory = true;
    msg.properties.delivery_mode = 1;
    msg.properties.message_id = "m-" + std::to_string(n);
    msg.body = "{}";
    return msg;
  }

  // Publishes and records the answer in `slot`.
  void publish(outgoing_message msg, std::optional<caf::error>& slot) {
    auto lost = core.publish(std::move(msg),
                             [&slot](const caf::error& err) { slot = err; });
    REQUIRE_FALSE(lost);
  }

  // Reads events until `done` holds (10 s at most).
  bool pump_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      core.conn().wait_readable(50ms, -1);
      int events = 0;
      if (auto lost = core.pump(sink, 256, events))
        FAIL("the connection was lost: " << *lost);
    }
    return true;
  }
};

bool all_answered(const std::vector<std::optional<caf::error>>& slots) {
  for (const auto& s : slots)
    if (!s)
      return false;
  return true;
}

} // namespace

TEST_CASE("a publish to an exchange that does not exist fails alone with "
          "not_found, the channel comes back and the connection stays",
          "[broker][connection]") {
  fixture f;
  auto missing = test::unique("no-such-exchange");
  std::vector<std::optional<caf::error>> answers(4);
  f.publish(f.message("", f.queue, 0), answers[0]);
  f.publish(f.message(missing, "x", 1), answers[1]);
  f.publish(f.message("", f.queue, 2), answers[2]);
  REQUIRE(f.pump_until([&] { return answers[0] && answers[1] && answers[2]; }));
  CHECK_FALSE(*answers[0]);
  CHECK(code_of(*answers[1]) == errc::not_found);
  CHECK_THAT(describe(*answers[1]), Catch::Contains(missing));
  CHECK_FALSE(*answers[2]);
  // Once, or twice when the messages in doubt were published again one at
  // a time and the refused one closed the channel again.
  CHECK(f.core.confirms().stats().channel_errors >= 1);
  CHECK(f.core.confirms().stats().channel_errors <= 2);
  CHECK_FALSE(f.core.down());
  // The same connection goes on publishing.
  f.publish(f.message("", f.queue, 3), answers[3]);
  REQUIRE(f.pump_until([&] { return answers[3].has_value(); }));
  CHECK_FALSE(*answers[3]);
  auto count = f.core.conn().queue_message_count(f.queue);
  REQUIRE(count);
  // At least once: a message in doubt may have been published twice.
  CHECK(*count >= 3);
  CHECK(*count <= 4);
}

TEST_CASE("when the broker closes the publish channel with many publishes "
          "unconfirmed, only the one it refused fails",
          "[broker][connection]") {
  fixture f;
  auto missing = test::unique("no-such-exchange");
  constexpr int n = 400;
  std::vector<std::optional<caf::error>> answers(n + 1);
  for (int i = 0; i < n / 2; ++i)
    f.publish(f.message("", f.queue, i), answers[i]);
  f.publish(f.message(missing, "x", n), answers[n]);
  for (int i = n / 2; i < n; ++i)
    f.publish(f.message("", f.queue, i), answers[i]);
  REQUIRE(f.pump_until([&] { return all_answered(answers); }));
  int failed = 0;
  for (int i = 0; i < n; ++i)
    failed += *answers[i] ? 1 : 0;
  CHECK(failed == 0);
  CHECK(code_of(*answers[n]) == errc::not_found);
  CHECK(f.core.confirms().stats().channel_errors >= 1);
  CHECK_FALSE(f.core.down());
  auto count = f.core.conn().queue_message_count(f.queue);
  REQUIRE(count);
  CHECK(*count >= static_cast<uint32_t>(n));
}

TEST_CASE("two mandatory messages without ids, the first unroutable: the "
          "first is reported unroutable, the second confirmed",
          "[broker][connection]") {
  fixture f;
  auto nowhere = f.message("amq.direct", test::unique("no-binding"), 0);
  auto routed = f.message("", f.queue, 1);
  nowhere.properties.message_id.clear();
  routed.properties.message_id.clear();
  std::vector<std::optional<caf::error>> answers(2);
  f.publish(nowhere, answers[0]);
  f.publish(routed, answers[1]);
  REQUIRE(f.pump_until([&] { return all_answered(answers); }));
  CHECK(code_of(*answers[0]) == errc::unroutable);
  CHECK_FALSE(*answers[1]);
  auto count = f.core.conn().queue_message_count(f.queue);
  REQUIRE(count);
  CHECK(*count == 1);
}

TEST_CASE("a declare with inequivalent arguments fails alone with the "
          "broker's code, and the control channel comes back",
          "[broker][connection]") {
  fixture f;
  bridges::queue_spec other;
  other.name = f.queue;
  other.durable = false;
  other.dead_letter_queue = false;
  other.message_ttl_ms = 60000; // The queue was declared without a TTL.
  auto declared = f.core.conn().declare_queue(other);
  REQUIRE_FALSE(declared);
  CHECK(code_of(declared.error()) == errc::channel_error);
  CHECK_THAT(describe(declared.error()),
             Catch::Contains("PRECONDITION_FAILED"));
  CHECK_FALSE(f.core.down());
  auto count = f.core.conn().queue_message_count(f.queue);
  REQUIRE(count);
  CHECK(*count == 0);
}

TEST_CASE("a consume channel the broker closes goes to its owner, which "
          "reopens it, its unacked delivery comes back redelivered",
          "[broker][connection]") {
  fixture f;
  std::optional<caf::error> sent;
  f.publish(f.message("", f.queue, 0), sent);
  REQUIRE(f.pump_until([&] { return sent.has_value(); }));
  auto& conn = f.core.conn();
  REQUIRE_FALSE(conn.open_channel(consume_channel));
  REQUIRE(conn.consume(consume_channel, f.queue, false, false));
  REQUIRE(f.pump_until([&] { return f.sink.deliveries.size() == 1; }));
  CHECK_FALSE(f.sink.deliveries[0].redelivered);
  // An ack of a tag the broker never sent: 406 PRECONDITION_FAILED closes
  // the consume channel.
  REQUIRE_FALSE(conn.ack(consume_channel, 999, false));
  REQUIRE(f.pump_until([&] { return f.sink.channel_closes == 1; }));
  CHECK(f.sink.last_code == 406);
  CHECK_FALSE(f.core.down());
  REQUIRE(conn.consume(consume_channel, f.queue, false, false));
  REQUIRE(f.pump_until([&] { return f.sink.deliveries.size() == 2; }));
  CHECK(f.sink.deliveries[1].redelivered);
  CHECK(f.sink.deliveries[1].properties.message_id == "m-0");
}

TEST_CASE("a publisher whose connection the broker closes connects again and "
          "every message it confirmed is in the queue",
          "[broker][connection]") {
  auto user = test::unique("bt-user");
  auto password = test::unique("pw");
  REQUIRE(test::broker_script("add-user", user + " " + password) == 0);
  fixture f; // Declares the queue, as the guest user.
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  bridges::publisher_config pc;
  pc.broker = test::broker_settings(user, password);
  auto publisher = bridges::spawn_publisher(sys, pc);
  caf::scoped_actor self{sys};
  auto publish_batch = [&](int first, int count) {
    bridges::publish_batch batch;
    for (int i = first; i < first + count; ++i)
      batch.messages.push_back(f.message("", f.queue, i));
    caf::error result;
    self->request(publisher, 20s, bridges::publish_atom::value, batch)
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { result = err; });
    return result;
  };
  REQUIRE_FALSE(publish_batch(0, 100));
  REQUIRE(test::broker_script("close-connections", user) == 0);
  // Published while the connection is being made again: they wait, then go
  // out, each confirmed.
  for (int round = 1; round <= 3; ++round)
    CHECK_FALSE(publish_batch(round * 100, 100));
  bridges::publisher_stats stats;
  self->request(publisher, 5s, bridges::stats_atom::value)
    .receive([&](bridges::publisher_stats& st) { stats = st; },
             [](caf::error&) {});
  CHECK(stats.reconnects >= 1);
  CHECK(stats.connected);
  auto count = f.core.conn().queue_message_count(f.queue);
  REQUIRE(count);
  CHECK(*count >= 400);
  self->send_exit(publisher, caf::exit_reason::user_shutdown);
  self->wait_for(publisher);
}
