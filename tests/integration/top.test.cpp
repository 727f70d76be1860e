// `warren top` against a running node's /metrics, in a real terminal: a
// tmux pane of the test's own (its own server socket, killed at the end).

#include "support.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/errc.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <regex>
#include <sstream>
#include <thread>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const char* tmux_path = "/usr/bin/tmux";

// A detached tmux server and session running an interactive bash with the
// prompt "$ ", 120 columns by 40 rows.
class tmux_pane {
 public:
  tmux_pane() : socket_(test::unique_name("it-top-tmux")) {
    auto r = tmux({"new-session", "-d", "-x", "120", "-y", "40", "-s", "top",
                   "env PS1='$ ' bash --norc --noprofile -i"});
    REQUIRE(r.exit_code == 0);
  }

  ~tmux_pane() {
    // Our own server only (-L): the user's tmux sessions are not touched.
    test::run_command(
      {tmux_path, "-L", socket_, "-f", "/dev/null", "kill-server"}, 10s);
  }

  tmux_pane(const tmux_pane&) = delete;
  tmux_pane& operator=(const tmux_pane&) = delete;

  /// Types `line` and Enter.
  void type(const std::string& line) {
    REQUIRE(tmux({"send-keys", "-t", "top", "-l", line}).exit_code == 0);
    press("Enter");
  }

  /// Presses a key by its tmux name ("q", "C-c", "Enter").
  void press(const std::string& key) {
    REQUIRE(tmux({"send-keys", "-t", "top", key}).exit_code == 0);
  }

  /// What the pane shows now.
  std::string screen() {
    auto r = tmux({"capture-pane", "-p", "-t", "top"});
    REQUIRE(r.exit_code == 0);
    return r.out;
  }

  /// Waits up to `timeout` until the screen contains `text`.
  bool shows(const std::string& text, std::chrono::milliseconds timeout) {
    return test::eventually(
      [&] { return screen().find(text) != std::string::npos; }, timeout);
  }

 private:
  test::command_result tmux(std::vector<std::string> args) {
    args.insert(args.begin(), {tmux_path, "-L", socket_, "-f", "/dev/null"});
    return test::run_command(args, 10s);
  }

  std::string socket_;
};

// The words of the screen line that starts (after blanks) with `actor`.
std::vector<std::string> row_of(const std::string& screen,
                                const std::string& actor) {
  std::istringstream lines{screen};
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words{line};
    std::vector<std::string> out;
    for (std::string w; words >> w;)
      out.push_back(w);
    if (!out.empty() && out[0] == actor)
      return out;
  }
  return {};
}

// A row as `warren top` draws it: ACTOR HANDLED/s P50 P99 ERR% INFLIGHT/PF
// [QUEUE] (blank while a node exports no queue depth).
struct row_figures {
  double handled_per_second = 0;
  double error_percent = 0;
  int in_flight = 0;
  int prefetch = 0;
};

std::optional<row_figures> figures_of(const std::vector<std::string>& row) {
  static const std::regex number{"[0-9]+(\\.[0-9]+)?"};
  static const std::regex percent{"[0-9]+\\.[0-9]%"};
  static const std::regex in_flight{"([0-9]+)/([0-9]+)"};
  std::smatch m;
  if (row.size() < 6 || row.size() > 7 || !std::regex_match(row[1], number) ||
      !std::regex_match(row[4], percent) ||
      !std::regex_match(row[5], m, in_flight))
    return std::nullopt;
  row_figures out;
  out.handled_per_second = std::stod(row[1]);
  out.error_percent = std::stod(row[4]);
  out.in_flight = std::stoi(m[1]);
  out.prefetch = std::stoi(m[2]);
  return out;
}

// Publishes to `queue` until stopped, about 100 messages a second; every
// fifth body is not JSON (the service dead-letters it: malformed_body).
class steady_load {
 public:
  steady_load(std::string queue, std::string reply_to)
    : thread_([this, queue, reply_to] { run(queue, reply_to); }) {}

  ~steady_load() { stop(); }

  /// Stops publishing; returns what went wrong ("" when nothing did).
  std::string stop() {
    stopping_ = true;
    if (thread_.joinable())
      thread_.join();
    return error_;
  }

  std::size_t sent() const { return sent_; }

 private:
  void run(const std::string& queue, const std::string& reply_to) {
    auto client = bridges::blocking_client::connect(test::broker_settings());
    if (!client) {
      error_ = describe(client.error());
      return;
    }
    for (std::size_t i = 0; !stopping_; ++i) {
      outgoing_message msg;
      msg.routing_key = queue;
      msg.properties.message_id = "load-" + std::to_string(i);
      msg.properties.reply_to = reply_to;
      msg.body = i % 5 == 4 ? "not json" : "{\"n\": " + std::to_string(i) + "}";
      if (auto err = (*client)->publish(msg, 10s)) {
        error_ = describe(err);
        return;
      }
      ++sent_;
      std::this_thread::sleep_for(10ms);
    }
  }

  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> sent_{0};
  std::string error_;
  std::thread thread_;
};

} // namespace

TEST_CASE("warren top shows a loaded actor's rate, error share and "
          "in-flight/prefetch, and gives the terminal back on q and on "
          "Ctrl-C",
          "[broker][top]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("top");
  auto replies = broker.queue("top-replies");
  bridges::topology topo;
  topo.queues.push_back(bridges::queue_spec{});
  topo.queues.back().name = replies;
  REQUIRE(!broker.client().declare(topo));
  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  cfg["actors"] = json::array{json::object{
    {"name", name}, {"kind", "service"}, {"handler", "echo"}, {"prefetch", 7}}};
  test::node_process node{dir, cfg};
  auto url = "http://127.0.0.1:" + std::to_string(node.metrics_port());
  auto before = dir.file("stty-before");
  auto after = dir.file("stty-after");
  auto command = test::warren_cli() + " top --interval 1 " + url;

  tmux_pane pane;
  pane.type("stty -g > " + before);
  steady_load load{name, replies};
  pane.type(command + "; echo top-exit=$?");
  // A frame over a whole second of load: positive rate, the prefetch of
  // the config, and about one failure in five deliveries.
  std::optional<row_figures> seen;
  std::string screen;
  auto loaded = test::eventually(
    [&] {
      screen = pane.screen();
      seen = figures_of(row_of(screen, name));
      return seen && seen->handled_per_second > 0;
    },
    20s);
  INFO(screen);
  REQUIRE(loaded);
  CHECK(seen->prefetch == 7);
  CHECK(seen->in_flight >= 0);
  CHECK(seen->in_flight <= 7);
  CHECK(seen->error_percent >= 10);
  CHECK(seen->error_percent <= 30);
  // Every connection of the node is up.
  static const std::regex all_up{"conns ([0-9]+)/\\1\\b"};
  CHECK(std::regex_search(screen, all_up));

  // q: the dashboard ends with 0 and the shell gets its terminal back, in
  // the mode it was in (canonical, echoing).
  pane.press("q");
  CHECK(pane.shows("top-exit=0", 10s));
  pane.type("stty -g > " + after);
  CHECK(test::eventually([&] { return !test::read_file(after).empty(); }, 5s));
  CHECK(test::read_file(after) == test::read_file(before));
  CHECK(pane.screen().find("HANDLED/s") == std::string::npos);

  // Ctrl-C (SIGINT) restores it as well.
  pane.type("clear; " + command + "; echo top-exit-again=$?");
  CHECK(pane.shows("HANDLED/s", 10s));
  pane.press("C-c");
  CHECK(pane.shows("top-exit-again=0", 10s));
  pane.type("stty -g > " + after + "-2");
  CHECK(test::eventually([&] { return !test::read_file(after + "-2").empty(); },
                         5s));
  CHECK(test::read_file(after + "-2") == test::read_file(before));

  auto load_error = load.stop();
  CHECK(load_error.empty());
  CHECK(load.sent() > 50);

  // --once: plain text, the node's row and the unreachable endpoint's line,
  // exit 1 because one endpoint failed.
  auto once = test::warren(
    {"top", "--once", "--interval", "0.5", url, "http://127.0.0.1:1"});
  INFO(once.out << once.err);
  CHECK(once.exit_code == 1);
  CHECK(once.out.find('\x1b') == std::string::npos);
  CHECK(!row_of(once.out, name).empty());
  CHECK(once.out.find("http://127.0.0.1:1  unreachable: connection refused") !=
        std::string::npos);
  CHECK(node.stop() == 0);
}

TEST_CASE("warren top --once against an endpoint nobody listens on prints "
          "why it is unreachable and exits 1",
          "[top]") {
  auto r = test::warren({"top", "--once", "--interval", "0.1", "127.0.0.1:1"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("127.0.0.1:1  unreachable: connection refused") !=
        std::string::npos);
  CHECK(r.out.find('\x1b') == std::string::npos);

  auto bad = test::warren({"top", "--once", "https://127.0.0.1:1"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("only http:// is supported") != std::string::npos);
}
