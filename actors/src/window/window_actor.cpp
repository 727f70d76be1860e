#include "window/window_actor.hpp"

#include "options.hpp"
#include "warren/core/log.hpp"
#include "warren/metrics/registry.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace warren::actors {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::string row_name(uint64_t n) {
  char name[32];
  std::snprintf(name, sizeof name, "e/%016llu",
                static_cast<unsigned long long>(n));
  return name;
}

} // namespace

window_actor::window_actor(const actor_init& init)
  : stream_operator(init),
    settings_(read_options(init,
                           [](config::object_reader& o) {
                             auto s = read_window_settings(o);
                             return s ? std::move(*s) : window_settings{};
                           })),
    kernel_(settings_.spec), log_(settings_.fields.size()),
    values_(settings_.fields.size()) {
  if (auto* reg = init.metrics) {
    metrics::labels who{{"actor", init.metrics_name()}};
    metrics_.events = reg->make_counter("warren_window_events_total",
                                        "Events a window actor accepted.", who);
    metrics_.late = reg->make_counter(
      "warren_window_late_events_total",
      "Events later than the allowed lateness, sent to the late output (or "
      "dead-lettered).",
      who);
    metrics_.results = reg->make_counter(
      "warren_window_results_total", "Window results published (first).", who);
    metrics_.updates = reg->make_counter(
      "warren_window_updates_total",
      "Updated window results published for late events within the allowed "
      "lateness.",
      who);
    metrics_.open_windows = reg->make_gauge("warren_window_open_windows",
                                            "Windows holding state.", who);
    metrics_.values = reg->make_gauge(
      "warren_window_values", "Raw values held for exact percentiles.", who);
    metrics_.keys =
      reg->make_gauge("warren_window_keys", "Keys holding windows.", who);
    metrics_.watermark_lag = reg->make_gauge(
      "warren_window_watermark_lag_seconds",
      "Processing time now minus the watermark (event time).", who);
    metrics_.output_lag = reg->make_gauge(
      "warren_window_output_lag_seconds",
      "At the last result: processing time minus the end of its window.", who);
    metrics_.held = reg->make_gauge(
      "warren_window_memory_full",
      "1 while the actor takes no deliveries, at its memory bound.", who);
  }
  // A routing key template must render from every result.
  window_result sample;
  sample.key_name = "[\"k\"]";
  std::vector<window_field_result> fields(settings_.fields.size());
  sample.fields = fields.data();
  sample.field_count = fields.size();
  auto body = codec_.result_body(sample);
  stage_output::target where;
  std::string why;
  if (!settings_.output.resolve(body, where, why))
    throw std::invalid_argument("window actor '" + init.name +
                                "': options.output: " + why +
                                " (a result has key, start, end, revision, "
                                "update, count and fields)");
}

void window_actor::check_options(config::object_reader& options) {
  read_window_settings(options);
}

caf::expected<std::string> window_actor::key_of(const envelope& msg) const {
  std::string key;
  std::string why;
  if (!codec_.read_key(msg.body, key, why))
    return make_error(errc::validation_failed, why);
  return key;
}

caf::error window_actor::restore(operator_row_set rows) {
  auto failed = [&](const std::string& what) {
    return make_error(errc::store_failed,
                      "window actor '" + name() + "': " + what);
  };
  for (const auto& [name, data] : rows) {
    if (name != "m")
      continue;
    boost::json::error_code ec;
    auto meta = boost::json::parse(data, ec);
    if (ec || !meta.is_object() || !meta.as_object().contains("kernel"))
      return failed("its state row cannot be read");
    if (auto why = kernel_.import_state(meta.at("kernel")))
      return failed("its state row does not fit this config (" + *why +
                    "); a changed window spec needs a new actor name");
    if (const auto* next = meta.as_object().if_contains("next_row"))
      next_row_ = next->to_number<uint64_t>();
  }
  for (const auto& [name, data] : rows) {
    if (name.rfind("e/", 0) != 0)
      continue;
    auto max_time = std::numeric_limits<int64_t>::min();
    auto why = read_event_log(
      data, settings_.fields.size(),
      [&](std::string_view key, int64_t time, const double* values) {
        kernel_.replay(kernel_.intern(key), time, values);
        max_time = std::max(max_time, time);
      });
    if (why)
      return failed("event log row " + name + ": " + *why);
    log_rows_.emplace(max_time, name);
    next_row_ = std::max<uint64_t>(next_row_, std::stoull(name.substr(2)) + 1);
  }
  return caf::none;
}

// A result, published through a message's context (results a message
// made due) or a tick's output (results the idle timeout made due).
template<class Sink>
void window_actor::publish_result(Sink& sink, const window_result& r,
                                  int64_t now_ms) {
  auto body = codec_.result_body(r);
  stage_output::target where;
  std::string bad;
  // The constructor checked that every result renders.
  settings_.output.resolve(body, where, bad);
  publish_options opts;
  opts.message_id = window_codec::result_id(r, name());
  sink.publish_json(where.exchange, where.routing_key, settings_.result_type,
                    std::move(body), std::move(opts));
  (r.is_update ? metrics_.updates : metrics_.results).inc();
  metrics_.output_lag.set(static_cast<double>(now_ms - r.end) / 1000.0);
}

status window_actor::apply(context& ctx, const envelope& msg) {
  auto now = wall_ms();
  int64_t time = 0;
  std::string why;
  if (!codec_.read(msg.body, now, key_, time, values_.data(), why))
    return status::fail(errc::validation_failed, why, true);
  auto id = kernel_.intern(key_);
  switch (kernel_.offer(id, time, values_.data())) {
    case offer_result::invalid:
      return status::fail(errc::validation_failed,
                          "event time " + std::to_string(time) +
                            " is outside the range a window can hold",
                          true);
    case offer_result::late: {
      metrics_.late.inc();
      if (!settings_.late_output)
        return status::fail(errc::validation_failed,
                            "late event: time " + std::to_string(time) +
                              " is behind the watermark " +
                              std::to_string(kernel_.watermark()) +
                              " by more than the allowed lateness",
                            true);
      stage_output::target where;
      if (!settings_.late_output->resolve(msg.body, where, why))
        return status::fail(errc::validation_failed, "late event: " + why,
                            true);
      publish_options opts;
      set_field(opts.headers, "x-warren-late", kernel_.watermark());
      ctx.publish_json(where.exchange, where.routing_key,
                       settings_.late_output->type().empty()
                         ? msg.properties.type
                         : settings_.late_output->type(),
                       msg.body, std::move(opts));
      return status::ok();
    }
    case offer_result::accepted:
      break;
  }
  metrics_.events.inc();
  log_.add(key_, time, values_.data());
  meta_dirty_ = true;
  if (full_key_.empty() &&
      kernel_.key_values(id) >= settings_.max_values_per_key)
    full_key_ = key_;
  kernel_.flush(now,
                [&](const window_result& r) { publish_result(ctx, r, now); });
  return status::ok();
}

void window_actor::checkpoint(operator_rows& rows) {
  if (!log_.empty()) {
    auto name = row_name(next_row_++);
    auto max_time = log_.max_time();
    rows.put(name, log_.take());
    log_rows_.emplace(max_time, std::move(name));
  }
  if (!meta_dirty_)
    return;
  // Rows whose events are all in windows that cannot change any more.
  auto horizon = kernel_.retention_horizon();
  while (!log_rows_.empty() && log_rows_.begin()->first < horizon) {
    rows.erase(log_rows_.begin()->second);
    log_rows_.erase(log_rows_.begin());
  }
  boost::json::object meta;
  meta["kernel"] = kernel_.export_state();
  meta["next_row"] = next_row_;
  rows.put("m", boost::json::serialize(meta));
  meta_dirty_ = false;
}

std::chrono::milliseconds window_actor::tick_interval() const {
  auto idle = settings_.spec.idle_timeout_ms;
  return std::chrono::milliseconds{
    idle <= 0 ? 1000 : std::clamp<int64_t>(idle / 4, 100, 1000)};
}

void window_actor::tick(operator_output& out, int64_t now_ms) {
  auto moved = kernel_.advance_idle(
    now_ms, [&](const window_result& r) { publish_result(out, r, now_ms); });
  if (moved)
    meta_dirty_ = true;
  if (!full_key_.empty()) {
    auto id = kernel_.find_key(full_key_);
    if (!id || kernel_.key_values(*id) < settings_.max_values_per_key)
      full_key_.clear();
  }
  observe(now_ms);
}

bool window_actor::accepting() const {
  auto memory = kernel_.memory();
  bool ok = full_key_.empty() && memory.values < settings_.max_values &&
            memory.keys < settings_.max_keys;
  metrics_.held.set(ok ? 0 : 1);
  return ok;
}

void window_actor::observe(int64_t now_ms) {
  auto memory = kernel_.memory();
  metrics_.open_windows.set(static_cast<double>(memory.open_windows));
  metrics_.values.set(static_cast<double>(memory.values));
  metrics_.keys.set(static_cast<double>(memory.keys));
  if (kernel_.max_event_time())
    metrics_.watermark_lag.set(
      static_cast<double>(now_ms - kernel_.watermark()) / 1000.0);
}

} // namespace warren::actors
