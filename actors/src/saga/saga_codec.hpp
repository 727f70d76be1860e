#pragma once

// Private to warren::actors: a saga instance as JSON, for the saga actor's
// row `i/<saga id>` (and for `warren saga show`). Versioned ("v": 1); a row
// this build cannot read is an error naming what is wrong, never a default.

#include "saga/saga_machine.hpp"

#include <boost/json/value.hpp>
#include <optional>
#include <string>

namespace warren::actors {

boost::json::value encode_instance(const saga_instance& inst);

/// Nullopt with `why` when `v` is not an instance this build wrote.
std::optional<saga_instance> decode_instance(const boost::json::value& v,
                                             std::string& why);

} // namespace warren::actors
