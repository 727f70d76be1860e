#pragma once

/// The supervisor actor: carries out the decisions of `supervision.hpp`.
///
/// A supervisor starts its children in order and monitors them. A child is
/// one or more CAF actors (its members: for an actor instance its consumer,
/// and before it its raw CAF actor if the kind is raw; for a nested
/// supervisor, that supervisor). A child has exited when any of its members
/// is down; the others are then stopped too. How it ended comes from the
/// member's exit reason: none or `normal` is a normal exit, `user_shutdown`
/// a shutdown, anything else abnormal.
///
/// Then, as in OTP: the restart type and strategy say which children are
/// stopped (in reverse start order, one at a time) and restarted (in start
/// order); every restart is counted against the restart intensity, and
/// exceeding it makes the supervisor stop all its children (reverse order)
/// and exit with `errc::supervisor_gave_up`, which its parent sees as an
/// abnormal exit. Unlike OTP, restarts wait a backoff delay (min doubling to
/// max, with jitter) that grows with a child's consecutive restarts and
/// starts over once a child has run for a whole intensity period.
///
/// Stopping a child: each member gets an exit message `user_shutdown` and
/// `shutdown` time to be down, then is killed (`shutdown` 0 kills at once).
///
/// A child that fails to start (its starter returns an error or throws) at
/// the supervisor's start makes the supervisor fail at once (OTP's start
/// failure); at a restart it counts as another abnormal exit.
///
/// An exit message to the supervisor itself (from its parent or the node)
/// stops every child in reverse order, then the supervisor exits with that
/// reason.
///
/// Dynamic children (OTP's start_child and terminate_child + delete_child,
/// what a worker pool grows and shrinks by):
///   (add_child_atom, supervised_child) -> ok_atom
///       starts the child now, after the others; an error when it fails to
///       start (it is not kept), when a child of that id runs, or while the
///       supervisor stops. Once started it is restarted like the others.
///   (remove_child_atom, std::string id) -> ok_atom
///       stops child `id` the graceful way (above) and removes it, with no
///       restart; answered once it is down. Error `not_found` for no such
///       child.
/// A removed child's place is taken by the next child added with its id, so
/// a supervisor holds no more places than it ever had distinct ids.

#include "warren/metrics/sets.hpp"
#include "warren/runtime/supervision/supervision.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace warren::runtime {

/// The actors of a started child, in start order.
using child_members = std::vector<caf::actor>;

/// Starts a child; runs in the supervisor's thread.
using child_starter = std::function<caf::expected<child_members>()>;

struct supervised_child {
  child_spec spec;
  child_starter start;
};

/// Adds a child to a running supervisor (see above).
using add_child_atom = caf::atom_constant<caf::atom("svaddchild")>;
/// Stops and removes one child of a running supervisor (see above).
using remove_child_atom = caf::atom_constant<caf::atom("svrmchild")>;

/// A supervisor with its children's starters.
struct supervisor_spec {
  std::string id = "root";
  restart_strategy strategy = restart_strategy::one_for_one;
  intensity_limits intensity;
  backoff_limits backoff;
  std::vector<supervised_child> children;
};

struct supervisor_event;

} // namespace warren::runtime

// Declared before the observer's typed interface names it.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::runtime::supervisor_event)
// Sent to a supervisor in the same process only (it holds a starter).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::runtime::supervised_child)

namespace warren::runtime {

/// What a supervisor reports to its observer, in the order it happens.
struct supervisor_event {
  enum class kind : uint8_t {
    /// `child` was started (at the supervisor's start or a restart).
    started,
    /// `child` ended (`how`, `reason`).
    exited,
    /// `child` (the one that exited) will be restarted, with the others its
    /// strategy names, after `delay`.
    restart_scheduled,
    /// `child` failed to start (`reason`).
    start_failed,
    /// `child` (temporary) left the supervisor.
    removed,
    /// `child` was stopped by the supervisor.
    stopped,
    /// Restart intensity exceeded, or a child failed at start: the
    /// supervisor is stopping its children and will fail (`reason`).
    gave_up,
  };
  kind what = kind::started;
  std::string supervisor;
  std::string child;
  exit_kind how = exit_kind::normal;
  std::chrono::milliseconds delay{0};
  std::string reason;
  /// When the supervisor reported it: an observer that measures restart
  /// waits needs the supervisor's clock, not the time the event reached it.
  std::chrono::steady_clock::time_point at{};
};

/// Who watches a supervisor: it is told every event.
using supervisor_observer = caf::typed_actor<caf::reacts_to<supervisor_event>>;

struct supervisor_options {
  /// Gets every `supervisor_event` of the supervisor and, for nested
  /// supervisors started by `subtree_starter`, of its subtree.
  supervisor_observer observer;
  /// Uniform in [0, 1), for the backoff jitter. Default: a seeded engine.
  std::function<double()> random;
  /// Log exits, restarts and giving up to stderr. Default true.
  bool log = true;
  /// Where restarts, escalations and children alive are counted (label
  /// `supervisor`: its id), or nullptr. Must outlive the supervisor.
  metrics::registry* metrics = nullptr;
};

/// How an actor that went down with `reason` ended.
exit_kind classify_exit(const caf::error& reason) noexcept;

/// Spawns a supervisor, which starts its children.
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_spec spec,
                            supervisor_options options = {});

/// A starter for a nested supervisor (a child that is a supervisor).
child_starter subtree_starter(caf::actor_system& sys, supervisor_spec spec,
                              supervisor_options options);

const char* to_string(exit_kind how) noexcept;

/// Writes `ev` to the node's log (what `supervisor_options::log` turns on).
void log_event(const supervisor_event& ev);

} // namespace warren::runtime
