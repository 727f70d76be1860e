#include "warren/core/log.hpp"

#include "warren/core/text.hpp"

#include <atomic>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <memory>
#include <mutex>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

// spdlog does the time, the level, the locking and the writing; the fields
// of a line (node, actor, ids, text) are put together here, JSON-escaped for
// the json format by Boost.JSON.

namespace warren::log {

namespace {

spdlog::level::level_enum to_spdlog(level lvl) noexcept {
  switch (lvl) {
    case level::trace:
      return spdlog::level::trace;
    case level::debug:
      return spdlog::level::debug;
    case level::info:
      return spdlog::level::info;
    case level::warning:
      return spdlog::level::warn;
    case level::error:
      return spdlog::level::err;
    case level::off:
      break;
  }
  return spdlog::level::off;
}

struct sink_state {
  std::atomic<int> min_level{static_cast<int>(level::info)};
  std::mutex mtx;
  std::shared_ptr<spdlog::logger> logger;
  settings current;

  sink_state() { apply(settings{}); }

  // Called under `mtx` (or before anyone else can see the state).
  void apply(const settings& s) {
    current = s;
    if (!logger)
      logger = std::make_shared<spdlog::logger>(
        "warren", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    // Time in UTC; the "Z" says so.
    auto pattern = s.fmt == format::json
                     ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                     : "%Y-%m-%dT%H:%M:%S.%eZ %l %v";
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      pattern, spdlog::pattern_time_type::utc));
    logger->set_level(to_spdlog(s.min_level));
    // Errors and warnings reach the terminal at once; the rest is flushed
    // by the stderr sink's own unbuffered writes.
    logger->flush_on(spdlog::level::trace);
    min_level.store(static_cast<int>(s.min_level), std::memory_order_relaxed);
  }
};

sink_state& state() {
  static sink_state instance;
  return instance;
}

void append_json_field(std::string& out, std::string_view name,
                       std::string_view value, bool always = false) {
  if (value.empty() && !always)
    return;
  if (out.size() > 0)
    out += ',';
  out += '"';
  out += name;
  out += "\":";
  // Ids and reasons may carry bytes that are not UTF-8: a log line stays
  // JSON, with such bytes written as \xNN text.
  if (is_utf8(value)) {
    out += boost::json::serialize(
      boost::json::string_view{value.data(), value.size()});
  } else {
    auto readable = escape_non_utf8(value);
    out += boost::json::serialize(
      boost::json::string_view{readable.data(), readable.size()});
  }
}

} // namespace

std::optional<level> parse_level(std::string_view name) noexcept {
  if (name == "trace")
    return level::trace;
  if (name == "debug")
    return level::debug;
  if (name == "info")
    return level::info;
  if (name == "warning" || name == "warn")
    return level::warning;
  if (name == "error")
    return level::error;
  if (name == "off")
    return level::off;
  return std::nullopt;
}

const char* to_string(level lvl) noexcept {
  switch (lvl) {
    case level::trace:
      return "trace";
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warning:
      return "warning";
    case level::error:
      return "error";
    case level::off:
      break;
  }
  return "off";
}

void configure(const settings& s) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  st.apply(s);
}

bool enabled(level lvl) noexcept {
  return lvl != level::off &&
         static_cast<int>(lvl) >=
           state().min_level.load(std::memory_order_relaxed);
}

void write(level lvl, const scope& about, std::string_view text) {
  if (!enabled(lvl))
    return;
  auto& st = state();
  std::shared_ptr<spdlog::logger> logger;
  std::string line;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    logger = st.logger;
    if (st.current.fmt == format::json) {
      append_json_field(line, "node", st.current.node);
      append_json_field(line, "actor", about.actor);
      append_json_field(line, "message_id", about.message_id);
      append_json_field(line, "trace_id", about.trace_id);
      append_json_field(line, "message", text, true);
    } else {
      line = st.current.node.empty() ? "warren" : st.current.node;
      if (!about.actor.empty()) {
        line += '/';
        line += about.actor;
      }
      line += ": ";
      line += text;
      if (!about.message_id.empty() &&
          text.find(about.message_id) == std::string_view::npos) {
        line += " (message ";
        line += about.message_id;
        line += ')';
      }
    }
  }
  logger->log(to_spdlog(lvl), "{}", line);
}

} // namespace warren::log
