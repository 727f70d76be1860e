#pragma once

/// Atoms of the bridge actors' typed protocols (CAF 0.17 caps atom text at
/// 10 characters). Each actor's header declares its interface.

#include <caf/atom.hpp>

namespace warren::bridges {

/// Publish a message and answer when the broker confirms it.
using publish_atom = caf::atom_constant<caf::atom("publish")>;
/// Answer when every accepted message is confirmed (publisher) or every
/// in-flight delivery is settled (consumer).
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// Stop taking new deliveries (graceful shutdown, first step).
using pause_atom = caf::atom_constant<caf::atom("pause")>;
/// Ask for a counters snapshot.
using stats_atom = caf::atom_constant<caf::atom("stats")>;
/// Request-response call (see requester.hpp).
using call_atom = caf::atom_constant<caf::atom("call")>;

// The connection owners' own messages (part of their implementation
// interfaces, not of the public ones).

/// Poll the socket.
using poll_atom = caf::atom_constant<caf::atom("poll")>;
/// Try to (re)connect.
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
/// A timer of the owner fired.
using timer_atom = caf::atom_constant<caf::atom("timer")>;

} // namespace warren::bridges
