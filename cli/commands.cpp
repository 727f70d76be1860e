#include "commands.hpp"

#include "warren/actors/builtin.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/config/broker_uris.hpp"
#include "warren/config/node_config.hpp"
#include "warren/core/batch.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/json_read.hpp"
#include "warren/core/log.hpp"
#include "warren/core/text.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/registry.hpp"

#include <boost/json/serialize.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>
#include <unistd.h>

namespace warren::cli {

namespace {

constexpr const char* default_uri = "amqp://guest:guest@localhost:5672/";

int exit_code_of(const caf::error& err) {
  switch (code_of(err)) {
    case errc::invalid_config:
    case errc::invalid_uri:
    case errc::unknown_kind:
    case errc::plugin_failed:
      return exit_config;
    case errc::connection_failed:
    case errc::access_refused:
      return exit_broker;
    case errc::timeout:
      return exit_timeout;
    case errc::remote_error:
      return exit_remote_error;
    case errc::supervisor_gave_up:
      return exit_supervisor;
    case errc::store_failed:
      return exit_store;
    default:
      return exit_failure;
  }
}

} // namespace

int report(const char* command, const caf::error& err) {
  std::cerr << "warren " << command << ": " << describe(err) << "\n";
  return exit_code_of(err);
}

namespace {

// Loads the config, the plugins it lists, and checks every kind is known.
caf::expected<config::node_config> load_node(const std::string& file,
                                             registry& kinds) {
  auto cfg = config::load_config(file);
  if (!cfg)
    return cfg.error();
  actors::register_builtin_kinds(kinds);
  for (size_t i = 0; i < cfg->plugins.size(); ++i)
    if (auto err = load_plugin(cfg->plugins[i], kinds))
      return make_error(errc::plugin_failed, file + ": $.plugins[" +
                                               std::to_string(i) +
                                               "]: " + describe(err));
  if (!kinds.problems().empty())
    return make_error(errc::plugin_failed,
                      file + ": $.plugins: " + kinds.problems().front());
  if (auto err = runtime::check_kinds(*cfg, kinds))
    return err;
  return cfg;
}

} // namespace

namespace {

// Whether `uri` carries a password (user info with a ':').
bool uri_has_password(const std::string& uri) {
  auto scheme = uri.find("://");
  auto start = scheme == std::string::npos ? 0 : scheme + 3;
  auto at = uri.rfind('@');
  return at != std::string::npos && at > start && uri.find(':', start) < at;
}

// The password from --password-file or $WARREN_BROKER_PASSWORD into
// `password`; false when neither is given (the URI's default then applies)
// or, with `error` set, when the file cannot be read.
bool password_of(const broker_choice& choice, std::string& password,
                 std::string& error) {
  if (!choice.password_file.empty()) {
    std::ifstream in{choice.password_file};
    if (!in || !std::getline(in, password)) {
      error = "cannot read the password file " + choice.password_file;
      return false;
    }
    while (!password.empty() && password.back() == '\r')
      password.pop_back();
    return true;
  }
  if (const char* env = std::getenv("WARREN_BROKER_PASSWORD"); env && *env) {
    password = env;
    return true;
  }
  return false;
}

} // namespace

caf::expected<bridges::broker_settings>
broker_settings_for(const broker_choice& choice) {
  if (!choice.config_file.empty()) {
    auto cfg = config::load_config(choice.config_file);
    if (!cfg)
      return cfg.error();
    auto settings = cfg->broker;
    settings.connection_name = "warren cli";
    return settings;
  }
  std::string uri = choice.uri;
  if (uri.empty())
    if (const char* env = std::getenv("WARREN_BROKER_URI"); env && *env)
      uri = env;
  if (uri.empty())
    uri = default_uri;
  // Several URIs, comma-separated (a cluster's brokers): tried in order,
  // as a node tries them.
  bridges::broker_settings settings;
  for (const auto& one : config::split_broker_uris(uri)) {
    auto endpoint = bridges::parse_broker_uri(one);
    if (!endpoint)
      return endpoint.error();
    if (uri_has_password(one)) {
      if (!choice.uri.empty() && settings.endpoints.empty())
        std::cerr << "warren: warning: a password in --uri is visible to "
                     "every user of this machine (ps); use "
                     "$WARREN_BROKER_PASSWORD or --password-file\n";
    } else {
      std::string password;
      std::string error;
      if (password_of(choice, password, error))
        endpoint->password = std::move(password);
      else if (!error.empty())
        return make_error(errc::invalid_config, error);
    }
    settings.endpoints.push_back(*endpoint);
  }
  settings.connection_name = "warren cli";
  return settings;
}

namespace {

caf::expected<std::string> read_body(const std::string& arg, bool raw) {
  std::string text = arg;
  if (arg == "-")
    text.assign(std::istreambuf_iterator<char>{std::cin},
                std::istreambuf_iterator<char>{});
  if (raw)
    return text;
  boost::json::error_code ec;
  auto value = read_json(text, ec);
  if (ec)
    return make_error(errc::malformed_body, "BODY is not valid JSON (" +
                                              ec.message() +
                                              "); use --raw to send it anyway");
  // Boost.JSON would write it as `Infinity`, which is not JSON.
  if (auto what = unwritable_json(value, false))
    return make_error(errc::malformed_body,
                      "BODY holds " + *what + "; use --raw to send it anyway");
  return boost::json::serialize(value);
}

warren::field_value header_value(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  auto n = std::strtoll(text.c_str(), &end, 10);
  if (!text.empty() && errno == 0 && end != nullptr && *end == '\0')
    return static_cast<int64_t>(n);
  if (text == "true" || text == "false")
    return text == "true";
  return text;
}

// Addressing an actor goes through `warren.actors`; declaring it (as every
// node does) makes "no such actor" an unroutable message, not a missing
// exchange, even on a broker no node has used yet.
caf::error declare_actors_exchange(bridges::blocking_client& client) {
  bridges::topology topo;
  bridges::exchange_spec actors;
  actors.name = bridges::actors_exchange;
  topo.exchanges.push_back(actors);
  return client.declare(topo);
}

} // namespace

namespace {

// Blocks the signals `warren run` waits for. Every thread CAF starts later
// inherits the mask, so none of them is interrupted. SIGUSR1 is how the root
// supervisor's failure wakes the main thread.
sigset_t block_run_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Waits for SIGINT/SIGTERM, or for the node's own SIGUSR1 when its root
// supervisor gave up; returns the exit code.
int wait_for_end(runtime::node& node, sigset_t signals) {
  int sig = 0;
  while (sig == 0) {
    sigwait(&signals, &sig);
    if (sig == SIGUSR1 && !node.failure())
      sig = 0; // Not from the node: ignore.
  }
  if (auto err = node.failure()) {
    log::error("{}; the node stops (unacked messages stay in the broker)",
               describe(err));
    return exit_supervisor;
  }
  log::info("{}: stopping gracefully (signal again to force)",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
  return exit_ok;
}

} // namespace

int run(const std::string& config_file, int64_t ready_timeout_ms,
        const std::string& log_level) {
  registry kinds;
  auto cfg = load_node(config_file, kinds);
  if (!cfg)
    return report("run", cfg.error());
  log::settings logging{cfg->log.level, cfg->log.format, cfg->node_name};
  if (!log_level.empty()) {
    auto lvl = log::parse_level(log_level);
    if (!lvl) {
      std::cerr << "warren run: --log-level expects trace, debug, info, "
                   "warning, error or off, got '"
                << log_level << "'\n";
      return exit_usage;
    }
    logging.min_level = *lvl;
  }
  log::configure(logging);
  auto signals = block_run_signals();
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, *cfg);
  caf::actor_system sys{sys_cfg};
  runtime::node node{sys, *cfg, kinds};
  node.on_failure([](const caf::error&) { ::kill(::getpid(), SIGUSR1); });
  log::info("node '{}' starting ({} actors, broker {})", cfg->node_name,
            cfg->actors.size(), cfg->broker.endpoints.front().redacted());
  // A signal while the node waits for its broker ends the wait at once.
  auto interrupted = [] {
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGINT) == 1 ||
           sigismember(&pending, SIGTERM) == 1;
  };
  if (auto err =
        node.start(std::chrono::milliseconds{ready_timeout_ms}, interrupted)) {
    if (code_of(err) != errc::connection_failed &&
        code_of(err) != errc::access_refused &&
        code_of(err) != errc::shutting_down)
      return report("run", err);
    log::warning("{}", describe(err));
  } else {
    log::info("node '{}' ready", cfg->node_name);
  }
  auto code = wait_for_end(node, signals);
  // A second signal exits at once; unacked messages stay in the broker.
  std::thread{[signals]() mutable {
    int again = 0;
    sigwait(&signals, &again);
    log::warning("forced exit");
    _exit(130);
  }}.detach();
  // Whatever holds the stop up (a broker that blocks the node's
  // connections, a handler that never returns), the process ends within its
  // shutdown timeout, and a little time for the last acks and closes;
  // unacked messages stay in the broker.
  auto deadline = cfg->shutdown_timeout + std::chrono::seconds{2};
  std::thread{[deadline] {
    std::this_thread::sleep_for(deadline);
    log::warning("the node did not stop within its shutdown timeout; exiting "
                 "now (unacked messages stay in the broker)");
    _exit(exit_failure);
  }}.detach();
  node.stop();
  log::info("node '{}' stopped", cfg->node_name);
  return code;
}

int check(const std::string& config_file) {
  registry kinds;
  auto cfg = load_node(config_file, kinds);
  if (!cfg)
    return report("check", cfg.error());
  auto counted = [](std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  std::cout << config_file << ": ok (node '" << cfg->node_name << "', "
            << counted(cfg->actors.size(), "actor") << ", "
            << counted(cfg->topology.exchanges.size(), "exchange") << ", "
            << counted(cfg->topology.queues.size(), "queue") << ", "
            << counted(cfg->topology.bindings.size(), "binding") << ", "
            << counted(cfg->plugins.size(), "plugin") << ")\n";
  return exit_ok;
}

namespace {

// `warren send --batch N`: the events of a JSON-lines file (or stdin), each
// line one event body, in batched envelopes of at most N entries.
caf::expected<std::vector<boost::json::value>>
read_events(const std::string& arg) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (arg != "-") {
    file.open(arg);
    if (!file)
      return make_error(errc::malformed_body,
                        "cannot read the events file '" + arg + "'");
    in = &file;
  }
  std::vector<boost::json::value> events;
  std::string line;
  for (std::size_t number = 1; std::getline(*in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    boost::json::error_code ec;
    auto value = read_json(line, ec);
    if (ec)
      return make_error(errc::malformed_body,
                        arg + ":" + std::to_string(number) +
                          ": not valid JSON (" + ec.message() + ")");
    if (auto what = unwritable_json(value, false))
      return make_error(errc::malformed_body, arg + ":" +
                                                std::to_string(number) +
                                                ": holds " + *what);
    events.push_back(std::move(value));
  }
  return events;
}

} // namespace

namespace {

// `warren send --file`: the file as chunks in the seed's format, ids
// "<stream_id>/<chunk_id>" (sending the same file with the same stream id
// again repeats them: the receiver drops the copies).
caf::expected<std::vector<std::string>> chunk_file(const std::string& path,
                                                   const std::string& stream_id,
                                                   std::size_t chunk_size) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::malformed_body, "cannot read '" + path + "'");
  std::string bytes{std::istreambuf_iterator<char>{in},
                    std::istreambuf_iterator<char>{}};
  auto total =
    std::max<std::size_t>(1, (bytes.size() + chunk_size - 1) / chunk_size);
  auto name = path.substr(path.find_last_of('/') + 1);
  static constexpr char digits[] = "0123456789abcdef";
  std::vector<std::string> bodies;
  for (std::size_t i = 0; i < total; ++i) {
    auto part = std::string_view{bytes}.substr(
      std::min(bytes.size(), i * chunk_size), chunk_size);
    std::string hex;
    hex.reserve(part.size() * 2);
    for (unsigned char b : part) {
      hex += digits[b >> 4];
      hex += digits[b & 15];
    }
    boost::json::object chunk{
      {"stream_id", stream_id},
      {"chunk_id", i},
      {"total_chunks", total},
      {"is_final", i + 1 == total},
      {"data", std::move(hex)},
      {"metadata",
       boost::json::object{{"file_name", name}, {"size", bytes.size()}}}};
    bodies.push_back(boost::json::serialize(chunk));
  }
  return bodies;
}

} // namespace

int send(const send_options& opts) {
  auto settings = broker_settings_for(opts.broker);
  if (!settings)
    return report("send", settings.error());
  if (opts.file.empty() && opts.body.empty()) {
    std::cerr << "warren send: give BODY or --file PATH\n";
    return exit_usage;
  }
  std::vector<std::string> bodies;
  std::vector<std::size_t> entries_per_body;
  std::string stream_id;
  if (!opts.file.empty()) {
    stream_id =
      opts.stream_id.empty() ? warren::make_message_id() : opts.stream_id;
    auto chunks = chunk_file(opts.file, stream_id, opts.chunk_size);
    if (!chunks) {
      std::cerr << "warren send: " << describe(chunks.error()) << "\n";
      return exit_usage;
    }
    bodies = std::move(*chunks);
  } else if (opts.batch > 0) {
    if (opts.raw) {
      std::cerr << "warren send: --raw and --batch do not go together (a "
                   "batch is JSON)\n";
      return exit_usage;
    }
    auto events = read_events(opts.body);
    if (!events) {
      std::cerr << "warren send: " << describe(events.error()) << "\n";
      return exit_usage;
    }
    for (std::size_t first = 0; first < events->size(); first += opts.batch) {
      auto last = std::min(events->size(), first + opts.batch);
      std::vector<batch_entry> entries;
      for (auto i = first; i < last; ++i)
        entries.push_back({{}, {}, std::move((*events)[i])});
      message_properties ignored;
      bodies.push_back(encode_batch(entries, ignored));
      entries_per_body.push_back(entries.size());
    }
  } else {
    auto body = read_body(opts.body, opts.raw);
    if (!body) {
      std::cerr << "warren send: " << describe(body.error()) << "\n";
      return exit_usage;
    }
    bodies.push_back(std::move(*body));
  }
  warren::outgoing_message msg;
  if (!opts.actor.empty()) {
    msg.exchange = bridges::actors_exchange;
    msg.routing_key = opts.actor;
  } else {
    msg.exchange = opts.exchange;
    msg.routing_key = opts.routing_key;
  }
  msg.mandatory = opts.mandatory;
  msg.properties.type = opts.type;
  msg.properties.timestamp = static_cast<uint64_t>(std::time(nullptr));
  msg.properties.delivery_mode = opts.transient ? 1 : 2;
  if (opts.priority >= 0)
    msg.properties.priority = static_cast<uint8_t>(opts.priority);
  for (const auto& h : opts.headers) {
    auto eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "warren send: --header expects KEY=VALUE, got '" << h
                << "'\n";
      return exit_usage;
    }
    warren::set_field(msg.properties.headers, h.substr(0, eq),
                      header_value(h.substr(eq + 1)));
  }
  auto client = bridges::blocking_client::connect(*settings);
  if (!client)
    return report("send", client.error());
  if (!opts.actor.empty())
    if (auto err = declare_actors_exchange(**client))
      return report("send", err);
  auto base_id =
    opts.message_id.empty() ? warren::make_message_id() : opts.message_id;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    // One message: the id given. Several batches: the id given, then -1,
    // -2..., so sending the same file again repeats the same ids.
    if (!stream_id.empty())
      msg.properties.message_id = stream_id + "/" + std::to_string(i);
    else
      msg.properties.message_id =
        opts.batch == 0 || i == 0 ? base_id : base_id + "-" + std::to_string(i);
    if (opts.batch > 0)
      warren::set_field(msg.properties.headers, header::batch,
                        static_cast<int64_t>(entries_per_body[i]));
    msg.body = std::move(bodies[i]);
    if (auto err = (*client)->publish(msg, std::chrono::seconds{10}))
      return report("send", err);
    if (stream_id.empty())
      std::cout << msg.properties.message_id << "\n";
  }
  if (!stream_id.empty())
    std::cout << stream_id << "\n";
  return exit_ok;
}

int call(const call_options& opts) {
  auto settings = broker_settings_for(opts.broker);
  if (!settings)
    return report("call", settings.error());
  auto body = read_body(opts.body, false);
  if (!body) {
    std::cerr << "warren call: " << describe(body.error()) << "\n";
    return exit_usage;
  }
  warren::outgoing_message msg;
  msg.exchange = bridges::actors_exchange;
  msg.routing_key = opts.service;
  msg.mandatory = true;
  msg.properties.type = opts.type;
  msg.properties.timestamp = static_cast<uint64_t>(std::time(nullptr));
  msg.properties.delivery_mode = 1;
  msg.body = std::move(*body);
  auto client = bridges::blocking_client::connect(*settings);
  if (!client)
    return report("call", client.error());
  if (auto err = declare_actors_exchange(**client))
    return report("call", err);
  auto reply =
    (*client)->call(std::move(msg), std::chrono::milliseconds{opts.timeout_ms});
  if (!reply)
    return report("call", reply.error());
  std::cout << reply->raw_body << "\n";
  if (reply->properties.type == "warren.error") {
    std::cerr << "warren call: the service answered with an error\n";
    return exit_remote_error;
  }
  return exit_ok;
}

} // namespace warren::cli
