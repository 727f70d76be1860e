#pragma once

// Private to warren::runtime: the node's request-response client.
//
// Owns an exclusive, auto-delete reply queue `warren.reply.<node>.<id>`
// consumed (auto-ack) by its own consumer bridge. Protocol:
//   (call_atom, outgoing_message request, int64_t timeout_ms)
//     -> boost::json::value (the reply body)
// Errors: `errc::timeout` when no reply came in time, `errc::remote_error`
// when the service answered with a `warren.error` reply, `errc::unroutable`
// when no queue takes the request (no such service).
// Late replies (after a timeout) are dropped: the caller has moved on.

#include "warren/bridges/broker.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/stateful_actor.hpp>

#include <string>
#include <unordered_map>

namespace warren::detail {

struct call_router_config {
  bridges::broker_settings broker;
  caf::actor publisher;
  std::string node_name;
};

struct call_router_state {
  std::string reply_queue;
  caf::actor consumer;
  std::unordered_map<std::string, caf::response_promise> pending;
  static inline const char* name = "warren.call_router";
};

caf::behavior call_router(caf::stateful_actor<call_router_state>* self,
                          call_router_config cfg);

/// The reply queue name a call router of `node_name` uses.
std::string reply_queue_name(const std::string& node_name);

} // namespace warren::detail
