#include "pipeline/stage_common.hpp"

#include "warren/metrics/registry.hpp"

#include <filesystem>
#include <limits>

namespace warren::actors {

bool read_number(config::object_reader& options, std::string_view key,
                 double min, double max, double& out) {
  const auto* v = options.find(key);
  if (v == nullptr || !options.reader().ok())
    return false;
  auto expected = [&] {
    auto text = [](double d) {
      auto s = std::to_string(d);
      s.erase(s.find_last_not_of('0') + 1);
      if (!s.empty() && s.back() == '.')
        s.pop_back();
      return s;
    };
    if (min == std::numeric_limits<double>::lowest() &&
        max == std::numeric_limits<double>::max())
      return std::string{"a number"};
    return "a number from " + text(min) + " to " + text(max);
  };
  if (!v->is_number()) {
    options.reader().fail_expected(options.path_of(key), expected(), *v);
    return false;
  }
  auto d = v->to_number<double>();
  if (d < min || d > max) {
    options.reader().fail_expected(options.path_of(key), expected(), *v);
    return false;
  }
  out = d;
  return true;
}

std::optional<field_path> read_field(config::config_reader& reader,
                                     const boost::json::value& value,
                                     const std::string& path) {
  auto text = reader.string(value, path, config::text_rule::non_empty);
  if (!text)
    return std::nullopt;
  auto parsed = field_path::parse(*text);
  if (!parsed)
    reader.fail(path, "expected a field path such as \"device_id\" or "
                      "\"location.city\" (no empty segments), found \"" +
                        *text + "\"");
  return parsed;
}

bool read_field(config::object_reader& options, std::string_view key,
                std::optional<field_path>& out, bool required) {
  const auto* v = required ? options.require(key) : options.find(key);
  if (v == nullptr)
    return false;
  auto parsed = read_field(options.reader(), *v, options.path_of(key));
  if (!parsed)
    return false;
  out = std::move(parsed);
  return true;
}

std::string resolve_path(const std::string& dir, const std::string& path) {
  std::filesystem::path p{path};
  if (p.is_absolute() || dir.empty())
    return path;
  return (std::filesystem::path{dir} / p).string();
}

stage_counters::stage_counters(const actor_init& init, const std::string& stage)
  : registry_(init.metrics), actor_(init.name), stage_(stage) {
  if (init.metrics != nullptr)
    passed_ = init.metrics->make_counter(
      "warren_" + stage + "_passed_total",
      "Messages the " + stage + " sent on, by actor", {{"actor", init.name}});
}

metrics::counter stage_counters::failed(const std::string& reason) const {
  if (registry_ == nullptr)
    return {};
  return registry_->make_counter(
    "warren_" + stage_ + "_failed_total",
    "Messages the " + stage_ +
      " failed (dead-lettered or retried), by actor "
      "and reason",
    {{"actor", actor_}, {"reason", reason}});
}

} // namespace warren::actors
