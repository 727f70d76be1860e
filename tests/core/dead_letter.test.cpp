// The one dead-letter builder: every path that gives up on a message builds
// the same copy with the same headers.

#include "warren/core/dead_letter.hpp"

#include <catch2/catch.hpp>

using namespace warren;

namespace {

std::string text_of(const outgoing_message& msg, const char* key) {
  const auto* v = find_field(msg.properties.headers, key);
  REQUIRE(v != nullptr);
  return std::get<std::string>(*v);
}

int64_t int_of(const outgoing_message& msg, const char* key) {
  const auto* v = find_field(msg.properties.headers, key);
  REQUIRE(v != nullptr);
  return std::get<int64_t>(*v);
}

envelope delivery() {
  envelope env;
  env.exchange = "orders.in";
  env.routing_key = "eu";
  env.queue = "orders";
  env.properties.message_id = "m-1";
  env.properties.type = "place";
  env.properties.expiration = "60000";
  env.properties.delivery_mode = 1;
  set_field(env.properties.headers, header::attempt, int64_t{3});
  env.raw_body = R"({"id":7})";
  return env;
}

} // namespace

TEST_CASE("a dead letter is the delivery byte for byte, persistent, without "
          "expiration, to <queue>.dlq with why, who, where and how often",
          "[dead_letter]") {
  auto msg = make_dead_letter(
    delivery(), {errc::unknown_type, "unknown message type 'x'", "ord", "n1"});
  CHECK(msg.exchange.empty());
  CHECK(msg.routing_key == "orders.dlq");
  CHECK(msg.mandatory);
  CHECK(msg.body == R"({"id":7})");
  CHECK(msg.properties.message_id == "m-1");
  CHECK(msg.properties.type == "place");
  CHECK(msg.properties.expiration.empty());
  CHECK(msg.properties.delivery_mode == 2);
  CHECK(text_of(msg, header::error) == "unknown message type 'x'");
  CHECK(text_of(msg, header::error_code) == "unknown_type");
  CHECK(text_of(msg, header::actor) == "ord");
  CHECK(text_of(msg, header::node) == "n1");
  CHECK(text_of(msg, header::original_exchange) == "orders.in");
  CHECK(text_of(msg, header::original_routing_key) == "eu");
  CHECK(int_of(msg, header::attempts) == 3); // From x-warren-attempt.
}

TEST_CASE("a retry copy goes to its ladder step as the next attempt, and the "
          "first route survives the trip",
          "[dead_letter]") {
  auto env = delivery();
  auto copy = make_retry_copy(env, {errc::handler_failed, "boom", "ord", "n1"},
                              "orders.retry.1", 4);
  CHECK(copy.routing_key == "orders.retry.1");
  CHECK(int_of(copy, header::attempt) == 4);
  // Back from the ladder it arrives through the default exchange; its dead
  // letter still names the first route.
  envelope back;
  back.queue = "orders";
  back.exchange = "";
  back.routing_key = "orders";
  back.properties = copy.properties;
  back.raw_body = copy.body;
  auto dead =
    make_dead_letter(back, {errc::handler_failed, "boom", "ord", "n1"});
  CHECK(text_of(dead, header::original_exchange) == "orders.in");
  CHECK(text_of(dead, header::original_routing_key) == "eu");
  CHECK(int_of(dead, header::attempts) == 4);
}

TEST_CASE("an outbox row the broker refused gets the same dead letter, after "
          "one attempt",
          "[dead_letter]") {
  message_properties props;
  props.message_id = "m-1/bank/0";
  auto msg =
    make_dead_letter(props, "{}", "no-such", "key", "bank",
                     {errc::not_found, "no exchange", "bank", "n1"}, 1);
  CHECK(msg.routing_key == "bank.dlq");
  CHECK(text_of(msg, header::error_code) == "not_found");
  CHECK(text_of(msg, header::original_exchange) == "no-such");
  CHECK(int_of(msg, header::attempts) == 1);
}

TEST_CASE("dead letters and retry copies stay in their message's trace: the "
          "trace it carries, or its own id when it started one",
          "[dead_letter][trace]") {
  auto env = delivery();
  move_reason why{errc::handler_failed, "boom", "orders", "n1"};
  // No trace header: the message started its trace.
  CHECK(trace_of(env.properties) == "m-1");
  CHECK(text_of(make_dead_letter(env, why, 0), header::trace) == "m-1");
  CHECK(text_of(make_retry_copy(env, why, "orders.retry.1", 2),
                header::trace) == "m-1");
  // A trace it came with is kept, not replaced by its id.
  set_field(env.properties.headers, header::trace, std::string{"t-0"});
  CHECK(trace_of(env.properties) == "t-0");
  CHECK(text_of(make_dead_letter(env, why, 0), header::trace) == "t-0");
  CHECK(text_of(make_retry_copy(env, why, "orders.retry.1", 2),
                header::trace) == "t-0");
  // A trace header that is not a string is no trace.
  set_field(env.properties.headers, header::trace, int64_t{5});
  CHECK(trace_of(env.properties) == "m-1");
}
