// The dispatch stages, run by a warren actor's dispatcher against a
// consumer stand-in (pure logic: no broker, no threads). What is checked is
// what the consumer is asked to do with each delivery, and what goes out.

#include "dispatch/admission.hpp"
#include "dispatch/dispatchers.hpp"
#include "dispatch/settle.hpp"
#include "warren/core/errc.hpp"
#include "warren/metrics/registry.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <deque>
#include <set>
#include <stdexcept>
#include <utility>

using namespace warren;
using bridges::settlement;

namespace {

// Stands in for the consumer: publishes are recorded and confirmed at once
// (or refused with `refuse`), calls answered with `reply`.
struct host_stand_in : bridges::consumer_host {
  std::vector<outgoing_message> published;
  caf::error refuse;
  // Refuses the next publish only.
  caf::error refuse_once;
  void publish(outgoing_message msg, confirm_callback confirmed) override {
    published.push_back(std::move(msg));
    confirmed(refuse_once ? std::exchange(refuse_once, caf::error{}) : refuse);
  }
  std::vector<outgoing_message> replied;
  caf::error send_reply(const outgoing_message& msg) override {
    replied.push_back(msg);
    return caf::none;
  }
  void call(outgoing_message, std::chrono::milliseconds,
            reply_callback then) override {
    then(boost::json::value{{"answer", 42}});
  }
  void ask(const delivery_actor&, const envelope&,
           std::function<void(caf::expected<outcome>)> then) override {
    then(outcome::done());
  }
  void after(std::chrono::milliseconds, std::function<void()> fn) override {
    fn();
  }
  void fail(std::string reason) override { failed = std::move(reason); }
  void release(std::string reason) override { released = std::move(reason); }
  std::size_t working() const override { return 0; }
  std::string failed;
  std::string released;
};

// A test actor: "greet" replies, "boom" throws, "send" sends two messages,
// "send-then-fail" sends and fails, "crash" ends the instance.
class greeter : public actor {
 public:
  using actor::actor;
  int runs = 0;
  void setup(handlers& on) override {
    on.json("greet", [this](context& ctx, const boost::json::value& b) {
      ++runs;
      ctx.reply_json(b);
      return status::ok();
    });
    on.json("boom", [this](context&, const boost::json::value&) -> status {
      ++runs;
      throw std::runtime_error("boom");
    });
    on.json("send", [this](context& ctx, const boost::json::value&) {
      ++runs;
      ctx.send_json("a", "one", 1);
      ctx.send_json("b", "two", 2);
      return status::ok();
    });
    on.json("send-then-fail", [this](context& ctx, const boost::json::value&) {
      ++runs;
      ctx.send_json("a", "one", 1);
      return status::fail("no");
    });
    on.json("send-nan", [this](context& ctx, const boost::json::value&) {
      ++runs;
      ctx.send_json("a", "avg", {{"avg", std::nan("")}});
      return status::ok();
    });
    on.json("crash", [this](context&, const boost::json::value&) -> status {
      ++runs;
      throw actor_failure("state lost");
    });
    on.json("ask", [this](context& ctx, const boost::json::value&) {
      ++runs;
      ctx.call_json("svc", "q", nullptr, [](context& c, call_result r) {
        c.send_json("out", "answer", *r);
      });
      return status::ok();
    });
  }
};

struct fixture {
  host_stand_in host;
  std::shared_ptr<greeter> user;
  std::shared_ptr<bridges::delivery_handler> dispatcher;
  std::vector<settlement> settled;

  explicit fixture(config::retry_policy retry = {}, bool service = false,
                   metrics::counter immediate_retries = {}) {
    actor_init init;
    init.name = "greeter";
    user = std::make_shared<greeter>(init);
    detail::dispatch_services services;
    services.node_name = "n1";
    services.max_body_bytes = 64;
    detail::dispatch_settings settings{"greeter", std::move(retry)};
    settings.immediate_retries = immediate_retries;
    if (service)
      dispatcher = detail::make_actor_dispatcher(
        std::make_shared<service_like>(init), services, settings);
    else
      dispatcher = detail::make_actor_dispatcher(user, services, settings);
  }

  // A service: failed requests get an error reply.
  class service_like : public greeter {
   public:
    using greeter::greeter;
    bool replies_with_errors() const override { return true; }
  };

  settlement deliver(std::string type, std::string body,
                     std::string content_type = "application/json",
                     uint8_t delivery_mode = 2) {
    auto env = std::make_shared<envelope>();
    env->queue = "greeter";
    env->exchange = "warren.actors";
    env->routing_key = "greeter";
    env->properties.type = std::move(type);
    env->properties.message_id = "m-" + std::to_string(settled.size());
    env->properties.reply_to = "caller";
    env->properties.content_type = std::move(content_type);
    env->properties.delivery_mode = delivery_mode;
    env->raw_body = std::move(body);
    dispatcher->handle(
      host, env, [this](settlement s) { settled.push_back(std::move(s)); });
    REQUIRE(!settled.empty());
    return settled.back();
  }
};

std::string header_text(const outgoing_message& msg, const char* key) {
  const auto* v = find_field(msg.properties.headers, key);
  return v ? std::get<std::string>(*v) : std::string{};
}

} // namespace

TEST_CASE("admission: an oversized body, a foreign content type and a body "
          "that is not JSON never reach the actor, they are dead-lettered "
          "with their reason",
          "[dispatch]") {
  fixture f;
  auto big = f.deliver("greet", "\"" + std::string(100, 'x') + "\"");
  auto text = f.deliver("greet", "hi", "text/plain");
  auto bad = f.deliver("greet", "{not json");
  for (const auto* s : {&big, &text, &bad}) {
    CHECK(s->what == settlement::action::move);
    CHECK(s->dead_letter);
    CHECK(s->copy->routing_key == "greeter.dlq");
  }
  CHECK(header_text(*big.copy, header::error_code) == "oversized_body");
  CHECK(header_text(*text.copy, header::error_code) == "malformed_body");
  CHECK(header_text(*bad.copy, header::error_code) == "malformed_body");
  CHECK(f.user->runs == 0);
}

TEST_CASE("admission parses the body once and treats a missing content type "
          "as JSON",
          "[dispatch]") {
  envelope env;
  env.properties.content_type.clear();
  env.properties.message_id = "m-1";
  env.raw_body = R"({"a":1})";
  CHECK_FALSE(detail::admit(env, {1024, false}));
  CHECK(env.body.at("a") == 1);
  CHECK(env.properties.message_id == "m-1");
  CHECK_FALSE(env.anonymous);
  CHECK(detail::is_json_content_type("application/json; charset=utf-8"));
  CHECK(detail::is_json_content_type("application/vnd.x+json"));
  CHECK_FALSE(detail::is_json_content_type("text/plain"));
}

TEST_CASE("admission gives each message without an id a fresh id of its own: "
          "two identical id-less messages are never merged",
          "[dispatch]") {
  envelope a;
  a.exchange = "warren.actors";
  a.routing_key = "bank.account";
  a.properties.timestamp = 1700000000;
  a.raw_body = R"({"account":"alice","amount":10})";
  auto b = a;
  CHECK_FALSE(detail::admit(a, {1024, false}));
  CHECK_FALSE(detail::admit(b, {1024, false}));
  CHECK(a.anonymous);
  CHECK(b.anonymous);
  CHECK(a.properties.message_id.rfind("anon-", 0) == 0);
  CHECK(a.properties.message_id != b.properties.message_id);
  // What recognises a redelivery is the content, which they share.
  CHECK(content_key(a) == content_key(b));
}

TEST_CASE("an actor with require_message_id dead-letters a message without "
          "an id, with the reason",
          "[dispatch]") {
  envelope env;
  env.raw_body = "{}";
  auto rejected = detail::admit(env, {1024, true});
  REQUIRE(rejected);
  CHECK(rejected->code == errc::validation_failed);
  CHECK(rejected->reason.find("require_message_id") != std::string::npos);
  envelope with_id;
  with_id.properties.message_id = "m-1";
  with_id.raw_body = "{}";
  CHECK_FALSE(detail::admit(with_id, {1024, true}));
}

TEST_CASE("effects go out after the handler returned, in order, and the "
          "delivery is acked once they are confirmed",
          "[dispatch]") {
  fixture f;
  auto s = f.deliver("send", "null");
  CHECK(s.what == settlement::action::ack);
  REQUIRE(f.host.published.size() == 2);
  CHECK(f.host.published[0].routing_key == "a");
  CHECK(f.host.published[1].routing_key == "b");
  // Carried along the chain: the trace id is the first message's id.
  CHECK(header_text(f.host.published[0], header::trace) == "m-0");
  // Stable ids: the cause's id, the actor, the effect's index.
  CHECK(f.host.published[0].properties.message_id == "m-0/greeter/0");
  CHECK(f.host.published[1].properties.message_id == "m-0/greeter/1");
}

TEST_CASE("a retried handler sends the same ids as its first attempt, so a "
          "downstream inbox drops the copies",
          "[dispatch]") {
  config::retry_policy retry;
  retry.immediate = 1;
  fixture f{retry};
  f.host.refuse_once = make_error(errc::publish_nacked, "nacked");
  auto s = f.deliver("send", "null");
  CHECK(s.what == settlement::action::ack);
  CHECK(f.user->runs == 2);
  // The first attempt's "a" was refused, its "b" went out; the retry sent
  // both again, under the same ids.
  REQUIRE(f.host.published.size() == 4);
  std::multiset<std::string> ids;
  for (const auto& msg : f.host.published)
    ids.insert(msg.properties.message_id);
  CHECK(ids.count("m-0/greeter/0") == 2);
  CHECK(ids.count("m-0/greeter/1") == 2);
}

TEST_CASE("a failed handler sends nothing, and the message is dead-lettered "
          "after its last attempt",
          "[dispatch]") {
  fixture f;
  auto s = f.deliver("send-then-fail", "null");
  CHECK(f.host.published.empty());
  CHECK(s.what == settlement::action::move);
  CHECK(s.dead_letter);
  CHECK(header_text(*s.copy, header::error_code) == "handler_failed");
}

TEST_CASE("a handler that sends what JSON cannot carry (a NaN) fails "
          "permanently with the path, and nothing goes out",
          "[dispatch]") {
  config::retry_policy retry;
  retry.immediate = 2;
  fixture f{retry};
  auto s = f.deliver("send-nan", "null");
  CHECK(f.user->runs == 1);
  CHECK(f.host.published.empty());
  CHECK(s.dead_letter);
  CHECK(header_text(*s.copy, header::error_code) == "validation_failed");
  CHECK_THAT(header_text(*s.copy, header::error), Catch::Contains("$.avg"));
}

TEST_CASE("a refused effect fails its message: a missing exchange is "
          "permanent, no retry",
          "[dispatch]") {
  config::retry_policy retry;
  retry.immediate = 2;
  fixture f{retry};
  f.host.refuse = make_error(errc::not_found, "no exchange 'x'");
  auto s = f.deliver("send", "null");
  CHECK(f.user->runs == 1);
  CHECK(s.dead_letter);
  CHECK(header_text(*s.copy, header::error_code) == "not_found");
}

TEST_CASE("the retry policy: immediate retries run the handler again as the "
          "next attempt, then a copy is parked on the ladder",
          "[dispatch]") {
  config::retry_policy retry;
  retry.immediate = 2;
  retry.delays = {std::chrono::milliseconds{1000}};
  metrics::registry reg{"n1"};
  auto retried = reg.make_counter("warren_messages_retried_total", "r");
  fixture f{retry, false, retried};
  auto s = f.deliver("boom", "null");
  CHECK(f.user->runs == 3); // The first attempt and two immediate retries.
  // Both immediate retries are counted (the parked copy is counted by the
  // consumer once it is confirmed).
  CHECK(reg.scrape().find("warren_messages_retried_total{node=\"n1\"} 2") !=
        std::string::npos);
  CHECK(s.what == settlement::action::move);
  CHECK_FALSE(s.dead_letter);
  CHECK(s.copy->routing_key == "greeter.retry.1");
  const auto* attempt = find_field(s.copy->properties.headers, header::attempt);
  REQUIRE(attempt != nullptr);
  CHECK(std::get<int64_t>(*attempt) == 4);
}

TEST_CASE("a message with a type nobody handles fails permanently without "
          "running any handler",
          "[dispatch]") {
  config::retry_policy retry;
  retry.immediate = 3;
  fixture f{retry};
  auto s = f.deliver("nope", "null");
  CHECK(f.user->runs == 0);
  CHECK(s.dead_letter);
  CHECK(header_text(*s.copy, header::error_code) == "unknown_type");
  CHECK(header_text(*s.copy, header::error) == "unknown message type 'nope'");
}

TEST_CASE("a service answers a failed request with an error reply before the "
          "request is dead-lettered",
          "[dispatch]") {
  fixture f{{}, true};
  auto s = f.deliver("boom", "null");
  REQUIRE(f.host.published.size() == 1);
  const auto& reply = f.host.published[0];
  CHECK(reply.routing_key == "caller");
  CHECK(reply.properties.type == "warren.error");
  CHECK(header_text(reply, header::error_code) == "handler_failed");
  CHECK(s.dead_letter);
}

TEST_CASE("actor_failure ends the instance: its message settles with the "
          "failure, and later deliveries are requeued untouched",
          "[dispatch]") {
  fixture f;
  auto s = f.deliver("crash", "null");
  CHECK(s.next == outcome::lifecycle::actor_failed);
  auto later = f.deliver("greet", "1");
  CHECK(later.what == settlement::action::requeue);
  CHECK(f.user->runs == 1);
}

TEST_CASE("a call's continuation runs with the reply and its sends go out "
          "before the delivery settles",
          "[dispatch]") {
  fixture f;
  auto s = f.deliver("ask", "null");
  CHECK(s.what == settlement::action::ack);
  REQUIRE(f.host.published.size() == 1);
  CHECK(f.host.published[0].routing_key == "out");
  CHECK(f.host.published[0].body == R"({"answer":42})");
}

TEST_CASE("the retry decision is pure: run again, park, or dead-letter",
          "[dispatch]") {
  config::retry_policy retry;
  retry.immediate = 1;
  retry.delays = {std::chrono::milliseconds{10}, std::chrono::milliseconds{20}};
  using action = detail::failure_plan::action;
  CHECK(detail::plan_failure(retry, "q", 1, false, false).what ==
        action::run_again);
  // The instance ends with this message: its successor retries it.
  auto ending = detail::plan_failure(retry, "q", 1, false, true);
  CHECK(ending.what == action::park);
  CHECK(ending.target_queue == "q");
  auto later = detail::plan_failure(retry, "q", 3, false, false);
  CHECK(later.what == action::park);
  CHECK(later.target_queue == "q.retry.2");
  CHECK(later.next_attempt == 4);
  CHECK(detail::plan_failure(retry, "q", 4, false, false).what ==
        action::dead_letter);
  CHECK(detail::plan_failure(retry, "q", 1, true, false).what ==
        action::dead_letter);
}

TEST_CASE("stateless and stateful handler tables find a handler by one rule: "
          "its type, else the default, else none",
          "[dispatch]") {
  handlers plain;
  json_state_handlers stateful;
  plain.json("a",
             [](context&, const boost::json::value&) { return status::ok(); });
  stateful.json("a", [](context&, boost::json::value&,
                        const boost::json::value&) { return status::ok(); });
  for (const auto* type : {"", "zz"}) {
    INFO(type);
    CHECK(plain.find(type) == nullptr);
    CHECK(stateful.find(type) == nullptr);
  }
  CHECK(plain.find("a") != nullptr);
  CHECK(stateful.find("a") != nullptr);
  plain.otherwise(
    [](context&, const boost::json::value&) { return status::ok(); });
  stateful.otherwise([](context&, boost::json::value&,
                        const boost::json::value&) { return status::ok(); });
  for (const auto* type : {"", "zz"}) {
    INFO(type);
    CHECK(plain.find(type) != nullptr);
    CHECK(stateful.find(type) != nullptr);
  }
}

TEST_CASE("a reply to a persistent request goes out with a confirm, one to a "
          "transient request goes out on the request's own channel, without",
          "[dispatch]") {
  fixture f;
  auto persistent = f.deliver("greet", R"({"n":1})");
  CHECK(persistent.what == settlement::action::ack);
  REQUIRE(f.host.published.size() == 1);
  CHECK(f.host.published[0].properties.delivery_mode == 2);
  CHECK(f.host.replied.empty());
  auto transient = f.deliver("greet", R"({"n":2})", "application/json", 1);
  CHECK(transient.what == settlement::action::ack);
  CHECK(f.host.published.size() == 1);
  REQUIRE(f.host.replied.size() == 1);
  CHECK(f.host.replied[0].routing_key == "caller");
  CHECK(f.host.replied[0].body == R"({"n":2})");
  CHECK(f.host.replied[0].properties.delivery_mode == 1);
}
