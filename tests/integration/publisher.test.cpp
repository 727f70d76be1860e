// The publisher actor on its own: batches, and what it answers.

#include "warren/bridges/publisher.hpp"

#include "support.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/core/errc.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <set>
#include <string>

using namespace warren;
using namespace std::chrono_literals;

namespace {

warren::outgoing_message to_queue(const std::string& queue,
                                  const std::string& id) {
  warren::outgoing_message msg;
  msg.routing_key = queue;
  msg.mandatory = true;
  msg.properties.message_id = id;
  msg.body = R"({"id":")" + id + R"("})";
  return msg;
}

// Publishes `batch` through a fresh publisher and returns its answer.
caf::error publish_batch(const bridges::topology& topo,
                         bridges::publish_batch batch) {
  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", size_t{2});
  sys_cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{sys_cfg};
  bridges::publisher_config pc;
  pc.broker = test::broker_settings();
  pc.topo = topo;
  auto publisher = bridges::spawn_publisher(sys, pc);
  caf::error result;
  caf::scoped_actor self{sys};
  self
    ->request(publisher, std::chrono::seconds{30}, bridges::publish_atom::value,
              std::move(batch))
    .receive([](caf::ok_atom) {}, [&](caf::error& err) { result = err; });
  self->send_exit(publisher, caf::exit_reason::user_shutdown);
  self->wait_for(publisher);
  return result;
}

} // namespace

TEST_CASE("a batch of 300 messages is answered once, after every message is "
          "confirmed and in the queue",
          "[broker][publisher]") {
  test::broker_scratch broker;
  auto queue = broker.queue("batch");
  bridges::topology topo;
  bridges::queue_spec qs;
  qs.name = queue;
  topo.queues.push_back(qs);
  bridges::publish_batch batch;
  std::set<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    auto id = queue + "-" + std::to_string(i);
    ids.insert(id);
    batch.messages.push_back(to_queue(queue, id));
  }
  CHECK_FALSE(publish_batch(topo, std::move(batch)));
  auto got = broker.receive(queue, 300);
  std::set<std::string> received;
  for (const auto& env : got)
    received.insert(env.properties.message_id);
  CHECK(received == ids);
}

TEST_CASE("a batch with one unroutable mandatory message fails with "
          "unroutable while the others are delivered",
          "[broker][publisher]") {
  test::broker_scratch broker;
  auto queue = broker.queue("batch-bad");
  bridges::topology topo;
  bridges::queue_spec qs;
  qs.name = queue;
  topo.queues.push_back(qs);
  bridges::publish_batch batch;
  batch.messages.push_back(to_queue(queue, "first"));
  batch.messages.push_back(to_queue(test::unique_name("it-nosuch"), "lost"));
  batch.messages.push_back(to_queue(queue, "third"));
  auto err = publish_batch(topo, std::move(batch));
  CHECK(code_of(err) == errc::unroutable);
  CHECK(broker.wait_for_count(queue, 2) == 2);
}
