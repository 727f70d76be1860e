// warren: run, check and talk to warren nodes.
//
//   warren run node.json            run a node until SIGINT/SIGTERM
//   warren check node.json          validate a config (and its plugins)
//   warren send --actor NAME BODY   publish a JSON message
//   warren send --actor NAME --file PATH   a file as a chunked transfer
//   warren window replay CONFIG ACTOR EVENTS.jsonl   a window over a file
//   warren send --actor NAME --batch N FILE.jsonl   events in batched envelopes
//   warren call SERVICE BODY        request-response, prints the reply
//   warren dlq list|show|replay|purge QUEUE   dead letters
//   warren saga list|show|resume|abort ACTOR [ID]   a saga actor's sagas
//   warren projection status|rebuild NAME   a projection's position, rebuild
//   warren top URL...               live dashboard of nodes' /metrics
//   warren cluster status           nodes, shard owners, lag, queue depths
//
// Exit codes: see commands.hpp (0 ok, 1 failed, 2 usage, 3 config, 4 broker,
// 5 timeout, 6 error reply).

#include "cluster.hpp"
#include "commands.hpp"
#include "dlq.hpp"
#include "projection.hpp"
#include "saga.hpp"
#include "state.hpp"
#include "top.hpp"
#include "window.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

namespace {

void add_broker_options(CLI::App& cmd, warren::cli::broker_choice& broker) {
  cmd.add_option("-c,--config", broker.config_file,
                 "take the broker settings from this node config");
  cmd.add_option("-u,--uri", broker.uri,
                 "broker URI, or several separated by commas, tried in "
                 "order (default: $WARREN_BROKER_URI, else "
                 "amqp://guest:guest@localhost:5672/); leave the password "
                 "out of it");
  cmd.add_option("--password-file", broker.password_file,
                 "read the broker password from this file (default: "
                 "$WARREN_BROKER_PASSWORD) when the URI has none");
}

// Every subcommand, its options, and where they go.
struct command_line {
  std::string config_file;
  int64_t ready_timeout_ms = 30000;
  std::string log_level;
  warren::cli::send_options send;
  warren::cli::call_options call;
  warren::cli::dlq_options dlq;
  warren::cli::state_options state;
  warren::cli::top_options top;
  warren::cli::window_options window;
  warren::cli::saga_options saga;
  warren::cli::projection_options projection;
  warren::cli::cluster_options cluster;
  CLI::App* run = nullptr;
  CLI::App* check = nullptr;
  CLI::App* send_cmd = nullptr;
  CLI::App* call_cmd = nullptr;
  CLI::App* dlq_list = nullptr;
  CLI::App* dlq_show = nullptr;
  CLI::App* dlq_replay = nullptr;
  CLI::App* dlq_purge = nullptr;
  CLI::App* state_list = nullptr;
  CLI::App* state_show = nullptr;
  CLI::App* saga_list = nullptr;
  CLI::App* saga_show = nullptr;
  CLI::App* saga_resume = nullptr;
  CLI::App* saga_abort = nullptr;
  CLI::App* projection_status = nullptr;
  CLI::App* projection_rebuild = nullptr;
  CLI::App* top_cmd = nullptr;
  CLI::App* window_replay = nullptr;
  CLI::App* cluster_status = nullptr;
};

void add_run_and_check(CLI::App& app, command_line& cl) {
  cl.run = app.add_subcommand("run", "run a node from its config file");
  cl.run->add_option("CONFIG", cl.config_file, "node config (JSON)")
    ->required();
  cl.run->add_option("--ready-timeout", cl.ready_timeout_ms,
                     "ms to wait for the broker before reporting");
  cl.run->add_option("--log-level", cl.log_level,
                     "trace, debug, info, warning, error or off (default: "
                     "the config's log.level, else info)");
  cl.check = app.add_subcommand(
    "check", "validate a config file and its plugins without connecting");
  cl.check->add_option("CONFIG", cl.config_file, "node config (JSON)")
    ->required();
}

void add_send(CLI::App& app, command_line& cl) {
  auto& opts = cl.send;
  cl.send_cmd = app.add_subcommand(
    "send", "publish one JSON message (with publisher confirm)");
  auto* cmd = cl.send_cmd;
  add_broker_options(*cmd, opts.broker);
  auto* to_actor =
    cmd->add_option("-a,--actor", opts.actor, "send to an actor by name");
  auto* to_exchange =
    cmd->add_option("-e,--exchange", opts.exchange, "publish to this exchange");
  to_actor->excludes(to_exchange);
  cmd->add_option("-k,--routing-key", opts.routing_key,
                  "routing key (with --exchange)");
  cmd->add_option("-t,--type", opts.type, "message type");
  cmd->add_option("--message-id", opts.message_id,
                  "message id (default: a new unique id)");
  // One value per -H: BODY is optional (--file), so a greedy -H would take
  // the body for a header.
  cmd
    ->add_option("-H,--header", opts.headers,
                 "header KEY=VALUE (repeatable; integers stay integers)")
    ->allow_extra_args(false);
  cmd->add_option("-p,--priority", opts.priority, "priority 0-255")
    ->check(CLI::Range(0, 255));
  cmd->add_flag("--transient", opts.transient,
                "delivery_mode 1 instead of persistent");
  cmd->add_flag("--raw", opts.raw,
                "send BODY bytes as they are, without checking JSON");
  cmd->add_flag("!--no-mandatory", opts.mandatory,
                "do not fail when no queue takes the message");
  cmd
    ->add_option("--batch", opts.batch,
                 "BODY is a JSON-lines file (or - for stdin), one event per "
                 "line, sent in batched envelopes of at most N entries")
    ->check(CLI::Range(1, 100000));
  auto* file = cmd->add_option(
    "--file", opts.file,
    "send this file as a chunked transfer (the actor needs `chunks`)");
  cmd
    ->add_option("--chunk-size", opts.chunk_size,
                 "bytes per chunk with --file (default 262144)")
    ->check(CLI::Range(1, 64 << 20));
  cmd->add_option("--stream-id", opts.stream_id,
                  "the transfer's stream_id with --file (default: a new one)");
  auto* body = cmd->add_option(
    "BODY", opts.body,
    "JSON body, or - for stdin (with --batch: a JSON-lines file)");
  body->excludes(file);
}

void add_call(CLI::App& app, command_line& cl) {
  auto& opts = cl.call;
  cl.call_cmd =
    app.add_subcommand("call", "call a service and print its reply body");
  auto* cmd = cl.call_cmd;
  add_broker_options(*cmd, opts.broker);
  cmd->add_option("SERVICE", opts.service, "service actor name")->required();
  cmd->add_option("BODY", opts.body, "JSON body, or - for stdin")->required();
  cmd->add_option("-t,--type", opts.type, "message type");
  cmd
    ->add_option("--timeout", opts.timeout_ms,
                 "ms to wait for the reply (default 5000)")
    ->check(CLI::PositiveNumber);
}

void add_dlq(CLI::App& app, command_line& cl) {
  auto& opts = cl.dlq;
  auto* dlq =
    app.add_subcommand("dlq", "list, show, replay or purge dead letters");
  dlq->require_subcommand(1);
  cl.dlq_list = dlq->add_subcommand(
    "list", "one line per dead letter (they stay where they are)");
  cl.dlq_show =
    dlq->add_subcommand("show", "one dead letter with its headers, as JSON");
  cl.dlq_replay = dlq->add_subcommand(
    "replay", "publish dead letters to their original route again");
  cl.dlq_purge =
    dlq->add_subcommand("purge", "delete every dead letter of a queue");
  for (auto* cmd : {cl.dlq_list, cl.dlq_show, cl.dlq_replay, cl.dlq_purge}) {
    add_broker_options(*cmd, opts.broker);
    cmd
      ->add_option("QUEUE", opts.queue,
                   "the dead-letter queue, or the queue it belongs to")
      ->required();
  }
  cl.dlq_show->add_option("MESSAGE_ID", opts.ids, "the message to show")
    ->required()
    ->expected(1);
  auto* replay_ids = cl.dlq_replay->add_option(
    "--id", opts.ids, "a message to replay (repeatable)");
  auto* replay_all =
    cl.dlq_replay->add_flag("--all", opts.all, "replay every message");
  replay_ids->excludes(replay_all);
  cl.dlq_purge->add_flag("-f,--force", opts.force,
                         "do not ask for confirmation");
}

void add_state(CLI::App& app, command_line& cl) {
  auto& opts = cl.state;
  auto* state = app.add_subcommand(
    "state", "read a node's checkpoint store (read-only, safe while it runs)");
  state->require_subcommand(1);
  cl.state_list = state->add_subcommand(
    "list", "actors with state, or the keys of one actor");
  cl.state_show =
    state->add_subcommand("show", "the state of an actor's key, as JSON");
  for (auto* cmd : {cl.state_list, cl.state_show}) {
    auto* from_config = cmd->add_option("-c,--config", opts.config_file,
                                        "the node's config (its state_dir)");
    auto* from_db =
      cmd->add_option("--db", opts.db_file, "the database file itself");
    from_config->excludes(from_db);
    cmd->add_option("--limit", opts.limit, "keys at most (1000)");
  }
  cl.state_list->add_option("ACTOR", opts.actor, "an actor's name");
  cl.state_show->add_option("ACTOR", opts.actor, "an actor's name")->required();
  cl.state_show->add_option("KEY", opts.key, "the key (default: every key)");
}

void add_saga(CLI::App& app, command_line& cl) {
  auto& opts = cl.saga;
  auto* saga = app.add_subcommand("saga", "a saga actor's sagas");
  saga->require_subcommand(1);
  cl.saga_list = saga->add_subcommand(
    "list", "one line per saga, most recently changed first (reads the "
            "node's file: no broker needed)");
  cl.saga_show = saga->add_subcommand(
    "show", "one saga with its steps, as JSON (reads the node's file)");
  cl.saga_resume = saga->add_subcommand(
    "resume", "tell the saga actor to try a stuck saga's compensation again");
  cl.saga_abort = saga->add_subcommand(
    "abort", "tell the saga actor to compensate a running saga, or to end a "
             "stuck one failed");
  for (auto* cmd : {cl.saga_list, cl.saga_show}) {
    auto* from_config = cmd->add_option("-c,--config", opts.config_file,
                                        "the node's config (its state_dir)");
    auto* from_db =
      cmd->add_option("--db", opts.db_file, "the database file itself");
    from_config->excludes(from_db);
    cmd->add_option("ACTOR", opts.actor, "the saga actor's name")->required();
  }
  cl.saga_list->add_option("--status", opts.status,
                           "only sagas with this status (running, "
                           "compensating, stuck, completed, compensated, "
                           "failed)");
  cl.saga_list->add_option("--limit", opts.limit, "sagas at most (100)")
    ->check(CLI::PositiveNumber);
  cl.saga_show->add_option("ID", opts.saga_id, "the saga id")->required();
  for (auto* cmd : {cl.saga_resume, cl.saga_abort}) {
    add_broker_options(*cmd, opts.broker);
    cmd->add_option("ACTOR", opts.actor, "the saga actor's name")->required();
    cmd->add_option("ID", opts.saga_id, "the saga id")->required();
    cmd
      ->add_option("--timeout", opts.timeout_ms,
                   "ms to wait for the answer (default 5000)")
      ->check(CLI::PositiveNumber);
  }
  cl.saga_abort->add_option("--reason", opts.reason,
                            "why, kept in the saga's error");
}

void add_projection(CLI::App& app, command_line& cl) {
  auto& opts = cl.projection;
  auto* projection =
    app.add_subcommand("projection", "ask a projection actor (through the "
                                     "broker)");
  projection->require_subcommand(1);
  cl.projection_status = projection->add_subcommand(
    "status", "its position, the store's head, its lag, its generation");
  cl.projection_rebuild = projection->add_subcommand(
    "rebuild", "rebuild its read model from position 0 into new tables, "
               "then swap them in");
  for (auto* cmd : {cl.projection_status, cl.projection_rebuild}) {
    add_broker_options(*cmd, opts.broker);
    cmd->add_option("NAME", opts.actor, "the projection actor's name")
      ->required();
    cmd
      ->add_option("--timeout", opts.timeout_ms,
                   "ms to wait for each answer (default 5000)")
      ->check(CLI::PositiveNumber);
  }
  cl.projection_rebuild->add_flag(
    "--wait", opts.wait, "wait until the new read model replaced the old");
  cl.projection_rebuild
    ->add_option("--wait-timeout", opts.wait_ms,
                 "ms to wait with --wait (default 600000)")
    ->check(CLI::PositiveNumber);
}

void add_top(CLI::App& app, command_line& cl) {
  auto& opts = cl.top;
  cl.top_cmd = app.add_subcommand(
    "top", "live dashboard of nodes' metrics endpoints (q quits)");
  auto* cmd = cl.top_cmd;
  cmd
    ->add_option("URL", opts.urls,
                 "a node's metrics endpoint: http://HOST:PORT or HOST:PORT "
                 "(/metrics appended when no path is given)")
    ->required();
  cmd
    ->add_option("-i,--interval", opts.interval_seconds,
                 "seconds between scrapes (default 2)")
    ->check(CLI::PositiveNumber);
  cmd->add_flag("--once", opts.once,
                "print one plain-text frame after two scrapes and exit");
}

void add_cluster(CLI::App& app, command_line& cl) {
  auto& opts = cl.cluster;
  auto* cluster =
    app.add_subcommand("cluster", "a cluster running sharded actors");
  cluster->require_subcommand(1);
  cl.cluster_status = cluster->add_subcommand(
    "status",
    "nodes, shard owners with their epochs, changelog lag and shard queue "
    "depths, from the nodes' announcements (exit 1 when a shard has messages "
    "waiting and no live owner)");
  auto* cmd = cl.cluster_status;
  add_broker_options(*cmd, opts.broker);
  cmd->add_option("--actor", opts.actor, "only this sharded actor");
  cmd->add_flag("--json", opts.json, "print one JSON object");
  cmd
    ->add_option("--since", opts.since_seconds,
                 "read the announcements of the last N seconds (default 60)")
    ->check(CLI::PositiveNumber);
}

void add_window(CLI::App& app, command_line& cl) {
  auto& opts = cl.window;
  auto* window = app.add_subcommand("window", "tools for window actors");
  window->require_subcommand(1);
  cl.window_replay = window->add_subcommand(
    "replay",
    "run a window actor's logic over a JSON-lines file of events, without a "
    "broker; print each result as a JSON line");
  cl.window_replay->add_option("CONFIG", opts.config_file, "the node config")
    ->required();
  cl.window_replay->add_option("ACTOR", opts.actor, "the window actor's name")
    ->required();
  cl.window_replay
    ->add_option("EVENTS", opts.events,
                 "a JSON-lines file, one event body per line, or - for stdin")
    ->required();
}

// Runs the subcommand given, after the checks CLI11 cannot express.
int dispatch(command_line& cl) {
  using namespace warren::cli;
  if (*cl.run)
    return run(cl.config_file, cl.ready_timeout_ms, cl.log_level);
  if (*cl.check)
    return check(cl.config_file);
  if (*cl.send_cmd) {
    if (cl.send.actor.empty() && cl.send.exchange.empty()) {
      std::cerr << "warren send: give --actor NAME or --exchange EXCHANGE\n";
      return exit_usage;
    }
    return send(cl.send);
  }
  if (*cl.call_cmd)
    return call(cl.call);
  if (*cl.dlq_list)
    return dlq_list(cl.dlq);
  if (*cl.dlq_show)
    return dlq_show(cl.dlq);
  if (*cl.dlq_replay) {
    if (cl.dlq.ids.empty() && !cl.dlq.all) {
      std::cerr << "warren dlq replay: give --id ID (repeatable) or --all\n";
      return exit_usage;
    }
    return dlq_replay(cl.dlq);
  }
  if (*cl.dlq_purge)
    return dlq_purge(cl.dlq);
  if (*cl.state_list || *cl.state_show) {
    if (cl.state.config_file.empty() && cl.state.db_file.empty()) {
      std::cerr << "warren state: give -c CONFIG or --db FILE\n";
      return exit_usage;
    }
    return *cl.state_list ? state_list(cl.state) : state_show(cl.state);
  }
  if (*cl.saga_list || *cl.saga_show) {
    if (cl.saga.config_file.empty() && cl.saga.db_file.empty()) {
      std::cerr << "warren saga: give -c CONFIG or --db FILE\n";
      return exit_usage;
    }
    return *cl.saga_list ? saga_list(cl.saga) : saga_show(cl.saga);
  }
  if (*cl.saga_resume || *cl.saga_abort)
    return saga_control(cl.saga, cl.saga_resume->parsed());
  if (*cl.projection_status)
    return projection_status(cl.projection);
  if (*cl.projection_rebuild)
    return projection_rebuild(cl.projection);
  if (*cl.top_cmd)
    return top(cl.top);
  if (*cl.window_replay)
    return window_replay(cl.window);
  if (*cl.cluster_status)
    return cluster_status(cl.cluster);
  return exit_usage;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"warren: a C++ actor runtime bridged to RabbitMQ"};
  app.set_version_flag("-V,--version", std::string{"warren "} + WARREN_VERSION);
  app.require_subcommand(1);
  command_line cl;
  add_run_and_check(app, cl);
  add_send(app, cl);
  add_call(app, cl);
  add_dlq(app, cl);
  add_state(app, cl);
  add_saga(app, cl);
  add_projection(app, cl);
  add_window(app, cl);
  add_top(app, cl);
  add_cluster(app, cl);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? warren::cli::exit_ok : warren::cli::exit_usage;
  }
  return dispatch(cl);
}
