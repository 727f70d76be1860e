#pragma once

// Private to warren::actors: the rules of an event store's appends, pure.
//
// Expected version (as EventStoreDB has them): `any` appends whatever the
// stream holds; `no_stream` only to a stream with no events; `stream_exists`
// only to one with events; an exact version n only when the stream's last
// event is version n (0 is `no_stream`). Versions count from 1 per stream.
//
// Idempotence on event ids: an append whose every event id is already in
// the stream, as the same run of consecutive versions in the same order,
// with an expected version the stream met before that run, succeeds again
// with the original versions and positions and writes nothing. An append
// whose ids are partly there, or there in another stream or order, is a
// conflict: the same id never names two events.

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warren::actors {

struct expected_version {
  enum class kind { any, no_stream, stream_exists, exact };
  kind what = kind::any;
  /// `exact` only.
  int64_t version = 0;
};

/// Reads `"any"`, `"no_stream"`, `"stream_exists"` or an integer >= 0 (0 is
/// `no_stream`); absent (null) is `any`. Nullopt with `why` otherwise.
std::optional<expected_version>
read_expected_version(const boost::json::value* v, std::string& why);

/// As it reads in an error message: "any", "no_stream", "7".
std::string to_string(const expected_version& expected);

/// Whether a stream whose last version is `current` (0: no events) meets it.
bool satisfied(const expected_version& expected, int64_t current);

/// Where an event id already is.
struct recorded_at {
  std::string stream;
  int64_t version = 0;
  int64_t position = 0;
};

enum class append_decision {
  /// Append the events.
  write,
  /// Every event is there already, as this append would have written it.
  already,
  /// The stream is not at the expected version.
  wrong_expected_version,
  /// Some ids are there, or there otherwise than this append would put them.
  idempotency_conflict,
};

/// Decides an append of events to `stream`, whose last version is
/// `current`, given where each of the append's event ids already is
/// (`found[i]` for the i-th event; nullopt: nowhere).
append_decision
decide_append(const std::string& stream, const expected_version& expected,
              int64_t current,
              const std::vector<std::optional<recorded_at>>& found);

} // namespace warren::actors
