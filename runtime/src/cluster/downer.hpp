#pragma once

// Downing (README.md, "Downing"). Single-active-consumer moves a shard
// only when the broker drops its owner's consumer; for a node that hangs
// (SIGSTOP, a long pause) or is cut off, the broker finds out through
// heartbeats, 2 to 3 times `heartbeat_seconds` after the node's last byte
// (rabbit_heartbeat's receiver checks every heartbeat interval and gives up
// after two checks without data). The nodes hear each other sooner: every
// node announces itself each `announce_interval`. The downer of the first
// live node in name order closes the broker connections of a node not heard
// for `cluster.down_after_ms` (the next one's after twice that, ...),
// through the management API, and the broker hands its shards to the
// standbys at once.
//
// Safe because downing is never fencing: a downed node that was only slow
// finds its connections closed, reconnects and, its claims outdated by the
// new owners' (DESIGN.md §6), drops its work; the cost of a wrong guess is
// a handover. The HTTP calls block: the actor runs in a thread of its own.

#include "cluster/member_view.hpp"
#include "warren/bridges/management.hpp"

#include <caf/fwd.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

struct downer_config {
  std::string node;
  /// `cluster.down_after_ms`.
  std::chrono::milliseconds after{0};
  /// How often it looks.
  std::chrono::milliseconds tick{1000};
  std::shared_ptr<const member_view> view;
  /// `cluster.management_uris`.
  std::vector<bridges::management_endpoint> management;
};

caf::actor spawn_downer(caf::actor_system& sys, downer_config cfg);

} // namespace warren::runtime::cluster
