#pragma once

// A network partition for the [partition] tests: a node cut off from the
// brokers, silently, and healed again.
//
// The node runs in a network namespace of its own (`ip netns exec`), joined
// to the host by a veth pair with a /30 of 10.213.x.0 (x unused on this
// machine): the host's end is .1, the namespace's .2. The test brokers
// listen on 127.0.0.1 only, so on the host one `socat` per broker forwards
// <.1>:<broker port> to 127.0.0.1:<broker port>, and the node is given
// those addresses instead (`reach`). The brokers still see their clients
// come from 127.0.0.1.
//
// The cut is a blackhole route on the host for the namespace's address plus
// strict reverse-path filtering on the host's end of the pair: what the host
// sends to the namespace goes nowhere, and what arrives from it fails the
// reverse-path check (its source routes to a blackhole) and is dropped.
// Nothing is refused or reset: both sides only stop hearing from each
// other, as across a real partition, and find out through missed heartbeats
// (a connect from the namespace times out). Healing removes the route; TCP
// retransmits what was held back.
//
// Needs root (CAP_NET_ADMIN and, for `ip netns add`, CAP_SYS_ADMIN), `ip`
// (iproute2) and `socat`; `network_namespace_unavailable` says what is
// missing, and a test skips visibly with WARN("SKIPPED: ...") then.
// Everything is removed on destruction, also when the test fails; what a
// killed test run left behind (its namespace, pair and route) the next
// construction removes. (Not the forwarders' children of a killed run that
// were writing into the namespace while it was cut off: they end when TCP
// gives up on the connection, within about 15 minutes.)

#include "support.hpp"

#include <memory>
#include <string>
#include <vector>

namespace warren::test {

/// Why this process cannot cut a node off ("" when it can): a capability,
/// `ip` or `socat` missing.
std::string network_namespace_unavailable();

/// A network namespace whose processes reach the brokers of `broker_uris`
/// through forwarders on the host, and whose link to the host can be cut.
class network_namespace {
 public:
  /// Makes the namespace (loopback up), the veth pair with its addresses
  /// and a forwarder for each broker of `broker_uris` (amqp:// URIs on
  /// 127.0.0.1), and waits until the forwarders listen. Fails the test when
  /// a step fails.
  explicit network_namespace(const std::vector<std::string>& broker_uris);

  /// Removes the route, the pair and the namespace and stops the
  /// forwarders. Never fails the test.
  ~network_namespace();

  network_namespace(const network_namespace&) = delete;
  network_namespace& operator=(const network_namespace&) = delete;

  /// The namespace's name (`warren-part-<pid>-<x>`).
  const std::string& name() const noexcept { return name_; }

  /// `ip netns exec <name>`: a `node_process` command prefix.
  std::vector<std::string> command_prefix() const;

  /// `uri` (one of the brokers') as a process in the namespace reaches it:
  /// the same URI with the host's address of the pair. Fails the test for a
  /// broker without a forwarder.
  std::string reach(const std::string& uri) const;

  /// Drops every packet between the namespace and the host, both ways,
  /// until `heal`.
  void cut();

  /// Lets packets through again.
  void heal();

 private:
  void tear_down() noexcept;

  std::string ip_;
  std::string name_;
  std::string host_link_;
  std::string host_address_;
  std::string inner_address_;
  std::vector<std::string> broker_ports_;
  std::vector<std::unique_ptr<background_process>> forwarders_;
  bool cut_ = false;
};

} // namespace warren::test
