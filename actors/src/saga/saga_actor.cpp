#include "saga/saga_actor.hpp"

#include "options.hpp"
#include "saga/saga_codec.hpp"
#include "saga/saga_definition.hpp"
#include "saga/saga_sql.hpp"
#include "warren/actors/saga_records.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/config/reader.hpp"
#include "warren/core/envelope.hpp"
#include "warren/core/json_read.hpp"
#include "warren/core/log.hpp"
#include "warren/metrics/registry.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/serialize.hpp>

namespace warren::actors {

namespace {

constexpr const char* saga_id_header = "x-warren-saga-id";
constexpr const char* saga_step_header = "x-warren-saga-step";
constexpr const char* saga_key_header = "x-warren-saga-key";
constexpr int64_t prune_every_ms = 60000;

constexpr config::int_range durations{1, 365LL * 24 * 3600 * 1000};

status invalid(const std::string& why) {
  return status::fail(errc::validation_failed, why, true);
}

std::string text_of(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  const auto* s = v != nullptr ? v->if_string() : nullptr;
  return s != nullptr ? std::string{*s} : std::string{};
}

stored_definition store_form(saga_definition def) {
  stored_definition out;
  out.json = boost::json::serialize(encode_saga_definition(def));
  // Two definitions of the same steps are still two (metrics, listings).
  out.hash = content_hash(def.name + "\n" + out.json);
  out.definition = std::move(def);
  return out;
}

saga_settings read_settings(config::object_reader& o) {
  saga_settings s;
  o.allow({"definitions", "execute_saga", "lifecycle", "keep_finished_ms",
           "max_active", "timer_resolution_ms", "max_fires_per_tick",
           "max_result_bytes"});
  if (auto defs = o.object("definitions"))
    for (const auto& [name, value] : defs->json()) {
      auto path = defs->path_of(name);
      std::string key{name};
      if (key.empty() || key.size() > 128) {
        o.reader().fail(path, "expected a definition name of 1 to 128 bytes");
        break;
      }
      auto def_reader = o.reader().object(value, path);
      if (!def_reader)
        break;
      auto def = read_saga_definition(*def_reader, key);
      if (!def)
        break;
      s.definitions.emplace(
        key, std::make_shared<const stored_definition>(store_form(*def)));
    }
  if (auto seed = o.object("execute_saga")) {
    seed->allow({"routes"});
    if (auto routes = seed->object("routes"))
      for (const auto& [name, value] : routes->json())
        if (auto actor = o.reader().string(value, routes->path_of(name),
                                           config::text_rule::non_empty))
          s.routes.emplace(std::string{name}, *actor);
  }
  if (auto lifecycle = o.object("lifecycle")) {
    lifecycle->allow({"exchange", "events"});
    lifecycle->string("exchange", s.lifecycle_exchange,
                      config::text_rule::non_empty);
    if (const auto* events = lifecycle->array("events")) {
      s.lifecycle_events.clear();
      for (std::size_t i = 0; i < events->size(); ++i) {
        auto path =
          lifecycle->path_of("events") + "[" + std::to_string(i) + "]";
        auto name =
          o.reader().choice((*events)[i], path,
                            {"started", "step_completed", "step_failed",
                             "compensating", "step_compensated", "compensated",
                             "completed", "stuck", "resumed", "failed"});
        if (name)
          s.lifecycle_events.insert(std::string{(*events)[i].as_string()});
      }
    }
  }
  o.integer("keep_finished_ms", durations, s.keep_finished_ms);
  o.integer("max_active", {1, 10000000}, s.max_active);
  o.integer("timer_resolution_ms", {1, 60000}, s.timer_resolution_ms);
  o.integer("max_fires_per_tick", {1, 1000000}, s.max_fires_per_tick);
  o.integer("max_result_bytes", {0, 16 << 20}, s.max_result_bytes);
  return s;
}

// `<saga>/<step>/<a|c>/<n>`: the saga's id, or empty when `id` is not a
// send's id (step ids have no '/', saga ids may).
std::string saga_of_send(const std::string& id) {
  auto cut = id.size();
  for (int i = 0; i < 3; ++i) {
    if (cut == 0)
      return {};
    cut = id.rfind('/', cut - 1);
    if (cut == std::string::npos || cut == 0)
      return {};
  }
  return id.substr(0, cut);
}

// A participant's answer: a warren.error reply, or the seed's {"success":
// false, "error": ...}, is a failure; anything else a success.
saga_reply reply_of(const envelope& msg, std::size_t max_result_bytes) {
  saga_reply r;
  r.send_id = msg.properties.correlation_id;
  const auto* body = msg.body.if_object();
  if (msg.properties.type == "warren.error") {
    const auto* code = find_field(msg.properties.headers, header::error_code);
    const auto* error = body != nullptr ? body->if_contains("error") : nullptr;
    const auto* eo = error != nullptr ? error->if_object() : nullptr;
    r.code = code != nullptr && std::holds_alternative<std::string>(*code)
               ? std::get<std::string>(*code)
               : (eo != nullptr ? text_of(*eo, "code") : "");
    r.error = eo != nullptr ? text_of(*eo, "message") : "";
    if (r.code.empty())
      r.code = "remote_error";
    if (r.error.empty())
      r.error = "an error reply";
    return r;
  }
  const auto* success =
    body != nullptr ? body->if_contains("success") : nullptr;
  if (success != nullptr && success->is_bool() && !success->get_bool()) {
    r.code = text_of(*body, "code");
    if (r.code.empty())
      r.code = "refused";
    const auto* error = body->if_contains("error");
    r.error = error == nullptr     ? "refused"
              : error->is_string() ? std::string{error->get_string()}
                                   : boost::json::serialize(*error);
    return r;
  }
  r.ok = true;
  r.result = msg.body;
  if (max_result_bytes > 0 && msg.raw_body.size() > max_result_bytes)
    r.result =
      boost::json::object{{"truncated", true}, {"bytes", msg.raw_body.size()}};
  else if (max_result_bytes == 0)
    r.result = nullptr;
  return r;
}

std::optional<saga_status> status_named(std::string_view name) {
  for (auto st :
       {saga_status::pending, saga_status::running, saga_status::completed,
        saga_status::failed, saga_status::compensating,
        saga_status::compensated, saga_status::stuck})
    if (name == to_string(st))
      return st;
  return std::nullopt;
}

bool is_seed_start(const envelope& msg) {
  if (msg.properties.type == "execute_saga")
    return true;
  const auto* body = msg.body.if_object();
  return msg.properties.type.empty() && body != nullptr &&
         text_of(*body, "type") == "execute_saga";
}

} // namespace

struct saga_actor::saga {
  saga_instance inst;
  std::shared_ptr<const stored_definition> def;
  std::string data_json;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // Where it is in `timers_`, if there.
  std::optional<int64_t> armed_due;
  // Its state as restored, until something happens to it (then `inst`).
  std::string stored;
};

// Commands and events leave through the message's context, or, from a
// tick, through the tick's output.
class saga_actor::publisher {
 public:
  explicit publisher(context& ctx) : ctx_(&ctx) {}
  explicit publisher(operator_output& out) : out_(&out) {}

  void publish(const std::string& exchange, const std::string& key,
               std::string type, boost::json::value body,
               publish_options opts) {
    if (ctx_ != nullptr)
      ctx_->publish_json(exchange, key, std::move(type), std::move(body),
                         std::move(opts));
    else
      out_->publish_json(exchange, key, std::move(type), std::move(body),
                         std::move(opts));
  }

 private:
  context* ctx_ = nullptr;
  operator_output* out_ = nullptr;
};

struct saga_actor::metric_set {
  struct per_definition {
    metrics::counter started;
    metrics::counter completed;
    metrics::counter compensated;
    metrics::counter failed;
    metrics::counter stuck;
    metrics::counter retries;
    metrics::histogram step_seconds;
  };

  metrics::registry* reg = nullptr;
  metrics::labels who;
  std::map<std::string, per_definition> by_definition;
  std::map<saga_status, metrics::gauge> active;
  metrics::gauge stuck;
  metrics::gauge timers;
  metrics::counter late;
  metrics::histogram timer_lag;

  per_definition& of(const std::string& definition) {
    auto it = by_definition.find(definition);
    if (it != by_definition.end())
      return it->second;
    per_definition m;
    if (reg != nullptr) {
      auto labels = who;
      labels.emplace("saga", definition);
      auto counter = [&](const char* name, const char* help) {
        return reg->make_counter(name, help, labels);
      };
      m.started = counter("warren_saga_started_total", "Sagas started.");
      m.completed = counter("warren_saga_completed_total",
                            "Sagas whose steps all completed.");
      m.compensated =
        counter("warren_saga_compensated_total",
                "Sagas that failed and whose completed steps were undone.");
      m.failed = counter("warren_saga_failed_total",
                         "Sagas aborted by hand while stuck.");
      m.stuck =
        counter("warren_saga_stuck_total",
                "Times a saga got stuck: a compensation out of its budget.");
      m.retries = counter("warren_saga_step_retries_total",
                          "Commands of a saga sent again after a failure or "
                          "a timeout.");
      m.step_seconds = reg->make_histogram(
        "warren_saga_step_duration_seconds",
        "From a step's first command to its end (completed or failed for "
        "good).",
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
         30, 60, 300},
        labels, 1e3);
    }
    return by_definition.emplace(definition, m).first->second;
  }
};

saga_actor::saga_actor(const actor_init& init,
                       const std::vector<saga_definition>& code)
  : stream_operator(init), settings_(read_options(init, read_settings)),
    metrics_(std::make_unique<metric_set>()) {
  for (const auto& def : code)
    if (!settings_.definitions
           .emplace(def.name,
                    std::make_shared<const stored_definition>(store_form(def)))
           .second)
      throw std::invalid_argument(
        "actor '" + init.name + "': options.definitions." + def.name +
        ": a definition of this name is written in C++ for this kind");
  for (const auto& [name, def] : settings_.definitions)
    by_hash_.emplace(def->hash, def);
  auto* reg = init.metrics;
  if (reg == nullptr)
    return;
  metrics_->reg = reg;
  metrics_->who = {{"actor", init.metrics_name()}};
  for (auto status :
       {saga_status::running, saga_status::compensating, saga_status::stuck}) {
    auto labels = metrics_->who;
    labels.emplace("status", to_string(status));
    metrics_->active[status] = reg->make_gauge(
      "warren_saga_active", "Sagas not ended, by status.", labels);
  }
  metrics_->stuck = reg->make_gauge(
    "warren_saga_stuck",
    "Sagas stuck: a compensation ran out of its budget; resume or abort "
    "them by hand (warren saga resume|abort).",
    metrics_->who);
  metrics_->timers = reg->make_gauge(
    "warren_saga_timers_pending",
    "Timers of sagas waiting (a send's timeout or a backoff).", metrics_->who);
  metrics_->late = reg->make_counter(
    "warren_saga_late_replies_total",
    "Replies and timers a saga ignored: for a send it no longer waits for "
    "(after its timeout, a duplicate), or for a saga that has ended.",
    metrics_->who);
  metrics_->timer_lag = reg->make_histogram(
    "warren_saga_timer_lag_seconds",
    "How late saga timers fire (after their due time).",
    {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, metrics_->who,
    1e3);
}

saga_actor::~saga_actor() = default;

void saga_actor::check_options(config::object_reader& options) {
  read_settings(options);
}

caf::error saga_actor::open(operator_store& store) {
  store_ = &store;
  for (const char* sql : {saga_sql::create_sagas, saga_sql::create_by_status,
                          saga_sql::create_definitions})
    if (auto err = store.setup(sql))
      return err;
  return caf::none;
}

caf::expected<std::string> saga_actor::key_of(const envelope& msg) const {
  const auto& type = msg.properties.type;
  const auto* body = msg.body.if_object();
  if (type == "saga.start")
    return body != nullptr && body->contains("saga_id")
             ? text_of(*body, "saga_id")
             : msg.properties.message_id;
  if (is_seed_start(msg)) {
    const auto* saga = body != nullptr ? body->if_contains("saga") : nullptr;
    const auto* o = saga != nullptr ? saga->if_object() : nullptr;
    return o != nullptr ? text_of(*o, "saga_id") : std::string{};
  }
  if (!msg.properties.correlation_id.empty() && type.rfind("saga.", 0) != 0) {
    auto saga = saga_of_send(msg.properties.correlation_id);
    if (!saga.empty())
      return saga;
  }
  // saga.resume, saga.abort, saga.get; saga.list and anything else on any
  // shard (apply answers or refuses it there).
  return body != nullptr ? text_of(*body, "saga_id") : std::string{};
}

caf::error saga_actor::restore(operator_row_set) {
  // The sagas not ended, from their table (the rows are not used).
  auto err = store_->query(
    saga_sql::select_active_definitions, {name()}, [&](const sql_row& row) {
      std::string hash{row.text(0)};
      if (by_hash_.count(hash) > 0)
        return caf::error{};
      boost::json::error_code ec;
      auto json = read_json(row.text(2), ec);
      std::string why = ec ? ec.message() : "";
      auto def =
        ec ? std::nullopt
           : decode_saga_definition(std::string{row.text(1)}, json, why);
      if (!def)
        return make_error(errc::store_failed,
                          "saga definition " + hash + ": " + why);
      stored_definition stored;
      stored.definition = std::move(*def);
      stored.hash = hash;
      stored.json = std::string{row.text(2)};
      by_hash_.emplace(hash, std::make_shared<const stored_definition>(stored));
      return caf::error{};
    });
  if (err)
    return err;
  // Only what finds a saga and its timer is read now; each saga's state is
  // decoded when something happens to it (a restart with many sagas
  // waiting gets to its first due timer sooner).
  auto now = runtime::now_ms();
  err =
    store_->query(saga_sql::select_active, {name()}, [&](const sql_row& row) {
      std::string id{row.text(0)};
      // Another shard's, on a sharded actor (its owner runs its timers).
      if (!owns_key(id))
        return caf::error{};
      auto s = std::make_shared<saga>();
      auto def = by_hash_.find(std::string{row.text(1)});
      auto status = status_named(row.text(5));
      if (def == by_hash_.end() || !status)
        return make_error(
          errc::store_failed,
          "saga " + id + ": " +
            (status ? "its definition is missing"
                    : "unknown status '" + std::string{row.text(5)} + "'"));
      s->inst.saga_id = id;
      s->inst.status = *status;
      s->stored = std::string{row.text(3)};
      s->def = def->second;
      s->data_json = std::string{row.text(2)};
      s->created_ms = row.integer(4);
      s->updated_ms = now;
      if (!row.is_null(6)) {
        s->armed_due = row.integer(6);
        timers_.emplace(*s->armed_due, id);
      }
      stored_hashes_.insert(s->def->hash);
      count_status(s->inst.status, 1);
      active_.emplace(std::move(id), std::move(s));
      return caf::error{};
    });
  metrics_->timers.set(static_cast<double>(timers_.size()));
  if (err)
    return err;
  if (!active_.empty())
    log::info(log::scope{name()}, "{} sagas not ended, {} timers pending",
              active_.size(), timers_.size());
  return caf::none;
}

bool saga_actor::is_query(const envelope& msg) const {
  const auto& type = msg.properties.type;
  return type == "saga.get" || type == "saga.list";
}

status saga_actor::apply(context& ctx, const envelope& msg) {
  const auto& type = msg.properties.type;
  if (type == "saga.start")
    return start_named(ctx, msg);
  if (is_seed_start(msg))
    return start_seed(ctx, msg);
  if (type == "saga.resume" || type == "saga.abort")
    return control(ctx, msg, type == "saga.resume");
  if (type == "saga.get")
    return get(ctx, msg);
  if (type == "saga.list")
    return list(ctx, msg);
  if (!msg.properties.correlation_id.empty() &&
      !saga_of_send(msg.properties.correlation_id).empty())
    return reply(ctx, msg);
  return status::fail(errc::unknown_type,
                      "unknown message type '" + type +
                        "' and no saga command's correlation id (saga.start, "
                        "execute_saga, saga.resume, saga.abort, saga.get, "
                        "saga.list, or a reply to a saga's command)",
                      true);
}

status saga_actor::start_named(context& ctx, const envelope& msg) {
  const auto* body = msg.body.if_object();
  if (body == nullptr)
    return invalid("saga.start: expected an object {\"saga\", \"saga_id\"?, "
                   "\"data\"?}");
  auto name = text_of(*body, "saga");
  auto def = settings_.definitions.find(name);
  if (def == settings_.definitions.end()) {
    std::string known;
    for (const auto& [n, d] : settings_.definitions)
      known += (known.empty() ? "" : ", ") + n;
    return invalid("saga.start: $.saga: no saga definition named '" + name +
                   "' (this actor has: " + (known.empty() ? "none" : known) +
                   ")");
  }
  auto saga_id = body->contains("saga_id") ? text_of(*body, "saga_id")
                                           : msg.properties.message_id;
  std::string why;
  if (!valid_saga_id(saga_id, why))
    return invalid("saga.start: $.saga_id: " + why);
  const auto* data = body->if_contains("data");
  return start(ctx, msg, def->second, std::move(saga_id),
               data != nullptr ? *data : boost::json::object{});
}

status saga_actor::start_seed(context& ctx, const envelope& msg) {
  std::string why;
  auto seed = read_execute_saga(msg.body, settings_.routes, why);
  if (!seed)
    return invalid("execute_saga: " + why);
  // The steps are the definition; the rest of the message is its data.
  auto data = msg.body.at("saga").as_object();
  data.erase("steps");
  auto def = std::make_shared<const stored_definition>(
    store_form(std::move(seed->definition)));
  return start(ctx, msg, std::move(def), seed->saga_id, std::move(data));
}

caf::expected<std::string>
saga_actor::existing_status(const std::string& saga_id) {
  if (auto it = active_.find(saga_id); it != active_.end())
    return std::string{to_string(it->second->inst.status)};
  for (const auto* ended : {&ended_staged_, &ended_unconfirmed_})
    if (auto it = ended->find(saga_id); it != ended->end())
      return it->second;
  std::string found;
  auto err = store_->query(saga_sql::select_status, {name(), saga_id},
                           [&](const sql_row& row) {
                             found = std::string{row.text(0)};
                             return caf::error{};
                           });
  if (err)
    return err;
  return found;
}

status saga_actor::start(context& ctx, const envelope& msg,
                         std::shared_ptr<const stored_definition> def,
                         std::string saga_id, boost::json::value data) {
  auto existing = existing_status(saga_id);
  if (!existing)
    return status::fail(errc::store_failed, describe(existing.error()), false);
  auto answer = [&](const std::string& st, bool again) {
    if (!msg.properties.reply_to.empty())
      ctx.reply_json(boost::json::object{{"saga_id", saga_id},
                                         {"status", st},
                                         {"existing", again}},
                     "saga.accepted");
  };
  // The saga id is its identity: a copy of a start (a client that sent it
  // again with a new message id) starts nothing.
  if (!existing->empty()) {
    answer(*existing, true);
    return status::ok();
  }
  if (active_.size() >= settings_.max_active)
    return status::fail(errc::handler_failed,
                        "this saga actor runs " +
                          std::to_string(active_.size()) +
                          " sagas (max_active): the start waits",
                        false);
  auto now = runtime::now_ms();
  auto s = std::make_shared<saga>();
  s->def = remember(std::move(def));
  s->inst.saga_id = saga_id;
  s->data_json = boost::json::serialize(data);
  s->created_ms = now;
  auto effects = start_saga(s->def->definition, s->inst, now);
  publisher out{ctx};
  if (!finished(s->inst))
    active_.emplace(saga_id, s);
  metrics_->of(s->def->definition.name).started.inc();
  carry_out(out, s, effects, saga_status::pending, now);
  answer(to_string(s->inst.status), false);
  return status::ok();
}

std::shared_ptr<const stored_definition>
saga_actor::remember(std::shared_ptr<const stored_definition> def) {
  auto [it, added] = by_hash_.emplace(def->hash, def);
  if (stored_hashes_.insert(it->second->hash).second)
    new_definitions_.push_back(it->second);
  return it->second;
}

status saga_actor::reply(context& ctx, const envelope& msg) {
  auto id = saga_of_send(msg.properties.correlation_id);
  auto it = active_.find(id);
  if (it == active_.end()) {
    // A saga that ended (or never was): nothing waits for it.
    metrics_->late.inc();
    return status::ok();
  }
  auto s = it->second;
  if (!decoded(*s))
    return status::fail(errc::store_failed,
                        "saga " + id + ": its stored state cannot be read",
                        true);
  auto before = s->inst.status;
  auto now = runtime::now_ms();
  // Branches see what the saga started with.
  boost::json::value data;
  if (!s->def->definition.branches.empty()) {
    boost::json::error_code ec;
    data = read_json(s->data_json, ec);
  }
  auto effects =
    on_reply(s->def->definition, s->inst,
             reply_of(msg, settings_.max_result_bytes), now, &data);
  if (effects.ignored) {
    metrics_->late.inc();
    return status::ok();
  }
  publisher out{ctx};
  carry_out(out, s, effects, before, now);
  return status::ok();
}

status saga_actor::control(context& ctx, const envelope& msg, bool resume) {
  const auto* body = msg.body.if_object();
  auto saga_id = body != nullptr ? text_of(*body, "saga_id") : "";
  if (saga_id.empty())
    return invalid(msg.properties.type + ": expected {\"saga_id\"}");
  auto it = active_.find(saga_id);
  if (it == active_.end()) {
    auto existing = existing_status(saga_id);
    if (!existing)
      return status::fail(errc::store_failed, describe(existing.error()),
                          false);
    if (existing->empty())
      ctx.reply_error("not_found", "no saga " + saga_id,
                      {{"saga_id", saga_id}});
    else
      ctx.reply_error(resume ? "not_stuck" : "not_abortable",
                      "saga " + saga_id + " has ended " + *existing,
                      {{"saga_id", saga_id}, {"status", *existing}});
    return status::ok();
  }
  auto s = it->second;
  if (!decoded(*s))
    return status::fail(errc::store_failed,
                        "saga " + saga_id + ": its stored state cannot be read",
                        true);
  auto before = s->inst.status;
  auto now = runtime::now_ms();
  auto reason = body->contains("reason") ? text_of(*body, "reason")
                                         : std::string{"by hand"};
  auto effects = resume ? resume_saga(s->def->definition, s->inst, now)
                        : abort_saga(s->def->definition, s->inst, reason, now);
  if (effects.ignored) {
    ctx.reply_error(resume ? "not_stuck" : "not_abortable",
                    "saga " + saga_id + " is " + to_string(before) +
                      (resume ? ": only a stuck saga is resumed"
                              : ": only a running or stuck saga is aborted"),
                    {{"saga_id", saga_id}, {"status", to_string(before)}});
    return status::ok();
  }
  publisher out{ctx};
  carry_out(out, s, effects, before, now);
  ctx.reply_json(boost::json::object{{"saga_id", saga_id},
                                     {"status", to_string(s->inst.status)}},
                 "saga.status");
  return status::ok();
}

status saga_actor::get(context& ctx, const envelope& msg) {
  const auto* body = msg.body.if_object();
  auto saga_id = body != nullptr ? text_of(*body, "saga_id") : "";
  if (saga_id.empty())
    return invalid("saga.get: expected {\"saga_id\"}");
  auto reader = [this](const std::string& sql,
                       const std::vector<sql_value>& params,
                       const sql_row_handler& on_row) {
    return store_->query(sql, params, on_row);
  };
  auto found = find_saga(reader, name(), saga_id);
  if (!found)
    return status::fail(errc::store_failed, describe(found.error()), false);
  if (!*found)
    ctx.reply_error("not_found", "no saga " + saga_id, {{"saga_id", saga_id}});
  else
    ctx.reply_json(describe_saga(**found), "saga.status");
  return status::ok();
}

status saga_actor::list(context& ctx, const envelope& msg) {
  const auto* body = msg.body.if_object();
  std::string filter = body != nullptr ? text_of(*body, "status") : "";
  int64_t limit = 100;
  if (body != nullptr)
    if (const auto* l = body->if_contains("limit"))
      if (const auto* n = l->if_int64(); n != nullptr && *n > 0)
        limit = std::min<int64_t>(*n, 10000);
  auto reader = [this](const std::string& sql,
                       const std::vector<sql_value>& params,
                       const sql_row_handler& on_row) {
    return store_->query(sql, params, on_row);
  };
  auto found = list_sagas(reader, name(), filter, limit);
  if (!found)
    return status::fail(errc::store_failed, describe(found.error()), false);
  boost::json::array sagas;
  for (const auto& r : *found)
    sagas.push_back(describe_saga(r));
  ctx.reply_json(boost::json::object{{"sagas", std::move(sagas)}}, "saga.list");
  return status::ok();
}

void saga_actor::carry_out(publisher& out, const std::shared_ptr<saga>& s,
                           const saga_effects& effects, saga_status before,
                           int64_t now_ms) {
  const auto& def = s->def->definition;
  auto& m = metrics_->of(def.name);
  for (const auto& cmd : effects.commands) {
    publish_options opts;
    opts.message_id = cmd.id;
    opts.correlation_id = cmd.id;
    opts.reply_to = init().queue;
    set_field(opts.headers, saga_id_header, s->inst.saga_id);
    set_field(opts.headers, saga_step_header, cmd.step);
    set_field(opts.headers, saga_key_header, cmd.key);
    const auto& call = *cmd.call;
    boost::json::value body = call.body;
    if (body.is_null()) {
      boost::json::error_code ec;
      body = read_json(s->data_json, ec);
    }
    out.publish(bridges::actors_exchange, call.actor, call.type,
                std::move(body), std::move(opts));
    // Sends after a step's first (`.../<n>`, n > 1).
    if (cmd.id.compare(cmd.id.rfind('/') + 1, std::string::npos, "1") != 0)
      m.retries.inc();
  }
  for (const auto& ev : effects.events) {
    if (ev.name == "completed")
      m.completed.inc();
    else if (ev.name == "compensated")
      m.compensated.inc();
    else if (ev.name == "failed")
      m.failed.inc();
    else if (ev.name == "stuck")
      m.stuck.inc();
    if (settings_.lifecycle_exchange.empty() ||
        (!settings_.lifecycle_events.empty() &&
         settings_.lifecycle_events.count(ev.name) == 0))
      continue;
    boost::json::object body{{"saga_id", s->inst.saga_id},
                             {"definition", def.name},
                             {"event", ev.name},
                             {"status", to_string(s->inst.status)},
                             {"at_ms", now_ms}};
    if (!ev.step.empty())
      body["step"] = ev.step;
    if (!ev.error.empty())
      body["error"] = ev.error;
    if (ev.name == "step_failed")
      body["retrying"] = ev.retrying;
    publish_options opts;
    opts.message_id = ev.id;
    // Nobody need be listening.
    opts.mandatory = false;
    set_field(opts.headers, saga_id_header, s->inst.saga_id);
    out.publish(settings_.lifecycle_exchange, def.name + "." + ev.name,
                "saga." + ev.name, std::move(body), std::move(opts));
  }
  // Steps that ended in this decision.
  for (std::size_t i = 0; i < s->inst.steps.size(); ++i) {
    const auto& step = s->inst.steps[i];
    if (step.ended_ms == now_ms && step.started_ms > 0 &&
        (step.status == step_status::completed ||
         step.status == step_status::failed))
      m.step_seconds.observe(static_cast<double>(now_ms - step.started_ms));
  }
  if (before != s->inst.status) {
    count_status(before, -1);
    count_status(s->inst.status, 1);
  }
  s->updated_ms = now_ms;
  sync_timer(*s);
  dirty_[s->inst.saga_id] = s;
  if (finished(s->inst)) {
    active_.erase(s->inst.saga_id);
    ended_staged_[s->inst.saga_id] = to_string(s->inst.status);
  }
}

bool saga_actor::decoded(saga& s) {
  if (s.stored.empty())
    return true;
  boost::json::error_code ec;
  auto json = read_json(s.stored, ec);
  std::string why = ec ? ec.message() : "";
  auto inst = ec ? std::nullopt : decode_instance(json, why);
  if (!inst) {
    log::error(log::scope{name()},
               "saga {}: its stored state cannot be read "
               "({}); it is left as it is",
               s.inst.saga_id, why);
    return false;
  }
  s.inst = std::move(*inst);
  s.stored.clear();
  return true;
}

void saga_actor::sync_timer(saga& s) {
  std::optional<int64_t> due;
  if (auto timer = next_timer(s.inst))
    due = timer->due_ms;
  if (due == s.armed_due)
    return;
  if (s.armed_due)
    timers_.erase({*s.armed_due, s.inst.saga_id});
  if (due)
    timers_.emplace(*due, s.inst.saga_id);
  s.armed_due = due;
  metrics_->timers.set(static_cast<double>(timers_.size()));
}

void saga_actor::count_status(saga_status status, int delta) {
  auto& n = counts_[status];
  n += delta;
  auto it = metrics_->active.find(status);
  if (it != metrics_->active.end())
    it->second.set(static_cast<double>(n));
  if (status == saga_status::stuck)
    metrics_->stuck.set(static_cast<double>(n));
}

std::chrono::milliseconds saga_actor::tick_interval() const {
  return std::chrono::milliseconds{settings_.timer_resolution_ms};
}

void saga_actor::tick(operator_output& output, int64_t now_ms) {
  publisher out{output};
  std::size_t fired = 0;
  while (!timers_.empty() && timers_.begin()->first <= now_ms &&
         fired < settings_.max_fires_per_tick) {
    // The saga's first timer: it is out of the set until the decision
    // puts back the saga's next one.
    auto [due, saga_id] = *timers_.begin();
    timers_.erase(timers_.begin());
    ++fired;
    auto it = active_.find(saga_id);
    if (it == active_.end())
      continue;
    auto s = it->second;
    s->armed_due.reset();
    if (!decoded(*s))
      continue;
    auto timer = next_timer(s->inst);
    if (!timer || timer->due_ms > now_ms) {
      sync_timer(*s);
      continue;
    }
    metrics_->timer_lag.observe(static_cast<double>(now_ms - timer->due_ms));
    auto before = s->inst.status;
    auto effects = on_timer(s->def->definition, s->inst, timer->id, now_ms);
    if (effects.ignored) {
      sync_timer(*s);
      continue;
    }
    carry_out(out, s, effects, before, now_ms);
  }
  metrics_->timers.set(static_cast<double>(timers_.size()));
  if (now_ms >= next_prune_ms_) {
    next_prune_ms_ = now_ms + prune_every_ms;
    pending_.statements.push_back(
      {saga_sql::prune_finished,
       {name(), now_ms - settings_.keep_finished_ms}});
    pending_.statements.push_back({saga_sql::prune_definitions, {name()}});
  }
}

void saga_actor::checkpoint(operator_rows& rows) {
  if (dirty_.empty() && new_definitions_.empty() && pending_.statements.empty())
    return;
  sql_group group;
  for (const auto& def : new_definitions_)
    group.statements.push_back(
      {saga_sql::insert_definition,
       {name(), def->hash, def->definition.name, def->json}});
  new_definitions_.clear();
  for (const auto& [id, s] : dirty_) {
    // The first due: where a restart puts the saga in the timer set.
    sql_value due;
    if (auto timer = next_timer(s->inst))
      due = timer->due_ms;
    group.statements.push_back(
      {saga_sql::upsert_saga,
       {name(), id, s->def->definition.name, s->def->hash,
        std::string{to_string(s->inst.status)}, s->data_json,
        boost::json::serialize(encode_instance(s->inst)), s->created_ms,
        s->updated_ms, due}});
  }
  dirty_.clear();
  // Pruning last: a definition the sagas above refer to stays.
  bool pruned = false;
  for (auto& st : pending_.statements) {
    pruned = pruned || st.sql == saga_sql::prune_definitions;
    group.statements.push_back(std::move(st));
  }
  pending_ = {};
  if (pruned) {
    // A definition pruned is written again by the next saga that uses it.
    stored_hashes_.clear();
    for (const auto& [id, s] : active_)
      stored_hashes_.insert(s->def->hash);
  }
  for (auto& [id, st] : ended_staged_)
    ended_unconfirmed_[id] = std::move(st);
  ended_staged_.clear();
  // Strict: nothing here can fail on the data, only the file can.
  rows.execute(std::move(group));
}

void saga_actor::committed(const std::vector<skipped_group>&) {
  ended_unconfirmed_.clear();
  // Definitions no saga uses any more (seed sagas bring their own).
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    auto configured = settings_.definitions.find(it->second->definition.name);
    if (it->second.use_count() == 1 &&
        (configured == settings_.definitions.end() ||
         configured->second != it->second))
      it = by_hash_.erase(it);
    else
      ++it;
  }
}

} // namespace warren::actors
