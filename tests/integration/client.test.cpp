// warren::bridges::blocking_client, the synchronous client behind the CLI's
// send and call, against the broker.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// Declares a plain durable queue without a dead-letter queue.
void declare_queue(test::broker_scratch& broker, const std::string& name) {
  bridges::queue_spec spec;
  spec.name = name;
  spec.dead_letter_queue = false;
  auto err = broker.client().declare(bridges::topology{{}, {spec}, {}});
  if (err)
    FAIL("declaring " << name << ": " << describe(err));
}

// Runs `fn` in a forked child (no Catch assertions in there) and returns
// what it returned: "" for success, else what went wrong; a child that dies
// of a signal is reported as such.
std::string run_in_child(const std::function<std::string()>& fn) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto what = fn();
    [[maybe_unused]] auto n = ::write(fds[1], what.data(), what.size());
    ::_exit(what.empty() ? 0 : 1);
  }
  ::close(fds[1]);
  std::string what;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;)
    what.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return "the client crashed: " + std::string{::strsignal(WTERMSIG(status))};
  return what;
}

} // namespace

TEST_CASE("blocking_client::receive takes every waiting message up to max, "
          "even beyond 1000",
          "[broker][client]") {
  // receive() sets a prefetch of min(max, 1000) and acks only at the end, so
  // the broker stops delivering after 1000 and receive() returns after the
  // idle timeout with messages still waiting.
  test::broker_scratch broker;
  auto queue = broker.queue("many");
  declare_queue(broker, queue);
  std::vector<std::string> ids;
  for (int i = 0; i < 1500; ++i)
    ids.push_back("many-" + std::to_string(i));
  test::publish_bulk("", queue, "many", ids);
  broker.wait_for_count(queue, 1500);
  auto got = broker.receive(queue, 2000, 1s);
  CHECK(got.size() == 1500);
  CHECK(broker.count(queue) == 0);
}

TEST_CASE("blocking_client stays usable after receiving from a queue that "
          "does not exist",
          "[broker][client]") {
  // The client may crash here (a null connection dereferenced), so it runs
  // in a child process and the test reports how the child ended.
  test::broker_scratch broker;
  auto queue = broker.queue("exists");
  declare_queue(broker, queue);
  auto settings = test::broker_settings();
  auto missing = test::unique_name("it-missing");
  auto child = run_in_child([&]() -> std::string {
    auto client = bridges::blocking_client::connect(settings);
    if (!client)
      return "connect: " + describe(client.error());
    auto none = (*client)->receive(missing, 1, 1s, true);
    if (none)
      return "receive from a missing queue succeeded";
    // The same client goes on working.
    auto count = (*client)->message_count(queue);
    if (!count)
      return "message_count after the failed receive: " +
             describe(count.error());
    warren::outgoing_message msg;
    msg.routing_key = queue;
    msg.body = "{}";
    if (auto err = (*client)->publish(msg, 5s))
      return "publish after the failed receive: " + describe(err);
    auto again = (*client)->receive(queue, 1, 2s, true);
    if (!again)
      return "receive after the failed receive: " + describe(again.error());
    if (again->size() != 1)
      return "receive after the failed receive got " +
             std::to_string(again->size()) + " messages, expected 1";
    return {};
  });
  INFO(child);
  CHECK(child.empty());
}

TEST_CASE("blocking_client returns deliveries with the JSON body parsed",
          "[broker][client]") {
  // envelope::body is documented as "the parsed body (null when the body was
  // empty)"; blocking_client::receive (and ::call) leave it null.
  test::broker_scratch broker;
  auto queue = broker.queue("plain");
  declare_queue(broker, queue);
  broker.publish_to_queue(queue, R"({"b":2})");
  auto got = broker.wait_and_receive(queue, 1);
  CHECK(got[0].raw_body == R"({"b":2})");
  CHECK(got[0].body == json::parse(R"({"b":2})"));
}
