#pragma once

// Private to warren::runtime: a worker pool in the supervision tree
// (warren/runtime/pool.hpp says what a pool is).
//
// A pool actor is one child of its supervisor, with two members, started in
// this order:
//   its manager     a detached actor: reads the queue's depth every
//                   check_interval on a broker connection of its own, asks
//                   the kind's pool_policy and adds or removes workers;
//   its workers     a supervisor (one_for_one, the intensity and backoff of
//                   the supervisor the pool is in) whose children are the
//                   workers, added and removed at run time; each worker is an
//                   instance of the handler kind (its own consumer, thread and
//                   prefetch) under child id `<actor>[<slot>]`, with the
//                   pool's child spec, so a crashed worker is restarted as
//                   any actor instance would be.
// The manager observes the workers' supervisor (and passes each event on to
// the tree's observer). When the workers' supervisor gives up, or the
// manager fails, the pool child ends and its own supervisor decides.
//
//   pool child
//   ├─ manager ──(add_child / remove_child)──┐
//   └─ workers supervisor <──────────────────┘
//        ├─ <actor>[0]  consumer + handler
//        ├─ <actor>[1]
//        └─ ...

#include "node/tree.hpp"

namespace warren::runtime::detail {

/// The starter of pool actor `actor`, a child of supervisor `parent` with
/// child spec `spec` (given to every worker), observed as `options` say.
child_starter pool_starter(const std::shared_ptr<const instance_context>& ctx,
                           const config::actor_spec& actor,
                           const child_spec& spec,
                           const config::supervisor_config& parent,
                           const supervisor_options& options);

} // namespace warren::runtime::detail
