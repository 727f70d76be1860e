#pragma once

/// The call router's protocol, for code that calls services from outside an
/// actor handler (embedding applications, tools, benchmarks):
///
///   (call_atom, bridges::outgoing_message request, int64_t timeout_ms)
///     -> boost::json::value (the reply body)
///
/// The router sets `reply_to` and `correlation_id`; address the request to
/// the `warren.actors` exchange with the service name as routing key.
/// Errors: `errc::timeout`, `errc::remote_error` (the service answered with a
/// `warren.error` reply; the error's sentence is the service's message),
/// `errc::unroutable` (no such service).

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <boost/json/value.hpp>

namespace warren {

using call_atom = caf::atom_constant<caf::atom("call")>;

} // namespace warren

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(boost::json::value)
