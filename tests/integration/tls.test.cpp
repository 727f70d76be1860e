// TLS: the private broker also listens with a certificate for "localhost"
// signed by its own CA (scripts/broker.sh); peer and host-name verification
// are on unless the config turns them off.

#include "support.hpp"
#include "warren/bridges/client.hpp"
#include "warren/core/errc.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

using namespace warren;
namespace json = boost::json;

namespace {

std::string env_or_fail(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0')
    FAIL(name << " is not set: run the tests with scripts/test.sh");
  return value;
}

// The TLS endpoint, optionally reached through another host name.
bridges::broker_settings tls_settings(const std::string& host = "localhost") {
  auto endpoint =
    bridges::parse_broker_uri(env_or_fail("WARREN_TEST_AMQPS_URI"));
  REQUIRE(endpoint);
  endpoint->host = host;
  bridges::broker_settings settings;
  settings.endpoints.push_back(*endpoint);
  settings.tls.ca_file = env_or_fail("WARREN_TEST_TLS_CA");
  return settings;
}

} // namespace

TEST_CASE("a node whose broker URI is amqps serves calls over TLS with the "
          "broker's certificate verified",
          "[broker][tls]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("tls-echo");
  auto cfg = test::node_config(dir);
  cfg["broker"] = json::object{
    {"uri", env_or_fail("WARREN_TEST_AMQPS_URI")},
    {"tls", json::object{{"ca_file", env_or_fail("WARREN_TEST_TLS_CA")}}}};
  cfg["actors"] = json::array{
    json::object{{"name", name}, {"kind", "service"}, {"handler", "echo"}}};
  test::node_process node{dir, cfg};
  // The CLI takes the same TLS settings from the node's config.
  auto res = test::warren(
    {"call", "-c", node.config_path(), name, R"({"over": "tls"})"});
  CHECK(res.exit_code == 0);
  CHECK(res.out == "{\"over\":\"tls\"}\n");
  CHECK(node.stop() == 0);
}

TEST_CASE("a TLS connection is refused when the broker's certificate is not "
          "signed by a trusted CA",
          "[broker][tls]") {
  auto settings = tls_settings();
  settings.tls.ca_file.clear(); // the system CAs do not know the test CA
  auto client = bridges::blocking_client::connect(settings);
  REQUIRE_FALSE(client);
  CHECK(code_of(client.error()) == errc::connection_failed);
  CHECK(describe(client.error()).find("verification failed") !=
        std::string::npos);
}

TEST_CASE("a TLS connection is refused when the certificate does not name the "
          "host, unless host-name verification is turned off",
          "[broker][tls]") {
  // The certificate names "localhost" only.
  auto settings = tls_settings("127.0.0.1");
  auto refused = bridges::blocking_client::connect(settings);
  REQUIRE_FALSE(refused);
  CHECK(describe(refused.error()).find("hostname verification failed") !=
        std::string::npos);
  settings.tls.verify_hostname = false;
  auto accepted = bridges::blocking_client::connect(settings);
  CHECK(accepted);
}
