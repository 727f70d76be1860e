#pragma once

// The RabbitMQ cluster of the [cluster] tests: scripts/test.sh starts three
// broker nodes (scripts/broker.sh cluster-start) next to the single test
// broker and exports their name and URIs.

#include "support.hpp"
#include "warren/bridges/broker.hpp"
#include "warren/bridges/client.hpp"
#include "warren/core/envelope.hpp"

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
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

/// Warren nodes of a cluster test, each with its own directory and config
/// (`config(dir, n)`, n from 0). The constructor starts the first `started`
/// of them (all unless told) and then waits 3 s: queues declared on a
/// quorum are safe from a broker's death only about 2 s after their
/// declaration.
class node_group {
 public:
  using config_maker =
    std::function<boost::json::object(const temp_dir&, std::size_t)>;

  node_group(std::size_t size, const config_maker& config);
  node_group(std::size_t size, const config_maker& config, std::size_t started);

  /// Starts node `n` (again, when it ran) and waits until it is ready;
  /// `command_prefix`: see node_process.
  void start(std::size_t n, std::vector<std::string> command_prefix = {});
  /// `kill -9` of node `n`.
  void kill(std::size_t n);

  /// Every node, in order; null for one not started yet.
  std::vector<std::unique_ptr<node_process>>& nodes() { return nodes_; }
  node_process& node(std::size_t n) { return *nodes_.at(n); }
  const temp_dir& dir(std::size_t n) const { return *dirs_.at(n); }
  const boost::json::object& config(std::size_t n) const { return cfgs_.at(n); }
  /// Node `n`'s name (its config's `node`).
  std::string name(std::size_t n) const;
  /// The names of the first `count` nodes (all unless told).
  std::vector<std::string> names(std::size_t count = SIZE_MAX) const;
  /// The directories of the first `count` nodes (all unless told).
  std::vector<const temp_dir*> dirs(std::size_t count = SIZE_MAX) const;
  /// What every node started so far logged, one after the other.
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

/// Deletes, when it goes, what sharded actors leave on the cluster: each
/// actor's shard queues, its own queue, their `.dlq`s and its changelog.
/// Declare it after the `test_cluster` and before the nodes, so that the
/// nodes stop first (they would declare it all again) and the members a
/// test killed are not started yet (a quorum queue's delete waits for all
/// its members): it uses the first member that takes a connection. Never
/// fails the test.
class sharded_queues {
 public:
  /// Each actor with its shard count.
  sharded_queues(const test_cluster& cluster,
                 std::vector<std::pair<std::string, std::size_t>> actors);
  ~sharded_queues();

  sharded_queues(const sharded_queues&) = delete;
  sharded_queues& operator=(const sharded_queues&) = delete;

 private:
  std::vector<bridges::broker_settings> members_;
  std::vector<std::pair<std::string, std::size_t>> actors_;
};

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

/// Whether no shard of the first actor in `status` shows a stale owner (a
/// node still announcing a shard in an older epoch than its owner's).
bool no_stale_owners(const boost::json::object& status);

/// How many of the first actor's shards each node owns in `status` ("" for
/// shards without an owner).
std::map<std::string, int> spread_of(const boost::json::object& status);

/// Reads `warren cluster status --json` for `actor` on member 3 every 200
/// ms until `wanted` says yes to a reading (one that could be read) or
/// `timeout` passed. Returns how many seconds it took, nothing on timeout.
std::optional<double>
wait_for_status(const test_cluster& cluster, const std::string& actor,
                const std::function<bool(const boost::json::object&)>& wanted,
                std::chrono::milliseconds timeout);

/// Whether `spread` has exactly `nodes` owning `low` or `low + 1` shards
/// each, and no shard without an owner.
bool even(const std::map<std::string, int>& spread,
          const std::vector<std::string>& nodes, int low);

/// `spread` for a failure's report: "node: count  ...".
std::string describe_spread(const std::map<std::string, int>& spread);

// -- the oracle ---------------------------------------------------------------
// A sharded counter whose every increment sends one to a sharded ledger,
// under kills, pauses and partitions: every count must be exact and every
// ledger effect applied once, in every node's file.

/// A message of `type` with `body` and message id `id`, published to
/// `actor`'s name (the actors exchange).
outgoing_message to_actor(const std::string& actor, std::string id,
                          std::string type, std::string body);

/// Increment `i` of stateful counter `actor`: key c<i % 10>, by 1, id
/// `<actor>-<i>`, published to the actor's name.
outgoing_message increment(const std::string& actor, int i);

/// Every key's count of stateful counter `actor` in the file of a node made
/// with `node_config(dir)`.
std::map<std::string, int64_t> counts_in(const temp_dir& dir,
                                         const std::string& actor);

/// A config (`node_config(dir)`) for node `n` (from 0) of a cluster test:
/// on the cluster from its broker n % 3 + 1 on, heartbeat 2 s.
boost::json::object cluster_node_config(const test_cluster& cluster,
                                        const temp_dir& dir, std::size_t n);

/// Node `n` (from 0) of the oracle: `cluster_node_config` running `accounts` (6
/// shards), a counter whose every increment sends one to `ledger` (3 shards);
/// `cluster_section` is its `cluster` when it is not empty.
boost::json::object
oracle_node_config(const test_cluster& cluster, const temp_dir& dir,
                   std::size_t n, const std::string& accounts,
                   const std::string& ledger,
                   const boost::json::object& cluster_section = {});

/// The oracle's verdict: `sent` increments of keys c0..c9 (i % 10) went to
/// `accounts`, which forwards each to `ledger`; every node's file in `files`
/// converges to exactly those counts in both (each is a copy of every
/// shard), and every node in `nodes` (null: not started) still runs. Returns
/// their logs (and prints them when WARREN_TEST_SHOW_LOGS is set).
std::string expect_exact(const std::vector<const temp_dir*>& files,
                         std::vector<std::unique_ptr<node_process>>& nodes,
                         const std::string& accounts, const std::string& ledger,
                         int sent);

/// A steady load on the oracle: a thread of its own publishing `increment`s
/// of `actor` (0, 1, ...) through member 3, each confirmed (sent again, same
/// id, while the broker cannot confirm it), about 300 a second. The thread
/// asserts nothing: it counts. The destructor stops it.
class steady_load {
 public:
  steady_load(const test_cluster& cluster, std::string actor);
  ~steady_load();

  steady_load(const steady_load&) = delete;
  steady_load& operator=(const steady_load&) = delete;

  /// Stops the thread; returns how many increments were confirmed (ids 0 to
  /// that - 1). Fails the test when one could not be confirmed in 40 tries.
  int stop();

 private:
  std::atomic<bool> stopping_{false};
  std::atomic<int> sent_{0};
  std::atomic<int> unconfirmed_{0};
  std::thread thread_;
};

// -- what the nodes' logs say -------------------------------------------------

/// Milliseconds into the (UTC) day of a log line's timestamp
/// ("2026-12-02T09:51:29.322Z ..."), or -1.
int64_t log_time_ms(const std::string& line);

/// Milliseconds into the UTC day now, as `log_time_ms` reads a line's.
int64_t now_time_ms();

/// Seconds from `from` to `to` (both `log_time_ms`), across midnight.
double seconds_between(int64_t from, int64_t to);

/// Whether `at` is `since` or later (within the hour after it: a moment
/// just before `since` is almost a day after it).
bool at_or_after(int64_t at, int64_t since);

/// A shard of an actor changing hands, as a node logged it.
struct shard_event {
  int64_t at = -1; ///< log_time_ms
  int64_t shard = -1;
  /// "handing it over" (placement) when true, else "taken over in epoch".
  bool handover = false;
};

/// Every handover and takeover of `actor`'s shards in `logs` (one node's or
/// several nodes'), in time order.
std::vector<shard_event> shard_events(const std::string& logs,
                                      const std::string& actor);

/// For each handover of one of `actor`'s shards in `logs` (every node's),
/// from `since` (`log_time_ms`) on when it is not -1, the seconds until a
/// node said it took that shard over: how long the shard had no owner.
std::vector<double> handover_pauses(const std::string& logs,
                                    const std::string& actor,
                                    int64_t since = -1);

} // namespace warren::test
