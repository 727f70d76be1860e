#include "pipeline/enricher.hpp"

#include "options.hpp"
#include "warren/metrics/registry.hpp"

#include <boost/json/serialize.hpp>

namespace warren::actors {

namespace json = boost::json;

// -- options ------------------------------------------------------------------

namespace {

using spec_format = table_source_spec::file_format;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<field_path> read_path(config::object_reader& obj,
                                    std::string_view key) {
  std::string text;
  if (!obj.string(key, text, config::text_rule::non_empty))
    return std::nullopt;
  auto path = field_path::parse(text);
  if (!path)
    obj.reader().fail(obj.path_of(key),
                      "expected a dotted field path such as \"device_id\" or "
                      "\"location.city\", found \"" +
                        text + "\"");
  return path;
}

// `path` as a value found at `where`, or an error there.
std::optional<field_path> parse_path_at(config::config_reader& reader,
                                        const std::string& where,
                                        std::string_view text) {
  auto path = field_path::parse(text);
  if (!path)
    reader.fail(where, "expected a dotted field path such as \"device_id\" "
                       "or \"location.city\", found \"" +
                         std::string{text} + "\"");
  return path;
}

std::optional<table_source_spec> read_table(config::object_reader& table) {
  table.allow({"path", "format", "key_column", "sqlite_table", "query",
               "reload_check_ms", "if_missing", "max_rows", "max_bytes",
               "csv_numbers"});
  table_source_spec spec;
  if (table.require("path"))
    table.string("path", spec.path, config::text_rule::non_empty);
  if (auto f = table.choice("format", {"json", "csv", "sqlite"})) {
    spec.format = static_cast<spec_format>(*f);
  } else if (table.find("format") == nullptr && !spec.path.empty()) {
    if (ends_with(spec.path, ".json"))
      spec.format = spec_format::json;
    else if (ends_with(spec.path, ".csv"))
      spec.format = spec_format::csv;
    else if (ends_with(spec.path, ".db") || ends_with(spec.path, ".sqlite") ||
             ends_with(spec.path, ".sqlite3"))
      spec.format = spec_format::sqlite;
    else
      table.reader().fail(table.path_of("format"),
                          "required key is missing (the path \"" + spec.path +
                            "\" ends in none of .json, .csv, .db, .sqlite, "
                            ".sqlite3): one of \"json\", \"csv\", \"sqlite\"");
  }
  table.string("key_column", spec.shape.key_column,
               config::text_rule::non_empty);
  if (spec.format == spec_format::json && table.reader().ok())
    parse_path_at(table.reader(), table.path_of("key_column"),
                  spec.shape.key_column);
  bool by_name = table.find("sqlite_table") != nullptr;
  bool by_query = table.find("query") != nullptr;
  if (spec.format == spec_format::sqlite) {
    if (by_name == by_query)
      table.reader().fail(table.path(),
                          "a sqlite table needs exactly one of "
                          "\"sqlite_table\" (a table name) and \"query\" (a "
                          "SELECT statement)");
    table.string("sqlite_table", spec.select.table,
                 config::text_rule::non_empty);
    table.string("query", spec.select.query, config::text_rule::non_empty);
  } else if (by_name || by_query) {
    table.reader().fail(table.path_of(by_name ? "sqlite_table" : "query"),
                        "only a sqlite table takes this key");
  }
  if (table.find("csv_numbers") != nullptr && spec.format != spec_format::csv)
    table.reader().fail(table.path_of("csv_numbers"),
                        "only a csv table takes this key");
  table.boolean("csv_numbers", spec.shape.csv_numbers);
  table.millis("reload_check_ms", {0, 86'400'000}, spec.reload_check);
  if (auto m = table.choice("if_missing", {"fail", "empty"}))
    spec.empty_if_missing = *m == 1;
  table.integer("max_rows", {1, 100'000'000}, spec.shape.max_rows);
  table.integer("max_bytes", {1, int64_t{4} << 30}, spec.max_bytes);
  return spec;
}

std::optional<enricher_options::service_spec>
read_service(config::object_reader& service) {
  service.allow({"actor", "type", "request_field", "timeout_ms", "on_error"});
  enricher_options::service_spec spec;
  if (service.require("actor"))
    service.string("actor", spec.actor, config::text_rule::non_empty);
  service.string("type", spec.type, config::text_rule::non_empty);
  service.string("request_field", spec.request_field,
                 config::text_rule::non_empty);
  service.millis("timeout_ms", {1, 3'600'000}, spec.timeout);
  if (auto e = service.choice("on_error", {"retry", "miss", "dead_letter"}))
    spec.on_error = static_cast<enricher_options::error_policy>(*e);
  return spec;
}

} // namespace

std::optional<enricher_options>
enricher_options::read(config::object_reader& options) {
  options.allow({"key_field", "key", "table", "service", "cache", "fields",
                 "into", "on_miss", "defaults", "miss_flag", "output"});
  enricher_options result;
  auto& reader = options.reader();

  // The key.
  bool has_field = options.find("key_field") != nullptr;
  bool has_template = options.find("key") != nullptr;
  if (has_field == has_template)
    reader.fail(options.path(),
                "expected exactly one of \"key_field\" (a dotted path) and "
                "\"key\" (a template such as \"{site}-{device}\")");
  if (has_field)
    result.key_field = read_path(options, "key_field");
  std::string key_text;
  if (options.string("key", key_text, config::text_rule::non_empty)) {
    std::string why;
    result.key = key_template::parse(key_text, why);
    if (!result.key)
      reader.fail(options.path_of("key"), why);
  }

  // The source.
  bool has_table = options.find("table") != nullptr;
  bool has_service = options.find("service") != nullptr;
  if (has_table == has_service)
    reader.fail(options.path(), "expected exactly one of \"table\" (a JSON, "
                                "CSV or SQLite file) and \"service\"");
  if (auto table = options.object("table"))
    result.table = read_table(*table);
  if (auto service = options.object("service"))
    result.service = read_service(*service);
  if (auto cache = options.object("cache")) {
    if (!has_service)
      reader.fail(options.path_of("cache"),
                  "only a \"service\" source is cached (a table is in "
                  "memory already)");
    cache->allow({"max_entries", "ttl_ms", "negative_ttl_ms"});
    cache->integer("max_entries", {0, 10'000'000}, result.cache.max_entries);
    cache->millis("ttl_ms", {1, 86'400'000}, result.cache.ttl);
    cache->millis("negative_ttl_ms", {0, 86'400'000},
                  result.cache.negative_ttl);
  }

  // What is added.
  bool has_fields = options.find("fields") != nullptr;
  bool has_into = options.find("into") != nullptr;
  if (has_fields == has_into)
    reader.fail(options.path(),
                "expected exactly one of \"fields\" (output path -> record "
                "path) and \"into\" (the path that gets the whole record)");
  if (auto fields = options.object("fields")) {
    if (fields->json().empty())
      reader.fail(fields->path(), "expected at least one field");
    for (const auto& member : fields->json()) {
      std::string_view out{member.key().data(), member.key().size()};
      auto out_path =
        parse_path_at(reader, fields->path_of(out), std::string{out});
      auto source = reader.string(member.value(), fields->path_of(out),
                                  config::text_rule::non_empty);
      if (!out_path || !source)
        break;
      auto source_path = parse_path_at(reader, fields->path_of(out), *source);
      if (!source_path)
        break;
      result.fields.emplace_back(std::move(*out_path), std::move(*source_path));
    }
  }
  if (has_into)
    result.into = read_path(options, "into");

  // A miss.
  if (auto m = options.choice("on_miss", {"pass", "default", "dead_letter"}))
    result.on_miss = static_cast<miss_policy>(*m);
  if (const auto* defaults = options.find("defaults")) {
    if (result.on_miss != miss_policy::use_defaults)
      reader.fail(options.path_of("defaults"),
                  "only on_miss \"default\" uses defaults");
    else if (!defaults->is_object())
      reader.fail_expected(options.path_of("defaults"),
                           "an object (the record used on a miss)", *defaults);
    else
      result.defaults = *defaults;
  } else if (result.on_miss == miss_policy::use_defaults) {
    options.require("defaults");
  }
  if (options.find("miss_flag") != nullptr) {
    if (result.on_miss == miss_policy::dead_letter)
      reader.fail(options.path_of("miss_flag"),
                  "a miss is dead-lettered (on_miss \"dead_letter\"): there "
                  "is nothing to flag");
    result.miss_flag = read_path(options, "miss_flag");
  }

  if (auto output = stage_output::read(options, "output"))
    result.output = std::move(*output);
  if (!reader.ok())
    return std::nullopt;
  return result;
}

void enricher::check_options(config::object_reader& options) {
  enricher_options::read(options);
}

// -- the actor ----------------------------------------------------------------

namespace {

// A call error as "<code>: <sentence>", so a reason says whether the
// service timed out, answered with an error, or does not exist.
std::string describe_call_error(const caf::error& err) {
  return std::string{to_string(code_of(err))} + ": " + describe(err);
}

} // namespace

enricher::enricher(const actor_init& init)
  : actor(init),
    options_(*read_options(init, [](config::object_reader& options) {
      return enricher_options::read(options);
    })) {
  auto* reg = init.metrics;
  metrics::labels labels{{"actor", init.name}};
  auto lookups = [&](const char* source) {
    if (reg == nullptr)
      return;
    auto counter = [&](const char* result) {
      auto with = labels;
      with["source"] = source;
      with["result"] = result;
      return reg->make_counter("warren_enricher_lookups_total",
                               "Enricher lookups by source and result", with);
    };
    lookups_.hit = counter("hit");
    lookups_.miss = counter("miss");
    lookups_.error = counter("error");
  };
  if (options_.table) {
    // A relative path is relative to the config file, as the config's own.
    auto& path = options_.table->path;
    if (!path.empty() && path.front() != '/' && !init.config_dir.empty())
      path = init.config_dir + "/" + path;
    source_name_ = options_.table->describe();
    lookups("table");
    table_.emplace(table_watcher::open(init.name, *options_.table, reg));
    return;
  }
  source_name_ = "service '" + options_.service->actor + "'";
  lookups("service");
  cache_.emplace(options_.cache);
  if (reg != nullptr) {
    cache_hits_ =
      reg->make_counter("warren_enricher_cache_hits_total",
                        "Service lookups answered by the cache", labels);
    cache_misses_ = reg->make_counter(
      "warren_enricher_cache_misses_total",
      "Service lookups the cache could not answer (the service was called)",
      labels);
    cache_evictions_ = reg->make_counter(
      "warren_enricher_cache_evictions_total",
      "Cache entries dropped to make room (max_entries)", labels);
    cache_entries_ = reg->make_gauge(
      "warren_enricher_cache_entries",
      "Entries in the lookup caches of the actor's instances", labels);
  }
}

enricher::~enricher() {
  // The gauge sums the instances: take this one's entries out.
  if (cache_)
    cache_entries_.add(-static_cast<double>(cache_->size()));
}

void enricher::setup(handlers& on) {
  on.otherwise([this](context& ctx, const json::value& body) {
    return on_message(ctx, body);
  });
}

status enricher::on_message(context& ctx, const json::value& body) {
  const json::value* raw_key = nullptr;
  if (options_.key_field) {
    raw_key = options_.key_field->find(body);
    if (raw_key == nullptr)
      return status::fail(
        errc::validation_failed,
        "the key field '" + options_.key_field->text() + "' is missing", true);
    if (!render_key(*raw_key, key_))
      return status::fail(
        errc::validation_failed,
        "the key field '" + options_.key_field->text() + "' is " +
          (raw_key->is_null() ? "null" : "not a string, number or boolean"),
        true);
  } else {
    std::string why;
    if (!options_.key->render(body, key_, why,
                              std::numeric_limits<std::size_t>::max()))
      return status::fail(
        errc::validation_failed,
        "cannot make the key '" + options_.key->text() + "': " + why, true);
  }
  return table_ ? from_table(ctx, body) : from_service(ctx, body, raw_key);
}

status enricher::from_table(context& ctx, const json::value& body) {
  const auto* record = table_->current().find(key_);
  (record != nullptr ? lookups_.hit : lookups_.miss).inc();
  return finish(ctx, body, record, key_);
}

status enricher::from_service(context& ctx, const json::value& body,
                              const json::value* raw_key) {
  auto before = cache_->size();
  const auto* cached = cache_->find(key_, lookup_cache::clock::now());
  cache_entries_.add(static_cast<double>(cache_->size()) -
                     static_cast<double>(before));
  if (cached != nullptr) {
    cache_hits_.inc();
    (cached->found ? lookups_.hit : lookups_.miss).inc();
    return finish(ctx, body, cached->found ? &cached->record : nullptr, key_);
  }
  cache_misses_.inc();
  const auto& service = *options_.service;
  json::object request;
  request[service.request_field] =
    raw_key != nullptr ? *raw_key : json::value(key_);
  ctx.call_json(
    service.actor, service.type, std::move(request),
    [this, key = key_](context& c, call_result reply) {
      on_reply(c, key, std::move(reply));
    },
    service.timeout);
  return status::ok();
}

void enricher::on_reply(context& ctx, const std::string& key,
                        call_result reply) {
  const auto& body = ctx.message().body;
  const auto& service = *options_.service;
  std::string problem;
  if (!reply)
    problem = describe_call_error(reply.error());
  else if (!reply->is_object() && !reply->is_null())
    problem = "the reply is a " + std::string{json::to_string(reply->kind())} +
              " (expected an object, the record, or null, no record)";
  if (problem.empty()) {
    if (reply->is_null()) {
      lookups_.miss.inc();
      cache_put(key, std::nullopt);
      if (auto s = finish(ctx, body, nullptr, key); !s.is_ok())
        ctx.fail(std::move(s));
      return;
    }
    lookups_.hit.inc();
    auto s = finish(ctx, body, &*reply, key);
    cache_put(key, std::move(*reply));
    if (!s.is_ok())
      ctx.fail(std::move(s));
    return;
  }
  lookups_.error.inc();
  auto reason =
    "looking up key '" + key + "' at " + source_name_ + " failed: " + problem;
  switch (service.on_error) {
    case enricher_options::error_policy::retry: {
      auto code = reply ? errc::handler_failed : code_of(reply.error());
      if (code == errc::none)
        code = errc::handler_failed;
      ctx.fail(status::fail(code, std::move(reason), false));
      return;
    }
    case enricher_options::error_policy::dead_letter:
      ctx.fail(status::fail(errc::handler_failed, std::move(reason), true));
      return;
    case enricher_options::error_policy::miss:
      if (auto s = finish(ctx, body, nullptr, key, reason); !s.is_ok())
        ctx.fail(std::move(s));
      return;
  }
}

void enricher::cache_put(const std::string& key,
                         std::optional<json::value> record) {
  auto before = cache_->size();
  cache_evictions_.inc(static_cast<double>(
    cache_->put(key, std::move(record), lookup_cache::clock::now())));
  cache_entries_.add(static_cast<double>(cache_->size()) -
                     static_cast<double>(before));
}

status enricher::finish(context& ctx, const json::value& body,
                        const json::value* record, const std::string& key,
                        const std::string& lookup_error) {
  if (record == nullptr &&
      options_.on_miss == enricher_options::miss_policy::dead_letter)
    return status::fail(errc::handler_failed,
                        lookup_error.empty()
                          ? "no record for key '" + key + "' in " + source_name_
                          : lookup_error + " (on_error \"miss\")",
                        true);
  json::value out = body;
  if (record != nullptr) {
    if (auto s = apply(out, *record); !s.is_ok())
      return s;
  } else {
    if (options_.on_miss == enricher_options::miss_policy::use_defaults)
      if (auto s = apply(out, options_.defaults); !s.is_ok())
        return s;
    if (options_.miss_flag) {
      auto* flag = options_.miss_flag->make(out);
      if (flag == nullptr)
        return status::fail(errc::validation_failed,
                            "cannot set the miss flag '" +
                              options_.miss_flag->text() +
                              "': the body is not an object or a value "
                              "that is not an object is on its way",
                            true);
      *flag = true;
    }
  }
  return options_.output.emit(ctx, std::move(out));
}

status enricher::apply(json::value& body, const json::value& record) const {
  auto set = [&](const field_path& path, const json::value& value) {
    auto* slot = path.make(body);
    if (slot == nullptr)
      return status::fail(errc::validation_failed,
                          "cannot set '" + path.text() +
                            "': the body is not an object or a value that "
                            "is not an object is on its way",
                          true);
    *slot = value;
    return status::ok();
  };
  if (options_.into)
    return set(*options_.into, record);
  for (const auto& [out, source] : options_.fields) {
    const auto* value = source.find(record);
    if (value == nullptr)
      continue; // The record has no such column: the field is left out.
    if (auto s = set(out, *value); !s.is_ok())
      return s;
  }
  return status::ok();
}

} // namespace warren::actors
