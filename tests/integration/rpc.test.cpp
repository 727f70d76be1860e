// Request-response against a running node: the `warren call` CLI, the
// blocking client, error replies of failing services, and services that call
// other services through their context.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object service(const std::string& name, const std::string& handler) {
  return {{"name", name}, {"kind", "service"}, {"handler", handler}};
}

warren::outgoing_message request_to(const std::string& service,
                                    const std::string& type,
                                    const std::string& body) {
  warren::outgoing_message msg;
  msg.exchange = bridges::actors_exchange;
  msg.routing_key = service;
  msg.mandatory = true;
  msg.properties.type = type;
  msg.body = body;
  return msg;
}

} // namespace

TEST_CASE("an echo service answers warren call with the request body",
          "[broker][rpc]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto echo = broker.queue("echo");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{service(echo, "echo")};
  test::node_process node{dir, cfg};
  auto request = R"({"greeting":"hello","n":[1,2,3],"nested":{"ok":true}})";
  auto res = test::warren(
    {"call", "-u", test::broker_uri(), echo, request, "--timeout", "10000"});
  INFO("stderr: " << res.err);
  REQUIRE(res.exit_code == 0);
  CHECK(json::parse(res.out) == json::parse(request));
  CHECK(node.stop() == 0);
  CHECK(broker.count(echo) == 0);
  CHECK(broker.count(echo + ".dlq") == 0);
}

TEST_CASE("an echo service answers blocking_client calls with the request "
          "body, type and correlation id",
          "[broker][rpc]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto echo = broker.queue("echo");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{service(echo, "echo")};
  test::node_process node{dir, cfg};
  for (int i = 0; i < 30; ++i) {
    auto body = R"({"i":)" + std::to_string(i) + "}";
    auto req = request_to(echo, "greet", body);
    req.properties.delivery_mode = 1; // as `warren call` sends requests
    req.properties.correlation_id = test::unique_name("corr");
    INFO("call " << i);
    auto reply = broker.client().call(req, std::chrono::seconds{5});
    if (!reply)
      FAIL("call " << i << ": " << describe(reply.error()));
    CHECK(json::parse(reply->raw_body) == json::parse(body));
    CHECK(reply->properties.type == "greet");
    CHECK(reply->properties.correlation_id == req.properties.correlation_id);
  }
}

TEST_CASE("blocking_client::call gets the reply to a persistent request even "
          "when it arrives before the broker's confirm",
          "[broker][rpc][client]") {
  // A persistent request to a durable queue is confirmed once it is on disk;
  // the echo reply often arrives first (measured with raw rabbitmq-c: 15 of
  // 20 calls). call() must keep a reply read while it waits for the confirm,
  // or it times out.
  test::temp_dir dir;
  test::broker_scratch broker;
  auto echo = broker.queue("echo");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{service(echo, "echo")};
  test::node_process node{dir, cfg};
  for (int i = 0; i < 20; ++i) {
    auto body = R"({"i":)" + std::to_string(i) + "}";
    auto req = request_to(echo, "greet", body);
    REQUIRE(req.properties.delivery_mode == 2); // the default
    auto reply = broker.client().call(req, std::chrono::seconds{3});
    if (!reply)
      FAIL("call " << i << ": " << describe(reply.error()));
    CHECK(json::parse(reply->raw_body) == json::parse(body));
  }
}

TEST_CASE("a failing service request gets a warren.error reply and the CLI "
          "exits with 6",
          "[broker][rpc][errors]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto svc = broker.queue("faulty");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{service(svc, "test.faulty")};
  test::node_process node{dir, cfg};

  SECTION("through warren call") {
    auto res = test::warren({"call", "-u", test::broker_uri(), svc, "-t",
                             "boom", R"({"x":1})", "--timeout", "10000"});
    INFO("stdout: " << res.out << "\nstderr: " << res.err);
    REQUIRE(res.exit_code == 6);
    auto reply = json::parse(res.out);
    REQUIRE(reply.is_object());
    const auto& error = reply.at("error");
    CHECK(error.at("code") == "handler_failed");
    CHECK(std::string{error.at("message").as_string()}.find(
            "boom requested by the test") != std::string::npos);
  }

  SECTION("through blocking_client::call") {
    auto req = request_to(svc, "boom", R"({"x":1})");
    req.properties.delivery_mode = 1;
    auto reply = broker.client().call(req, std::chrono::seconds{5});
    if (!reply)
      FAIL("call: " << describe(reply.error()));
    CHECK(reply->properties.type == "warren.error");
    CHECK(test::header_string(*reply, warren::header::error_code) ==
          "handler_failed");
    CHECK(json::parse(reply->raw_body).at("error").at("code") ==
          "handler_failed");
  }

  // The failed request is also dead-lettered.
  auto letters = broker.wait_and_receive(svc + ".dlq", 1);
  CHECK(test::header_string(letters[0], warren::header::error_code) ==
        "handler_failed");
  CHECK(letters[0].raw_body == R"({"x":1})");
  // And the service still answers good requests.
  auto res = test::warren({"call", "-u", test::broker_uri(), svc, "-t", "ok",
                           R"({"y":2})", "--timeout", "10000"});
  INFO("stderr: " << res.err);
  REQUIRE(res.exit_code == 0);
  CHECK(json::parse(res.out) == json::parse(R"({"ok":true,"body":{"y":2}})"));
}

TEST_CASE("a typed service answers with its typed reply and rejects a body "
          "of the wrong shape with validation_failed",
          "[broker][rpc][errors]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto svc = broker.queue("strict");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{service(svc, "test.strict")};
  test::node_process node{dir, cfg};
  auto good = test::warren({"call", "-u", test::broker_uri(), svc, "-t",
                            "strict", R"({"a":21})", "--timeout", "10000"});
  INFO("stderr: " << good.err);
  REQUIRE(good.exit_code == 0);
  CHECK(json::parse(good.out) == json::parse(R"({"doubled":42})"));
  auto bad =
    test::warren({"call", "-u", test::broker_uri(), svc, "-t", "strict",
                  R"({"a":"twenty-one"})", "--timeout", "10000"});
  INFO("stderr: " << bad.err);
  REQUIRE(bad.exit_code == 6);
  CHECK(json::parse(bad.out).at("error").at("code") == "validation_failed");
}

TEST_CASE("a service that calls another service through its context replies "
          "with that service's answer",
          "[broker][rpc][context]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto echo = broker.queue("echo");
  auto front = broker.queue("front");
  auto cfg = test::node_config(dir);
  auto fwd = service(front, "test.forwarder");
  fwd["options"] = json::object{{"call", echo}};
  cfg["actors"] = json::array{service(echo, "echo"), fwd};
  test::node_process node{dir, cfg};
  auto res = test::warren({"call", "-u", test::broker_uri(), front, "-t", "hop",
                           R"({"via":"front"})", "--timeout", "10000"});
  INFO("stderr: " << res.err << "\nnode stderr: " << node.err());
  REQUIRE(res.exit_code == 0);
  CHECK(json::parse(res.out) == json::parse(R"({"via":"front"})"));
}

TEST_CASE("a context call to a service that does not exist fails the request "
          "with unroutable",
          "[broker][rpc][context][errors]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto front = broker.queue("front");
  auto cfg = test::node_config(dir);
  auto fwd = service(front, "test.forwarder");
  fwd["options"] = json::object{{"call", test::unique_name("it-nosuch")}};
  cfg["actors"] = json::array{fwd};
  test::node_process node{dir, cfg};
  auto res = test::warren({"call", "-u", test::broker_uri(), front,
                           R"({"x":1})", "--timeout", "10000"});
  INFO("stdout: " << res.out << "\nstderr: " << res.err);
  REQUIRE(res.exit_code == 6);
  CHECK(json::parse(res.out).at("error").at("code") == "unroutable");
  auto letters = broker.wait_and_receive(front + ".dlq", 1);
  CHECK(test::header_string(letters[0], warren::header::error_code) ==
        "unroutable");
}

TEST_CASE("warren call to a service that does not exist fails with exit 1",
          "[broker][rpc][cli]") {
  auto res =
    test::warren({"call", "-u", test::broker_uri(),
                  test::unique_name("it-nosuch"), "{}", "--timeout", "3000"});
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("no queue took") != std::string::npos);
}

TEST_CASE("blocking_client::call returns the reply with the JSON body parsed",
          "[broker][rpc][client]") {
  // envelope::body is documented as "the parsed body (null when the body was
  // empty)"; blocking_client::call leaves it null.
  test::temp_dir dir;
  test::broker_scratch broker;
  auto echo = broker.queue("echo");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{service(echo, "echo")};
  test::node_process node{dir, cfg};
  auto req = request_to(echo, "greet", R"({"a":1})");
  req.properties.delivery_mode = 1;
  auto reply = broker.client().call(req, std::chrono::seconds{5});
  if (!reply)
    FAIL("call: " << describe(reply.error()));
  CHECK(reply->raw_body == R"({"a":1})");
  CHECK(reply->body == json::parse(R"({"a":1})"));
}
