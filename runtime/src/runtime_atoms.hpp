#pragma once

// Private to warren::runtime: atoms between the node's own actors.

#include "warren/runtime/call.hpp"

#include <caf/atom.hpp>

namespace warren::detail {

using warren::call_atom;

/// Internal timer of the call router: (call_timeout_atom, correlation id).
using call_timeout_atom = caf::atom_constant<caf::atom("calltimeo")>;

} // namespace warren::detail
