#pragma once

/// warren's one error enum. Every fallible synchronous function returns
/// `caf::expected<T>`; its error carries one of these codes in the `warren`
/// category and, as context, a human-readable sentence saying what went wrong
/// (for config errors: file, JSON path, what was found and what was expected).

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <cstdint>
#include <string>

namespace warren {

enum class errc : uint8_t {
  /// Not an error.
  none = 0,
  /// A config file is missing, unreadable, not JSON, or fails validation.
  invalid_config,
  /// A broker URI does not parse.
  invalid_uri,
  /// The broker could not be reached or refused the login.
  connection_failed,
  /// The connection or channel was lost or closed by the broker.
  connection_lost,
  /// The broker refused a declaration (e.g. 406 inequivalent arguments).
  topology_failed,
  /// The broker answered a publish with basic.nack.
  publish_nacked,
  /// A mandatory publish could not be routed to any queue (basic.return).
  unroutable,
  /// A message body is not valid JSON. Permanent: never retried.
  malformed_body,
  /// No handler is registered for the message's `type`. Permanent.
  unknown_type,
  /// The body is JSON but not of the shape the handler expects. Permanent.
  validation_failed,
  /// A message body is larger than the configured maximum. Permanent.
  oversized_body,
  /// A user handler threw or returned an error.
  handler_failed,
  /// A request-response call got no reply in time.
  timeout,
  /// An actor kind named in the config is not registered.
  unknown_kind,
  /// A plugin shared library could not be loaded or has no entry point.
  plugin_failed,
  /// The node is shutting down and takes no new work.
  shutting_down,
  /// A service answered a call with a structured error reply.
  remote_error,
  /// An actor instance ended abnormally (`warren::actor_failure`, or a raw
  /// CAF actor that died); its supervisor decides what happens next.
  actor_failed,
  /// A supervisor exceeded its restart intensity, stopped its children and
  /// failed to its parent.
  supervisor_gave_up,
  /// The checkpoint store (SQLite) cannot be opened, read or written.
  store_failed,
  /// The broker has no such exchange or queue (404 NOT_FOUND): a publish to
  /// a missing exchange, a consume of a missing queue. Permanent.
  not_found,
  /// The broker refused access (403 ACCESS_REFUSED). Permanent.
  access_refused,
  /// The broker refused an operation on a channel for another reason (406
  /// PRECONDITION_FAILED and the like); the channel was reopened.
  channel_error,
  /// A consumer let its queue go to consume again at once, behind the
  /// queue's other consumers (a shard owner handing its shard over). Not a
  /// failure: its supervisor starts it again at once, uncounted.
  released,
};

/// The code of a channel-level AMQP error the broker sent (its reply code):
/// 404 `not_found`, 403 `access_refused`, anything else `channel_error`.
errc errc_of_reply_code(int reply_code) noexcept;

/// The text of an error code, e.g. "malformed_body".
const char* to_string(errc code) noexcept;

/// CAF error category atom for warren's errors.
using warren_error_atom = caf::atom_constant<caf::atom("warren")>;

/// Makes a CAF error in warren's category with a sentence as context.
caf::error make_error(errc code, std::string what);

/// Makes a CAF error in warren's category without context.
caf::error make_error(errc code);

/// Returns the code of a warren error, or `errc::none` for other categories.
errc code_of(const caf::error& err) noexcept;

/// Renders any CAF error as one line: for warren errors the context sentence
/// (or the code name when it has none), for others CAF's own rendering.
std::string describe(const caf::error& err);

} // namespace warren
