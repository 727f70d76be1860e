#include "eventstore/event_store.hpp"

#include "options.hpp"
#include "warren/config/reader.hpp"
#include "warren/core/json_read.hpp"
#include "warren/core/shard.hpp"
#include "warren/metrics/registry.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/serialize.hpp>

namespace warren::actors {

namespace {

// All of the kind's SQL. One table per file; each event store's rows carry
// its name.
constexpr const char* create_table =
  "CREATE TABLE IF NOT EXISTS warren_events (store TEXT NOT NULL, position "
  "INTEGER NOT NULL, stream TEXT NOT NULL, version INTEGER NOT NULL, "
  "event_id TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, metadata "
  "TEXT NOT NULL, recorded_ms INTEGER NOT NULL, PRIMARY KEY (store, "
  "position))";
constexpr const char* create_by_stream =
  "CREATE UNIQUE INDEX IF NOT EXISTS warren_events_by_stream ON "
  "warren_events (store, stream, version)";
constexpr const char* create_by_id =
  "CREATE UNIQUE INDEX IF NOT EXISTS warren_events_by_id ON warren_events "
  "(store, event_id)";
constexpr const char* create_snapshots =
  "CREATE TABLE IF NOT EXISTS warren_event_snapshots (store TEXT NOT NULL, "
  "stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, data "
  "TEXT NOT NULL, recorded_ms INTEGER NOT NULL, PRIMARY KEY (store, "
  "stream))";
// A snapshot only ever moves forward.
constexpr const char* upsert_snapshot =
  "INSERT INTO warren_event_snapshots (store, stream, version, type, data, "
  "recorded_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (store, stream) "
  "DO UPDATE SET version = excluded.version, type = excluded.type, data = "
  "excluded.data, recorded_ms = excluded.recorded_ms WHERE excluded.version "
  "> warren_event_snapshots.version";
constexpr const char* select_snapshot =
  "SELECT version, type, data, recorded_ms FROM warren_event_snapshots "
  "WHERE store = ?1 AND stream = ?2";
constexpr const char* select_head =
  "SELECT coalesce(max(position), 0) FROM warren_events WHERE store = ?1";
constexpr const char* select_version =
  "SELECT coalesce(max(version), 0) FROM warren_events WHERE store = ?1 AND "
  "stream = ?2";
constexpr const char* select_by_id =
  "SELECT stream, version, position FROM warren_events WHERE store = ?1 AND "
  "event_id = ?2";
constexpr const char* insert_event =
  "INSERT INTO warren_events (store, position, stream, version, event_id, "
  "type, data, metadata, recorded_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
  "?8, ?9)";
#define WARREN_EVENT_COLUMNS                                                   \
  "SELECT position, stream, version, event_id, type, data, metadata, "         \
  "recorded_ms FROM warren_events "
constexpr const char* select_forward =
  WARREN_EVENT_COLUMNS "WHERE store = ?1 AND stream = ?2 AND version >= ?3 "
                       "ORDER BY version LIMIT ?4";
constexpr const char* select_backward =
  WARREN_EVENT_COLUMNS "WHERE store = ?1 AND stream = ?2 AND version <= ?3 "
                       "ORDER BY version DESC LIMIT ?4";
constexpr const char* select_all =
  WARREN_EVENT_COLUMNS "WHERE store = ?1 AND position >= ?2 ORDER BY "
                       "position LIMIT ?3";
#undef WARREN_EVENT_COLUMNS

constexpr config::int_range counts{1, 10000};

event_store_settings read_settings(config::object_reader& o) {
  o.allow({"publish", "max_append_events", "max_read_count"});
  return read_event_store_options(o);
}

status invalid(const std::string& why) {
  return status::fail(errc::validation_failed, why, true);
}

// Why an owner of shard `shard` of `init`'s actor may not write `stream`;
// empty when it may (always, unsharded).
std::string foreign_stream(const actor_init& init, const std::string& stream) {
  if (init.shards == 0)
    return {};
  auto belongs = shard_of(stream, init.shards);
  if (belongs == init.shard)
    return {};
  return "stream " + stream + " belongs to shard " + std::to_string(belongs) +
         " of " + std::to_string(init.shards) + ", not to this one (" +
         std::to_string(init.shard) +
         "): send to the actor's name, or to "
         "queue " +
         shard_name(init.name, belongs);
}

} // namespace

event_store_settings read_event_store_options(config::object_reader& o) {
  event_store_settings s;
  if (auto publish = o.object("publish")) {
    publish->allow({"exchange", "routing_key"});
    publish->string("exchange", s.exchange, config::text_rule::non_empty);
    publish->string("routing_key", s.routing_key);
  }
  o.integer("max_append_events", counts, s.max_append_events);
  o.integer("max_read_count", counts, s.max_read_count);
  return s;
}

namespace {

// `{stream}` and `{type}` in `key` replaced.
std::string routing_key_of(std::string key, const std::string& stream,
                           const std::string& type) {
  for (auto [name, value] :
       {std::pair<const char*, const std::string*>{"{stream}", &stream},
        {"{type}", &type}})
    for (auto at = key.find(name); at != std::string::npos;
         at = key.find(name, at + value->size()))
      key.replace(at, std::char_traits<char>::length(name), *value);
  return key;
}

// A text field of a request body; empty with `why` set when it is missing
// or not a non-empty string of at most 255 bytes.
std::string text_field(const boost::json::object& body, const char* key,
                       std::string& why) {
  const auto* v = body.if_contains(key);
  const auto* s = v != nullptr ? v->if_string() : nullptr;
  if (s == nullptr || s->empty() || s->size() > 255) {
    why = std::string{key} + ": expected a non-empty string of at most 255 "
                             "bytes";
    return {};
  }
  return std::string{*s};
}

// An optional count or position: `fallback` when absent; nullopt when not
// an integer >= `min`.
std::optional<int64_t> number_field(const boost::json::object& body,
                                    const char* key, int64_t fallback,
                                    int64_t min) {
  const auto* v = body.if_contains(key);
  if (v == nullptr || v->is_null())
    return fallback;
  if (const auto* n = v->if_int64(); n != nullptr && *n >= min)
    return *n;
  return std::nullopt;
}

// A row of WARREN_EVENT_COLUMNS.
recorded_event event_of(const sql_row& row) {
  recorded_event e;
  boost::json::error_code ec;
  e.position = row.integer(0);
  e.stream = std::string{row.text(1)};
  e.version = row.integer(2);
  e.event_id = std::string{row.text(3)};
  e.type = std::string{row.text(4)};
  e.data = read_json(row.text(5), ec);
  auto metadata = read_json(row.text(6), ec);
  if (metadata.is_object())
    e.metadata = std::move(metadata.get_object());
  e.recorded_ms = row.integer(7);
  return e;
}

} // namespace

boost::json::value event_json(const recorded_event& e) {
  return boost::json::object{
    {"position", e.position}, {"stream", e.stream},
    {"version", e.version},   {"event_id", e.event_id},
    {"type", e.type},         {"data", e.data},
    {"metadata", e.metadata}, {"recorded_ms", e.recorded_ms}};
}

event_store::event_store(const actor_init& init)
  : event_store(init, read_options(init, read_settings)) {}

event_store::event_store(const actor_init& init, event_store_settings settings)
  : stream_operator(init), settings_(std::move(settings)),
    tag_(init.shards == 0 ? init.name : shard_name(init.name, init.shard)) {
  auto* reg = init.metrics;
  if (reg == nullptr)
    return;
  metrics::labels who{{"actor", init.name}};
  metrics_.appends = reg->make_counter(
    "warren_eventstore_appends_total",
    "Appends an event store wrote (idempotent repeats and conflicts not "
    "counted).",
    who);
  metrics_.events = reg->make_counter("warren_eventstore_events_total",
                                      "Events an event store appended.", who);
  metrics_.idempotent = reg->make_counter(
    "warren_eventstore_idempotent_appends_total",
    "Appends answered with the events already there (same event ids).", who);
  auto conflict = [&](const char* reason) {
    auto labels = who;
    labels.emplace("reason", reason);
    return reg->make_counter(
      "warren_eventstore_conflicts_total",
      "Appends refused: the stream was not at the expected version, or the "
      "event ids were used otherwise.",
      labels);
  };
  metrics_.wrong_version = conflict("wrong_expected_version");
  metrics_.id_conflicts = conflict("idempotency_conflict");
  metrics_.head = reg->make_gauge(
    "warren_eventstore_head_position",
    "The last position an event store gave (committed or about to be).", who);
}

void event_store::check_options(config::object_reader& options) {
  read_settings(options);
}

caf::error event_store::open(operator_store& store) {
  store_ = &store;
  for (const char* sql :
       {create_table, create_by_stream, create_by_id, create_snapshots})
    if (auto err = store.setup(sql))
      return err;
  return store.query(select_head, {tag_}, [this](const sql_row& row) {
    next_position_ = row.integer(0) + 1;
    metrics_.head.set(static_cast<double>(row.integer(0)));
    return caf::error{};
  });
}

caf::error event_store::restore(operator_row_set) {
  return caf::none; // Everything is in its table.
}

status event_store::apply(context& ctx, const envelope& msg) {
  const auto* body = msg.body.if_object();
  if (body == nullptr)
    return invalid("an event store request is a JSON object");
  const auto& type = msg.properties.type;
  if (type == "event_store.append")
    return append(ctx, msg);
  if (type == "event_store.read_stream")
    return read_stream(ctx, *body);
  if (type == "event_store.read_all")
    return read_all(ctx, *body);
  if (type == "event_store.save_snapshot")
    return save_snapshot(ctx, *body);
  if (type == "event_store.load_snapshot")
    return load_snapshot(ctx, *body);
  return status::fail(errc::unknown_type,
                      "unknown message type '" + type +
                        "' (event_store.append, event_store.read_stream, "
                        "event_store.read_all, event_store.save_snapshot, "
                        "event_store.load_snapshot)",
                      true);
}

caf::expected<std::string> event_store::key_of(const envelope& msg) const {
  if (const auto* body = msg.body.if_object())
    if (const auto* stream = body->if_contains("stream"))
      if (const auto* text = stream->if_string())
        return std::string{*text};
  // read_all and what is not a request: any shard (apply answers or
  // refuses it there).
  return std::string{};
}

std::optional<uint32_t> event_store::shard_asked(const envelope& msg) const {
  const auto* body = msg.body.if_object();
  const auto* shard =
    body != nullptr && msg.properties.type == "event_store.read_all"
      ? body->if_contains("shard")
      : nullptr;
  if (shard == nullptr || !shard->is_int64() || shard->get_int64() < 0 ||
      shard->get_int64() >= static_cast<int64_t>(max_shards))
    return std::nullopt;
  return static_cast<uint32_t>(shard->get_int64());
}

std::string event_store::tag_of(const std::string& stream) const {
  const auto& at = init();
  return at.shards == 0 ? at.name
                        : shard_name(at.name, shard_of(stream, at.shards));
}

caf::expected<int64_t> event_store::version_of(const std::string& stream) {
  if (auto i = staged_versions_.find(stream); i != staged_versions_.end())
    return i->second;
  int64_t version = 0;
  if (auto err = store_->query(select_version, {tag_of(stream), stream},
                               [&](const sql_row& row) {
                                 version = row.integer(0);
                                 return caf::error{};
                               }))
    return err;
  return version;
}

caf::expected<std::optional<recorded_at>>
event_store::find_event(const std::string& id) {
  if (auto i = staged_ids_.find(id); i != staged_ids_.end())
    return i->second;
  std::optional<recorded_at> found;
  if (auto err =
        store_->query(select_by_id, {tag_, id}, [&](const sql_row& row) {
          found = recorded_at{std::string{row.text(0)}, row.integer(1),
                              row.integer(2)};
          return caf::error{};
        }))
    return err;
  return found;
}

status event_store::append(context& ctx, const envelope& msg) {
  const auto& body = msg.body.get_object();
  std::string why;
  auto stream = text_field(body, "stream", why);
  if (stream.empty())
    return invalid(why);
  auto expected =
    read_expected_version(body.if_contains("expected_version"), why);
  if (!expected)
    return invalid(why);
  const auto* listed = body.if_contains("events");
  const auto* events = listed != nullptr ? listed->if_array() : nullptr;
  if (events == nullptr || events->empty())
    return invalid("events: expected a non-empty array of {\"event_id\", "
                   "\"type\", \"data\", \"metadata\"}");
  std::vector<event_input> news;
  for (std::size_t i = 0; i < events->size(); ++i) {
    auto at = "events[" + std::to_string(i) + "].";
    const auto* e = (*events)[i].if_object();
    if (e == nullptr)
      return invalid(at.substr(0, at.size() - 1) + ": expected an object");
    event_input one;
    if (e->contains("event_id")) {
      one.id = text_field(*e, "event_id", why);
      if (one.id.empty())
        return invalid(at + why);
    }
    one.type = text_field(*e, "type", why);
    if (one.type.empty())
      return invalid(at + why);
    const auto* data = e->if_contains("data");
    if (data == nullptr)
      return invalid(at + "data: required key is missing");
    one.data = *data;
    if (const auto* m = e->if_contains("metadata")) {
      if (!m->is_object())
        return invalid(at + "metadata: expected an object");
      one.metadata = m->get_object();
    }
    news.push_back(std::move(one));
  }
  auto result = stage_append(ctx, stream, *expected, std::move(news));
  if (!result)
    return to_status(result.error());
  return reply_to_append(ctx, stream, *expected, *result);
}

status event_store::reply_to_append(context& ctx, const std::string& stream,
                                    const expected_version& expected,
                                    const append_result& result) {
  if (result.decision == append_decision::wrong_expected_version) {
    ctx.reply_error("wrong_expected_version",
                    "stream " + stream + " is at version " +
                      std::to_string(result.current) + ", expected " +
                      to_string(expected),
                    {{"stream", stream},
                     {"expected", to_string(expected)},
                     {"actual", result.current}});
    return status::ok();
  }
  if (result.decision == append_decision::idempotency_conflict) {
    ctx.reply_error("idempotency_conflict",
                    "the event ids of this append are used otherwise in the "
                    "store (an id names one event)",
                    {{"stream", stream}});
    return status::ok();
  }
  boost::json::object reply{
    {"stream", stream},
    {"first_version", result.events.front().version},
    {"last_version", result.events.back().version},
    {"first_position", result.events.front().position},
    {"last_position", result.events.back().position},
    {"idempotent", result.decision == append_decision::already}};
  // Sharded, positions are the shard's (read_all and projections by shard).
  if (result.shard)
    reply["shard"] = static_cast<int64_t>(*result.shard);
  ctx.reply_json(std::move(reply), "event_store.appended");
  return status::ok();
}

status event_store::to_status(const caf::error& err) {
  // A request that cannot be right is the caller's to fix; anything else
  // is the file's, and the message is tried again.
  if (code_of(err) == errc::validation_failed)
    return invalid(describe(err));
  return status::fail(errc::store_failed, describe(err), false);
}

caf::expected<event_store::append_result>
event_store::stage_append(context& ctx, const std::string& stream,
                          const expected_version& expected,
                          std::vector<event_input> events) {
  auto refuse = [](const std::string& why) {
    return make_error(errc::validation_failed, why);
  };
  if (stream.empty() || stream.size() > 255)
    return refuse("stream: expected a non-empty string of at most 255 bytes");
  if (events.empty())
    return refuse("events: none to append");
  if (auto why = foreign_stream(init(), stream); !why.empty())
    return refuse(why);
  if (events.size() > settings_.max_append_events)
    return refuse("events: " + std::to_string(events.size()) +
                  " events, over max_append_events (" +
                  std::to_string(settings_.max_append_events) + ")");
  const auto& cause = ctx.message().properties.message_id;
  std::vector<std::optional<recorded_at>> found;
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto& one = events[i];
    auto at = "events[" + std::to_string(i) + "].";
    if (one.id.empty()) {
      one.id = cause + "#e" + std::to_string(i);
      if (one.id.size() > 255)
        return refuse(at + "event_id: the request's id is too long to "
                           "derive one; give each event an id");
    }
    if (one.type.empty() || one.type.size() > 255)
      return refuse(at + "type: expected a non-empty string of at most 255 "
                         "bytes");
    for (std::size_t k = 0; k < i; ++k)
      if (events[k].id == one.id)
        return refuse(at + "event_id: '" + one.id +
                      "' is used by an earlier event of the request");
    auto where = find_event(one.id);
    if (!where)
      return where.error();
    found.push_back(std::move(*where));
  }
  auto current = version_of(stream);
  if (!current)
    return current.error();
  append_result result;
  result.current = *current;
  if (init().shards > 0)
    result.shard = init().shard;
  result.decision = decide_append(stream, expected, *current, found);
  if (result.decision == append_decision::wrong_expected_version) {
    metrics_.wrong_version.inc();
    return result;
  }
  if (result.decision == append_decision::idempotency_conflict) {
    metrics_.id_conflicts.inc();
    return result;
  }
  if (result.decision == append_decision::already) {
    metrics_.idempotent.inc();
    for (std::size_t i = 0; i < events.size(); ++i) {
      recorded_event e;
      e.stream = stream;
      e.version = found[i]->version;
      e.position = found[i]->position;
      e.event_id = events[i].id;
      e.type = events[i].type;
      result.events.push_back(std::move(e));
    }
    return result;
  }
  auto recorded_ms = runtime::now_ms();
  auto version = *current;
  auto& staged = staged_events_[stream];
  for (auto& one : events) {
    recorded_event e;
    e.position = next_position_++;
    e.stream = stream;
    e.version = ++version;
    e.event_id = std::move(one.id);
    e.type = std::move(one.type);
    e.data = std::move(one.data);
    e.metadata = std::move(one.metadata);
    // Appended in today's shape, unless the event says otherwise.
    if (!e.metadata.contains("schema"))
      if (auto schema = upcasters_.current(e.type); schema > 1)
        e.metadata["schema"] = schema;
    e.recorded_ms = recorded_ms;
    pending_.statements.push_back(
      {insert_event,
       {tag_, e.position, stream, e.version, e.event_id, e.type,
        boost::json::serialize(e.data), boost::json::serialize(e.metadata),
        recorded_ms}});
    staged_ids_[e.event_id] = recorded_at{stream, e.version, e.position};
    if (!settings_.exchange.empty()) {
      publish_options opts;
      opts.message_id = e.event_id;
      opts.mandatory = false;
      set_field(opts.headers, "x-warren-stream", stream);
      set_field(opts.headers, "x-warren-version", e.version);
      set_field(opts.headers, "x-warren-position", e.position);
      if (init().shards > 0)
        set_field(opts.headers, "x-warren-shard",
                  static_cast<int64_t>(init().shard));
      ctx.publish_json(settings_.exchange,
                       routing_key_of(settings_.routing_key, stream, e.type),
                       e.type, event_json(e), std::move(opts));
    }
    staged.push_back(e);
    result.events.push_back(std::move(e));
  }
  staged_versions_[stream] = version;
  metrics_.appends.inc();
  metrics_.events.inc(static_cast<double>(events.size()));
  metrics_.head.set(static_cast<double>(next_position_ - 1));
  return result;
}

caf::expected<std::vector<recorded_event>>
event_store::events_after(const std::string& stream, int64_t version) {
  std::vector<recorded_event> out;
  auto err = store_->query(select_forward,
                           {tag_of(stream), stream, version + 1, INT64_MAX},
                           [&](const sql_row& row) {
                             out.push_back(event_of(row));
                             upcasters_.apply(out.back());
                             return caf::error{};
                           });
  if (err)
    return err;
  // What this unit appended is not in the file yet.
  if (auto i = staged_events_.find(stream); i != staged_events_.end())
    for (const auto& e : i->second)
      if (e.version > version &&
          (out.empty() || e.version > out.back().version)) {
        out.push_back(e);
        upcasters_.apply(out.back());
      }
  return out;
}

caf::expected<std::optional<std::pair<int64_t, boost::json::value>>>
event_store::snapshot_of(const std::string& stream) {
  if (auto i = staged_snapshots_.find(stream); i != staged_snapshots_.end())
    return std::optional<std::pair<int64_t, boost::json::value>>{i->second};
  std::optional<std::pair<int64_t, boost::json::value>> found;
  auto err = store_->query(
    select_snapshot, {tag_of(stream), stream}, [&](const sql_row& row) {
      boost::json::error_code ec;
      auto data = read_json(row.text(2), ec);
      if (ec)
        return make_error(errc::store_failed,
                          "the snapshot of " + stream + " is not JSON");
      found.emplace(row.integer(0), std::move(data));
      return caf::error{};
    });
  if (err)
    return err;
  return found;
}

void event_store::stage_snapshot(const std::string& stream, int64_t version,
                                 const std::string& type,
                                 const boost::json::value& data) {
  pending_.statements.push_back(
    {upsert_snapshot,
     {tag_of(stream), stream, version, type, boost::json::serialize(data),
      runtime::now_ms()}});
  staged_snapshots_[stream] = {version, data};
}

caf::error event_store::read_events(const std::string& sql,
                                    const std::vector<sql_value>& params,
                                    boost::json::array& out) {
  return store_->query(sql, params, [&](const sql_row& row) {
    auto e = event_of(row);
    upcasters_.apply(e);
    out.push_back(event_json(e));
    return caf::error{};
  });
}

status event_store::read_stream(context& ctx, const boost::json::object& body) {
  std::string why;
  auto stream = text_field(body, "stream", why);
  if (stream.empty())
    return invalid(why);
  auto direction = std::string{"forward"};
  if (const auto* d = body.if_contains("direction")) {
    const auto* s = d->if_string();
    if (s == nullptr || (*s != "forward" && *s != "backward"))
      return invalid("direction: expected \"forward\" or \"backward\"");
    direction = std::string{*s};
  }
  bool forward = direction == "forward";
  auto count = number_field(body, "count",
                            static_cast<int64_t>(settings_.max_read_count), 1);
  auto from = number_field(body, "from", forward ? 1 : INT64_MAX, 0);
  if (!count || !from)
    return invalid("from and count: expected integers (count >= 1)");
  auto limit =
    std::min<int64_t>(*count, static_cast<int64_t>(settings_.max_read_count));
  boost::json::array events;
  if (auto err =
        read_events(forward ? select_forward : select_backward,
                    {tag_of(stream), stream, *from, limit + 1}, events))
    return status::fail(errc::store_failed, describe(err), false);
  bool end = static_cast<int64_t>(events.size()) <= limit;
  boost::json::value next = nullptr;
  if (!end) {
    next = events.back().at("version");
    events.pop_back();
  }
  ctx.reply_json(boost::json::object{{"stream", stream},
                                     {"events", std::move(events)},
                                     {"next", next},
                                     {"end", end}},
                 "event_store.events");
  return status::ok();
}

status event_store::read_all(context& ctx, const boost::json::object& body) {
  auto count = number_field(body, "count",
                            static_cast<int64_t>(settings_.max_read_count), 1);
  auto from = number_field(body, "from", 1, 0);
  if (!count || !from)
    return invalid("from and count: expected integers (count >= 1)");
  auto limit =
    std::min<int64_t>(*count, static_cast<int64_t>(settings_.max_read_count));
  // Sharded, each shard has its own positions: a read names its shard.
  const auto& at = init();
  auto shard = number_field(body, "shard", -1, 0);
  if (at.shards > 0 && (!shard || *shard < 0 || *shard >= at.shards))
    return invalid("shard: expected the shard to read, an integer from 0 to " +
                   std::to_string(at.shards - 1) +
                   " (this event store is sharded: each shard numbers its "
                   "own events)");
  if (at.shards == 0 && body.contains("shard") && shard != 0 && shard != -1)
    return invalid("shard: this event store is not sharded (shard 0 or none)");
  auto tag =
    at.shards == 0 ? tag_ : shard_name(at.name, static_cast<uint32_t>(*shard));
  boost::json::array events;
  if (auto err = read_events(select_all, {tag, *from, limit + 1}, events))
    return status::fail(errc::store_failed, describe(err), false);
  // The head: the last position given, or committed for another shard's
  // (this node's copy, as its changelog reader got it).
  auto head = next_position_ - 1;
  if (tag != tag_)
    if (auto err = store_->query(select_head, {tag}, [&](const sql_row& row) {
          head = row.integer(0);
          return caf::error{};
        }))
      return status::fail(errc::store_failed, describe(err), false);
  bool end = static_cast<int64_t>(events.size()) <= limit;
  boost::json::value next = nullptr;
  if (!end) {
    next = events.back().at("position");
    events.pop_back();
  }
  // Readers measure their lag by the head.
  boost::json::object reply{{"events", std::move(events)},
                            {"next", next},
                            {"end", end},
                            {"head", head}};
  if (at.shards > 0)
    reply["shard"] = *shard;
  ctx.reply_json(std::move(reply), "event_store.events");
  return status::ok();
}

status event_store::save_snapshot(context& ctx,
                                  const boost::json::object& body) {
  std::string why;
  auto stream = text_field(body, "stream", why);
  if (stream.empty())
    return invalid(why);
  auto type = text_field(body, "type", why);
  if (type.empty())
    return invalid(why);
  auto version = number_field(body, "version", 0, 1);
  const auto* data = body.if_contains("data");
  if (!version || !body.contains("version") || data == nullptr)
    return invalid("version (an integer >= 1) and data are required");
  if (auto foreign = foreign_stream(init(), stream); !foreign.empty())
    return invalid(foreign);
  auto current = version_of(stream);
  if (!current)
    return status::fail(errc::store_failed, describe(current.error()), false);
  // A snapshot of a state the stream never had would be replayed on.
  if (*version > *current) {
    ctx.reply_error("wrong_expected_version",
                    "stream " + stream + " is at version " +
                      std::to_string(*current) + ", the snapshot says " +
                      std::to_string(*version),
                    {{"stream", stream}, {"actual", *current}});
    return status::ok();
  }
  stage_snapshot(stream, *version, type, *data);
  ctx.reply_json(boost::json::object{{"stream", stream}, {"version", *version}},
                 "event_store.snapshot_saved");
  return status::ok();
}

status event_store::load_snapshot(context& ctx,
                                  const boost::json::object& body) {
  std::string why;
  auto stream = text_field(body, "stream", why);
  if (stream.empty())
    return invalid(why);
  boost::json::object reply{{"stream", stream}, {"version", 0}};
  if (auto err = store_->query(select_snapshot, {tag_of(stream), stream},
                               [&](const sql_row& row) {
                                 boost::json::error_code ec;
                                 reply["version"] = row.integer(0);
                                 reply["type"] = row.text(1);
                                 reply["data"] = read_json(row.text(2), ec);
                                 reply["recorded_ms"] = row.integer(3);
                                 return caf::error{};
                               }))
    return status::fail(errc::store_failed, describe(err), false);
  ctx.reply_json(std::move(reply), "event_store.snapshot");
  return status::ok();
}

void event_store::checkpoint(operator_rows& rows) {
  if (pending_.statements.empty())
    return;
  // Strict: every insert was checked against what the store and this unit
  // hold, so a failure is the file's, and the unit is retried.
  rows.execute(std::move(pending_));
  pending_ = {};
}

bool event_store::is_query(const envelope& msg) const {
  const auto& type = msg.properties.type;
  return type == "event_store.read_stream" || type == "event_store.read_all" ||
         type == "event_store.load_snapshot";
}

void event_store::committed(const std::vector<skipped_group>&) {
  // What was staged is in the file now.
  staged_versions_.clear();
  staged_ids_.clear();
  staged_events_.clear();
  staged_snapshots_.clear();
}

} // namespace warren::actors
