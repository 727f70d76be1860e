#pragma once

// Private to warren::runtime: atoms and message types between the node's own
// actors (the call router and the actor hosts).

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <boost/json/value.hpp>

namespace warren::detail {

/// Request-response call: (call_atom, outgoing_message, timeout_ms)
///   -> boost::json::value (the reply body) | error.
using call_atom = caf::atom_constant<caf::atom("call")>;
/// Internal timer of the call router: (call_timeout_atom, correlation id).
using call_timeout_atom = caf::atom_constant<caf::atom("calltimeo")>;

} // namespace warren::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(boost::json::value)
