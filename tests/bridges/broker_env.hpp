#pragma once

// The private test broker for the bridges' own broker tests (tag [broker]):
// scripts/test.sh starts it and exports WARREN_TEST_AMQP_URI,
// WARREN_TEST_BROKER_SCRIPT and WARREN_TEST_BROKER_NAME. Without them a
// broker test fails; it never passes silently.

#include "warren/bridges/broker.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/envelope.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

namespace warren::test {

inline std::string env_or_fail(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0')
    FAIL(name << " is not set: broker tests need the private test broker; "
                 "run them with scripts/test.sh");
  return value;
}

/// Settings for the test broker, as `user` (default: the URI's) with a
/// short reconnect backoff.
inline bridges::broker_settings broker_settings(const std::string& user = {},
                                                const std::string& pw = {}) {
  auto ep = bridges::parse_broker_uri(env_or_fail("WARREN_TEST_AMQP_URI"));
  REQUIRE(ep);
  if (!user.empty()) {
    ep->user = user;
    ep->password = pw;
  }
  bridges::broker_settings s;
  s.endpoints.push_back(*ep);
  s.connection_name = "warren bridges test";
  s.reconnect_min = std::chrono::milliseconds{50};
  s.reconnect_max = std::chrono::milliseconds{500};
  return s;
}

/// Runs `broker.sh <command> <broker name> <args>`; returns its status.
inline int broker_script(const std::string& command,
                         const std::string& args = {}) {
  auto line = "'" + env_or_fail("WARREN_TEST_BROKER_SCRIPT") + "' " + command +
              " '" + env_or_fail("WARREN_TEST_BROKER_NAME") + "' " + args +
              " >&2";
  return std::system(line.c_str());
}

/// Polls `done` every 10 ms until it holds (true) or `timeout` passed
/// (false).
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return true;
}

/// A name no other test uses.
inline std::string unique(const std::string& prefix) {
  return prefix + "-" + make_message_id().substr(0, 12);
}

/// Declares the stream `name` on the test broker (default retention); the
/// topology that declares it, for consumers of it.
inline bridges::topology declare_stream(bridges::blocking_client& client,
                                        const std::string& name) {
  bridges::topology topo;
  bridges::queue_spec q;
  q.name = name;
  q.type = bridges::queue_type::stream;
  topo.queues.push_back(q);
  REQUIRE_FALSE(client.declare(topo));
  return topo;
}

} // namespace warren::test
