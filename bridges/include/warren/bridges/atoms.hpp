#pragma once

/// Atoms of the bridge protocols (CAF 0.17 caps atom text at 10 characters).

#include <caf/atom.hpp>

namespace warren::bridges {

/// Publish a message and answer when the broker confirms it.
using publish_atom = caf::atom_constant<caf::atom("publish")>;
/// A delivery handed from a consumer to the actor that handles it.
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
/// Answer when every accepted message is confirmed (publisher) or every
/// in-flight delivery is settled (consumer).
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// Stop taking new deliveries (graceful shutdown, first step).
using pause_atom = caf::atom_constant<caf::atom("pause")>;
/// Ask for a counters snapshot.
using stats_atom = caf::atom_constant<caf::atom("stats")>;
/// Request-response call (see requester.hpp).
using call_atom = caf::atom_constant<caf::atom("call")>;
/// Internal: check call deadlines while disconnected.
using call_timeout_atom = caf::atom_constant<caf::atom("calltimeo")>;
/// Internal: poll the socket (connection-owner actors only).
using poll_atom = caf::atom_constant<caf::atom("poll")>;
/// Internal: try to (re)connect.
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
/// A connection owner's own timer (consumer_host::after).
using timer_atom = caf::atom_constant<caf::atom("timer")>;

} // namespace warren::bridges
