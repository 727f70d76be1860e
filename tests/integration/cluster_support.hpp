#pragma once

// The RabbitMQ cluster of the [cluster] tests: scripts/test.sh starts three
// broker nodes (scripts/broker.sh cluster-start) next to the single test
// broker and exports their name and URIs.

#include "support.hpp"
#include "warren/bridges/broker.hpp"
#include "warren/bridges/client.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstddef>
#include <functional>
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

/// Publishes `count` messages `make(sent)`, `make(sent + 1)`, ... each
/// until confirmed, 3 ms apart (a few hundred a second), and counts them
/// in `sent`.
void send_confirmed(bridges::blocking_client& client, int& sent, int count,
                    const std::function<outgoing_message(int)>& make);

/// Warren nodes of a cluster test, each with its own directory and
/// config (`config(dir, n)`, n from 0), all started by the constructor.
/// Then waits 3 s: queues declared on a quorum are safe from a broker's
/// death only about 2 s after their declaration.
class node_group {
 public:
  node_group(std::size_t size,
             const std::function<boost::json::object(const temp_dir&,
                                                     std::size_t)>& config);

  /// `kill -9` of node `n`.
  void kill(std::size_t n);
  /// Node `n` started again on its file (waits until it is ready).
  void restart(std::size_t n);

  std::vector<std::unique_ptr<node_process>>& nodes() { return nodes_; }
  node_process& node(std::size_t n) { return *nodes_.at(n); }
  const temp_dir& dir(std::size_t n) const { return *dirs_.at(n); }
  const boost::json::object& config(std::size_t n) const { return cfgs_.at(n); }
  /// Every node's directory, in order.
  std::vector<const temp_dir*> dirs() const;
  /// What every node logged so far, one after the other.
  std::string logs() const;

 private:
  std::vector<std::unique_ptr<temp_dir>> dirs_;
  std::vector<boost::json::object> cfgs_;
  std::vector<std::unique_ptr<node_process>> nodes_;
};

/// The oracle's first faults, under load: `send(150)`; node 0 killed with
/// `kill -9`, `send(100)`, started again (a standby now), `send(100)`; the
/// same for node 1, started again without sending more (`send(n)` publishes
/// n more messages, confirmed).
void kill_two_in_turn(node_group& group, const std::function<void(int)>& send);

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
