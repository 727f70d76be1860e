// Topology helpers: the names and arguments sent to the broker.

#include "warren/bridges/topology.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>
#include <vector>

using namespace warren;
using namespace warren::bridges;

namespace {

/// The keys of a field table in order.
std::vector<std::string> keys_of(const field_table& table) {
  std::vector<std::string> keys;
  for (const auto& entry : table)
    keys.push_back(entry.first);
  return keys;
}

const field_value& value_of(const field_table& table, const std::string& key) {
  for (const auto& entry : table)
    if (entry.first == key)
      return entry.second;
  FAIL("no argument " << key);
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("to_string spells types and modes the way RabbitMQ does",
          "[topology]") {
  CHECK(std::string{to_string(exchange_type::direct)} == "direct");
  CHECK(std::string{to_string(exchange_type::fanout)} == "fanout");
  CHECK(std::string{to_string(exchange_type::topic)} == "topic");
  CHECK(std::string{to_string(exchange_type::headers)} == "headers");
  CHECK(std::string{to_string(overflow_mode::drop_head)} == "drop-head");
  CHECK(std::string{to_string(overflow_mode::reject_publish)} ==
        "reject-publish");
  CHECK(std::string{to_string(overflow_mode::reject_publish_dlx)} ==
        "reject-publish-dlx");
  CHECK(std::string{to_string(queue_type::classic)} == "classic");
  CHECK(std::string{to_string(queue_type::quorum)} == "quorum");
}

TEST_CASE("a plain classic queue has no arguments but the route of what the "
          "broker dead-letters to its .dlq",
          "[topology]") {
  queue_spec spec;
  spec.name = "jobs";
  CHECK(keys_of(queue_arguments(spec)) ==
        std::vector<std::string>{"x-dead-letter-exchange",
                                 "x-dead-letter-routing-key"});
  CHECK(legacy_queue_arguments(spec).empty());
  spec.dead_letter_queue = false;
  CHECK(queue_arguments(spec).empty());
}

TEST_CASE("queue_arguments maps every optional setting to its x- argument",
          "[topology]") {
  queue_spec spec;
  spec.name = "jobs";
  spec.message_ttl_ms = 60000;
  spec.expires_ms = 120000;
  spec.dead_letter_exchange = "";
  spec.dead_letter_routing_key = "jobs.dead";
  spec.max_length = 1000;
  spec.max_length_bytes = 1 << 20;
  spec.overflow = overflow_mode::reject_publish_dlx;
  spec.max_priority = 10;
  spec.single_active_consumer = true;
  auto args = queue_arguments(spec);
  CHECK(keys_of(args) ==
        std::vector<std::string>{
          "x-message-ttl", "x-expires", "x-dead-letter-exchange",
          "x-dead-letter-routing-key", "x-max-length", "x-max-length-bytes",
          "x-overflow", "x-max-priority", "x-single-active-consumer"});
  CHECK(value_of(args, "x-message-ttl") == field_value{int64_t{60000}});
  CHECK(value_of(args, "x-expires") == field_value{int64_t{120000}});
  CHECK(value_of(args, "x-dead-letter-exchange") == field_value{std::string{}});
  CHECK(value_of(args, "x-dead-letter-routing-key") ==
        field_value{std::string{"jobs.dead"}});
  CHECK(value_of(args, "x-max-length") == field_value{int64_t{1000}});
  CHECK(value_of(args, "x-max-length-bytes") == field_value{int64_t{1 << 20}});
  CHECK(value_of(args, "x-overflow") ==
        field_value{std::string{"reject-publish-dlx"}});
  CHECK(value_of(args, "x-max-priority") == field_value{int64_t{10}});
  CHECK(value_of(args, "x-single-active-consumer") == field_value{true});
}

TEST_CASE("a quorum queue declares x-queue-type and a classic one does not",
          "[topology]") {
  queue_spec spec;
  spec.type = queue_type::quorum;
  auto args = queue_arguments(spec);
  REQUIRE(args.size() == 1);
  CHECK(args[0].first == "x-queue-type");
  CHECK(args[0].second == field_value{std::string{"quorum"}});
  spec.type = queue_type::classic;
  CHECK(queue_arguments(spec).empty());
}

TEST_CASE("a named quorum queue routes the broker's own dead letters to its "
          ".dlq at least once, an earlier warren's arguments lack them",
          "[topology]") {
  queue_spec spec;
  spec.name = "orders";
  spec.type = queue_type::quorum;
  auto args = queue_arguments(spec);
  CHECK(keys_of(args) ==
        std::vector<std::string>{"x-queue-type", "x-dead-letter-exchange",
                                 "x-dead-letter-routing-key",
                                 "x-dead-letter-strategy", "x-overflow"});
  CHECK(value_of(args, "x-dead-letter-routing-key") ==
        field_value{std::string{"orders.dlq"}});
  CHECK(value_of(args, "x-dead-letter-strategy") ==
        field_value{std::string{"at-least-once"}});
  CHECK(keys_of(legacy_queue_arguments(spec)) ==
        std::vector<std::string>{"x-queue-type"});
  // Dropping the oldest when full cannot be at least once: left as it is.
  spec.overflow = overflow_mode::drop_head;
  CHECK(keys_of(queue_arguments(spec)) ==
        std::vector<std::string>{"x-queue-type", "x-dead-letter-exchange",
                                 "x-dead-letter-routing-key", "x-overflow"});
  // A dead-letter exchange of the user's own is never replaced.
  spec.dead_letter_exchange = "mine";
  CHECK(value_of(queue_arguments(spec), "x-dead-letter-exchange") ==
        field_value{std::string{"mine"}});
  // Classic queues dead-letter at most once: no strategy, no overflow.
  queue_spec classic;
  classic.name = "orders";
  CHECK(keys_of(queue_arguments(classic)) ==
        std::vector<std::string>{"x-dead-letter-exchange",
                                 "x-dead-letter-routing-key"});
}

TEST_CASE("settings warren keeps to itself are not queue arguments",
          "[topology]") {
  queue_spec spec;
  spec.durable = false;
  spec.exclusive = true;
  spec.auto_delete = true;
  spec.dead_letter_queue = false;
  spec.single_active_consumer = false;
  CHECK(queue_arguments(spec).empty());
}

TEST_CASE("the dead-letter queue of a queue is its name with .dlq",
          "[topology]") {
  CHECK(dead_letter_queue_name("orders") == "orders.dlq");
  CHECK(dead_letter_queue_name("a.b") == "a.b.dlq");
}
