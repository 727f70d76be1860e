// Streams through the bridges against the real test broker: declared by the
// topology, read from an offset the consumer's arguments give at every
// (re)connect, each delivery carrying its offset (a shard's changelog is
// read this way: README.md, "Clustering").

#include "broker_env.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/consumer.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;

namespace {

// Records each delivery's offset and id, acks it, and remembers where to
// start next time.
struct tail_handler : bridges::delivery_handler {
  std::mutex mutex;
  std::vector<std::pair<int64_t, std::string>> seen;
  std::atomic<int64_t> next{0};

  void handle(bridges::consumer_host&, bridges::delivery d,
              std::function<void(bridges::settlement)> done) override {
    const auto* offset = find_field(d->properties.headers, "x-stream-offset");
    int64_t at = offset && std::holds_alternative<int64_t>(*offset)
                   ? std::get<int64_t>(*offset)
                   : -1;
    {
      std::lock_guard<std::mutex> guard{mutex};
      seen.emplace_back(at, d->properties.message_id);
    }
    next = at + 1;
    done(bridges::settlement::ack());
  }

  std::size_t count() {
    std::lock_guard<std::mutex> guard{mutex};
    return seen.size();
  }
};

// A consumer of `stream` that starts where `handler` says.
bridges::consumer_actor start_tail(caf::actor_system& sys,
                                   const bridges::topology& topo,
                                   const std::string& stream,
                                   const std::shared_ptr<tail_handler>& handler,
                                   uint16_t prefetch) {
  bridges::consumer_config cc;
  cc.broker = test::broker_settings();
  cc.topo = topo;
  cc.queue = stream;
  cc.prefetch = prefetch;
  cc.handler = handler;
  cc.actor_name = "tail";
  cc.consume_arguments = [handler] {
    return field_table{{"x-stream-offset", int64_t{handler->next}}};
  };
  return bridges::spawn_consumer(sys, cc);
}

void publish_range(bridges::blocking_client& client, const std::string& stream,
                   int from, int to) {
  for (int i = from; i < to; ++i) {
    outgoing_message msg;
    msg.routing_key = stream;
    msg.properties.message_id = "r-" + std::to_string(i);
    msg.body = "{}";
    REQUIRE_FALSE(client.publish(msg, 10s));
  }
}

} // namespace

TEST_CASE("a stream declared by the topology is read from the offset the "
          "consumer's arguments name, each record once with its offset, "
          "again from where a new consumer says",
          "[broker][stream]") {
  auto client = bridges::blocking_client::connect(test::broker_settings());
  REQUIRE(client);
  auto stream = test::unique("bt-stream");
  bridges::topology topo;
  bridges::queue_spec q;
  q.name = stream;
  q.type = bridges::queue_type::stream;
  q.max_age = "1h";
  q.max_length_bytes = 10'000'000;
  topo.queues.push_back(q);
  REQUIRE_FALSE((*client)->declare(topo));
  // A stream has no dead-letter queue.
  auto dlq = (*client)->message_count(stream + ".dlq");
  CHECK_FALSE(dlq);
  publish_range(**client, stream, 0, 10);

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto handler = std::make_shared<tail_handler>();
  handler->next = 5;
  auto start = [&] {
    return start_tail(sys, topo, stream, handler, 4);
  };
  auto first = start();
  REQUIRE(test::wait_until([&] { return handler->count() >= 5; }, 10s));
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard<std::mutex> guard{handler->mutex};
    REQUIRE(handler->seen.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) {
      CHECK(handler->seen[i].first == static_cast<int64_t>(5 + i));
      CHECK(handler->seen[i].second == "r-" + std::to_string(5 + i));
    }
  }
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  std::this_thread::sleep_for(200ms);

  // Records appended meanwhile are read from where the last one ended.
  publish_range(**client, stream, 10, 14);
  auto second = start();
  REQUIRE(test::wait_until([&] { return handler->count() >= 9; }, 10s));
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard<std::mutex> guard{handler->mutex};
    REQUIRE(handler->seen.size() == 9);
    for (std::size_t i = 5; i < 9; ++i) {
      CHECK(handler->seen[i].first == static_cast<int64_t>(5 + i));
      CHECK(handler->seen[i].second == "r-" + std::to_string(5 + i));
    }
  }
  caf::anon_send_exit(second, caf::exit_reason::user_shutdown);
  (*client)->delete_queue(stream);
}

TEST_CASE("a stream's reader at its end gets each record appended after it, "
          "the last one too, without waiting for another",
          "[broker][stream]") {
  auto client = bridges::blocking_client::connect(test::broker_settings());
  REQUIRE(client);
  auto stream = test::unique("bt-tail");
  auto topo = test::declare_stream(**client, stream);
  publish_range(**client, stream, 0, 1);
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  auto handler = std::make_shared<tail_handler>();
  auto consumer = start_tail(sys, topo, stream, handler, 100);
  REQUIRE(test::wait_until([&] { return handler->count() == 1; }, 10s));
  for (int i = 1; i < 6; ++i) {
    std::this_thread::sleep_for(300ms);
    publish_range(**client, stream, i, i + 1);
    INFO("record " << i);
    CHECK(test::wait_until(
      [&] { return handler->count() == static_cast<std::size_t>(i + 1); }, 5s));
  }
  caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
  (*client)->delete_queue(stream);
}
