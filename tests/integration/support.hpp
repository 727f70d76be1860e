#pragma once

// Helpers for the integration tests (tag [broker]): the private test broker,
// names that never collide, `warren run` as a child process, and synchronous
// broker operations that fail the running test instead of returning errors.
//
// The broker comes from scripts/test.sh, which starts a private RabbitMQ node
// and exports WARREN_TEST_AMQP_URI, WARREN_TEST_BROKER_SCRIPT and
// WARREN_TEST_BROKER_NAME. Without them a broker test fails (it never passes
// silently). Everything a test creates on the broker gets a unique name and
// is deleted when the test ends, so tests can run against a shared broker and
// after each other.
//
// Usage, in the order the destructors need (nodes stop before their queues
// are deleted, the directory goes last):
//
//   test::temp_dir dir;
//   test::broker_scratch broker;
//   auto name = broker.queue("echo");      // an actor name and its queue
//   auto cfg = test::node_config(dir);
//   cfg["actors"] = ...;
//   test::node_process node{dir, cfg};     // running and consuming
//   auto r = test::warren({"call", "-u", test::broker_uri(), name, "{}"});

#include "warren/bridges/broker.hpp"
#include "warren/bridges/client.hpp"
#include "warren/core/envelope.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace warren::test {

using namespace std::chrono_literals;

// -- environment --------------------------------------------------------------

/// The URI of the private test broker ($WARREN_TEST_AMQP_URI). Fails the
/// running test, saying to use scripts/test.sh, when it is not set.
std::string broker_uri();

/// `broker_uri()` as settings for blocking_client and the bridge actors, with
/// a short reconnect back-off (100 ms up to 1 s).
bridges::broker_settings broker_settings();

/// The `warren` CLI built with the tests.
std::string warren_cli();

/// The test plugin (tests/plugins/test_kinds.cpp).
std::string test_plugin();

/// A file under tests/integration in the source tree.
std::string source_file(const std::string& relative);

/// `<prefix>-<12 random hex digits>`: a valid actor, queue and exchange name
/// that no other test (or earlier run) uses.
std::string unique_name(const std::string& prefix);

// -- files --------------------------------------------------------------------

/// A fresh directory under $TMPDIR, removed with its content on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// `<path>/<name>`.
  std::string file(const std::string& name) const;

 private:
  std::string path_;
};

/// The whole content of a file; "" when it does not exist.
std::string read_file(const std::string& path);

void write_file(const std::string& path, const std::string& text);

/// One line of a `record` actor's file.
struct record_line {
  std::string message_id;
  std::string type;
  bool redelivered = false;
  boost::json::value body;
};

/// The complete lines of a record file so far (a line still being written is
/// left out). Fails the test on a line that is not a record.
std::vector<record_line> read_records(const std::string& path);

/// Waits up to `timeout` until the record file has at least `n` lines and
/// returns them; fails the test with what arrived when it does not.
std::vector<record_line>
wait_for_records(const std::string& path, std::size_t n,
                 std::chrono::milliseconds timeout = 20s);

/// The value of the first sample `name{...}` in a scrape of the node's
/// /metrics on `port` whose labels include each of `labels` (written as the
/// node prints them: `actor="a"`), or -1 when there is none.
double metric_sample(uint16_t port, const std::string& name,
                     const std::vector<std::string>& labels = {});

/// How many times `what` occurs in `text` (a node's log lines, say).
std::size_t occurrences(const std::string& text, const std::string& what);

/// Polls `done` every 20 ms until it returns true or `timeout` passes.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds timeout);

// -- processes ----------------------------------------------------------------

struct command_result {
  /// The exit code, or -1 when the process died of a signal.
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `argv` (argv[0] a path) with stdout and stderr captured, and waits up
/// to `timeout`; a process still running then is killed and fails the test.
command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = 60s);

/// The path of program `name` in $PATH or, as root's PATH has them, in
/// /usr/sbin and /sbin; "" when there is none.
std::string find_program(const std::string& name);

/// A helper process that runs beside a test (a TCP forwarder, say): started
/// in a process group of its own with its output in files of its own,
/// stopped with what it forked (SIGTERM to the group, SIGKILL after 2 s)
/// and reaped on destruction, so it never outlives the test. (A test
/// process killed outright takes the helper with it, but not what the
/// helper forked.)
class background_process {
 public:
  /// Starts `argv` (argv[0] a path). Fails the test when it cannot.
  explicit background_process(const std::vector<std::string>& argv);
  ~background_process();

  background_process(const background_process&) = delete;
  background_process& operator=(const background_process&) = delete;

  /// Whether it still runs (reaps it when it exited).
  bool running();

  /// What it wrote on stderr so far.
  std::string err() const;

 private:
  temp_dir dir_;
  // Also the id of its process group.
  pid_t pid_ = -1;
  bool reaped_ = false;
};

/// `run_command` of the warren CLI with `args`.
command_result warren(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = 60s);

/// A node config for `broker_uri()`: a unique node name, the state directory
/// in `dir`, and the test plugin loaded. Tests add actors and topology.
boost::json::object node_config(const temp_dir& dir);

/// The database of a node made with `node_config(dir)`, read-only.
std::unique_ptr<runtime::checkpoint_store> open_store(const temp_dir& dir);

/// An `actors[]` entry: a subscriber whose `record` worker appends each
/// message to `path` (read it with `read_records`).
boost::json::object record_actor(const std::string& name,
                                 const std::string& path, int instances = 1);

/// An `actors[]` entry: a `test.counter` (a stateful count per key, key
/// field "counter"), sending what it counted to `downstream` when given.
boost::json::object counter_actor(const std::string& name,
                                  const std::string& downstream = {});

/// What `warren call` printed: the reply body (an error reply's too, with
/// exit code 6), null when it printed nothing.
struct call_reply {
  int exit_code = -1;
  boost::json::value body;
  std::string err;
};

/// `warren call` of `actor` with message `type` and `body` (timeout 15 s).
call_reply call_actor(const std::string& actor, const std::string& type,
                      const boost::json::value& body);

/// The count of `counter` in stateful counter `actor`, asked with `warren
/// call` (fails the test when the call fails).
int64_t get_count(const std::string& actor, const std::string& counter);

/// Every key's count in stateful counter `actor` (`test.counter`) of the
/// database `db`, read with `warren state show` (read-only, safe while the
/// node runs).
std::map<std::string, int64_t> counter_counts(const std::string& db,
                                              const std::string& actor);

/// A `warren run` child process.
class node_process {
 public:
  /// Writes `config` to `<dir>/<node>.json`, starts `warren run` on it (the
  /// config names the broker; WARREN_BROKER_URI is cleared) and waits up to 30
  /// s for "warren: node '<node>' ready" on its stderr. Fails the test with the
  /// node's stderr when it exits or is not ready in time.
  /// `env` adds (or replaces) environment variables, e.g.
  /// "WARREN_KILL_POINT=after_commit:3".
  node_process(const temp_dir& dir, boost::json::object config,
               std::vector<std::string> env = {});

  /// What the constructor waits for.
  enum class until {
    /// "node '<node>' ready" (as above).
    ready,
    /// Nothing: the process was started (for nodes that cannot get ready).
    started,
  };

  /// `command_prefix` goes before `warren run ...` (its first element a
  /// path): `ip netns exec NAME` starts the node in a network namespace. It
  /// must exec the node, not fork it, so that `pid()` is the node's.
  node_process(const temp_dir& dir, boost::json::object config,
               std::vector<std::string> env, until wait,
               std::vector<std::string> command_prefix = {});

  /// Stops the node (see `stop`).
  ~node_process();

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// Graceful stop: SIGINT, then waits up to 15 s (SIGKILL after that).
  /// Returns the exit code (-1 when killed). Idempotent.
  int stop();

  /// SIGINT, and once the node says it is stopping, SIGINT again: the forced
  /// exit. Returns the exit code.
  int force_stop();

  /// Waits up to `timeout` for the node to exit on its own and returns its
  /// exit code (-1: died of a signal); fails the test when it does not.
  int wait_for_exit(std::chrono::milliseconds timeout);

  /// Whether the process still runs (reaps it when it exited).
  bool running();

  /// The process id, for reading its /proc entries (-1 once it exited).
  pid_t pid() const noexcept { return pid_; }

  /// What the node wrote so far.
  std::string err() const;
  std::string out() const;

  const std::string& name() const noexcept { return name_; }

  /// The port of its metrics endpoint, from its log line "metrics on
  /// http://127.0.0.1:<port>/metrics" (a config with `metrics.listen`
  /// "127.0.0.1:0"); fails the test when there is none.
  uint16_t metrics_port() const;
  const std::string& config_path() const noexcept { return config_path_; }

 private:
  std::string name_;
  std::string config_path_;
  std::string out_path_;
  std::string err_path_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

/// `kill -9` of `node`, reaped (it is replaced by a new node_process to run
/// again).
void kill_hard(node_process& node);

// -- broker -------------------------------------------------------------------

/// The value of a string header ("" when missing or not a string).
std::string header_string(const warren::envelope& env, const char* key);

/// A connection to the test broker for one test, and the queues and
/// exchanges the test creates there, deleted on destruction (each queue
/// with its `.dlq`). Every operation fails the test on error.
class broker_scratch {
 public:
  broker_scratch();
  ~broker_scratch();

  broker_scratch(const broker_scratch&) = delete;
  broker_scratch& operator=(const broker_scratch&) = delete;

  /// A unique name for a queue (or an actor and its queue); deleted with
  /// `<name>.dlq` when the test ends.
  std::string queue(const std::string& prefix);

  /// A unique exchange name, deleted when the test ends.
  std::string exchange(const std::string& prefix);

  /// Deletes `name` (and `<name>.dlq`) at the end too.
  void track_queue(std::string name);

  bridges::blocking_client& client();

  /// Publishes with a confirm (10 s).
  void publish(const warren::outgoing_message& msg);

  /// Publishes `body` to the default exchange, straight into `queue`.
  void publish_to_queue(const std::string& queue, const std::string& body,
                        std::optional<uint8_t> priority = std::nullopt);

  /// Takes (and acks) up to `max` messages, waiting at most `idle` for each.
  std::vector<warren::envelope> receive(const std::string& queue,
                                        std::size_t max,
                                        std::chrono::milliseconds idle = 2s);

  /// Ready messages in `queue`.
  uint32_t count(const std::string& queue);
  /// Consumers of `queue`.
  uint32_t consumers(const std::string& queue);

  /// Waits until `queue` holds at least `n` ready messages; returns the last
  /// count seen (fails the test on timeout).
  uint32_t wait_for_count(const std::string& queue, uint32_t n,
                          std::chrono::milliseconds timeout = 20s);

  /// Waits until `queue` holds `n` messages and takes them.
  std::vector<warren::envelope>
  wait_and_receive(const std::string& queue, uint32_t n,
                   std::chrono::milliseconds timeout = 20s);

 private:
  std::unique_ptr<bridges::blocking_client> client_;
  std::vector<std::string> queues_;
  std::vector<std::string> exchanges_;
};

/// Runs `$WARREN_TEST_BROKER_SCRIPT <command> $WARREN_TEST_BROKER_NAME
/// <args>...` (scripts/broker.sh on the private test broker) and returns its
/// exit code. Fails the test when the variables are not set.
int broker_script(const std::string& command,
                  const std::vector<std::string>& args = {});

/// A broker user of the test's own, with all permissions on the test vhost:
/// to tell one node's connections apart at the broker (close them with
/// `broker_script("close-connections", {user})`).
struct broker_user {
  std::string user = unique_name("it-user");
  std::string password = unique_name("pw");

  /// Adds the user (fails the test when it cannot).
  broker_user();

  /// `broker_uri()` as this user.
  std::string uri() const;
};

/// Publishes one persistent message per id in `ids` (body: {"seq": i}) to
/// `exchange` with `routing_key`, with raw rabbitmq-c: publisher confirms
/// waited for once per `batch` messages instead of per message. Fails the
/// test on a nack or error. `body_of(i)` and `routing_key_of(i)`, when
/// given, name message i's body and routing key instead.
void publish_bulk(
  const std::string& exchange, const std::string& routing_key,
  const std::string& type, const std::vector<std::string>& ids,
  std::size_t batch = 100,
  const std::function<std::string(std::size_t)>& body_of = {},
  const std::function<std::string(std::size_t)>& routing_key_of = {});

/// Deletes queues and exchanges with raw rabbitmq-c, ignoring ones that do
/// not exist. Never fails the test (used by destructors); returns false and
/// prints a warning on errors.
bool delete_entities(const std::vector<std::string>& queues,
                     const std::vector<std::string>& exchanges);

/// The kill points of a stateful actor's commit path (WARREN_KILL_POINT).
inline constexpr const char* commit_kill_points[] = {
  "after_receive", "after_state_write", "after_commit", "before_ack"};

/// A node on `cfg` that kills itself (SIGKILL) at the third pass of `point`
/// while `publish` sends to `queue`, then a clean node on the same files,
/// once `queue` is empty. Fails the test when the first node was not killed
/// or the second does not drain the queue.
std::unique_ptr<node_process>
killed_then_restarted(const temp_dir& dir, const boost::json::object& cfg,
                      broker_scratch& broker, const std::string& queue,
                      const std::string& point,
                      const std::function<void()>& publish);

} // namespace warren::test
