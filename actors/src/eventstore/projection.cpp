#include "eventstore/projection.hpp"

#include "options.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/config/reader.hpp"
#include "warren/core/envelope.hpp"
#include "warren/core/log.hpp"
#include "warren/core/shard.hpp"
#include "warren/metrics/registry.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>

namespace warren::actors {

namespace {

// The kind's own SQL: where each projection stands.
constexpr const char* create_progress =
  "CREATE TABLE IF NOT EXISTS warren_projections (actor TEXT PRIMARY KEY, "
  "position INTEGER NOT NULL, generation INTEGER NOT NULL, "
  "rebuild_generation INTEGER, rebuild_position INTEGER NOT NULL, "
  "definition TEXT NOT NULL)";
constexpr const char* select_progress =
  "SELECT position, generation, rebuild_generation, rebuild_position, "
  "definition FROM warren_projections WHERE actor = ?1";
constexpr const char* upsert_progress =
  "INSERT INTO warren_projections (actor, position, generation, "
  "rebuild_generation, rebuild_position, definition) VALUES (?1, ?2, ?3, ?4, "
  "?5, ?6) ON CONFLICT (actor) DO UPDATE SET position = excluded.position, "
  "generation = excluded.generation, rebuild_generation = "
  "excluded.rebuild_generation, rebuild_position = excluded.rebuild_position, "
  "definition = excluded.definition";
// Following a sharded store: where each shard's events stand.
constexpr const char* create_shard_progress =
  "CREATE TABLE IF NOT EXISTS warren_projection_shards (actor TEXT NOT NULL, "
  "shard INTEGER NOT NULL, position INTEGER NOT NULL, rebuild_position "
  "INTEGER NOT NULL, PRIMARY KEY (actor, shard))";
constexpr const char* select_shard_progress =
  "SELECT shard, position, rebuild_position FROM warren_projection_shards "
  "WHERE actor = ?1";
constexpr const char* upsert_shard_progress =
  "INSERT INTO warren_projection_shards (actor, shard, position, "
  "rebuild_position) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (actor, shard) DO "
  "UPDATE SET position = excluded.position, rebuild_position = "
  "excluded.rebuild_position";
constexpr const char* select_object =
  "SELECT count(*) FROM sqlite_master WHERE name = ?1";
// A sharded projection: where each shard stands, one row per shard
// ("<actor>.s<i>"), replicated with its tables (README.md, "Sharded
// projections").
constexpr const char* create_shard_state =
  "CREATE TABLE IF NOT EXISTS warren_projection_state (actor TEXT NOT NULL "
  "PRIMARY KEY, position INTEGER NOT NULL, head INTEGER NOT NULL, "
  "generation INTEGER NOT NULL, rebuild_generation INTEGER, "
  "rebuild_position INTEGER NOT NULL, definition TEXT NOT NULL)";
constexpr const char* select_shard_state =
  "SELECT position, head, generation, rebuild_generation, rebuild_position, "
  "definition FROM warren_projection_state WHERE actor = ?1";
constexpr const char* upsert_shard_state =
  "INSERT INTO warren_projection_state (actor, position, head, generation, "
  "rebuild_generation, rebuild_position, definition) VALUES (?1, ?2, ?3, ?4, "
  "?5, ?6, ?7) ON CONFLICT (actor) DO UPDATE SET position = "
  "excluded.position, head = excluded.head, generation = "
  "excluded.generation, rebuild_generation = excluded.rebuild_generation, "
  "rebuild_position = excluded.rebuild_position, definition = "
  "excluded.definition";
// The catalog of objects made at runtime (the store creates it in every
// file): an object's row and its CREATE travel in the same changeset, and
// every node's changelog reader makes the object before it applies rows.
constexpr const char* insert_catalog =
  "INSERT INTO warren_schema (actor, name, type, sql) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* delete_catalog =
  "DELETE FROM warren_schema WHERE actor = ?1 AND name = ?2";
constexpr const char* select_catalog =
  "SELECT name, type FROM warren_schema WHERE actor = ?1 ORDER BY type DESC, "
  "name";

projection_spec read_spec(const actor_init& init) {
  return read_options(init, [&](config::object_reader& o) {
    return read_projection_spec(o, init.name);
  });
}

status invalid(const std::string& why) {
  return status::fail(errc::validation_failed, why, true);
}

// An event's field as a statement parameter.
sql_value bound(const boost::json::value* v) {
  if (v == nullptr || v->is_null())
    return std::monostate{};
  switch (v->kind()) {
    case boost::json::kind::string:
      return std::string{v->get_string()};
    case boost::json::kind::int64:
      return v->get_int64();
    case boost::json::kind::uint64:
      return static_cast<int64_t>(v->get_uint64());
    case boost::json::kind::double_:
      return v->get_double();
    case boost::json::kind::bool_:
      return static_cast<int64_t>(v->get_bool() ? 1 : 0);
    default:
      return boost::json::serialize(*v);
  }
}

sql_value nullable(const std::optional<int64_t>& v) {
  sql_value out;
  if (v)
    out = *v;
  return out;
}

int64_t integer_of(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr)
    return 0;
  if (const auto* n = v->if_int64())
    return *n;
  if (const auto* u = v->if_uint64())
    return static_cast<int64_t>(*u);
  return 0;
}

} // namespace

projection::projection(const actor_init& init)
  : stream_operator(init), spec_(read_spec(init)),
    feeds_(init.shards > 0 ? 1 : std::max<std::size_t>(1, spec_.shards)),
    sharded_(init.shards > 0),
    prefix_(init.shards > 0 ? shard_name(init.name, init.shard) : init.name) {}

void projection::check_options(config::object_reader& options) {
  // The actor's name only shapes table names; any will do for the check.
  read_projection_spec(options, "check");
}

uint32_t projection::source_shard(std::size_t index) const {
  return sharded_ ? init().shard : static_cast<uint32_t>(index);
}

caf::error projection::restore(operator_row_set) {
  // Made here, not in the constructor: routers and the node's key
  // directory make instances that never run, whose series would stay at 0.
  auto* reg = init().metrics;
  if (reg != nullptr)
    make_metrics(*reg);
  update_metrics();
  return caf::none; // Everything is in its tables.
}

void projection::make_metrics(metrics::registry& registry) {
  auto* reg = &registry;
  metrics::labels who{{"actor", init().metrics_name()}};
  metrics_.position = reg->make_gauge(
    "warren_projection_position", "The last event a projection applied.", who);
  metrics_.head = reg->make_gauge(
    "warren_projection_head_position",
    "The last position of its event store, as the projection last heard.", who);
  metrics_.lag_events = reg->make_gauge(
    "warren_projection_lag_events",
    "Events of the store a projection has not applied yet.", who);
  metrics_.lag_seconds = reg->make_gauge(
    "warren_projection_lag_seconds",
    "Age of the last event a projection applied while it lags (0 when it "
    "does not).",
    who);
  metrics_.rebuilding =
    reg->make_gauge("warren_projection_rebuilding",
                    "1 while a projection rebuilds its read model.", who);
  metrics_.events = reg->make_counter("warren_projection_events_total",
                                      "Events a projection applied.", who);
  metrics_.skipped = reg->make_counter(
    "warren_projection_skipped_total",
    "Events whose statements failed on the data (a constraint), skipped.", who);
}

std::vector<std::pair<std::string, std::string>>
projection::generation_objects(int64_t g) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [table, sql] : spec_.tables)
    out.emplace_back(table_name(prefix_, g, table),
                     render_sql(sql, prefix_, g));
  for (std::size_t i = 0; i < spec_.indexes.size(); ++i)
    out.emplace_back(table_name(prefix_, g, "index" + std::to_string(i)),
                     render_sql(spec_.indexes[i], prefix_, g, i));
  return out;
}

std::vector<sql_statement> projection::create_generation(int64_t g) const {
  std::vector<sql_statement> out;
  std::size_t made = 0;
  for (auto& [object, sql] : generation_objects(g)) {
    if (sharded_)
      out.push_back(
        {insert_catalog,
         {prefix_, object,
          std::string{made < spec_.tables.size() ? "table" : "index"}, sql}});
    out.push_back({std::move(sql), {}});
    ++made;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> projection::catalog_objects(
  const std::function<bool(int64_t generation)>& which) const {
  // Names are p_<shard>_g<generation>_<table>: whatever definition made
  // them (another node's config may name other tables).
  auto head = table_name(prefix_, 0, "");
  head = head.substr(0, head.size() - 2); // "..._g"
  std::vector<std::pair<std::string, std::string>> out;
  store_->query(select_catalog, {prefix_}, [&](const sql_row& row) {
    auto object = std::string{row.text(0)};
    if (object.rfind(head, 0) == 0) {
      auto digits = object.substr(head.size());
      auto end = digits.find('_');
      try {
        if (which(std::stoll(digits.substr(0, end))))
          out.emplace_back(object, std::string{row.text(1)});
      } catch (const std::exception&) {
      }
    }
    return caf::error{};
  });
  return out;
}

sql_group projection::drop_objects(
  const std::vector<std::pair<std::string, std::string>>& objects) const {
  sql_group drop;
  for (const auto& [object, type] : objects) {
    // An index goes with its table; its catalog row still goes.
    if (type == "table")
      drop.statements.push_back({"DROP TABLE IF EXISTS " + object, {}});
    drop.statements.push_back({delete_catalog, {prefix_, object}});
  }
  return drop;
}

std::vector<sql_statement> projection::drop_generation(int64_t g) const {
  std::vector<sql_statement> out;
  for (const auto& [name, sql] : spec_.tables)
    out.push_back(
      {"DROP TABLE IF EXISTS " + table_name(this->name(), g, name), {}});
  return out;
}

caf::error projection::open(operator_store& store) {
  store_ = &store;
  if (sharded_)
    return open_shard(store);
  for (const char* sql : {create_progress, create_shard_progress})
    if (auto err = store.setup(sql))
      return err;
  std::optional<std::string> stored_definition;
  auto err = store.query(select_progress, {name()}, [&](const sql_row& row) {
    feeds_[0].position = row.integer(0);
    progress_.generation = row.integer(1);
    if (!row.is_null(2))
      progress_.rebuild_generation = row.integer(2);
    feeds_[0].rebuild_position = row.integer(3);
    stored_definition = std::string{row.text(4)};
    return caf::error{};
  });
  if (err)
    return err;
  if (spec_.shards > 0) {
    // The summed row says nothing of each shard: the shards' rows do (none
    // for a shard not read yet, and none from another shard count, whose
    // definition differs and is rebuilt below).
    feeds_[0] = feed{};
    err = store.query(select_shard_progress, {name()}, [&](const sql_row& row) {
      auto shard = row.integer(0);
      if (shard >= 0 && shard < static_cast<int64_t>(feeds_.size())) {
        feeds_[static_cast<std::size_t>(shard)].position = row.integer(1);
        feeds_[static_cast<std::size_t>(shard)].rebuild_position =
          row.integer(2);
      }
      return caf::error{};
    });
    if (err)
      return err;
  }
  // A changed definition: the model is rebuilt into a new generation while
  // the old one answers queries.
  if (stored_definition && *stored_definition != spec_.definition_hash) {
    if (progress_.rebuild_generation)
      for (const auto& st : drop_generation(*progress_.rebuild_generation))
        if (auto e = store.setup(st.sql))
          return e;
    progress_.rebuild_generation = progress_.generation + 1;
    for (auto& f : feeds_) {
      f.rebuild_position = 0;
      f.changed = true;
    }
    log::info(log::scope{name()},
              "the projection's definition changed: rebuilding it as "
              "generation {}",
              *progress_.rebuild_generation);
  }
  // Each generation in use has its tables (made here for the first time,
  // or kept from before).
  std::vector<int64_t> generations{progress_.generation};
  if (progress_.rebuild_generation)
    generations.push_back(*progress_.rebuild_generation);
  for (auto g : generations)
    for (const auto& [object, sql] : generation_objects(g)) {
      int64_t exists = 0;
      if (auto e =
            store.query(select_object, {object}, [&](const sql_row& row) {
              exists = row.integer(0);
              return caf::error{};
            }))
        return e;
      if (exists == 0)
        if (auto e = store.setup(sql))
          return e;
    }
  auto rebuild_generation = nullable(progress_.rebuild_generation);
  int64_t rebuild_position = 0;
  for (const auto& f : feeds_)
    rebuild_position += f.rebuild_position;
  if (auto e =
        store.setup(upsert_progress, {name(), position(), progress_.generation,
                                      rebuild_generation, rebuild_position,
                                      spec_.definition_hash}))
    return e;
  if (spec_.shards > 0)
    for (std::size_t i = 0; i < feeds_.size(); ++i)
      if (auto e =
            store.setup(upsert_shard_progress,
                        {name(), static_cast<int64_t>(i), feeds_[i].position,
                         feeds_[i].rebuild_position}))
        return e;
  staged_ = committed_ = current_view();
  return caf::none;
}

projection::shard_state projection::shard_state_of(const sql_row& row) {
  shard_state st;
  st.position = row.integer(0);
  st.head = row.integer(1);
  st.generation = row.integer(2);
  if (!row.is_null(3))
    st.rebuild_generation = row.integer(3);
  st.rebuild_position = row.integer(4);
  st.definition = std::string{row.text(5)};
  return st;
}

caf::error projection::open_shard(operator_store& store) {
  // Only the kind's own table is made here (every node makes it, also for
  // its changelog reader): a shard's objects and rows go through its
  // changelog, staged for the first unit (a tick asks the store for a page
  // at once, so a unit comes).
  if (auto err = store.setup(create_shard_state))
    return err;
  std::optional<shard_state> stored;
  auto err =
    store.query(select_shard_state, {prefix_}, [&](const sql_row& row) {
      stored = shard_state_of(row);
      return caf::error{};
    });
  if (err)
    return err;
  auto& f = feeds_[0];
  progress_changed_ = true;
  if (!stored) {
    progress_.generation = 1;
    sql_group made;
    made.statements = create_generation(1);
    groups_.push_back(std::move(made));
  } else {
    f.position = stored->position;
    f.head = stored->head;
    f.rebuild_position = stored->rebuild_position;
    progress_.generation = stored->generation;
    progress_.rebuild_generation = stored->rebuild_generation;
    if (stored->definition != spec_.definition_hash) {
      // Numbers are never used twice: a changeset cannot tell a table
      // dropped and made again from one kept.
      auto g = std::max(progress_.generation,
                        progress_.rebuild_generation.value_or(0)) +
               1;
      progress_.rebuild_generation = g;
      f.rebuild_position = 0;
      sql_group made;
      made.statements = create_generation(g);
      groups_.push_back(std::move(made));
      log::info(log::scope{prefix_},
                "the projection's definition changed: rebuilding this shard "
                "as generation {}",
                g);
    }
  }
  // Objects of no generation in use: a rebuild abandoned, or a generation
  // replaced whose drop did not commit before the shard changed owner.
  auto stale = catalog_objects([&](int64_t g) {
    return g != progress_.generation && (!progress_.rebuild_generation ||
                                         g != *progress_.rebuild_generation);
  });
  if (!stale.empty())
    groups_.push_back(drop_objects(stale));
  staged_ = committed_ = current_view();
  return caf::none;
}

projection::read_view projection::current_view() const {
  read_view v;
  v.generation = progress_.generation;
  for (const auto& f : feeds_)
    v.positions.push_back(f.position);
  return v;
}

int64_t projection::read_view::position() const {
  int64_t n = 0;
  for (auto p : positions)
    n += p;
  return n;
}

bool projection::is_query(const envelope& msg) const {
  const auto& type = msg.properties.type;
  return type == "projection.query" || type == "projection.status";
}

caf::expected<std::string> projection::key_of(const envelope& msg) const {
  // Queries have no key: each goes to the shard its id hashes to, so they
  // spread over the shards' owners (any of them answers for all).
  auto key = stateful_base::key_of(msg);
  if (key && key->empty())
    return msg.properties.message_id;
  return key;
}

std::optional<uint32_t> projection::shard_asked(const envelope& msg) const {
  // A live event of the store's shard i goes to shard i.
  if (const auto* v = find_field(msg.properties.headers, "x-warren-shard"))
    if (const auto* n = std::get_if<int64_t>(v); n != nullptr && *n >= 0)
      return static_cast<uint32_t>(*n);
  const auto& type = msg.properties.type;
  const auto* body = msg.body.if_object();
  if (body != nullptr &&
      (type == "event_store.events" || type == "projection.query" ||
       type == "projection.status" || type == "projection.rebuild"))
    if (const auto* n = body->if_contains("shard");
        n != nullptr && n->is_int64() && n->get_int64() >= 0)
      return static_cast<uint32_t>(n->get_int64());
  // The store's refusal of a page read: the read's id names its shard.
  const auto& id = msg.properties.correlation_id;
  auto head = name() + ".s";
  if (type == "warren.error" && id.rfind(head, 0) == 0) {
    auto end = id.find('/', head.size());
    try {
      return static_cast<uint32_t>(
        std::stoul(id.substr(head.size(), end - head.size())));
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

status projection::apply(context& ctx, const envelope& msg) {
  const auto& type = msg.properties.type;
  if (type == "projection.query")
    return query(ctx, msg);
  if (type == "projection.status") {
    ctx.reply_json(sharded_ ? shard_status_json() : status_json(),
                   "projection.status");
    return status::ok();
  }
  if (type == "projection.rebuild") {
    if (!progress_.rebuild_generation)
      start_rebuild();
    // Asked of the projection (not of one shard): every shard rebuilds,
    // told in this unit's outbox, so exactly once whoever asked.
    const auto* b = msg.body.if_object();
    if (sharded_ && (b == nullptr || !b->contains("shard")))
      for (uint32_t j = 0; j < init().shards; ++j)
        if (j != init().shard)
          ctx.publish_json(bridges::actors_exchange, name(),
                           "projection.rebuild",
                           boost::json::object{{"shard", int64_t{j}}}, {});
    ctx.reply_json(sharded_ ? shard_status_json() : status_json(),
                   "projection.status");
    return status::ok();
  }
  auto reads = prefix_ + "/read/";
  if (type == "event_store.events" &&
      msg.properties.correlation_id.rfind(reads, 0) == 0)
    return apply_page(ctx, msg);
  if (type == "warren.error" &&
      msg.properties.correlation_id.rfind(reads, 0) == 0)
    return status::fail(errc::validation_failed,
                        "the event store refused a read: " +
                          boost::json::serialize(msg.body),
                        true);
  if (find_field(msg.properties.headers, "x-warren-position") != nullptr)
    return apply_live(msg);
  return status::fail(errc::unknown_type,
                      "unknown message type '" + type +
                        "' (projection.query, projection.status, "
                        "projection.rebuild, or an event of the store)",
                      true);
}

caf::expected<std::size_t> projection::feed_of(const envelope& msg,
                                               bool page) const {
  // A page says its shard in its body, a live event in a header.
  std::optional<int64_t> shard;
  if (page) {
    const auto* v = msg.body.is_object()
                      ? msg.body.get_object().if_contains("shard")
                      : nullptr;
    if (v != nullptr && v->is_int64())
      shard = v->get_int64();
  } else if (const auto* v =
               find_field(msg.properties.headers, "x-warren-shard")) {
    if (const auto* n = std::get_if<int64_t>(v))
      shard = *n;
    else
      shard = -1;
  }
  auto from = page ? "a page of the store" : "an event";
  if (sharded_) {
    if (shard && *shard == static_cast<int64_t>(init().shard))
      return std::size_t{0};
    return make_error(
      errc::validation_failed,
      std::string{from} +
        (shard ? " of the store's shard " + std::to_string(*shard)
               : std::string{" without a shard"}) +
        " reached shard " + std::to_string(init().shard) + " of projection '" +
        name() + "', which keeps the store's shard " +
        std::to_string(init().shard) + " only");
  }
  if (spec_.shards == 0) {
    if (!shard)
      return std::size_t{0};
    return make_error(errc::validation_failed,
                      std::string{from} +
                        " from a sharded event store (shard " +
                        std::to_string(*shard) +
                        "): set the projection's source.shards to the "
                        "store's shards");
  }
  if (!shard || *shard < 0 || *shard >= static_cast<int64_t>(spec_.shards))
    return make_error(
      errc::validation_failed,
      std::string{from} +
        (shard ? " of shard " + std::to_string(*shard)
               : std::string{" without a shard"}) +
        ", but source.shards is " + std::to_string(spec_.shards) +
        ": set it to the store's shards (0 when it is not sharded)");
  return static_cast<std::size_t>(*shard);
}

bool projection::apply_event(const boost::json::value& event, feed& f) {
  const auto* e = event.if_object();
  if (e == nullptr)
    return false;
  bool rebuilding = progress_.rebuild_generation.has_value();
  auto& cursor = rebuilding ? f.rebuild_position : f.position;
  auto generation =
    rebuilding ? *progress_.rebuild_generation : progress_.generation;
  auto position = integer_of(*e, "position");
  if (position != cursor + 1)
    return false;
  const auto* type = e->if_contains("type");
  if (type != nullptr && type->is_string()) {
    auto on = spec_.on.find(std::string_view{type->get_string()});
    if (on != spec_.on.end()) {
      const auto& sql = rendered(on->first, on->second, generation);
      sql_group group;
      group.tolerant = true;
      group.label = spec_.shards > 0
                      ? std::to_string(position) + " of shard " +
                          std::to_string(source_shard(
                            static_cast<std::size_t>(&f - feeds_.data())))
                      : std::to_string(position);
      for (std::size_t i = 0; i < on->second.size(); ++i) {
        sql_statement statement;
        statement.sql = sql[i];
        for (const auto& path : on->second[i].params)
          statement.params.push_back(bound(path.find(event)));
        group.statements.push_back(std::move(statement));
      }
      groups_.push_back(std::move(group));
    }
  }
  cursor = position;
  last_recorded_ms_ = integer_of(*e, "recorded_ms");
  f.head = std::max(f.head, position);
  metrics_.events.inc();
  f.changed = true;
  progress_changed_ = true;
  return true;
}

const std::vector<std::string>&
projection::rendered(const std::string& type,
                     const std::vector<projection_statement>& statements,
                     int64_t generation) {
  if (generation != rendered_generation_) {
    rendered_.clear();
    rendered_generation_ = generation;
  }
  auto [it, added] = rendered_.try_emplace(type);
  if (added)
    for (const auto& st : statements)
      it->second.push_back(render_sql(st.sql, prefix_, generation));
  return it->second;
}

status projection::apply_page(context& ctx, const envelope& msg) {
  const auto* body = msg.body.if_object();
  const auto* events = body != nullptr ? body->if_contains("events") : nullptr;
  if (events == nullptr || !events->is_array())
    return invalid("event_store.events: expected {\"events\": [...]}");
  auto index = feed_of(msg, true);
  if (!index)
    return invalid(describe(index.error()));
  auto& f = feeds_[*index];
  // Only the answer to the read asked last moves the catch-up on: a late
  // one (a read timed out, asked before a rebuild, or by an earlier life of
  // this actor) was asked from another position, so its end is not the
  // end of what this feed misses (it would finish a rebuild empty). Its
  // events still count where they fit.
  bool answered =
    !f.outstanding.empty() && msg.properties.correlation_id == f.outstanding;
  if (answered) {
    f.outstanding.clear();
    f.heard_ms = runtime::now_ms();
  }
  auto before = f.position;
  for (const auto& e : events->get_array())
    apply_event(e, f);
  if (answered && f.quiet_check) {
    f.quiet_check = false;
    if (f.position > before && !live_gap_reported_) {
      live_gap_reported_ = true;
      log::warning(log::scope{name()},
                   "the store had events past position {} that the live feed "
                   "had not brought (is this projection's queue bound to the "
                   "store's publish exchange, and does that exchange "
                   "exist?); they were read from the store, as they will be "
                   "after every {} ms without a live event (said once)",
                   before, spec_.poll_ms);
    }
  }
  f.head = std::max(f.head, integer_of(*body, "head"));
  const auto* end = body->if_contains("end");
  bool at_end = end == nullptr || !end->is_bool() || end->get_bool();
  if (answered && !at_end) {
    // More now: the next page, in this unit.
    request_page(
      [&](std::string type, boost::json::value req, publish_options opts) {
        ctx.publish_json(bridges::actors_exchange, spec_.store, std::move(type),
                         std::move(req), std::move(opts));
      },
      *index, runtime::now_ms());
  } else if (answered) {
    f.catching_up = false;
    finish_rebuild_if_caught_up();
  }
  update_metrics();
  return status::ok();
}

void projection::finish_rebuild_if_caught_up() {
  if (!progress_.rebuild_generation)
    return;
  for (const auto& f : feeds_)
    if (f.catching_up || !f.outstanding.empty())
      return;
  // The new generation replaces the old one, in one transaction (a shard
  // drops it in a later unit: see `replaced_`).
  if (sharded_) {
    replaced_.push_back(progress_.generation);
  } else {
    sql_group swap;
    swap.statements = drop_generation(progress_.generation);
    groups_.push_back(std::move(swap));
  }
  int64_t rebuilt = 0;
  for (auto& f : feeds_) {
    rebuilt += f.rebuild_position;
    f.position = f.rebuild_position;
    f.rebuild_position = 0;
    f.changed = true;
  }
  log::info(log::scope{name()},
            "rebuilt as generation {} up to position {}; generation {} "
            "replaced",
            *progress_.rebuild_generation, rebuilt, progress_.generation);
  progress_.generation = *progress_.rebuild_generation;
  progress_.rebuild_generation.reset();
  progress_changed_ = true;
}

status projection::apply_live(const envelope& msg) {
  auto index = feed_of(msg, false);
  if (!index)
    return invalid(describe(index.error()));
  // Live events wait while a rebuild reads the store from the start: it
  // will get them there.
  if (progress_.rebuild_generation)
    return status::ok();
  auto& f = feeds_[*index];
  f.heard_ms = runtime::now_ms();
  if (!apply_event(msg.body, f)) {
    const auto* e = msg.body.if_object();
    auto position = e != nullptr ? integer_of(*e, "position") : 0;
    if (position > f.position + 1)
      f.catching_up = true; // a gap: the store has what is missing
    f.head = std::max(f.head, position);
  }
  update_metrics();
  return status::ok();
}

void projection::start_rebuild() {
  auto g = progress_.generation + 1;
  sql_group create;
  if (sharded_)
    g = std::max(g, progress_.rebuild_generation.value_or(0) + 1);
  else
    create.statements = drop_generation(g);
  for (auto& st : create_generation(g))
    create.statements.push_back(std::move(st));
  groups_.push_back(std::move(create));
  progress_.rebuild_generation = g;
  for (auto& f : feeds_) {
    f.rebuild_position = 0;
    f.catching_up = true;
    f.quiet_check = false;
    f.outstanding.clear();
    f.changed = true;
  }
  progress_changed_ = true;
  log::info(log::scope{name()}, "rebuilding as generation {}", g);
  update_metrics();
}

template<class Publish>
void projection::request_page(Publish&& publish, std::size_t index,
                              int64_t now_ms) {
  if (reads_ == 0)
    nonce_ = make_message_id();
  auto& f = feeds_[index];
  auto cursor = progress_.rebuild_generation ? f.rebuild_position : f.position;
  // Unique across this actor's lives: the replies' ids derive from it, and
  // the inbox must not take a new reply for an old one.
  f.outstanding = prefix_ + "/read/" + nonce_ + "/" + std::to_string(++reads_);
  f.asked_ms = now_ms;
  publish_options opts;
  opts.message_id = f.outstanding;
  opts.correlation_id = f.outstanding;
  // A shard's pages come to its own queue, past the routers.
  opts.reply_to = sharded_ ? prefix_ : init().queue;
  opts.persistent = false;
  boost::json::object read{{"from", cursor + 1},
                           {"count", static_cast<int64_t>(spec_.page)}};
  if (spec_.shards > 0)
    read["shard"] = static_cast<int64_t>(source_shard(index));
  publish("event_store.read_all", std::move(read), std::move(opts));
}

std::chrono::milliseconds projection::tick_interval() const {
  return std::chrono::milliseconds{std::min<int64_t>(spec_.poll_ms, 200)};
}

void projection::tick(operator_output& out, int64_t now_ms) {
  if (!spec_.live && now_ms >= next_poll_ms_) {
    for (auto& f : feeds_)
      f.catching_up = true;
    next_poll_ms_ = now_ms + spec_.poll_ms;
  }
  if (spec_.live)
    for (auto& f : feeds_)
      if (!f.catching_up && f.outstanding.empty() &&
          now_ms - f.heard_ms >= spec_.poll_ms) {
        f.catching_up = true;
        f.quiet_check = true;
      }
  for (std::size_t i = 0; i < feeds_.size(); ++i) {
    const auto& f = feeds_[i];
    bool waiting =
      !f.outstanding.empty() && now_ms - f.asked_ms < spec_.read_timeout_ms;
    if (f.catching_up && !waiting)
      request_page(
        [&](std::string type, boost::json::value req, publish_options opts) {
          out.publish_json(bridges::actors_exchange, spec_.store,
                           std::move(type), std::move(req), std::move(opts));
        },
        i, now_ms);
  }
  update_metrics();
}

status projection::query(context& ctx, const envelope& msg) {
  const auto* body = msg.body.if_object();
  auto name_of = [&]() -> std::string {
    const auto* q = body != nullptr ? body->if_contains("query") : nullptr;
    return q != nullptr && q->is_string() ? std::string{q->get_string()} : "";
  };
  auto query_name = name_of();
  auto found = spec_.queries.find(query_name);
  if (found == spec_.queries.end()) {
    std::string known;
    for (const auto& [n, q] : spec_.queries)
      known += (known.empty() ? "" : ", ") + n;
    ctx.reply_error("unknown_query", "no query named '" + query_name +
                                       "' (this projection "
                                       "has: " +
                                       (known.empty() ? "none" : known) + ")");
    return status::ok();
  }
  if (sharded_)
    return query_shards(ctx, msg, found->second);
  if (body != nullptr)
    if (const auto* min = body->if_contains("min_position")) {
      // Following a sharded store, a position is a shard's: the query
      // names it (an append's reply has both).
      const auto* shard = body->if_contains("shard");
      std::size_t index = 0;
      if (spec_.shards > 0) {
        if (shard == nullptr || !shard->is_int64() || shard->get_int64() < 0 ||
            shard->get_int64() >= static_cast<int64_t>(spec_.shards))
          return invalid("min_position: the projection follows a sharded "
                         "store; give \"shard\" too (0 to " +
                         std::to_string(spec_.shards - 1) + ")");
        index = static_cast<std::size_t>(shard->get_int64());
      }
      auto at = committed_.positions.at(index);
      if (min->is_int64() && min->get_int64() > at) {
        ctx.reply_error("behind",
                        "the projection is at position " + std::to_string(at) +
                          ", below " + std::to_string(min->get_int64()),
                        {{"position", at}});
        return status::ok();
      }
    }
  boost::json::array rows;
  bool truncated = false;
  auto err =
    collect_rows(render_sql(found->second.sql, name(), committed_.generation),
                 params_of(msg, found->second), rows, truncated);
  if (err)
    return status::fail(errc::store_failed, describe(err), false);
  boost::json::object reply{
    {"rows", std::move(rows)},
    {"truncated", truncated},
    {"position", committed_.position()},
    {"rebuilding", progress_.rebuild_generation.has_value()}};
  if (spec_.shards > 0) {
    boost::json::array positions;
    for (auto p : committed_.positions)
      positions.push_back(p);
    reply["positions"] = std::move(positions);
  }
  ctx.reply_json(std::move(reply), "projection.rows");
  return status::ok();
}

std::vector<sql_value> projection::params_of(const envelope& msg,
                                             const projection_query& q) const {
  const auto* body = msg.body.if_object();
  const auto* given = body != nullptr ? body->if_contains("params") : nullptr;
  std::vector<sql_value> params;
  for (const auto& p : q.params) {
    const auto* v = given != nullptr && given->is_object()
                      ? given->get_object().if_contains(p)
                      : nullptr;
    params.push_back(bound(v));
  }
  return params;
}

caf::error projection::collect_rows(const std::string& sql,
                                    const std::vector<sql_value>& params,
                                    boost::json::array& rows,
                                    bool& truncated) const {
  auto err = store_->query(sql, params, [&](const sql_row& row) {
    if (rows.size() >= spec_.max_rows) {
      truncated = true;
      return make_error(errc::none, "enough");
    }
    boost::json::object out;
    for (int c = 0; c < row.columns(); ++c) {
      auto key = std::string{row.name(c)};
      switch (row.type(c)) {
        case sql_row::value_type::integer:
          out[key] = row.integer(c);
          break;
        case sql_row::value_type::real:
          out[key] = row.real(c);
          break;
        case sql_row::value_type::null:
          out[key] = nullptr;
          break;
        default:
          out[key] = row.text(c);
      }
    }
    rows.push_back(std::move(out));
    return caf::error{};
  });
  return truncated ? caf::error{} : err;
}

caf::expected<std::vector<std::optional<projection::shard_state>>>
projection::shard_states() const {
  std::vector<std::optional<shard_state>> out(init().shards);
  for (uint32_t i = 0; i < init().shards; ++i) {
    auto err = store_->query(select_shard_state, {shard_name(name(), i)},
                             [&](const sql_row& row) {
                               out[i] = shard_state_of(row);
                               return caf::error{};
                             });
    if (err)
      return err;
  }
  return out;
}

status projection::query_shards(context& ctx, const envelope& msg,
                                const projection_query& q) {
  // Answered from this node's file, where every shard's tables and state
  // rows are (each shard's owner wrote them through its changelog): each
  // shard exactly at the position reported for it.
  const auto* body = msg.body.if_object();
  for (int attempt = 0;; ++attempt) {
    auto states = shard_states();
    if (!states)
      return status::fail(errc::store_failed, describe(states.error()), false);
    if (const auto* min =
          body != nullptr ? body->if_contains("min_position") : nullptr) {
      const auto* shard = body->if_contains("shard");
      if (shard == nullptr || !shard->is_int64() || shard->get_int64() < 0 ||
          shard->get_int64() >= static_cast<int64_t>(states->size()))
        return invalid("min_position: a sharded projection's positions are "
                       "its shards'; give \"shard\" too (0 to " +
                       std::to_string(states->size() - 1) +
                       ": the append's reply has it)");
      const auto& st = (*states)[static_cast<std::size_t>(shard->get_int64())];
      auto at = st ? st->position : 0;
      if (min->is_int64() && min->get_int64() > at) {
        ctx.reply_error("behind",
                        "shard " + std::to_string(shard->get_int64()) +
                          " of the projection is at position " +
                          std::to_string(at) + ", below " +
                          std::to_string(min->get_int64()),
                        {{"position", at}, {"shard", shard->get_int64()}});
        return status::ok();
      }
    }
    std::vector<std::optional<int64_t>> generations;
    boost::json::array positions;
    int64_t position = 0;
    bool rebuilding = false;
    bool mixed = false;
    for (const auto& st : *states) {
      generations.push_back(st ? std::optional<int64_t>{st->generation}
                               : std::nullopt);
      positions.push_back(st ? st->position : 0);
      position += st ? st->position : 0;
      rebuilding = rebuilding || (st && st->rebuild_generation);
      mixed = mixed || (st && st->definition != spec_.definition_hash);
    }
    boost::json::array rows;
    bool truncated = false;
    auto err = collect_rows(
      render_sharded_query(q.sql, name(), generations, spec_.columns),
      params_of(msg, q), rows, truncated);
    if (err && attempt == 0)
      continue; // a generation replaced meanwhile: its tables are gone
    if (err && mixed) {
      ctx.reply_error("rebuilding",
                      "the shards' tables differ (their owners run different "
                      "definitions of the projection; each shard rebuilds "
                      "when its owner runs this one): " +
                        describe(err));
      return status::ok();
    }
    if (err)
      return status::fail(errc::store_failed, describe(err), false);
    boost::json::object reply{
      {"rows", std::move(rows)},       {"truncated", truncated},
      {"position", position},          {"positions", std::move(positions)},
      {"rebuilding", rebuilding},      {"mixed_definitions", mixed},
      {"shard", int64_t{init().shard}}};
    ctx.reply_json(std::move(reply), "projection.rows");
    return status::ok();
  }
}

boost::json::object projection::shard_status_json() const {
  auto states = shard_states();
  boost::json::array shards;
  int64_t position = 0;
  int64_t head = 0;
  int64_t lag = 0;
  bool rebuilding = false;
  for (std::size_t i = 0; states && i < states->size(); ++i) {
    auto st = (*states)[i].value_or(shard_state{});
    boost::json::object one{
      {"shard", static_cast<int64_t>(i)},
      {"position", st.position},
      {"head", st.head},
      {"generation", st.generation},
      {"rebuilding", st.rebuild_generation.has_value()},
      {"definition_matches", st.definition == spec_.definition_hash}};
    if (st.rebuild_generation)
      one["rebuild_position"] = st.rebuild_position;
    shards.push_back(std::move(one));
    position += st.position;
    head += st.head;
    lag += std::max<int64_t>(0, st.head - st.position);
    rebuilding = rebuilding || st.rebuild_generation.has_value();
  }
  return {{"position", position},
          {"head", head},
          {"lag_events", lag},
          {"rebuilding", rebuilding},
          {"generation", progress_.generation},
          {"shard", int64_t{init().shard}},
          {"shards", std::move(shards)}};
}

int64_t projection::position() const {
  int64_t n = 0;
  for (const auto& f : feeds_)
    n += f.position;
  return n;
}

int64_t projection::head() const {
  int64_t n = 0;
  for (const auto& f : feeds_)
    n += f.head;
  return n;
}

int64_t projection::lag_events() const {
  int64_t n = 0;
  for (const auto& f : feeds_)
    n += std::max<int64_t>(0, f.head - f.position);
  return n;
}

boost::json::object projection::status_json() const {
  boost::json::object out{
    {"position", position()},
    {"generation", progress_.generation},
    {"rebuilding", progress_.rebuild_generation.has_value()},
    {"head", head()},
    {"lag_events", lag_events()}};
  if (progress_.rebuild_generation) {
    int64_t rebuilt = 0;
    for (const auto& f : feeds_)
      rebuilt += f.rebuild_position;
    out["rebuild_position"] = rebuilt;
  }
  if (spec_.shards > 0) {
    boost::json::array shards;
    for (std::size_t i = 0; i < feeds_.size(); ++i)
      shards.push_back({{"shard", static_cast<int64_t>(i)},
                        {"position", feeds_[i].position},
                        {"head", feeds_[i].head}});
    out["shards"] = std::move(shards);
  }
  return out;
}

void projection::update_metrics() {
  metrics_.position.set(static_cast<double>(position()));
  metrics_.head.set(static_cast<double>(head()));
  auto lag = lag_events();
  metrics_.lag_events.set(static_cast<double>(lag));
  metrics_.lag_seconds.set(
    lag > 0 && last_recorded_ms_ > 0
      ? static_cast<double>(runtime::now_ms() - last_recorded_ms_) / 1000.0
      : 0.0);
  metrics_.rebuilding.set(progress_.rebuild_generation ? 1.0 : 0.0);
}

void projection::checkpoint(operator_rows& rows) {
  staged_ = current_view();
  if (sharded_ && !droppable_.empty()) {
    // Replaced in a unit that committed: no unit writes them any more.
    auto gone = std::move(droppable_);
    droppable_.clear();
    groups_.push_back(drop_objects(catalog_objects([&](int64_t g) {
      return std::find(gone.begin(), gone.end(), g) != gone.end();
    })));
  }
  staged_replaced_.insert(staged_replaced_.end(), replaced_.begin(),
                          replaced_.end());
  replaced_.clear();
  for (auto& group : groups_)
    rows.execute(std::move(group));
  groups_.clear();
  if (sharded_ && feeds_[0].head != written_head_)
    progress_changed_ = true;
  if (!progress_changed_)
    return;
  progress_changed_ = false;
  auto rebuild_generation = nullable(progress_.rebuild_generation);
  int64_t rebuild_position = 0;
  for (const auto& f : feeds_)
    rebuild_position += f.rebuild_position;
  sql_group progress;
  if (sharded_) {
    written_head_ = feeds_[0].head;
    progress.statements.push_back(
      {upsert_shard_state,
       {prefix_, feeds_[0].position, feeds_[0].head, progress_.generation,
        rebuild_generation, rebuild_position, spec_.definition_hash}});
    rows.execute(std::move(progress));
    return;
  }
  progress.statements.push_back(
    {upsert_progress,
     {name(), position(), progress_.generation, rebuild_generation,
      rebuild_position, spec_.definition_hash}});
  if (spec_.shards > 0)
    for (std::size_t i = 0; i < feeds_.size(); ++i)
      if (feeds_[i].changed)
        progress.statements.push_back(
          {upsert_shard_progress,
           {name(), static_cast<int64_t>(i), feeds_[i].position,
            feeds_[i].rebuild_position}});
  for (auto& f : feeds_)
    f.changed = false;
  rows.execute(std::move(progress));
}

void projection::committed(const std::vector<skipped_group>& skipped) {
  // Everything checkpointed is in the file now (a failed commit is tried
  // again with a later checkpoint before this runs).
  committed_ = staged_;
  droppable_.insert(droppable_.end(), staged_replaced_.begin(),
                    staged_replaced_.end());
  staged_replaced_.clear();
  for (const auto& s : skipped) {
    metrics_.skipped.inc();
    log::warning(log::scope{name()},
                 "the event at position {} was skipped: its statements "
                 "failed on the data ({})",
                 s.label, s.why);
  }
}

} // namespace warren::actors
