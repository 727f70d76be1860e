// Credentials (issue 9, "Also"), against the private broker: a refused
// login is reported with the broker named and the password hidden, and
// tried again at most once a second; the password never appears on a
// command line, since the CLI takes it from the environment or a file.

#include "support.hpp"

#include <catch2/catch.hpp>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

// The command lines of every warren process, NULs as spaces.
std::string warren_command_lines() {
  std::string all;
  auto* proc = opendir("/proc");
  REQUIRE(proc != nullptr);
  while (auto* entry = readdir(proc)) {
    std::string name = entry->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::ifstream in{"/proc/" + name + "/cmdline"};
    // Through a stream operation, so a process that exits while it is read
    // (ESRCH) sets failbit instead of throwing out of the watcher thread.
    std::ostringstream text;
    text << in.rdbuf();
    auto line = text.str();
    for (auto& c : line)
      if (c == '\0')
        c = ' ';
    if (line.find("warren") != std::string::npos)
      all += line + "\n";
  }
  closedir(proc);
  return all;
}

// The test broker's URI as `user`, without a password.
std::string uri_without_password(const std::string& user) {
  auto uri = test::broker_uri();
  return "amqp://" + user + uri.substr(uri.find('@'));
}

} // namespace

TEST_CASE("a node whose login is refused (wrong password, unknown vhost) "
          "names the broker, hides the password, and tries again at most "
          "once a second",
          "[broker][credentials]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  test::broker_user account;
  auto name = broker.queue("refused");
  auto password_file = dir.file("password");
  auto wrong = test::unique_name("pw-wrong");
  test::write_file(password_file, wrong);
  for (const std::string vhost : {"", "no-such-vhost"}) {
    DYNAMIC_SECTION("vhost '" << vhost << "'") {
      auto cfg = test::node_config(dir);
      auto uri = uri_without_password(account.user);
      if (!vhost.empty())
        uri = uri.substr(0, uri.rfind('/') + 1) + vhost;
      cfg["broker"] =
        json::object{{"uri", uri}, {"password_file", password_file}};
      cfg["actors"] = json::array{test::record_actor(name, dir.file("r"))};
      test::node_process node{dir, cfg, {}, test::node_process::until::started};
      std::this_thread::sleep_for(4500ms);
      auto log = node.err();
      INFO(log);
      CHECK(node.stop() == 0);
      CHECK_THAT(log, Catch::Contains("login failed"));
      CHECK_THAT(log, Catch::Contains(account.user + ":***@127.0.0.1"));
      CHECK(log.find(wrong) == std::string::npos);
      // The consumer's attempts: one now, then at most one a second.
      auto attempts = occurrences(log, "consumer of '" + name + "'");
      CHECK(attempts >= 2);
      CHECK(attempts <= 6);
    }
  }
}

TEST_CASE("the broker password never appears on a command line: the node "
          "reads it from a file, warren send from the environment",
          "[broker][credentials]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  test::broker_user account;
  auto name = broker.queue("secret-cli");
  auto records = dir.file("records.jsonl");
  auto password_file = dir.file("password");
  test::write_file(password_file, account.password + "\n");
  auto cfg = test::node_config(dir);
  cfg["broker"] = json::object{{"uri", uri_without_password(account.user)},
                               {"password_file", password_file}};
  cfg["actors"] = json::array{test::record_actor(name, records)};
  test::node_process node{dir, cfg};
  std::string seen;
  std::atomic<bool> done{false};
  std::thread watcher{[&] {
    while (!done) {
      seen += warren_command_lines();
      std::this_thread::sleep_for(5ms);
    }
  }};
  ::setenv("WARREN_BROKER_PASSWORD", account.password.c_str(), 1);
  for (int i = 0; i < 5; ++i) {
    auto sent = test::warren({"send", "-u", uri_without_password(account.user),
                              "--actor", name, "-t", "note", "{}"});
    CHECK(sent.exit_code == 0);
  }
  // From a file too.
  ::unsetenv("WARREN_BROKER_PASSWORD");
  auto from_file = test::warren(
    {"send", "-u", uri_without_password(account.user), "--password-file",
     password_file, "--actor", name, "-t", "note", "{}"});
  CHECK(from_file.exit_code == 0);
  test::wait_for_records(records, 6);
  done = true;
  watcher.join();
  CHECK(seen.find(name) != std::string::npos); // the sends were seen
  CHECK(seen.find(account.password) == std::string::npos);
  // Without it, the login is refused, and said so.
  auto refused = test::warren({"send", "-u", uri_without_password(account.user),
                               "--actor", name, "-t", "note", "{}"});
  CHECK(refused.exit_code == 4);
  CHECK_THAT(refused.err, Catch::Contains("ACCESS_REFUSED"));
}
