// Broker URIs: amqp[s]://[user[:password]@]host[:port][/vhost].

#include "warren/bridges/broker.hpp"
#include "warren/core/errc.hpp"

#include <catch2/catch.hpp>
#include <string>

using warren::bridges::broker_endpoint;
using warren::bridges::parse_broker_uri;

namespace {

broker_endpoint parse_ok(const std::string& uri) {
  auto ep = parse_broker_uri(uri);
  if (!ep)
    FAIL(warren::describe(ep.error()));
  return *ep;
}

std::string parse_error(const std::string& uri) {
  auto ep = parse_broker_uri(uri);
  REQUIRE_FALSE(ep);
  CHECK(warren::code_of(ep.error()) == warren::errc::invalid_uri);
  return warren::describe(ep.error());
}

} // namespace

TEST_CASE("a full amqp URI is split into its parts", "[uri]") {
  auto ep = parse_ok("amqp://alice:wonder@rabbit.example.com:5673/shop");
  CHECK_FALSE(ep.tls);
  CHECK(ep.user == "alice");
  CHECK(ep.password == "wonder");
  CHECK(ep.host == "rabbit.example.com");
  CHECK(ep.port == 5673);
  CHECK(ep.vhost == "shop");
}

TEST_CASE("amqps defaults to port 5671 and amqp to 5672", "[uri]") {
  CHECK(parse_ok("amqps://rabbit").port == 5671);
  CHECK(parse_ok("amqps://rabbit").tls);
  CHECK(parse_ok("amqp://rabbit").port == 5672);
  CHECK_FALSE(parse_ok("amqp://rabbit").tls);
}

TEST_CASE("the scheme is case-insensitive", "[uri]") {
  CHECK(parse_ok("AMQPS://rabbit").tls);
}

TEST_CASE("user and password default to guest when absent", "[uri]") {
  auto ep = parse_ok("amqp://rabbit");
  CHECK(ep.user == "guest");
  CHECK(ep.password == "guest");
  auto user_only = parse_ok("amqp://bob@rabbit");
  CHECK(user_only.user == "bob");
  CHECK(user_only.password == "guest");
}

TEST_CASE("the vhost is the percent-decoded path after the first slash",
          "[uri]") {
  auto [uri, vhost] = GENERATE(table<std::string, std::string>({
    {"amqp://h", "/"},
    {"amqp://h/", "/"},
    {"amqp://h/%2f", "/"},
    {"amqp://h/%2F", "/"},
    {"amqp://h/foo", "foo"},
    {"amqp://h:1/%2Fdev", "/dev"},
    {"amqp://h/a%20b", "a b"},
  }));
  INFO(uri);
  CHECK(parse_ok(uri).vhost == vhost);
}

TEST_CASE("user and password are percent-decoded", "[uri]") {
  auto ep = parse_ok("amqp://us%40er:p%3Ass%2Fw%25rd@h/");
  CHECK(ep.user == "us@er");
  CHECK(ep.password == "p:ss/w%rd");
}

TEST_CASE("an unencoded '@' in the password splits at the last '@'", "[uri]") {
  auto ep = parse_ok("amqp://u:p@ss@h/");
  CHECK(ep.password == "p@ss");
  CHECK(ep.host == "h");
}

TEST_CASE("an IPv6 host is written in brackets", "[uri]") {
  auto ep = parse_ok("amqp://[::1]:5680/v");
  CHECK(ep.host == "::1");
  CHECK(ep.port == 5680);
  CHECK(parse_ok("amqps://[fe80::1]").port == 5671);
  CHECK(parse_error("amqp://[::1/") ==
        "invalid broker URI \"amqp://[::1/\": missing ']' after the IPv6 "
        "address");
  CHECK(parse_error("amqp://[nothex]/") ==
        "invalid broker URI \"amqp://[nothex]/\": invalid IPv6 address "
        "[nothex]");
}

TEST_CASE("schemes other than amqp and amqps are rejected by name", "[uri]") {
  CHECK(parse_error("https://h/") ==
        "invalid broker URI \"https://h/\": unsupported scheme \"https\" "
        "(expected amqp or amqps)");
  CHECK(parse_error("rabbit:5672") ==
        "invalid broker URI \"rabbit:5672\": expected it to start with "
        "amqp:// or amqps://");
}

TEST_CASE("query strings are rejected in favour of config keys", "[uri]") {
  CHECK(parse_error("amqp://h/?heartbeat=5") ==
        "invalid broker URI \"amqp://h/?heartbeat=5\": query strings and "
        "fragments are not supported (set heartbeat, timeouts and TLS "
        "with config keys instead)");
}

TEST_CASE("ports outside 1 to 65535 are rejected", "[uri]") {
  CHECK(parse_error("amqp://h:0/") ==
        "invalid broker URI \"amqp://h:0/\": expected a port number from "
        "1 to 65535, found 0");
  CHECK(parse_error("amqp://h:65536") ==
        "invalid broker URI \"amqp://h:65536\": expected a port number "
        "from 1 to 65535, found 65536");
  CHECK(parse_error("amqp://h:/") ==
        "invalid broker URI \"amqp://h:/\": expected a port number from "
        "1 to 65535 after ':'");
  CHECK(parse_error("amqp://h:56x/") ==
        "invalid broker URI \"amqp://h:56x/\": expected a port number from "
        "1 to 65535 after ':'");
  CHECK(parse_ok("amqp://h:65535").port == 65535);
}

TEST_CASE("a missing or malformed host is rejected", "[uri]") {
  CHECK(parse_error("amqp://") ==
        "invalid broker URI \"amqp://\": the host is missing");
  CHECK(parse_error("amqp://u:p@:5672/") ==
        "invalid broker URI \"amqp://u:***@:5672/\": the host is missing");
  CHECK(parse_error("amqp://ho st/") ==
        "invalid broker URI \"amqp://ho st/\": invalid character ' ' in "
        "the host");
}

TEST_CASE("a vhost is one path segment", "[uri]") {
  CHECK(parse_error("amqp://h/a/b") ==
        "invalid broker URI \"amqp://h/a/b\": the vhost must be a single "
        "path segment (write '/' inside a vhost name as %2F)");
}

TEST_CASE("malformed percent-encoding is rejected", "[uri]") {
  CHECK(parse_error("amqp://h/%zz") ==
        "invalid broker URI \"amqp://h/%zz\": malformed percent-encoding "
        "in the vhost");
  CHECK(parse_error("amqp://u%2:p@h/") ==
        "invalid broker URI \"amqp://u%2:***@h/\": malformed "
        "percent-encoding in the user name");
}

TEST_CASE("errors never quote the password", "[uri]") {
  for (const char* uri :
       {"amqp://u:topsecret@h:99999/", "amqp://u:topsecret%zz@h/",
        "ftp://u:topsecret@h/", "amqp://u:top/secret@h/"}) {
    auto text = parse_error(uri);
    INFO(text);
    CHECK(text.find("topsecret") == std::string::npos);
    CHECK(text.find("secret") == std::string::npos);
  }
}

TEST_CASE("a '/' in the password that is not encoded gets a hint", "[uri]") {
  CHECK(parse_error("amqp://u:a/b@h/") ==
        "invalid broker URI \"amqp://u:***@h/\": '@' after the host: "
        "percent-encode '/' in the user name or password as %2F, and '@' "
        "in the vhost as %40");
}

TEST_CASE("redacted prints the URI with the password replaced", "[uri]") {
  CHECK(parse_ok("amqp://alice:wonder@rabbit:5673/shop").redacted() ==
        "amqp://alice:***@rabbit:5673/shop");
  CHECK(parse_ok("amqps://rabbit").redacted() ==
        "amqps://guest:***@rabbit:5671/");
  CHECK(parse_ok("amqp://a%40b:x@[::1]/%2Fdev").redacted() ==
        "amqp://a%40b:***@[::1]:5672/%2Fdev");
  CHECK(broker_endpoint{}.redacted() == "amqp://guest:***@localhost:5672/");
}

TEST_CASE("redacted output parses back to the same endpoint", "[uri]") {
  for (const char* uri :
       {"amqp://alice:wonder@rabbit:5673/shop", "amqps://[fe80::1]/%2F",
        "amqp://us%20er:pw@h/v%2Fhost"}) {
    INFO(uri);
    auto ep = parse_ok(uri);
    auto again = parse_ok(ep.redacted());
    CHECK(again.tls == ep.tls);
    CHECK(again.user == ep.user);
    CHECK(again.host == ep.host);
    CHECK(again.port == ep.port);
    CHECK(again.vhost == ep.vhost);
    CHECK(again.password == "***");
  }
}
