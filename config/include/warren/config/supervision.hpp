#pragma once

/// The supervision tree as the node config declares it (`supervision`), in
/// Erlang/OTP's words. The decisions made with it (which child to restart,
/// restart intensity, backoff) are pure logic in
/// `warren/runtime/supervision/supervision.hpp`.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::config {

/// A child spec's `restart`.
enum class restart_type {
  /// Always restarted.
  permanent,
  /// Restarted only after an abnormal exit.
  transient,
  /// Never restarted (and removed from the supervisor).
  temporary,
};

/// Which children a restart takes along.
enum class restart_strategy { one_for_one, one_for_all, rest_for_one };

struct child_spec {
  std::string id;
  /// Default permanent.
  restart_type restart = restart_type::permanent;
  /// How long a child may take to stop before it is killed; 0 kills at once.
  /// Default 5 s (OTP's default for workers); a node's config defaults it to
  /// `shutdown.timeout_ms`.
  std::chrono::milliseconds shutdown{5000};
};

/// Restart intensity. Defaults are OTP's: 1 restart in 5 s.
struct intensity_limits {
  uint32_t max_restarts = 1;
  std::chrono::milliseconds period{5000};
};

/// Restart backoff. Defaults: 100 ms doubling to 10 s, +/- 20 %.
struct backoff_limits {
  std::chrono::milliseconds min{100};
  std::chrono::milliseconds max{10000};
  /// Fraction of the delay added or taken at random, 0 to 1.
  double jitter = 0.2;
};

/// One supervisor of the tree.
struct supervisor_config {
  struct child;

  /// "root" for the node's root supervisor.
  std::string id = "root";
  restart_strategy strategy = restart_strategy::one_for_one;
  intensity_limits intensity;
  backoff_limits backoff;
  /// In start order.
  std::vector<child> children;
};

/// One child of a supervisor: a configured actor (each of its instances is a
/// child of its own, with this spec) or a nested supervisor.
struct supervisor_config::child {
  /// `id` is the actor's name or the nested supervisor's id.
  child_spec spec;
  /// Set for an actor child.
  std::string actor;
  /// Set for a supervisor child (empty `actor`).
  supervisor_config supervisor;

  bool is_actor() const noexcept { return !actor.empty(); }
};

} // namespace warren::config
