#include "state.hpp"

#include "commands.hpp"
#include "warren/config/node_config.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/json_read.hpp"
#include "warren/core/text.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/serialize.hpp>
#include <iostream>

namespace warren::cli {

namespace {

boost::json::value parsed(const std::string& text) {
  boost::json::error_code ec;
  // As the runtime reads states: strings need not be UTF-8.
  boost::json::parse_options bytes_as_they_are;
  bytes_as_they_are.allow_invalid_utf8 = true;
  auto v = read_json(text, ec, bytes_as_they_are);
  return ec ? boost::json::value(text) : v;
}

// One JSON line; bytes of keys and states that are not UTF-8 are shown as
// \xNN so that the line stays JSON.
std::string line_of(const boost::json::value& v) {
  return escape_non_utf8(boost::json::serialize(v));
}

} // namespace

caf::expected<std::unique_ptr<runtime::checkpoint_store>>
open_node_store(const std::string& config_file, const std::string& db_file) {
  runtime::store_settings settings;
  settings.read_only = true;
  if (!db_file.empty()) {
    settings.path = db_file;
  } else {
    auto cfg = config::load_config(config_file);
    if (!cfg)
      return cfg.error();
    settings.path = runtime::store_settings_of(*cfg).path;
  }
  return runtime::checkpoint_store::open(settings);
}

int state_list(const state_options& opts) {
  auto store = open_node_store(opts.config_file, opts.db_file);
  if (!store)
    return report("state list", store.error());
  auto& db = **store;
  if (opts.actor.empty()) {
    auto actors = db.actors();
    if (!actors)
      return report("state list", actors.error());
    for (const auto& [actor, keys] : *actors) {
      auto inbox = db.inbox_size(actor);
      auto outbox = db.outbox_size(actor);
      std::cout << actor << " keys=" << keys
                << " inbox=" << (inbox ? *inbox : -1)
                << " outbox=" << (outbox ? *outbox : -1) << "\n";
    }
    return exit_ok;
  }
  auto keys = db.keys(opts.actor, opts.limit);
  if (!keys)
    return report("state list", keys.error());
  for (const auto& k : *keys)
    std::cout << (k.key.empty() ? "\"\"" : k.key) << " version=" << k.version
              << "\n";
  return exit_ok;
}

int state_show(const state_options& opts) {
  auto store = open_node_store(opts.config_file, opts.db_file);
  if (!store)
    return report("state show", store.error());
  auto& db = **store;
  auto one = [&](const std::string& key) -> caf::expected<boost::json::value> {
    auto s = db.load(opts.actor, key);
    if (!s)
      return s.error();
    if (!*s)
      return make_error(errc::invalid_config, "actor '" + opts.actor +
                                                "' has no state for key '" +
                                                key + "'");
    return boost::json::value{
      {"key", key}, {"version", (*s)->version}, {"state", parsed((*s)->state)}};
  };
  if (!opts.key.empty()) {
    auto v = one(opts.key);
    if (!v) {
      std::cerr << "warren state show: " << describe(v.error()) << "\n";
      return exit_failure;
    }
    std::cout << line_of(*v) << "\n";
    return exit_ok;
  }
  auto keys = db.keys(opts.actor, opts.limit);
  if (!keys)
    return report("state show", keys.error());
  for (const auto& k : *keys) {
    auto v = one(k.key);
    if (!v)
      return report("state show", v.error());
    std::cout << line_of(*v) << "\n";
  }
  return exit_ok;
}

} // namespace warren::cli
