// Message identity end to end (README.md, "Message identity"): clients that
// set no message_id, redeliveries after a crash, and the stable ids of what
// a stateless actor sends, against the private broker and real SQLite
// files.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/dead_letter.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// Publishes `body` `count` times with pika, without a message_id.
void pika_publish(const std::string& actor, const std::string& body, int count,
                  const std::string& type = "increment",
                  const std::string& uri = test::broker_uri()) {
  auto r = test::run_command(
    {"/usr/bin/python3", test::source_file("pika_publish.py"), uri,
     bridges::actors_exchange, actor, body, std::to_string(count), type});
  INFO("pika_publish.py: " << r.err);
  REQUIRE(r.exit_code == 0);
}

std::size_t unacked_anonymous(const test::temp_dir& dir,
                              const std::string& actor) {
  auto rows = test::open_store(dir)->unacked_anonymous(actor);
  REQUIRE(rows);
  return rows->size();
}

} // namespace

TEST_CASE("two identical deposits from a client that sets no message_id are "
          "both applied",
          "[broker][identity]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("account");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  test::node_process node{dir, cfg};
  // The same body twice within a second, as `pika` sends it.
  pika_publish(name, R"({"counter":"alice","by":10})", 2);
  CHECK(test::eventually([&] { return test::get_count(name, "alice") == 20; },
                         20s));
  // Many more, still identical: none is merged with another.
  pika_publish(name, R"({"counter":"alice","by":10})", 48);
  CHECK(test::eventually([&] { return test::get_count(name, "alice") == 500; },
                         20s));
  node.stop();
  // Once acked, nothing about them is kept.
  CHECK(unacked_anonymous(dir, name) == 0);
}

TEST_CASE("a node killed after committing id-less messages and before "
          "acking them does not apply their redeliveries again",
          "[broker][identity][kill]") {
  for (const char* point : {"after_commit", "before_ack"}) {
    DYNAMIC_SECTION(point) {
      test::temp_dir dir;
      test::broker_scratch broker;
      auto name = broker.queue("anon-kill");
      auto cfg = test::node_config(dir);
      auto actor = test::counter_actor(name);
      actor["commit"] = json::object{{"max_batch", 5}};
      cfg["actors"] = json::array{actor};
      {
        test::node_process doomed{
          dir, cfg, {"WARREN_KILL_POINT=" + std::string{point} + ":1"}};
        // 40 identical increments: only their delivery tells them apart.
        pika_publish(name, R"({"counter":"c","by":1})", 40);
        REQUIRE(doomed.wait_for_exit(30s) == -1);
      }
      // The first batch committed, not acked: its messages are remembered
      // (a later commit may only forget what was acked).
      CHECK(unacked_anonymous(dir, name) >= 1);
      test::node_process clean{dir, cfg};
      CHECK(test::eventually([&] { return broker.count(name) == 0; }, 20s));
      CHECK(test::get_count(name, "c") == 40);
      clean.stop();
      CHECK(unacked_anonymous(dir, name) == 0);
    }
  }
}

TEST_CASE("an actor with require_message_id dead-letters a message without "
          "an id, with the reason in its headers",
          "[broker][identity]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("strict-ids");
  auto cfg = test::node_config(dir);
  auto actor = test::counter_actor(name);
  actor["require_message_id"] = true;
  cfg["actors"] = json::array{actor};
  test::node_process node{dir, cfg};
  pika_publish(name, R"({"counter":"c","by":1})", 1);
  auto dead = broker.wait_and_receive(dead_letter_queue_name(name), 1);
  CHECK(test::header_string(dead[0], header::error_code) ==
        "validation_failed");
  CHECK(
    test::header_string(dead[0], header::error).find("require_message_id") !=
    std::string::npos);
  CHECK(test::get_count(name, "c") == 0);
}

TEST_CASE("a stateless forwarder whose connection the broker closes between "
          "its confirms and its ack sends the same ids again, and the "
          "stateful counter behind it ends at exactly N",
          "[broker][identity]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto forwarder = broker.queue("forwarder");
  auto counter = broker.queue("forwarded");
  // The counter's node.
  auto counter_cfg = test::node_config(dir);
  counter_cfg["actors"] = json::array{test::counter_actor(counter)};
  test::node_process counter_node{dir, counter_cfg};
  // The forwarder's node, as a user of its own so that the broker can close
  // its connections alone.
  test::broker_user account;
  auto cfg = test::node_config(dir);
  cfg["broker"] = json::object{{"uri", account.uri()}};
  cfg["actors"] =
    json::array{json::object{{"name", forwarder},
                             {"kind", "subscriber"},
                             {"handler", "test.forwarder"},
                             {"prefetch", 50},
                             {"options", json::object{{"send_to", counter}}}}};
  // Its first multiple-ack waits 5 s: its sends are confirmed by then.
  test::node_process node{dir, cfg, {"WARREN_PAUSE_POINT=before_ack:1:5000"}};
  constexpr int n = 50;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i)
    ids.push_back(test::unique_name("fwd"));
  test::publish_bulk(bridges::actors_exchange, forwarder, "increment", ids, 50,
                     [](std::size_t) { return R"({"counter":"c","by":1})"; });
  REQUIRE(test::eventually(
    [&] {
      return node.err().find("paused at before_ack") != std::string::npos;
    },
    20s));
  REQUIRE(test::broker_script("close-connections", {account.user}) == 0);
  // The forwarder reconnects; what it had not acked comes again and is
  // forwarded again under the same ids; the counter drops the copies.
  CHECK(test::eventually(
    [&] {
      return broker.count(forwarder) == 0 && broker.count(counter) == 0 &&
             test::get_count(counter, "c") >= n;
    },
    30s));
  CHECK(node.err().find("connected again") != std::string::npos);
  CHECK(test::get_count(counter, "c") == n);
}

TEST_CASE("messages whose key field is missing or not a string or an integer "
          "are dead-lettered as validation_failed, never applied to the empty "
          "key",
          "[broker][identity]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("keyless");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{test::counter_actor(name)};
  test::node_process node{dir, cfg};
  for (const char* body : {R"({"by":1})", R"({"counter":{"id":1},"by":1})",
                           R"({"counter":1.5,"by":1})"})
    REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                          "-t", "increment", body})
              .exit_code == 0);
  REQUIRE(test::warren({"send", "-u", test::broker_uri(), "--actor", name, "-t",
                        "increment", R"({"counter":"c","by":1})"})
            .exit_code == 0);
  auto dead = broker.wait_and_receive(dead_letter_queue_name(name), 3);
  for (const auto& msg : dead) {
    CHECK(test::header_string(msg, header::error_code) == "validation_failed");
    CHECK_THAT(test::header_string(msg, header::error),
               Catch::Contains("body field 'counter'"));
  }
  CHECK(test::eventually([&] { return test::get_count(name, "c") == 1; }, 10s));
  node.stop();
  // No state was made for an empty key.
  auto keys = test::open_store(dir)->keys(name);
  REQUIRE(keys);
  REQUIRE(keys->size() == 1);
  CHECK(keys->front().key == "c");
}
