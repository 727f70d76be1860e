#pragma once

/// The call protocol of a node's requester (bridges/requester.hpp), for code
/// that calls services from outside an actor handler (embedding applications,
/// tools, benchmarks):
///
///   (call_atom, warren::outgoing_message request, int64_t timeout_ms)
///     -> boost::json::value (the reply body)
///
/// The requester sets `reply_to` and `correlation_id`; address the request to
/// the `warren.actors` exchange with the service name as routing key.
/// Errors: `errc::timeout`, `errc::remote_error` (the service answered with a
/// `warren.error` reply; the error's sentence is the service's message),
/// `errc::unroutable` (no such service).

#include "warren/bridges/atoms.hpp"

namespace warren {

using bridges::call_atom;

} // namespace warren
