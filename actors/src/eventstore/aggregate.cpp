// Event-sourced aggregates (warren/actors/aggregate.hpp): an event store
// whose streams are aggregates, each command decided on the stream's state
// (a snapshot plus the events after it, cached) and its events appended at
// the version the state was built from, in the command's unit of work.

#include "warren/actors/aggregate.hpp"

#include "eventstore/event_store.hpp"
#include "options.hpp"
#include "warren/config/reader.hpp"

#include <list>
#include <stdexcept>
#include <unordered_map>

namespace warren {

aggregate_state::~aggregate_state() = default;

namespace {

using actors::append_decision;
using actors::event_store;
using actors::event_store_settings;
using actors::expected_version;

constexpr config::int_range snapshot_range{0, 1000000};
constexpr config::int_range cache_range{1, 10000000};

struct aggregate_settings {
  event_store_settings store;
  std::string stream_prefix;
  int64_t snapshot_every = 100;
  std::size_t max_cached = 10000;
};

aggregate_settings read_settings(config::object_reader& o) {
  o.allow({"publish", "max_append_events", "max_read_count", "key_field",
           "stream_prefix", "snapshot_every", "max_cached"});
  aggregate_settings s;
  s.store = actors::read_event_store_options(o);
  // Read by stateful_base (the default key); checked here.
  std::string key_field;
  o.string("key_field", key_field, config::text_rule::non_empty);
  o.string("stream_prefix", s.stream_prefix);
  o.integer("snapshot_every", snapshot_range, s.snapshot_every);
  o.integer("max_cached", cache_range, s.max_cached);
  return s;
}

// The commands' answers are the handlers' or these.
status invalid(const std::string& why) {
  return status::fail(errc::validation_failed, why, true);
}

// What the kind keeps per stream: its state and the version it is at.
struct cached {
  std::unique_ptr<aggregate_state> state;
  int64_t version = 0;
  std::list<std::string>::iterator lru;
};

} // namespace

struct aggregate_base::impl {
  impl(const actor_init& init, aggregate_settings s)
    : settings(std::move(s)), store(init, settings.store) {}

  // The state of `stream` as of its last event (staged ones included):
  // from the cache, else the snapshot and the events after it.
  caf::expected<cached*> load(const aggregate_base& kind,
                              const std::string& stream) {
    if (auto i = cache.find(stream); i != cache.end()) {
      lru.splice(lru.begin(), lru, i->second.lru);
      return &i->second;
    }
    auto snapshot = store.snapshot_of(stream);
    if (!snapshot)
      return snapshot.error();
    cached entry;
    entry.state = kind.make_state(*snapshot ? &(*snapshot)->second : nullptr);
    entry.version = *snapshot ? (*snapshot)->first : 0;
    if (entry.state == nullptr) { // a snapshot of an older state type
      entry.state = kind.make_state(nullptr);
      entry.version = 0;
    }
    auto events = store.events_after(stream, entry.version);
    if (!events)
      return events.error();
    for (const auto& e : *events) {
      entry.state->evolve(e);
      entry.version = e.version;
    }
    while (cache.size() >= settings.max_cached && !lru.empty()) {
      cache.erase(lru.back());
      lru.pop_back();
    }
    lru.push_front(stream);
    entry.lru = lru.begin();
    return &cache.emplace(stream, std::move(entry)).first->second;
  }

  void forget(const std::string& stream) {
    if (auto i = cache.find(stream); i != cache.end()) {
      lru.erase(i->second.lru);
      cache.erase(i);
    }
  }

  aggregate_settings settings;
  event_store store;
  aggregate_commands commands;
  std::unordered_map<std::string, cached> cache;
  // Most recently used first.
  std::list<std::string> lru;
};

aggregate_base::aggregate_base(const actor_init& init)
  : stream_operator(init),
    impl_(std::make_unique<impl>(init,
                                 actors::read_options(init, read_settings))) {}

aggregate_base::~aggregate_base() = default;

void aggregate_base::check_options(config::object_reader& options) {
  read_settings(options);
}

void aggregate_base::setup_upcasters(upcasters&) {
  // None by default.
}

caf::error aggregate_base::open(operator_store& store) {
  setup_commands(impl_->commands);
  upcasters up;
  setup_upcasters(up);
  impl_->store.set_upcasters(std::move(up));
  return impl_->store.open(store);
}

caf::error aggregate_base::restore(operator_row_set rows) {
  return impl_->store.restore(std::move(rows));
}

bool aggregate_base::is_query(const envelope& msg) const {
  return msg.properties.type == "aggregate.get" || impl_->store.is_query(msg);
}

void aggregate_base::checkpoint(operator_rows& rows) {
  impl_->store.checkpoint(rows);
}

void aggregate_base::committed(const std::vector<skipped_group>& skipped) {
  impl_->store.committed(skipped);
}

caf::expected<std::string>
aggregate_base::command_key(const envelope& msg) const {
  // aggregate.get may name its key as {"key": k}.
  const auto* named =
    msg.body.is_object() && msg.properties.type == "aggregate.get"
      ? msg.body.get_object().if_contains("key")
      : nullptr;
  if (named != nullptr && named->is_string())
    return std::string{named->get_string()};
  return stateful_base::key_of(msg);
}

caf::expected<std::string> aggregate_base::key_of(const envelope& msg) const {
  if (msg.properties.type.rfind("event_store.", 0) == 0)
    return impl_->store.key_of(msg);
  auto key = command_key(msg);
  if (!key)
    return key.error();
  return impl_->settings.stream_prefix + *key;
}

std::optional<uint32_t> aggregate_base::shard_asked(const envelope& msg) const {
  return impl_->store.shard_asked(msg);
}

status aggregate_base::apply(context& ctx, const envelope& msg) {
  auto& self = *impl_;
  const auto& type = msg.properties.type;
  if (type.rfind("event_store.", 0) == 0) {
    // The store's own requests. An append to a stream changes its state
    // behind the cache's back: it is read again when next needed.
    const auto* body = msg.body.if_object();
    if (type == "event_store.append" && body != nullptr)
      if (const auto* stream = body->if_contains("stream");
          stream != nullptr && stream->is_string())
        self.forget(std::string{stream->get_string()});
    return self.store.apply(ctx, msg);
  }
  auto key = command_key(msg);
  if (!key)
    return invalid(describe(key.error()));
  if (key->empty())
    return invalid("a command needs a key: the x-warren-key header, or the "
                   "body's field named by the option key_field");
  auto stream = self.settings.stream_prefix + *key;
  auto entry = self.load(*this, stream);
  if (!entry)
    return status::fail(errc::store_failed, describe(entry.error()), false);
  auto& current = **entry;
  if (type == "aggregate.get") {
    ctx.reply_json(boost::json::object{{"stream", stream},
                                       {"version", current.version},
                                       {"state", current.state->to_json()}},
                   "aggregate.state");
    return status::ok();
  }
  const auto* handler = self.commands.find(type);
  if (handler == nullptr)
    return status::fail(errc::unknown_type,
                        "no command handler for type '" + type + "'", true);
  const auto* body = msg.body.if_object();
  if (body != nullptr && body->contains("expected_version")) {
    std::string why;
    auto expected =
      actors::read_expected_version(body->if_contains("expected_version"), why);
    if (!expected)
      return invalid(why);
    if (!actors::satisfied(*expected, current.version)) {
      ctx.reply_error("wrong_expected_version",
                      "stream " + stream + " is at version " +
                        std::to_string(current.version) + ", expected " +
                        actors::to_string(*expected),
                      {{"stream", stream},
                       {"expected", actors::to_string(*expected)},
                       {"actual", current.version}});
      return status::ok();
    }
  }
  // The handler decides on the state as it is; nothing changes before it
  // returns (an exception fails the command with nothing staged).
  std::optional<decision> decided_or;
  try {
    decided_or = (*handler)(*current.state, msg);
  } catch (const invalid_command& e) {
    return invalid(e.what());
  }
  auto& decided = *decided_or;
  if (!decided.accepted()) {
    ctx.reply_error(decided.code(), decided.message(), {{"stream", stream}});
    return status::ok();
  }
  boost::json::object reply{{"stream", stream},
                            {"events", decided.events().size()},
                            {"reply", decided.reply()}};
  if (decided.events().empty()) {
    reply["version"] = current.version;
    ctx.reply_json(std::move(reply), "aggregate.accepted");
    return status::ok();
  }
  std::vector<event_store::event_input> inputs;
  inputs.reserve(decided.events().size());
  for (auto& e : decided.events())
    inputs.push_back(
      {{}, std::move(e.type), std::move(e.data), std::move(e.metadata)});
  auto appended = self.store.stage_append(
    ctx, stream,
    expected_version{expected_version::kind::exact, current.version},
    std::move(inputs));
  if (!appended)
    return event_store::to_status(appended.error());
  if (appended->decision != append_decision::write) {
    // The only writer cannot meet another; a repeated command id is dropped
    // by the inbox before it gets here. Said loudly if it ever happens.
    self.forget(stream);
    return status::fail(errc::store_failed,
                        "stream " + stream +
                          " moved under its aggregate; the command is tried "
                          "again",
                        false);
  }
  auto before = current.version;
  for (const auto& e : appended->events) {
    current.state->evolve(e);
    current.version = e.version;
  }
  auto every = self.settings.snapshot_every;
  if (every > 0 && current.version / every > before / every)
    self.store.stage_snapshot(stream, current.version, "aggregate",
                              current.state->to_json());
  reply["version"] = current.version;
  reply["first_position"] = appended->events.front().position;
  reply["last_position"] = appended->events.back().position;
  if (appended->shard)
    reply["shard"] = static_cast<int64_t>(*appended->shard);
  ctx.reply_json(std::move(reply), "aggregate.accepted");
  return status::ok();
}

} // namespace warren
