#pragma once

/// `warren window replay CONFIG ACTOR EVENTS.jsonl`: runs a `window` actor's
/// exact logic (its options from the node config: key, time, window,
/// lateness, aggregates) over a file of events, without a broker or a
/// store, and writes each result as one JSON line. For trying a window
/// config on historical data, and for checking results against any
/// reference.
///
/// Each input line is one event body (a message's JSON body); blank lines
/// are skipped. Events are offered in file order, each followed by a flush
/// (as the actor flushes after each message), so lateness is decided as it
/// would be for messages arriving in that order. At the end of the file
/// the watermark moves past every window and the results still due are
/// written. An output line is {"id", "result"} (`result` the message body
/// the actor would publish, `id` its message id); a late event is written
/// as {"late": <event>}; a line that is not an event goes to `errors` with
/// its line number and does not stop the replay. Processing time, where the
/// config uses it, is the wall clock.

#include <boost/json/object.hpp>
#include <caf/expected.hpp>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace warren::actors {

struct replay_summary {
  uint64_t lines = 0;
  uint64_t accepted = 0;
  uint64_t late = 0;
  uint64_t rejected = 0;
  uint64_t results = 0;
  uint64_t updates = 0;
};

/// Replays `events` through a window with `options` (an `actors[].options`
/// object) named `actor` (which goes into result ids). An error when the
/// options are not a window's (with the JSON path).
caf::expected<replay_summary> replay_window(const std::string& actor,
                                            const boost::json::object& options,
                                            std::istream& events,
                                            std::ostream& results,
                                            std::ostream& errors);

} // namespace warren::actors
