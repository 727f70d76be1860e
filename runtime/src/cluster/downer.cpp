#include "cluster/downer.hpp"

#include "warren/core/log.hpp"
#include "warren/runtime/membership.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <caf/all.hpp>
#include <map>

namespace warren::runtime::cluster {

namespace {

using tick_atom = caf::atom_constant<caf::atom("downtick")>;

struct downer_state {
  downer_config cfg;
  std::unique_ptr<bridges::management_client> client;
  // Per node, the announcement (its `at_ms`) whose silence was acted on:
  // a silence is acted on once; the node heard again and silent again is
  // another one.
  std::map<std::string, int64_t> done;
  // A failure is logged once per silence.
  std::map<std::string, int64_t> failed;
  static inline const char* name = "warren.downer";
};

using downer_pointer = caf::stateful_actor<downer_state>*;

void down(downer_state& st, const membership::silent_node& n) {
  auto closed = st.client->close_connections_of(
    {n.node, n.incarnation}, "warren: node " + st.cfg.node + " downed " +
                               n.node + ", not heard for " +
                               std::to_string(n.silent_ms) + " ms");
  if (!closed) {
    if (st.failed[n.node] != n.said_ms)
      log::warning(log::scope{"cluster"},
                   "downing node {} (not heard for {} ms) failed, tried "
                   "again each {} ms: {}",
                   n.node, n.silent_ms, st.cfg.tick.count(),
                   describe(closed.error()));
    st.failed[n.node] = n.said_ms;
    return;
  }
  st.done[n.node] = n.said_ms;
  // Closing nothing is the usual end of a node that died (the broker
  // dropped its connections when its socket closed). The listing lags a
  // few seconds behind the broker (its statistics interval): a connection
  // closed already may be listed and closed again.
  if (*closed > 0)
    log::warning(log::scope{"cluster"},
                 "downed node {} (run {}): not heard for {} ms; closed the "
                 "{} broker connection(s) listed for it, so its shards move "
                 "now",
                 n.node, n.incarnation, n.silent_ms, *closed);
  else
    log::info(log::scope{"cluster"},
              "node {} not heard for {} ms has no broker connection left",
              n.node, n.silent_ms);
}

caf::behavior downer(downer_pointer self, downer_config cfg) {
  auto& st = self->state;
  // A request may take the timeout on each endpoint: at most a tick
  // (and at least 200 ms).
  st.client = std::make_unique<bridges::management_client>(
    cfg.management, std::max<std::chrono::milliseconds>(
                      cfg.tick, std::chrono::milliseconds{200}));
  st.cfg = std::move(cfg);
  self->send(self, tick_atom::value);
  return {
    [self](tick_atom) {
      auto& st = self->state;
      for (const auto& n :
           membership::nodes_to_down(st.cfg.view->heard(), st.cfg.node,
                                     now_ms(), st.cfg.after.count())) {
        auto done = st.done.find(n.node);
        if (done == st.done.end() || done->second != n.said_ms)
          down(st, n);
      }
      self->delayed_send(self, st.cfg.tick, tick_atom::value);
    },
  };
}

} // namespace

caf::actor spawn_downer(caf::actor_system& sys, downer_config cfg) {
  return sys.spawn<caf::detached>(downer, std::move(cfg));
}

} // namespace warren::runtime::cluster
