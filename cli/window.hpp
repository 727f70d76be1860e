#pragma once

// `warren window replay CONFIG ACTOR EVENTS.jsonl`: a window actor's logic
// over a file of events, no broker (warren/actors/window_replay.hpp).

#include <string>

namespace warren::cli {

struct window_options {
  std::string config_file;
  std::string actor;
  /// A JSON-lines file, or - for stdin.
  std::string events;
};

int window_replay(const window_options& opts);

} // namespace warren::cli
