#pragma once

/// The actor kinds built into every node.
///
/// Bridging kinds (name the worker in `actors[].handler`):
///   service     request-response: the handler replies to `reply_to` with the
///               request's correlation id; when it fails the caller gets a
///               structured error reply (type `warren.error`, body
///               {"error": {"code", "message"}}, header `x-warren-error`) and
///               the request is dead-lettered.
///   subscriber  consumes its (bound) queue; failures are dead-lettered.
///
/// Worker kinds (usable as handlers or as kinds of their own):
///   echo        replies with the request body and type.
///   log         prints one line per message to stdout.
///   record      appends each message as one JSON line to the file named by
///               `options.path` (required): {"message_id", "type",
///               "redelivered", "body"}. Flushed per message, so another
///               process can read it; an audit trail and a test sink.

#include "warren/runtime/registry.hpp"

namespace warren::actors {

/// Registers service, subscriber, echo, log and record.
void register_builtin_kinds(registry& kinds);

} // namespace warren::actors
