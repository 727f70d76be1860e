// The management API's pure parts: its URIs, the default one of a broker,
// and finding a node's connections in a listing (the HTTP calls are tested
// against real brokers by the downing test, [cluster][downing]).

#include "warren/bridges/management.hpp"

#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren;
using namespace warren::bridges;

namespace {

management_endpoint defaults() {
  management_endpoint d;
  d.user = "svc";
  d.password = "secret";
  return d;
}

} // namespace

TEST_CASE("a management URI: host, port, and credentials or the broker's",
          "[management]") {
  auto ep = parse_management_uri("http://rabbit-1:15673/", defaults());
  REQUIRE(ep);
  CHECK(ep->host == "rabbit-1");
  CHECK(ep->port == 15673);
  CHECK(ep->user == "svc");
  CHECK(ep->password == "secret");
  CHECK(ep->redacted() == "http://rabbit-1:15673/");
  auto own = parse_management_uri("http://ops:p%40ss@rabbit-2", defaults());
  REQUIRE(own);
  CHECK(own->port == 15672);
  CHECK(own->user == "ops");
  CHECK(own->password == "p@ss");
}

TEST_CASE("a management URI that is not one says which part is wrong",
          "[management]") {
  auto error_of = [](const char* uri) {
    auto ep = parse_management_uri(uri, defaults());
    REQUIRE_FALSE(ep);
    CHECK(code_of(ep.error()) == errc::invalid_uri);
    return describe(ep.error());
  };
  CHECK_THAT(error_of("https://rabbit:15671/"),
             Catch::Contains("invalid management URI") &&
               Catch::Contains("unsupported scheme \"https\" (expected http)"));
  CHECK_THAT(error_of("amqp://rabbit/"), Catch::Contains("(expected http)"));
  CHECK_THAT(error_of("http://rabbit:15672/api"),
             Catch::Contains("expected no path"));
  CHECK_THAT(error_of("http://:15672/"),
             Catch::Contains("the host is missing"));
  CHECK_THAT(error_of("http://u:pw@rabbit:99999/"),
             Catch::Contains("port") && !Catch::Contains("pw"));
}

TEST_CASE("a broker's management API is on its port + 10000, same user",
          "[management]") {
  broker_endpoint amqp;
  amqp.host = "10.0.0.7";
  amqp.port = 5700;
  amqp.user = "warren";
  amqp.password = "pw";
  auto m = management_of(amqp);
  CHECK(m.host == "10.0.0.7");
  CHECK(m.port == 15700);
  CHECK(m.user == "warren");
  CHECK(m.password == "pw");
  amqp.port = 5672;
  CHECK(management_of(amqp).port == 15672);
}

TEST_CASE("a node's connections are found by its name and run only",
          "[management]") {
  auto listing = boost::json::parse(R"([
    {"name": "127.0.0.1:4001 -> 127.0.0.1:5700",
     "client_properties": {"warren_node": "b", "warren_incarnation": "b-2",
                           "connection_name": "warren-b shard 1"}},
    {"name": "127.0.0.1:4002 -> 127.0.0.1:5701",
     "client_properties": {"warren_node": "b", "warren_incarnation": "b-1"}},
    {"name": "127.0.0.1:4003 -> 127.0.0.1:5700",
     "client_properties": {"warren_node": "bb", "warren_incarnation": "b-2"}},
    {"name": "127.0.0.1:4004 -> 127.0.0.1:5702",
     "client_properties": {"product": "pika"}},
    {"name": "127.0.0.1:4005 -> 127.0.0.1:5702"},
    "not an object",
    {"name": "127.0.0.1:4006 -> 127.0.0.1:5702",
     "client_properties": {"warren_node": "b", "warren_incarnation": "b-2"}}
  ])");
  auto names = connections_of(listing, {"b", "b-2"});
  CHECK(names == std::vector<std::string>{"127.0.0.1:4001 -> 127.0.0.1:5700",
                                          "127.0.0.1:4006 -> 127.0.0.1:5702"});
  CHECK(connections_of(listing, {"c", "c-1"}).empty());
  CHECK(connections_of(boost::json::parse(R"({"error": "x"})"), {"b", "b-2"})
          .empty());
}
