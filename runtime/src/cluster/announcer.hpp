#pragma once

// A node's membership announcer (README.md, "Clustering";
// warren/runtime/membership.hpp). Every `interval` it reads what the node's
// sharded actors do (their `member_status`: shards owned with epochs, the
// changelog readers' positions and lag) and publishes an announcement to
// the stream `warren.cluster` through the node's publisher. Protocol:
//
//   (announce_atom)             its own timer: announce, schedule the next
//   (leave_atom) -> ok_atom     announce once more as leaving (the node
//                               stops); answers once the broker confirmed
//                               it, or it failed
//
// A publish that fails is logged (once until one succeeds again) and the
// next tick tries again; the announcer never ends on its own. Nothing
// depends on it but `warren cluster status`: it is not supervised.

#include "cluster/member_status.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/runtime/membership.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace warren::runtime::cluster {

using announce_atom = caf::atom_constant<caf::atom("announce")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;

using announcer_actor =
  caf::typed_actor<caf::reacts_to<announce_atom>,
                   caf::replies_to<leave_atom>::with<caf::ok_atom>>;

/// The sharded actors of a node, as the tree starts them.
class member_directory {
 public:
  void add(std::shared_ptr<member_status> status);
  bool empty() const;
  std::vector<member_status::snapshot> read() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<member_status>> members_;
};

/// This run of the node's process (in its claims and announcements).
const std::string& process_incarnation();

/// Milliseconds since the Unix epoch when this process first asked.
int64_t process_started_ms();

struct announcer_config {
  std::string node;
  std::string incarnation;
  int64_t started_ms = 0;
  /// `cluster.announce_interval_ms`; default 2 s.
  std::chrono::milliseconds interval{2000};
  std::shared_ptr<member_directory> members;
  bridges::publisher_actor publisher;
};

/// The announcement of `members` at `now_ms` (pure).
membership::announcement
make_announcement(const announcer_config& cfg,
                  const std::vector<member_status::snapshot>& members,
                  int64_t now_ms, bool leaving);

/// The stream message of `a` (to the default exchange).
outgoing_message announcement_message(const membership::announcement& a);

announcer_actor spawn_announcer(caf::actor_system& sys, announcer_config cfg);

} // namespace warren::runtime::cluster
