// The `warren` command line as scripts use it: exit codes and one-line
// errors that name the file and the JSON path.

#include "support.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <string>

using namespace warren;
using namespace std::chrono_literals;

namespace {

struct bad_config {
  const char* file;
  const char* json_path;
  const char* what;
};

} // namespace

TEST_CASE("warren check rejects bad configs with exit 3 and one line naming "
          "the file and the JSON path",
          "[cli][config]") {
  auto bad = GENERATE(
    bad_config{"unknown_key.json", "$.actors[0].prefetc", "unknown key"},
    bad_config{"wrong_type.json", "$.broker.heartbeat_seconds",
               "expected an integer"},
    bad_config{"unknown_kind.json", "$.actors[1].kind", "no.such.kind"},
    bad_config{"bad_priority.json", "$.topology.queues[1].max_priority", "300"},
    bad_config{"missing_plugin.json", "$.plugins[0]", "no-such-plugin.so"});
  auto file = test::source_file(std::string{"configs/"} + bad.file);
  auto res = test::warren({"check", file});
  INFO("stdout: " << res.out << "\nstderr: " << res.err);
  CHECK(res.exit_code == 3);
  CHECK(res.out.empty());
  CHECK(std::count(res.err.begin(), res.err.end(), '\n') == 1);
  CHECK(res.err.find(file + ": " + bad.json_path + ":") != std::string::npos);
  CHECK(res.err.find(bad.what) != std::string::npos);
}

TEST_CASE("warren check runs a plugin kind's options validator: exit 3 and "
          "one line naming the file and the JSON path of the bad option",
          "[cli][config]") {
  test::temp_dir dir;
  auto cfg = test::node_config(dir);
  cfg["actors"] = boost::json::array{
    boost::json::object{{"name", "fine"},
                        {"kind", "test.picky"},
                        {"options", boost::json::object{{"mode", "a"}}}},
    boost::json::object{{"name", "wrong"},
                        {"kind", "test.picky"},
                        {"options", boost::json::object{{"mode", "c"}}}}};
  auto file = dir.file("picky.json");
  test::write_file(file, boost::json::serialize(cfg));
  auto res = test::warren({"check", file});
  INFO("stdout: " << res.out << "\nstderr: " << res.err);
  CHECK(res.exit_code == 3);
  CHECK(std::count(res.err.begin(), res.err.end(), '\n') == 1);
  CHECK(res.err.find(file + ": $.actors[1].options.mode: expected one of "
                            "\"a\", \"b\", found \"c\"") != std::string::npos);
}

TEST_CASE("warren check accepts a good config with exit 0", "[cli][config]") {
  auto file = test::source_file("configs/good.json");
  auto res = test::warren({"check", file});
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 0);
  CHECK(res.out.find(": ok") != std::string::npos);
}

TEST_CASE("warren run refuses a bad config with exit 3 before connecting",
          "[cli][config]") {
  auto file = test::source_file("configs/unknown_kind.json");
  auto res = test::warren({"run", file}, 30s);
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 3);
  CHECK(res.err.find("$.actors[1].kind") != std::string::npos);
}

TEST_CASE("a mandatory send to an actor that does not exist fails with exit 1 "
          "and says no queue took it",
          "[broker][cli]") {
  auto nosuch = test::unique_name("it-nosuch");
  auto res = test::warren(
    {"send", "-u", test::broker_uri(), "--actor", nosuch, R"({"hello":1})"});
  INFO("stdout: " << res.out << "\nstderr: " << res.err);
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("no queue took") != std::string::npos);
  CHECK(res.err.find(nosuch) != std::string::npos);
  CHECK(res.out.empty());
}

TEST_CASE("warren send given several broker URIs: it tries them in order "
          "and goes on past one that refuses the connection",
          "[broker][cli]") {
  auto nosuch = test::unique_name("it-nosuch");
  // Port 1 refuses; the second URI is the test broker, whose answer (no
  // queue took it, exit 1) shows the send reached it (unreachable: 4).
  auto uris = "amqp://guest:guest@127.0.0.1:1/ , " + test::broker_uri();
  auto res =
    test::warren({"send", "-u", uris, "--actor", nosuch, R"({"hello":1})"});
  INFO("stdout: " << res.out << "\nstderr: " << res.err);
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("no queue took") != std::string::npos);
  // An empty URI in the list is an error that says what is wrong.
  auto bad = test::warren({"send", "-u", test::broker_uri() + ",", "--actor",
                           nosuch, R"({"hello":1})"});
  INFO("stderr: " << bad.err);
  CHECK(bad.exit_code == 3);
}

TEST_CASE("warren send --no-mandatory to an actor that does not exist "
          "succeeds",
          "[broker][cli]") {
  auto res =
    test::warren({"send", "-u", test::broker_uri(), "--actor",
                  test::unique_name("it-nosuch"), "--no-mandatory", "{}"});
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 0);
}

TEST_CASE("warren send refuses a body that is not JSON without --raw",
          "[cli]") {
  auto res = test::warren({"send", "-u", "amqp://guest:guest@127.0.0.1:1/",
                           "--actor", "anyone", "{not json"});
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 2);
  CHECK(res.err.find("--raw") != std::string::npos);
}

TEST_CASE("warren send to an unreachable broker exits with 4", "[cli]") {
  auto res = test::warren({"send", "-u", "amqp://guest:guest@127.0.0.1:1/",
                           "--actor", "anyone", "{}"});
  INFO("stderr: " << res.err);
  CHECK(res.exit_code == 4);
}
