// warren: run, check and talk to warren nodes.
//
//   warren run node.json            run a node until SIGINT/SIGTERM
//   warren check node.json          validate a config (and its plugins)
//   warren send --actor NAME BODY   publish a JSON message
//   warren call SERVICE BODY        request-response, prints the reply
//   warren dlq list|show|replay|purge QUEUE   dead letters
//
// Exit codes: see commands.hpp (0 ok, 1 failed, 2 usage, 3 config, 4 broker,
// 5 timeout, 6 error reply).

#include "commands.hpp"
#include "dlq.hpp"
#include "state.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

namespace {

void add_broker_options(CLI::App& cmd, warren::cli::broker_choice& broker) {
  cmd.add_option("-c,--config", broker.config_file,
                 "take the broker settings from this node config");
  cmd.add_option("-u,--uri", broker.uri,
                 "broker URI (default: $WARREN_BROKER_URI, else "
                 "amqp://guest:guest@localhost:5672/)");
}

} // namespace

int main(int argc, char** argv) {
  using namespace warren::cli;
  CLI::App app{"warren: a C++ actor runtime bridged to RabbitMQ"};
  app.set_version_flag("-V,--version", std::string{"warren "} + WARREN_VERSION);
  app.require_subcommand(1);

  std::string config_file;
  int64_t ready_timeout_ms = 30000;
  auto* run_cmd = app.add_subcommand("run", "run a node from its config file");
  run_cmd->add_option("CONFIG", config_file, "node config (JSON)")->required();
  run_cmd->add_option("--ready-timeout", ready_timeout_ms,
                      "ms to wait for the broker before reporting");
  std::string log_level;
  run_cmd->add_option("--log-level", log_level,
                      "trace, debug, info, warning, error or off (default: "
                      "the config's log.level, else info)");

  auto* check_cmd = app.add_subcommand(
    "check", "validate a config file and its plugins without connecting");
  check_cmd->add_option("CONFIG", config_file, "node config (JSON)")
    ->required();

  send_options send_opts;
  auto* send_cmd = app.add_subcommand(
    "send", "publish one JSON message (with publisher confirm)");
  add_broker_options(*send_cmd, send_opts.broker);
  auto* to_actor = send_cmd->add_option("-a,--actor", send_opts.actor,
                                        "send to an actor by name");
  auto* to_exchange = send_cmd->add_option("-e,--exchange", send_opts.exchange,
                                           "publish to this exchange");
  to_actor->excludes(to_exchange);
  send_cmd->add_option("-k,--routing-key", send_opts.routing_key,
                       "routing key (with --exchange)");
  send_cmd->add_option("-t,--type", send_opts.type, "message type");
  send_cmd->add_option("--message-id", send_opts.message_id,
                       "message id (default: a new unique id)");
  send_cmd->add_option("-H,--header", send_opts.headers,
                       "header KEY=VALUE (repeatable; integers stay integers)");
  send_cmd->add_option("-p,--priority", send_opts.priority, "priority 0-255")
    ->check(CLI::Range(0, 255));
  send_cmd->add_flag("--transient", send_opts.transient,
                     "delivery_mode 1 instead of persistent");
  send_cmd->add_flag("--raw", send_opts.raw,
                     "send BODY bytes as they are, without checking JSON");
  send_cmd->add_flag("!--no-mandatory", send_opts.mandatory,
                     "do not fail when no queue takes the message");
  send_cmd->add_option("BODY", send_opts.body, "JSON body, or - for stdin")
    ->required();

  call_options call_opts;
  auto* call_cmd =
    app.add_subcommand("call", "call a service and print its reply body");
  add_broker_options(*call_cmd, call_opts.broker);
  call_cmd->add_option("SERVICE", call_opts.service, "service actor name")
    ->required();
  call_cmd->add_option("BODY", call_opts.body, "JSON body, or - for stdin")
    ->required();
  call_cmd->add_option("-t,--type", call_opts.type, "message type");
  call_cmd
    ->add_option("--timeout", call_opts.timeout_ms,
                 "ms to wait for the reply (default 5000)")
    ->check(CLI::PositiveNumber);

  dlq_options dlq_opts;
  auto* dlq_cmd =
    app.add_subcommand("dlq", "list, show, replay or purge dead letters");
  dlq_cmd->require_subcommand(1);
  auto* dlq_list_cmd = dlq_cmd->add_subcommand(
    "list", "one line per dead letter (they stay where they are)");
  auto* dlq_show_cmd = dlq_cmd->add_subcommand(
    "show", "one dead letter with its headers, as JSON");
  auto* dlq_replay_cmd = dlq_cmd->add_subcommand(
    "replay", "publish dead letters to their original route again");
  auto* dlq_purge_cmd =
    dlq_cmd->add_subcommand("purge", "delete every dead letter of a queue");
  for (auto* cmd :
       {dlq_list_cmd, dlq_show_cmd, dlq_replay_cmd, dlq_purge_cmd}) {
    add_broker_options(*cmd, dlq_opts.broker);
    cmd
      ->add_option("QUEUE", dlq_opts.queue,
                   "the dead-letter queue, or the queue it belongs to")
      ->required();
  }
  dlq_show_cmd->add_option("MESSAGE_ID", dlq_opts.ids, "the message to show")
    ->required()
    ->expected(1);
  auto* replay_ids = dlq_replay_cmd->add_option(
    "--id", dlq_opts.ids, "a message to replay (repeatable)");
  auto* replay_all =
    dlq_replay_cmd->add_flag("--all", dlq_opts.all, "replay every message");
  replay_ids->excludes(replay_all);
  dlq_purge_cmd->add_flag("-f,--force", dlq_opts.force,
                          "do not ask for confirmation");

  state_options state_opts;
  auto* state_cmd = app.add_subcommand(
    "state", "read a node's checkpoint store (read-only, safe while it runs)");
  state_cmd->require_subcommand(1);
  auto* state_list_cmd = state_cmd->add_subcommand(
    "list", "actors with state, or the keys of one actor");
  auto* state_show_cmd =
    state_cmd->add_subcommand("show", "the state of an actor's key, as JSON");
  for (auto* cmd : {state_list_cmd, state_show_cmd}) {
    auto* from_config = cmd->add_option("-c,--config", state_opts.config_file,
                                        "the node's config (its state_dir)");
    auto* from_db =
      cmd->add_option("--db", state_opts.db_file, "the database file itself");
    from_config->excludes(from_db);
    cmd->add_option("--limit", state_opts.limit, "keys at most (1000)");
  }
  state_list_cmd->add_option("ACTOR", state_opts.actor, "an actor's name");
  state_show_cmd->add_option("ACTOR", state_opts.actor, "an actor's name")
    ->required();
  state_show_cmd->add_option("KEY", state_opts.key,
                             "the key (default: every key)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? exit_ok : exit_usage;
  }
  if (*run_cmd)
    return run(config_file, ready_timeout_ms, log_level);
  if (*check_cmd)
    return check(config_file);
  if (*send_cmd) {
    if (send_opts.actor.empty() && send_opts.exchange.empty()) {
      std::cerr << "warren send: give --actor NAME or --exchange EXCHANGE\n";
      return exit_usage;
    }
    return send(send_opts);
  }
  if (*call_cmd)
    return call(call_opts);
  if (*dlq_list_cmd)
    return dlq_list(dlq_opts);
  if (*dlq_show_cmd)
    return dlq_show(dlq_opts);
  if (*dlq_replay_cmd) {
    if (dlq_opts.ids.empty() && !dlq_opts.all) {
      std::cerr << "warren dlq replay: give --id ID (repeatable) or --all\n";
      return exit_usage;
    }
    return dlq_replay(dlq_opts);
  }
  if (*dlq_purge_cmd)
    return dlq_purge(dlq_opts);
  if (*state_list_cmd || *state_show_cmd) {
    if (state_opts.config_file.empty() && state_opts.db_file.empty()) {
      std::cerr << "warren state: give -c CONFIG or --db FILE\n";
      return exit_usage;
    }
    return *state_list_cmd ? state_list(state_opts) : state_show(state_opts);
  }
  return exit_usage;
}
