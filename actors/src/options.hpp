#pragma once

// Private to warren::actors: a kind reads its `options` with one function,
// used twice: by its options validator (`warren check` and every node start,
// errors with the config file and JSON path) and by its constructor, which
// gets options already checked, so an error there is a bug and a failed
// start rather than a silent default.

#include "warren/config/reader.hpp"
#include "warren/core/errc.hpp"
#include "warren/runtime/actor.hpp"

#include <stdexcept>
#include <string>

namespace warren::actors {

/// Runs `read(object_reader&)` over `init.options` and returns what it
/// returns. Throws std::invalid_argument (a failed start) with the reader's
/// error.
template<class Read>
auto read_options(const actor_init& init, Read&& read) {
  config::config_reader reader{"actor '" + init.name + "' options"};
  config::object_reader options{reader, init.options, "$.options"};
  auto result = read(options);
  if (!reader.ok())
    throw std::invalid_argument(describe(reader.error()));
  return result;
}

} // namespace warren::actors
