#pragma once

/// warren's log: one sink per process, written through spdlog to stderr.
///
/// Every line has a time (UTC, milliseconds), a level, the node and, when a
/// line is about one, the actor, the message id and the trace id. Two
/// formats (`log.format` in the node config):
///
///   text  2026-12-01T10:42:20.123Z warning hello/greeter: dead-lettering
///         message 7 to greeter.dlq: unknown message type 'x' (message 7)
///   json  {"time":"2026-12-01T10:42:20.123Z","level":"warning","node":
///         "hello","actor":"greeter","message_id":"7","trace_id":"7",
///         "message":"dead-lettering ..."}     (one object per line)
///
/// Levels, least to most severe: trace, debug, info (the default), warning,
/// error; `off` writes nothing. A disabled level costs one atomic load: the
/// text is formatted only when the line is written.
///
/// Never log a secret: broker URIs are logged redacted
/// (`broker_endpoint::redacted`), passwords and TLS keys never.

#include <fmt/format.h>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace warren::log {

enum class level : int { trace, debug, info, warning, error, off };

enum class format : int { text, json };

/// The level named `name` ("trace", "debug", "info", "warning" or "warn",
/// "error", "off"); nullopt for anything else.
std::optional<level> parse_level(std::string_view name) noexcept;

/// The name of `lvl` as `parse_level` reads it.
const char* to_string(level lvl) noexcept;

/// Where lines go and which are written. Defaults: info, text, no node.
struct settings {
  level min_level = level::info;
  log::format fmt = format::text;
  std::string node;
};

/// Replaces the sink's settings. Thread-safe; meant for start-up.
void configure(const settings& s);

/// Whether lines of `lvl` are written.
bool enabled(level lvl) noexcept;

/// What a line is about; empty fields are left out.
struct scope {
  scope() = default;
  scope(std::string_view actor_name, std::string_view id = {},
        std::string_view trace = {})
    : actor(actor_name), message_id(id), trace_id(trace) {
    // Nothing else to do.
  }

  std::string_view actor;
  std::string_view message_id;
  std::string_view trace_id;
};

/// Writes one line (unless `lvl` is disabled).
void write(level lvl, const scope& about, std::string_view text);

template<class... Args>
void emit(level lvl, const scope& about, fmt::format_string<Args...> text,
          Args&&... args) {
  if (enabled(lvl))
    write(lvl, about, fmt::format(text, std::forward<Args>(args)...));
}

// One function per level, with or without a scope:
//   log::info("node '{}' ready", name);
//   log::warning(log::scope{actor, id}, "dead-lettering: {}", why);

#define WARREN_LOG_LEVEL_FUNCTION(name)                                        \
  template<class... Args>                                                      \
  void name(const scope& about, fmt::format_string<Args...> text,              \
            Args&&... args) {                                                  \
    emit(level::name, about, text, std::forward<Args>(args)...);               \
  }                                                                            \
  template<class... Args>                                                      \
  void name(fmt::format_string<Args...> text, Args&&... args) {                \
    emit(level::name, scope{}, text, std::forward<Args>(args)...);             \
  }

WARREN_LOG_LEVEL_FUNCTION(trace)
WARREN_LOG_LEVEL_FUNCTION(debug)
WARREN_LOG_LEVEL_FUNCTION(info)
WARREN_LOG_LEVEL_FUNCTION(warning)
WARREN_LOG_LEVEL_FUNCTION(error)

#undef WARREN_LOG_LEVEL_FUNCTION

} // namespace warren::log
