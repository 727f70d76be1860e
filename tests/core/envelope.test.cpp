// Message identity helpers: effect ids and content keys (pure).

#include "warren/core/envelope.hpp"

#include <catch2/catch.hpp>

using namespace warren;

TEST_CASE("effect ids are the cause's id, the actor and the index, and stay "
          "within AMQP's short string",
          "[envelope]") {
  CHECK(effect_id("m-1", "bank", 0) == "m-1/bank/0");
  CHECK(effect_id("m-1", "bank", 12) == "m-1/bank/12");
  CHECK(effect_id("m-1", "bank", 0) != effect_id("m-2", "bank", 0));
  CHECK(effect_id("m-1", "bank", 0) != effect_id("m-1", "audit", 0));
  auto long_id = std::string(250, 'x');
  auto a = effect_id(long_id, "bank", 3);
  CHECK(a.size() <= 255);
  CHECK(a == effect_id(long_id, "bank", 3));
  CHECK(a != effect_id(long_id, "bank", 4));
  CHECK(a != effect_id(long_id + "y", "bank", 3));
}

TEST_CASE("a content key tells apart what differs in a message and ignores "
          "warren's attempt counter",
          "[envelope]") {
  envelope a;
  a.exchange = "warren.actors";
  a.routing_key = "bank.account";
  a.properties.type = "deposit";
  a.raw_body = R"({"amount":10})";
  auto b = a;
  CHECK(content_key(a) == content_key(b));
  set_field(b.properties.headers, header::attempt, int64_t{2});
  CHECK(content_key(a) == content_key(b));
  for (auto change : {+[](envelope& e) { e.raw_body += " "; },
                      +[](envelope& e) { e.routing_key = "other"; },
                      +[](envelope& e) { e.properties.type = "withdraw"; },
                      +[](envelope& e) { e.properties.timestamp = 1; },
                      +[](envelope& e) {
                        set_field(e.properties.headers, "x", std::string{"1"});
                      },
                      +[](envelope& e) {
                        set_field(e.properties.headers, "x", int64_t{1});
                      }}) {
    auto c = a;
    change(c);
    CHECK(content_key(a) != content_key(c));
  }
}
