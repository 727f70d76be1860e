// warren dlq: look at dead letters, send them back, or purge them.
//
//   warren dlq list   QUEUE                    one line per dead letter
//   warren dlq show   QUEUE MESSAGE_ID         one dead letter, as JSON
//   warren dlq replay QUEUE (--id ID... | --all)
//                                              back to their original route
//   warren dlq purge  QUEUE [--force]          delete them (asks first)
//
// QUEUE is a dead-letter queue or the queue it belongs to (`orders` means
// `orders.dlq`). Listing and showing leave every message where it is.
// Replaying publishes each chosen message to its first route with confirms
// and only then removes it from the dead-letter queue, so a replay that
// fails halfway loses nothing.

#include "dlq.hpp"

#include "commands.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/errc.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>
#include <set>
#include <unistd.h>

namespace warren::cli {

namespace {

constexpr std::size_t max_listed = 65535;
constexpr std::chrono::milliseconds idle{500};

std::string dlq_name(const std::string& queue) {
  const std::string suffix = ".dlq";
  if (queue.size() > suffix.size() &&
      queue.compare(queue.size() - suffix.size(), suffix.size(), suffix) == 0)
    return queue;
  return warren::dead_letter_queue_name(queue);
}

std::string header(const warren::envelope& env, const char* key) {
  if (auto* v = warren::find_field(env.properties.headers, key)) {
    if (auto* s = std::get_if<std::string>(v))
      return *s;
    if (auto* n = std::get_if<int64_t>(v))
      return std::to_string(*n);
  }
  return {};
}

boost::json::value field_json(const warren::field_value& v) {
  return std::visit([](const auto& x) { return boost::json::value(x); }, v);
}

boost::json::object to_json(const warren::envelope& env) {
  boost::json::object out;
  const auto& p = env.properties;
  out["message_id"] = p.message_id;
  out["type"] = p.type;
  out["correlation_id"] = p.correlation_id;
  out["reply_to"] = p.reply_to;
  out["timestamp"] = p.timestamp;
  out["trace"] = std::string{warren::trace_of(p)};
  boost::json::object headers;
  for (const auto& [key, value] : p.headers)
    headers[key] = field_json(value);
  out["headers"] = std::move(headers);
  if (env.body.is_null() && !env.raw_body.empty())
    out["raw_body"] = env.raw_body; // not JSON: shown as it came
  else
    out["body"] = env.body;
  return out;
}

// The message as it was first published: its original route, without the
// headers warren added when it gave up on it, and as a first attempt.
caf::expected<warren::outgoing_message> replay_of(const warren::envelope& env) {
  warren::outgoing_message msg;
  msg.exchange = header(env, warren::header::original_exchange);
  msg.routing_key = header(env, warren::header::original_routing_key);
  if (warren::find_field(env.properties.headers,
                         warren::header::original_exchange) == nullptr) {
    // Dead-lettered by the broker (a quorum queue's delivery limit, an
    // expired message), not by warren: back to the queue it died in.
    auto died_in = header(env, "x-first-death-queue");
    if (died_in.empty())
      return make_error(errc::invalid_config,
                        "message " + env.properties.message_id +
                          " has neither x-warren-original-exchange nor "
                          "x-first-death-queue");
    msg.exchange.clear();
    msg.routing_key = died_in;
  }
  msg.properties = env.properties;
  auto& h = msg.properties.headers;
  static const std::set<std::string> added = {
    warren::header::error,
    warren::header::error_code,
    warren::header::actor,
    warren::header::attempts,
    warren::header::attempt,
    warren::header::node,
    warren::header::original_exchange,
    warren::header::original_routing_key};
  h.erase(std::remove_if(h.begin(), h.end(),
                         [](const auto& f) {
                           return added.count(f.first) > 0 ||
                                  f.first.rfind("x-first-death-", 0) == 0;
                         }),
          h.end());
  msg.body = env.raw_body;
  msg.mandatory = true;
  return msg;
}

using client_ptr = std::unique_ptr<bridges::blocking_client>;

caf::expected<client_ptr> connect(const broker_choice& broker) {
  auto settings = broker_settings_for(broker);
  if (!settings)
    return settings.error();
  auto client = bridges::blocking_client::connect(*settings);
  if (!client)
    return client.error();
  return std::move(*client);
}

int fail(const caf::error& err) {
  return report("dlq", err);
}

// Every dead letter of a queue, taken but not yet acked: until `settle`
// nothing leaves the queue.
struct taken_letters {
  client_ptr client;
  std::string queue;
  std::vector<warren::envelope> letters;
};

caf::expected<taken_letters> take_dead_letters(const dlq_options& opts) {
  auto client = connect(opts.broker);
  if (!client)
    return client.error();
  auto queue = dlq_name(opts.queue);
  auto letters = (*client)->take(queue, max_listed, idle);
  if (!letters)
    return letters.error();
  return taken_letters{std::move(*client), std::move(queue),
                       std::move(*letters)};
}

} // namespace

int dlq_list(const dlq_options& opts) {
  auto taken = take_dead_letters(opts);
  if (!taken)
    return fail(taken.error());
  auto& [client, queue, letters] = *taken;
  for (const auto& env : letters)
    std::cout << env.properties.message_id << " type="
              << (env.properties.type.empty() ? "-" : env.properties.type)
              << " code=" << header(env, warren::header::error_code)
              << " attempts=" << header(env, warren::header::attempts)
              << " route=" << header(env, warren::header::original_exchange)
              << ":" << header(env, warren::header::original_routing_key)
              << " actor=" << header(env, warren::header::actor)
              << " error=" << header(env, warren::header::error) << "\n";
  std::cerr << letters.size() << " dead letter(s) in " << queue << "\n";
  if (auto err = client->settle({}))
    return fail(err);
  return exit_ok;
}

int dlq_show(const dlq_options& opts) {
  auto taken = take_dead_letters(opts);
  if (!taken)
    return fail(taken.error());
  auto& [client, queue, letters] = *taken;
  int code = exit_failure;
  for (const auto& env : letters) {
    if (env.properties.message_id == opts.ids.front()) {
      std::cout << boost::json::serialize(to_json(env)) << "\n";
      code = exit_ok;
      break;
    }
  }
  if (code != exit_ok)
    std::cerr << "warren dlq: no message " << opts.ids.front() << " in "
              << queue << "\n";
  if (auto err = client->settle({}))
    return fail(err);
  return code;
}

int dlq_replay(const dlq_options& opts) {
  auto taken = take_dead_letters(opts);
  if (!taken)
    return fail(taken.error());
  auto& [client, queue, letters] = *taken;
  std::set<std::string> wanted(opts.ids.begin(), opts.ids.end());
  std::vector<uint64_t> replayed;
  int code = exit_ok;
  for (const auto& env : letters) {
    if (!opts.all && wanted.erase(env.properties.message_id) == 0)
      continue;
    auto msg = replay_of(env);
    caf::error err =
      msg ? client->publish(*msg, std::chrono::seconds{10}) : msg.error();
    if (err) {
      std::cerr << "warren dlq: " << env.properties.message_id << " stays in "
                << queue << ": " << describe(err) << "\n";
      code = exit_failure;
      continue;
    }
    replayed.push_back(env.delivery_tag);
  }
  for (const auto& id : wanted) {
    std::cerr << "warren dlq: no message " << id << " in " << queue << "\n";
    code = exit_failure;
  }
  // Only what was confirmed at its route leaves the dead-letter queue.
  if (auto err = client->settle(replayed))
    return fail(err);
  std::cout << "replayed " << replayed.size() << " message(s) from " << queue
            << "\n";
  return code;
}

int dlq_purge(const dlq_options& opts) {
  auto client = connect(opts.broker);
  if (!client)
    return fail(client.error());
  auto queue = dlq_name(opts.queue);
  if (!opts.force) {
    if (!::isatty(STDIN_FILENO)) {
      std::cerr
        << "warren dlq purge: not on a terminal; confirm with --force\n";
      return exit_usage;
    }
    auto count = (*client)->message_count(queue);
    if (!count)
      return fail(count.error());
    std::cout << "purge " << *count << " message(s) from " << queue
              << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "yes") {
      std::cout << "nothing purged\n";
      return exit_failure;
    }
  }
  auto purged = (*client)->purge(queue);
  if (!purged)
    return fail(purged.error());
  std::cout << "purged " << *purged << " message(s) from " << queue << "\n";
  return exit_ok;
}

} // namespace warren::cli
