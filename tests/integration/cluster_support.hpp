#pragma once

// The RabbitMQ cluster of the [cluster] tests: scripts/test.sh starts three
// broker nodes (scripts/broker.sh cluster-start) next to the single test
// broker and exports their name and URIs.

#include "warren/bridges/broker.hpp"
#include "warren/bridges/client.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace warren::test {

/// The test cluster ($WARREN_TEST_CLUSTER_NAME, $WARREN_TEST_CLUSTER_URIS,
/// members numbered from 1 as `<name>-<i>`). Constructing it fails the test
/// when the variables are not set, and (re)starts any member an earlier test
/// left down; the destructor restarts the members this test killed, so every
/// test begins with the whole cluster.
class test_cluster {
 public:
  test_cluster();
  ~test_cluster();

  test_cluster(const test_cluster&) = delete;
  test_cluster& operator=(const test_cluster&) = delete;

  std::size_t size() const noexcept { return uris_.size(); }

  /// Member `i`'s URI (1-based).
  const std::string& uri(std::size_t i) const;

  /// Every member's URI, in order, as a config's `broker.uris`.
  boost::json::array uris() const;

  /// Every member's URI starting with member `first` (1-based) and
  /// wrapping around: node n of a test starts on its own broker and fails
  /// over to the others.
  boost::json::array uris_from(std::size_t first) const;

  /// Settings for a client of member `i` alone (no failover).
  bridges::broker_settings settings(std::size_t i) const;

  /// A client connected to member `i` (fails the test when it cannot).
  std::unique_ptr<bridges::blocking_client> client(std::size_t i) const;

  /// `kill -9` of member `i`'s broker.
  void kill(std::size_t i);

  /// Starts member `i` again (it rejoins the cluster) and waits until it
  /// runs.
  void start(std::size_t i);

  /// The members running as member `first_up` sees them (numbers).
  std::set<std::size_t> running(std::size_t first_up = 1) const;

 private:
  std::string member(std::size_t i) const;
  int script(const std::string& command, std::size_t i) const;

  std::string name_;
  std::vector<std::string> uris_;
  std::set<std::size_t> killed_;
};

/// Publishes with a confirm, again (same id) while the broker cannot
/// confirm it: a quorum queue electing a new leader delays confirms, and a
/// resend is a duplicate the actor's inbox drops. Fails the test after 40
/// tries.
void publish_until_confirmed(bridges::blocking_client& client,
                             const outgoing_message& m);

/// `warren cluster status --json` for `actor`, with its exit code.
struct status_reading {
  int exit_code = -1;
  boost::json::object status;
  std::string text;
};

status_reading cluster_status(const std::string& uri, const std::string& actor);

/// Node `name` in a status; nullptr when it is not shown.
const boost::json::object* node_in(const boost::json::object& status,
                                   const std::string& name);

/// Shard -> (owner, epoch) of the first actor's shards in `status` (owner
/// empty: none).
std::map<int64_t, std::pair<std::string, int64_t>>
owners_in(const boost::json::object& status);

} // namespace warren::test
