// The node's log: levels, the json format, and no secret in it, ever.

#include "support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A broker user of the test's own with a password nobody else uses, so the
// password can be looked for in the log without matching anything else.
struct secret_user : test::broker_user {
  /// The test broker's URI with this user, and the password left out.
  std::string uri_without_password() const {
    auto uri = test::broker_uri();
    auto at = uri.find('@');
    REQUIRE(at != std::string::npos);
    return "amqp://" + user + "@" + uri.substr(at + 1);
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      lines.push_back(line);
  return lines;
}

} // namespace

TEST_CASE("a node's debug log never contains its broker password, neither "
          "when the login works nor when it is refused",
          "[broker][logging]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  secret_user account;
  auto name = broker.queue("secret");
  auto records = dir.file("records.jsonl");
  auto password_file = dir.file("broker.password");
  test::write_file(password_file, account.password + "\n");
  auto cfg = test::node_config(dir);
  cfg["broker"] = json::object{{"uri", account.uri_without_password()},
                               {"password_file", password_file}};
  cfg["log"] = json::object{{"level", "debug"}};
  cfg["actors"] = json::array{test::record_actor(name, records)};
  std::string log;
  {
    test::node_process node{dir, cfg};
    auto sent = test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                              "-t", "note", R"({"n": 1})"});
    REQUIRE(sent.exit_code == 0);
    auto bad = test::warren(
      {"send", "-u", test::broker_uri(), "--actor", name, "--raw", "not json"});
    REQUIRE(bad.exit_code == 0);
    test::wait_for_records(records, 1);
    broker.wait_for_count(warren::dead_letter_queue_name(name), 1);
    CHECK(node.stop() == 0);
    log = node.err();
  }
  // The log is a debug log, and it speaks of the connection and the user.
  CHECK(log.find(" debug ") != std::string::npos);
  CHECK(log.find(account.user) != std::string::npos);
  CHECK(log.find(account.password) == std::string::npos);

  // A refused login is reported, without the password that was refused.
  auto wrong = test::unique_name("pw-wrong");
  test::write_file(password_file, wrong);
  cfg["node"] = test::unique_name("it-node");
  test::node_process refused{dir, cfg, {}, test::node_process::until::started};
  CHECK(test::eventually(
    [&] { return refused.err().find("cannot connect") != std::string::npos; },
    20s));
  CHECK(refused.stop() == 0);
  auto refused_log = refused.err();
  INFO(refused_log);
  CHECK(refused_log.find("ACCESS_REFUSED") != std::string::npos);
  CHECK(refused_log.find(account.user) != std::string::npos);
  CHECK(refused_log.find(wrong) == std::string::npos);
}

TEST_CASE("with log.format json every line is one JSON object with time, "
          "level, node and message, and lines about a message name its "
          "actor, id and trace, warren dlq show prints the trace",
          "[broker][logging]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("jsonlog");
  auto cfg = test::node_config(dir);
  cfg["log"] = json::object{{"format", "json"}};
  cfg["actors"] =
    json::array{test::record_actor(name, dir.file("records.jsonl"))};
  std::string log;
  {
    test::node_process node{dir, cfg};
    auto bad = test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                             "--message-id", "bad-1", "--raw", "not json"});
    REQUIRE(bad.exit_code == 0);
    // One that is part of a trace started elsewhere keeps that trace.
    auto traced = test::warren({"send", "-u", test::broker_uri(), "--actor",
                                name, "--message-id", "bad-2", "-H",
                                "x-warren-trace=t-77", "--raw", "not json"});
    REQUIRE(traced.exit_code == 0);
    broker.wait_for_count(warren::dead_letter_queue_name(name), 2);
    CHECK(node.stop() == 0);
    log = node.err();
  }
  for (auto [id, trace] : {std::pair{"bad-1", "bad-1"}, {"bad-2", "t-77"}}) {
    auto shown =
      test::warren({"dlq", "show", "-u", test::broker_uri(), name, id});
    REQUIRE(shown.exit_code == 0);
    INFO(shown.out);
    auto v = json::parse(shown.out);
    CHECK(v.at("trace") == json::value(trace));
    CHECK(v.at("headers").at(warren::header::trace) == json::value(trace));
  }
  auto node_name = std::string{cfg["node"].as_string()};
  bool dead_letter_line = false;
  bool traced_line = false;
  auto lines = lines_of(log);
  REQUIRE(lines.size() >= 3); // starting, ready, ..., stopped
  for (const auto& line : lines) {
    INFO(line);
    json::error_code ec;
    auto v = json::parse(line, ec);
    REQUIRE(!ec);
    REQUIRE(v.is_object());
    const auto& obj = v.as_object();
    CHECK(obj.contains("time"));
    CHECK(obj.contains("level"));
    CHECK(obj.contains("message"));
    CHECK(obj.at("node") == json::value(node_name));
    if (obj.contains("message_id") && obj.at("message_id") == "bad-1") {
      dead_letter_line = true;
      CHECK(obj.at("actor") == json::value(name));
      CHECK(obj.at("level") == "warning");
      CHECK(obj.at("trace_id") == "bad-1");
    }
    if (obj.contains("message_id") && obj.at("message_id") == "bad-2") {
      traced_line = true;
      CHECK(obj.at("trace_id") == "t-77");
    }
  }
  CHECK(dead_letter_line);
  CHECK(traced_line);
}

TEST_CASE("log.level warning leaves out a node's info lines and keeps its "
          "warnings, a bad --log-level is a usage error",
          "[broker][logging]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("quiet");
  auto cfg = test::node_config(dir);
  cfg["log"] = json::object{{"level", "warning"}};
  cfg["actors"] =
    json::array{test::record_actor(name, dir.file("records.jsonl"))};
  // Declared as the node declares it, so its consumers can be counted.
  bridges::topology topo;
  topo.queues.push_back(bridges::queue_spec{});
  topo.queues.back().name = name;
  REQUIRE(!broker.client().declare(topo));
  {
    // Without info lines there is no "ready" line to wait for.
    test::node_process node{dir, cfg, {}, test::node_process::until::started};
    REQUIRE(test::eventually([&] { return broker.consumers(name) == 1; }, 20s));
    auto bad = test::warren(
      {"send", "-u", test::broker_uri(), "--actor", name, "--raw", "not json"});
    REQUIRE(bad.exit_code == 0);
    broker.wait_for_count(warren::dead_letter_queue_name(name), 1);
    CHECK(node.stop() == 0);
    auto log = node.err();
    INFO(log);
    CHECK(log.find(" warning ") != std::string::npos);
    CHECK(log.find("dead-lettering") != std::string::npos);
    CHECK(log.find(" info ") == std::string::npos);
    CHECK(log.find("ready") == std::string::npos);
  }
  auto path = dir.file("bad-level.json");
  test::write_file(path, json::serialize(cfg));
  auto bad = test::warren({"run", "--log-level", "loud", path});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--log-level expects") != std::string::npos);
}
