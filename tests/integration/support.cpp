#include "support.hpp"

#include "warren/core/errc.hpp"
#include "warren/metrics/http_get.hpp"

#include <algorithm>
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace warren::test {

namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;

std::string random_hex(std::size_t digits) {
  thread_local std::mt19937_64 engine{
    std::random_device{}() ^
    static_cast<uint64_t>(clock_type::now().time_since_epoch().count())};
  static constexpr char hex[] = "0123456789abcdef";
  std::string result;
  for (std::size_t i = 0; i < digits; ++i)
    result += hex[engine() % 16];
  return result;
}

// -- child processes ----------------------------------------------------------

// Starts `argv` with stdin from /dev/null and stdout/stderr into files.
// `env` entries (KEY=VALUE) replace or extend the inherited environment.
// With `own_group` the child leads a process group of its own, which the
// processes it forks join (kill -PID reaches them all).
// Everything the child needs is prepared before fork, so the child only makes
// async-signal-safe calls.
pid_t spawn(const std::vector<std::string>& argv,
            const std::vector<std::string>& env, const std::string& out_path,
            const std::string& err_path, bool own_group = false) {
  REQUIRE(!argv.empty());
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  auto overridden = [&env](const char* entry) {
    for (const auto& e : env) {
      auto key = e.substr(0, e.find('=') + 1);
      if (std::strncmp(entry, key.c_str(), key.size()) == 0)
        return true;
    }
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e)
    if (!overridden(*e))
      env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd =
    ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd =
    ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(in_fd >= 0);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);
  sigset_t none;
  sigemptyset(&none);
  auto pid = ::fork();
  if (pid == 0) {
    // A child must not outlive a crashed test run.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (own_group)
      ::setpgid(0, 0);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
  REQUIRE(pid > 0);
  // Here too, so that the group exists before the caller may signal it
  // (fails harmlessly once the child has run exec).
  if (own_group)
    ::setpgid(pid, pid);
  return pid;
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Waits up to `timeout` for `pid`; returns true (and the code) when it exited.
bool wait_exit(pid_t pid, std::chrono::milliseconds timeout, int& code) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    int status = 0;
    auto rc = ::waitpid(pid, &status, WNOHANG);
    if (rc == pid) {
      code = exit_code_of(status);
      return true;
    }
    if (rc < 0) {
      code = -1;
      return true;
    }
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

// -- raw rabbitmq-c -----------------------------------------------------------

std::string text_of(amqp_bytes_t bytes) {
  return std::string{static_cast<const char*>(bytes.bytes), bytes.len};
}

std::string describe_reply(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return "channel closed: " + std::to_string(m->reply_code) + " " +
               text_of(m->reply_text);
      }
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return "connection closed: " + std::to_string(m->reply_code) + " " +
               text_of(m->reply_text);
      }
      return "server method " + std::to_string(reply.reply.id);
  }
  return "unknown reply";
}

// A plain rabbitmq-c connection with channel 1 open, for what the tests do
// outside warren's own client: batch publishing and deleting exchanges.
// Throws std::runtime_error on errors.
class raw_connection {
 public:
  raw_connection() {
    auto ep = bridges::parse_broker_uri(broker_uri());
    if (!ep)
      throw std::runtime_error("bad broker URI: " + describe(ep.error()));
    conn_ = amqp_new_connection();
    try {
      connect(*ep);
    } catch (...) {
      amqp_destroy_connection(conn_);
      throw;
    }
  }

  ~raw_connection() {
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }

  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  amqp_connection_state_t get() const noexcept { return conn_; }

  void connect(const bridges::broker_endpoint& ep) {
    auto* socket = amqp_tcp_socket_new(conn_);
    if (socket == nullptr)
      throw std::runtime_error("cannot create a socket");
    timeval tv{5, 0};
    auto rc = amqp_socket_open_noblock(socket, ep.host.c_str(), ep.port, &tv);
    if (rc != AMQP_STATUS_OK)
      throw std::runtime_error(std::string{"cannot connect: "} +
                               amqp_error_string2(rc));
    check(amqp_login(conn_, ep.vhost.c_str(), 0, 131072, 0,
                     AMQP_SASL_METHOD_PLAIN, ep.user.c_str(),
                     ep.password.c_str()),
          "login");
    open_channel();
  }

  void open_channel() {
    amqp_channel_open(conn_, channel);
    check(amqp_get_rpc_reply(conn_), "channel.open");
  }

  // Throws on a failed RPC. A channel error (e.g. 404) is answered and the
  // channel reopened first, so the connection stays usable.
  void check(const amqp_rpc_reply_t& reply, const std::string& what) {
    if (reply.reply_type == AMQP_RESPONSE_NORMAL)
      return;
    auto text = what + ": " + describe_reply(reply);
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      amqp_channel_close_ok_t close_ok;
      amqp_send_method(conn_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
      open_channel();
    }
    throw std::runtime_error(text);
  }

  static constexpr amqp_channel_t channel = 1;

 private:
  amqp_connection_state_t conn_ = nullptr;
};

amqp_bytes_t bytes_of(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

} // namespace

// -- environment --------------------------------------------------------------

std::string broker_uri() {
  const char* uri = std::getenv("WARREN_TEST_AMQP_URI");
  if (uri == nullptr || *uri == '\0')
    FAIL("WARREN_TEST_AMQP_URI is not set: broker tests need the private test "
         "broker; run them with scripts/test.sh (or start it with "
         "scripts/broker.sh start and export WARREN_TEST_AMQP_URI, "
         "WARREN_TEST_BROKER_SCRIPT and WARREN_TEST_BROKER_NAME)");
  return uri;
}

bridges::broker_settings broker_settings() {
  auto ep = bridges::parse_broker_uri(broker_uri());
  if (!ep)
    FAIL("WARREN_TEST_AMQP_URI does not parse: " << describe(ep.error()));
  bridges::broker_settings settings;
  settings.endpoints.push_back(*ep);
  settings.connection_name = "warren integration test";
  settings.reconnect_min = 100ms;
  settings.reconnect_max = 1000ms;
  return settings;
}

int broker_script(const std::string& command,
                  const std::vector<std::string>& args) {
  const char* script = std::getenv("WARREN_TEST_BROKER_SCRIPT");
  const char* name = std::getenv("WARREN_TEST_BROKER_NAME");
  if (script == nullptr || name == nullptr)
    FAIL("WARREN_TEST_BROKER_SCRIPT and WARREN_TEST_BROKER_NAME are not set; "
         "run the broker tests with scripts/test.sh");
  std::vector<std::string> argv{script, command, name};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv, 120s);
  if (r.exit_code != 0)
    WARN("broker.sh " << command << ": " << r.err);
  return r.exit_code;
}

broker_user::broker_user() {
  REQUIRE(broker_script("add-user", {user, password}) == 0);
}

std::string broker_user::uri() const {
  auto base = broker_uri();
  auto at = base.find('@');
  auto scheme = base.find("://");
  REQUIRE(at != std::string::npos);
  REQUIRE(scheme != std::string::npos);
  return base.substr(0, scheme + 3) + user + ":" + password + base.substr(at);
}

std::string warren_cli() {
  return WARREN_BINARY_DIR "/cli/warren";
}

std::string test_plugin() {
  return WARREN_TEST_PLUGIN;
}

std::string source_file(const std::string& relative) {
  return WARREN_SOURCE_DIR "/tests/integration/" + relative;
}

std::string unique_name(const std::string& prefix) {
  return prefix + "-" + random_hex(12);
}

// -- files --------------------------------------------------------------------

temp_dir::temp_dir() {
  auto base = fs::temp_directory_path() / ("warren-it-" + random_hex(12));
  fs::create_directories(base);
  path_ = base.string();
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string temp_dir::file(const std::string& name) const {
  return path_ + "/" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
  REQUIRE(out.good());
}

std::vector<record_line> read_records(const std::string& path) {
  std::vector<record_line> result;
  auto text = read_file(path);
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos;
       start = end + 1, end = text.find('\n', start)) {
    auto line = text.substr(start, end - start);
    // Checked by hand, not with REQUIRE: this runs in polling loops, and
    // thousands of passing assertions per poll only slow the test down.
    boost::json::error_code ec;
    auto value = boost::json::parse(line, ec);
    const auto* obj = value.if_object();
    const auto* id = obj ? obj->if_contains("message_id") : nullptr;
    const auto* type = obj ? obj->if_contains("type") : nullptr;
    const auto* redelivered = obj ? obj->if_contains("redelivered") : nullptr;
    if (ec || !id || !id->is_string() || !type || !type->is_string() ||
        !redelivered || !redelivered->is_bool())
      FAIL("record file " << path
                          << " has a line that is not a record: " << line);
    record_line rec;
    rec.message_id = std::string{id->as_string()};
    rec.type = std::string{type->as_string()};
    rec.redelivered = redelivered->as_bool();
    if (const auto* body = obj->if_contains("body"))
      rec.body = *body;
    result.push_back(std::move(rec));
  }
  return result;
}

std::vector<record_line> wait_for_records(const std::string& path,
                                          std::size_t n,
                                          std::chrono::milliseconds timeout) {
  std::vector<record_line> records;
  eventually(
    [&] {
      records = read_records(path);
      return records.size() >= n;
    },
    timeout);
  if (records.size() < n) {
    auto text = read_file(path);
    if (text.size() > 2000)
      text = "...\n" + text.substr(text.size() - 2000);
    FAIL("record file " << path << " has " << records.size() << " lines after "
                        << timeout.count() << " ms, expected " << n << ":\n"
                        << text);
  }
  return records;
}

bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (done())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

// -- processes ----------------------------------------------------------------

command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout) {
  temp_dir dir;
  auto out_path = dir.file("out");
  auto err_path = dir.file("err");
  auto pid = spawn(argv, {}, out_path, err_path);
  command_result result;
  if (!wait_exit(pid, timeout, result.exit_code)) {
    kill_and_reap(pid);
    FAIL(argv.front() << " still running after " << timeout.count()
                      << " ms; stderr:\n"
                      << read_file(err_path));
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

std::string find_program(const std::string& name) {
  std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  dirs += ":/usr/sbin:/sbin";
  std::istringstream in{dirs};
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty())
      continue;
    auto path = dir + "/" + name;
    if (::access(path.c_str(), X_OK) == 0)
      return path;
  }
  return {};
}

background_process::background_process(const std::vector<std::string>& argv)
  : pid_{spawn(argv, {}, dir_.file("out"), dir_.file("err"), true)} {
  // Nothing else to do.
}

background_process::~background_process() {
  // The whole group: what it forked may outlive it (a forwarder's child
  // writing to a peer that is cut off blocks until TCP gives up).
  ::kill(-pid_, SIGTERM);
  int code = 0;
  if (!reaped_ && !wait_exit(pid_, 2s, code))
    kill_and_reap(pid_);
  ::kill(-pid_, SIGKILL);
}

bool background_process::running() {
  int code = 0;
  if (!reaped_ && wait_exit(pid_, 0ms, code))
    reaped_ = true;
  return !reaped_;
}

std::string background_process::err() const {
  return read_file(dir_.file("err"));
}

command_result warren(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{warren_cli()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

boost::json::object node_config(const temp_dir& dir) {
  boost::json::object cfg;
  cfg["node"] = unique_name("it-node");
  cfg["state_dir"] = dir.file("state");
  cfg["broker"] = boost::json::object{{"uri", broker_uri()}};
  cfg["plugins"] = boost::json::array{boost::json::value(test_plugin())};
  return cfg;
}

std::unique_ptr<node_process>
killed_then_restarted(const temp_dir& dir, const boost::json::object& cfg,
                      broker_scratch& broker, const std::string& queue,
                      const std::string& point,
                      const std::function<void()>& publish) {
  bool killed = false;
  {
    node_process doomed{dir, cfg, {"WARREN_KILL_POINT=" + point + ":3"}};
    publish();
    eventually([&] { return !doomed.running() || broker.count(queue) == 0; },
               std::chrono::seconds{30});
    killed = doomed.stop() == -1;
  }
  auto clean = std::make_unique<node_process>(dir, cfg);
  INFO("kill point " << point);
  // The point is passed many times by what `publish` sends.
  CHECK(killed);
  CHECK(eventually([&] { return broker.count(queue) == 0; },
                   std::chrono::seconds{30}));
  return clean;
}

std::unique_ptr<runtime::checkpoint_store> open_store(const temp_dir& dir) {
  runtime::store_settings settings;
  settings.path = dir.file("state") + "/warren.db";
  settings.read_only = true;
  auto store = runtime::checkpoint_store::open(settings);
  REQUIRE(store);
  return std::move(*store);
}

boost::json::object record_actor(const std::string& name,
                                 const std::string& path, int instances) {
  return {{"name", name},
          {"kind", "subscriber"},
          {"handler", "record"},
          {"instances", instances},
          {"options", boost::json::object{{"path", path}}}};
}

boost::json::object counter_actor(const std::string& name,
                                  const std::string& downstream) {
  boost::json::object options{{"key_field", "counter"}};
  if (!downstream.empty())
    options["downstream"] = downstream;
  return {{"name", name}, {"kind", "test.counter"}, {"options", options}};
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size()))
    ++n;
  return n;
}

double metric_sample(uint16_t port, const std::string& name,
                     const std::vector<std::string>& labels) {
  auto body = metrics::http_get({"127.0.0.1", port, "/metrics"});
  REQUIRE(body);
  std::istringstream lines{*body};
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0)
      continue;
    bool all = true;
    for (const auto& label : labels)
      all = all && line.find(label) != std::string::npos;
    if (all)
      return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

std::map<std::string, int64_t> counter_counts(const std::string& db,
                                              const std::string& actor) {
  auto r = warren({"state", "show", "--db", db, actor});
  INFO("warren state show: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, int64_t> result;
  std::istringstream lines{r.out};
  for (std::string line; std::getline(lines, line);) {
    if (line.empty())
      continue;
    auto obj = boost::json::parse(line).as_object();
    result[std::string{obj.at("key").as_string()}] =
      obj.at("state").at("count").as_int64();
  }
  return result;
}

call_reply call_actor(const std::string& actor, const std::string& type,
                      const boost::json::value& body) {
  auto r = warren({"call", "-u", broker_uri(), "--timeout", "15000", actor,
                   "-t", type, boost::json::serialize(body)});
  call_reply reply{r.exit_code, nullptr, r.err};
  if (!r.out.empty())
    reply.body = boost::json::parse(r.out);
  return reply;
}

int64_t get_count(const std::string& actor, const std::string& counter) {
  auto r = warren({"call", "-u", broker_uri(), "--timeout", "15000", actor,
                   "-t", "get", R"({"counter":")" + counter + R"("})"});
  INFO("warren call: " << r.err);
  REQUIRE(r.exit_code == 0);
  return boost::json::parse(r.out).at("count").as_int64();
}

node_process::node_process(const temp_dir& dir, boost::json::object config,
                           std::vector<std::string> env)
  : node_process(dir, std::move(config), std::move(env), until::ready) {
  // Nothing else to do.
}

node_process::node_process(const temp_dir& dir, boost::json::object config,
                           std::vector<std::string> env, until wait,
                           std::vector<std::string> command_prefix) {
  REQUIRE(config.contains("node"));
  name_ = std::string{config.at("node").as_string()};
  config_path_ = dir.file(name_ + ".json");
  out_path_ = dir.file(name_ + ".out");
  err_path_ = dir.file(name_ + ".err");
  write_file(config_path_, boost::json::serialize(config));
  // The config names the broker (node_config uses the test broker); an
  // empty WARREN_BROKER_URI keeps a caller's environment from overriding it.
  env.emplace_back("WARREN_BROKER_URI=");
  auto argv = std::move(command_prefix);
  argv.insert(argv.end(), {warren_cli(), "run", config_path_});
  pid_ = spawn(argv, env, out_path_, err_path_);
  if (wait == until::started)
    return;
  auto ready_line = "node '" + name_ + "' ready";
  auto deadline = clock_type::now() + 30s;
  for (;;) {
    if (err().find(ready_line) != std::string::npos)
      return;
    int code = 0;
    if (wait_exit(pid_, 0ms, code)) {
      pid_ = -1;
      exit_code_ = code;
      FAIL("warren run " << config_path_ << " exited with " << code
                         << " before it was ready; stderr:\n"
                         << err());
    }
    if (clock_type::now() >= deadline) {
      kill_and_reap(pid_);
      pid_ = -1;
      FAIL("warren run " << config_path_ << " not ready after 30 s; stderr:\n"
                         << err());
    }
    std::this_thread::sleep_for(20ms);
  }
}

node_process::~node_process() {
  stop();
}

int node_process::stop() {
  if (pid_ < 0)
    return exit_code_;
  ::kill(pid_, SIGINT);
  if (!wait_exit(pid_, 15s, exit_code_)) {
    std::cerr << "warning: node " << name_
              << " did not stop within 15 s of SIGINT; killing it\n";
    kill_and_reap(pid_);
    exit_code_ = -1;
  }
  pid_ = -1;
  return exit_code_;
}

int node_process::force_stop() {
  if (pid_ < 0)
    return exit_code_;
  ::kill(pid_, SIGINT);
  REQUIRE(eventually(
    [&] { return err().find("stopping gracefully") != std::string::npos; },
    10s));
  ::kill(pid_, SIGINT);
  if (!wait_exit(pid_, 10s, exit_code_)) {
    kill_and_reap(pid_);
    exit_code_ = -1;
  }
  pid_ = -1;
  return exit_code_;
}

bool node_process::running() {
  if (pid_ < 0)
    return false;
  if (!wait_exit(pid_, 0ms, exit_code_))
    return true;
  pid_ = -1;
  return false;
}

int node_process::wait_for_exit(std::chrono::milliseconds timeout) {
  if (pid_ < 0)
    return exit_code_;
  if (!wait_exit(pid_, timeout, exit_code_))
    FAIL("node " << name_ << " still running after " << timeout.count()
                 << " ms; its stderr:\n"
                 << err());
  pid_ = -1;
  return exit_code_;
}

uint16_t node_process::metrics_port() const {
  static const std::regex logged{
    R"(metrics on http://127\.0\.0\.1:(\d+)/metrics)"};
  auto log = err();
  std::smatch m;
  if (!std::regex_search(log, m, logged))
    FAIL("the node did not log where its metrics are; stderr:\n" << log);
  return static_cast<uint16_t>(std::stoi(m[1].str()));
}

std::string node_process::err() const {
  return read_file(err_path_);
}

std::string node_process::out() const {
  return read_file(out_path_);
}

// -- broker -------------------------------------------------------------------

void kill_hard(node_process& node) {
  REQUIRE(::kill(node.pid(), SIGKILL) == 0);
  node.stop();
}

std::string header_string(const warren::envelope& env, const char* key) {
  if (const auto* value = warren::find_field(env.properties.headers, key))
    if (const auto* text = std::get_if<std::string>(value))
      return *text;
  return {};
}

broker_scratch::broker_scratch() {
  auto client = bridges::blocking_client::connect(broker_settings());
  if (!client)
    FAIL("cannot connect to the test broker " << broker_uri() << ": "
                                              << describe(client.error()));
  client_ = std::move(*client);
}

broker_scratch::~broker_scratch() {
  client_.reset();
  std::vector<std::string> queues;
  for (const auto& q : queues_) {
    queues.push_back(q);
    queues.push_back(warren::dead_letter_queue_name(q));
  }
  delete_entities(queues, exchanges_);
}

std::string broker_scratch::queue(const std::string& prefix) {
  auto name = unique_name("it-" + prefix);
  track_queue(name);
  return name;
}

std::string broker_scratch::exchange(const std::string& prefix) {
  auto name = unique_name("it-" + prefix);
  exchanges_.push_back(name);
  return name;
}

void broker_scratch::track_queue(std::string name) {
  queues_.push_back(std::move(name));
}

bridges::blocking_client& broker_scratch::client() {
  return *client_;
}

void broker_scratch::publish(const warren::outgoing_message& msg) {
  auto err = client_->publish(msg, 10s);
  INFO("publishing to exchange '" << msg.exchange << "' with routing key '"
                                  << msg.routing_key << "'");
  if (err)
    FAIL(describe(err));
}

void broker_scratch::publish_to_queue(const std::string& queue,
                                      const std::string& body,
                                      std::optional<uint8_t> priority) {
  warren::outgoing_message msg;
  msg.routing_key = queue;
  msg.mandatory = true;
  msg.properties.message_id = warren::make_message_id();
  msg.properties.timestamp = static_cast<uint64_t>(std::time(nullptr));
  msg.properties.priority = priority;
  msg.body = body;
  publish(msg);
}

std::vector<warren::envelope>
broker_scratch::receive(const std::string& queue, std::size_t max,
                        std::chrono::milliseconds idle) {
  auto got = client_->receive(queue, max, idle, true);
  if (!got)
    FAIL("receiving from " << queue << ": " << describe(got.error()));
  return std::move(*got);
}

uint32_t broker_scratch::count(const std::string& queue) {
  auto n = client_->message_count(queue);
  if (!n)
    FAIL("counting " << queue << ": " << describe(n.error()));
  return *n;
}

uint32_t broker_scratch::consumers(const std::string& queue) {
  auto n = client_->consumer_count(queue);
  if (!n)
    FAIL("counting consumers of " << queue << ": " << describe(n.error()));
  return *n;
}

uint32_t broker_scratch::wait_for_count(const std::string& queue, uint32_t n,
                                        std::chrono::milliseconds timeout) {
  uint32_t seen = 0;
  eventually(
    [&] {
      seen = count(queue);
      return seen >= n;
    },
    timeout);
  if (seen < n)
    FAIL("queue " << queue << " holds " << seen << " messages after "
                  << timeout.count() << " ms, expected " << n);
  return seen;
}

std::vector<warren::envelope>
broker_scratch::wait_and_receive(const std::string& queue, uint32_t n,
                                 std::chrono::milliseconds timeout) {
  wait_for_count(queue, n, timeout);
  auto got = receive(queue, n);
  REQUIRE(got.size() == n);
  return got;
}

void publish_bulk(
  const std::string& exchange, const std::string& routing_key,
  const std::string& type, const std::vector<std::string>& ids,
  std::size_t batch, const std::function<std::string(std::size_t)>& body_of,
  const std::function<std::string(std::size_t)>& routing_key_of) {
  try {
    raw_connection raw;
    auto* conn = raw.get();
    amqp_confirm_select(conn, raw_connection::channel);
    raw.check(amqp_get_rpc_reply(conn), "confirm.select");
    // acked[tag]: delivery tags start at 1 on a fresh confirm channel.
    std::vector<bool> acked(ids.size() + 1, false);
    uint64_t lowest_unacked = 1;
    auto settle = [&](uint64_t tag, bool multiple) {
      if (multiple)
        for (auto t = lowest_unacked; t <= tag && t < acked.size(); ++t)
          acked[t] = true;
      else if (tag < acked.size())
        acked[tag] = true;
      while (lowest_unacked < acked.size() && acked[lowest_unacked])
        ++lowest_unacked;
    };
    auto await_confirms = [&](uint64_t up_to) {
      while (lowest_unacked <= up_to) {
        amqp_frame_t frame;
        timeval tv{30, 0};
        auto rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
        if (rc != AMQP_STATUS_OK)
          throw std::runtime_error(std::string{"waiting for confirms: "} +
                                   amqp_error_string2(rc));
        if (frame.frame_type != AMQP_FRAME_METHOD)
          continue;
        switch (frame.payload.method.id) {
          case AMQP_BASIC_ACK_METHOD: {
            auto* m =
              static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
            settle(m->delivery_tag, m->multiple != 0);
            break;
          }
          case AMQP_BASIC_NACK_METHOD:
            throw std::runtime_error("the broker nacked a message");
          case AMQP_CHANNEL_CLOSE_METHOD:
          case AMQP_CONNECTION_CLOSE_METHOD:
            throw std::runtime_error("the broker closed the channel");
          default:
            break;
        }
      }
    };
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                   AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.type = bytes_of(type);
    props.timestamp = static_cast<uint64_t>(std::time(nullptr));
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto body = body_of ? body_of(i) : "{\"seq\":" + std::to_string(i) + "}";
      props.message_id = bytes_of(ids[i]);
      auto key = routing_key_of ? routing_key_of(i) : routing_key;
      auto rc =
        amqp_basic_publish(conn, raw_connection::channel, bytes_of(exchange),
                           bytes_of(key), 0, 0, &props, bytes_of(body));
      if (rc != AMQP_STATUS_OK)
        throw std::runtime_error(std::string{"basic.publish: "} +
                                 amqp_error_string2(rc));
      if ((i + 1) % batch == 0 || i + 1 == ids.size())
        await_confirms(i + 1);
    }
  } catch (const std::exception& e) {
    FAIL("bulk publish to exchange '" << exchange << "': " << e.what());
  }
}

bool delete_entities(const std::vector<std::string>& queues,
                     const std::vector<std::string>& exchanges) {
  try {
    raw_connection raw;
    auto* conn = raw.get();
    for (const auto& q : queues) {
      amqp_queue_delete(conn, raw_connection::channel, bytes_of(q), 0, 0);
      raw.check(amqp_get_rpc_reply(conn), "deleting queue " + q);
    }
    for (const auto& e : exchanges) {
      amqp_exchange_delete(conn, raw_connection::channel, bytes_of(e), 0);
      raw.check(amqp_get_rpc_reply(conn), "deleting exchange " + e);
    }
    return true;
  } catch (const std::exception& e) {
    std::cerr << "warning: cleaning up the test broker: " << e.what() << "\n";
    return false;
  } catch (...) {
    std::cerr << "warning: cleaning up the test broker failed\n";
    return false;
  }
}

} // namespace warren::test
