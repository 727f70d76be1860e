#include "window/window_options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace warren::actors {

namespace {

constexpr config::int_range durations{0, kMaxDuration};

// "median", "p90", "p99.9" -> the percentile; nullopt for anything else.
std::optional<double> percentile_of(const std::string& name) {
  if (name == "median")
    return 50.0;
  if (name.size() < 2 || name[0] != 'p')
    return std::nullopt;
  const char* begin = name.c_str() + 1;
  char* end = nullptr;
  errno = 0;
  double p = std::strtod(begin, &end);
  if (errno != 0 || end == begin || *end != '\0' || !std::isfinite(p) ||
      p < 0 || p > 100)
    return std::nullopt;
  return p;
}

bool read_aggregates(config::object_reader& values, const std::string& name,
                     const boost::json::value& list, field_output& out,
                     window_field_spec& spec) {
  auto& reader = values.reader();
  auto path = values.path_of(name);
  const auto* names = reader.array(list, path);
  if (names == nullptr)
    return false;
  for (std::size_t i = 0; i < names->size(); ++i) {
    auto item_path = path + "[" + std::to_string(i) + "]";
    auto aggregate =
      reader.string((*names)[i], item_path, config::text_rule::non_empty);
    if (!aggregate)
      return false;
    const auto& a = *aggregate;
    if (a == "count")
      out.count = true;
    else if (a == "sum")
      out.sum = true;
    else if (a == "avg" || a == "mean")
      out.avg = true;
    else if (a == "min")
      out.min = true;
    else if (a == "max")
      out.max = true;
    else if (a == "stddev")
      out.stddev = true;
    else if (a == "stddev_sample")
      out.stddev_sample = true;
    else if (a == "variance")
      out.variance = true;
    else if (a == "variance_sample")
      out.variance_sample = true;
    else if (auto p = percentile_of(a)) {
      out.percentile_names.push_back(a);
      spec.percentiles.push_back(*p);
    } else if (a.rfind("approx_", 0) == 0 && percentile_of(a.substr(7))) {
      out.approx_names.push_back(a);
      spec.approx_percentiles.push_back(*percentile_of(a.substr(7)));
    } else {
      reader.fail(item_path,
                  "expected an aggregate: count, sum, avg, min, max, stddev, "
                  "stddev_sample, variance, variance_sample, median, a "
                  "percentile p0 to p100 (such as p90 or p99.9) or an "
                  "approximate one (approx_p99), found \"" +
                    a + "\"");
      return false;
    }
  }
  return true;
}

void read_window(config::object_reader& window, window_spec& spec) {
  window.allow({"type", "size_ms", "slide_ms", "gap_ms", "offset_ms"});
  window.require("type");
  auto type = window.choice("type", {"tumbling", "sliding", "session"});
  if (!type)
    return;
  spec.type = static_cast<window_type>(*type);
  auto only_for = [&](const char* key, const char* types) {
    if (window.find(key) != nullptr)
      window.reader().fail(window.path_of(key), std::string{"only "} + types +
                                                  " windows take \"" + key +
                                                  "\"");
  };
  constexpr config::int_range positive{1, kMaxDuration};
  if (spec.type == window_type::session) {
    only_for("size_ms", "tumbling and sliding");
    only_for("slide_ms", "sliding");
    only_for("offset_ms", "tumbling and sliding");
    if (window.require("gap_ms"))
      window.integer("gap_ms", positive, spec.gap_ms);
    return;
  }
  only_for("gap_ms", "session");
  if (window.require("size_ms"))
    window.integer("size_ms", positive, spec.size_ms);
  if (spec.type == window_type::sliding) {
    if (window.require("slide_ms"))
      window.integer("slide_ms", positive, spec.slide_ms);
  } else {
    only_for("slide_ms", "sliding");
  }
  window.integer("offset_ms", durations, spec.offset_ms);
}

} // namespace

std::optional<window_settings>
read_window_settings(config::object_reader& options) {
  options.allow({"key", "time", "window", "max_out_of_orderness_ms",
                 "allowed_lateness_ms", "idle_timeout_ms", "values",
                 "approx_relative_error", "output", "late_output", "max_values",
                 "max_values_per_key", "max_keys"});
  auto& reader = options.reader();
  window_settings s;
  s.spec.idle_timeout_ms = 30000;
  // The key: a field, or a list of fields.
  if (const auto* key = options.find("key")) {
    auto add = [&](const boost::json::value& v, const std::string& path) {
      auto text = reader.string(v, path, config::text_rule::non_empty);
      if (!text)
        return;
      if (auto field = field_path::parse(*text))
        s.key_fields.push_back(std::move(*field));
      else
        reader.fail(path,
                    "expected a field's dotted path, found \"" + *text + "\"");
    };
    if (key->is_array()) {
      const auto& list = key->get_array();
      for (std::size_t i = 0; i < list.size(); ++i)
        add(list[i], options.path_of("key") + "[" + std::to_string(i) + "]");
    } else {
      add(*key, options.path_of("key"));
    }
  }
  // Event time from a field, or processing time.
  if (options.require("time")) {
    const auto& time = *options.find("time");
    if (time.is_string() && time.get_string() == "processing") {
      // Processing time: nothing more to read.
    } else if (auto t = options.object("time")) {
      t->allow({"field", "format"});
      std::string field;
      if (t->require("field") &&
          t->string("field", field, config::text_rule::non_empty)) {
        s.time_field = field_path::parse(field);
        if (!s.time_field)
          reader.fail(t->path_of("field"),
                      "expected a field's dotted path, found \"" + field +
                        "\"");
      }
      if (auto format =
            t->choice("format", {"auto", "iso8601", "epoch_s", "epoch_ms"}))
        s.time_format = static_cast<timestamp_format>(*format);
    } else if (reader.ok()) {
      reader.fail_expected(options.path_of("time"),
                           "\"processing\" or {\"field\", \"format\"}", time);
    }
  }
  if (options.require("window"))
    if (auto window = options.object("window"))
      read_window(*window, s.spec);
  options.integer("max_out_of_orderness_ms", durations,
                  s.spec.max_out_of_orderness_ms);
  options.integer("allowed_lateness_ms", durations, s.spec.allowed_lateness_ms);
  options.integer("idle_timeout_ms", durations, s.spec.idle_timeout_ms);
  if (auto values = options.object("values")) {
    for (const auto& [name, list] : values->json()) {
      field_output out;
      out.name = std::string{name};
      auto path = field_path::parse(name);
      if (!path) {
        reader.fail(values->path_of(name),
                    "expected a field's dotted path as the key");
        break;
      }
      out.path = std::move(*path);
      window_field_spec spec;
      if (!read_aggregates(*values, out.name, list, out, spec))
        break;
      s.fields.push_back(std::move(out));
      s.spec.fields.push_back(std::move(spec));
    }
    if (s.fields.size() > kMaxFields)
      reader.fail(values->path(),
                  "at most " + std::to_string(kMaxFields) + " value fields");
  }
  if (const auto* error = options.find("approx_relative_error")) {
    auto path = options.path_of("approx_relative_error");
    if (!error->is_number() || error->to_number<double>() < 0.0001 ||
        error->to_number<double>() > 0.5)
      reader.fail_expected(path, "a number from 0.0001 to 0.5", *error);
    else
      for (auto& field : s.spec.fields)
        field.approx_relative_error = error->to_number<double>();
  }
  if (auto output = stage_output::read(options, "output"))
    s.output = std::move(*output);
  s.late_output = stage_output::read(options, "late_output", false);
  constexpr config::int_range bound{1, int64_t{1} << 40};
  options.integer("max_values", bound, s.max_values);
  options.integer("max_values_per_key", bound, s.max_values_per_key);
  options.integer("max_keys", bound, s.max_keys);
  if (reader.ok())
    if (auto why = validate(s.spec))
      reader.fail(options.path(), *why);
  if (!reader.ok())
    return std::nullopt;
  if (!s.output.type().empty())
    s.result_type = s.output.type();
  return s;
}

} // namespace warren::actors
