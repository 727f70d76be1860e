#pragma once

// Private to warren::actors: saga definitions read from JSON, with errors
// naming the JSON path: from a saga actor's config (`options.definitions.
// <name>`), and from the seed's own wire format, a message
//
//   {"type": "execute_saga", "saga": {"saga_id": "...", "steps": [
//     {"step_id", "action_name", "compensate_name", "action_data",
//      "compensate_data", "max_retries" (3), "timeout" (seconds, 300)}]}}
//
// whose steps become a definition of their own: the action is a message of
// type `action_name` with body `action_data` to the actor `routes` names
// for it, the compensation likewise; retries back off 2, 4, 8 ... seconds
// as the seed's do.
//
// Config form of a definition:
//
//   {"steps": [{"id", "action": {"actor", "type", "body"?},
//               "compensation"?: {"actor", "type", "body"?},
//               "timeout_ms"?: 30000, "deadline_ms"?: (none),
//               "retry"?: {"max": 3, "backoff_ms": 1000,
//                          "max_backoff_ms": 60000, "final": [codes]}}],
//   (a step's `final` codes are not retried; by default "refused",
//   "validation_failed" and "unknown_type": a participant's answer, which
//   sending again does not change)
//    (an entry of `steps` may be {"parallel": [2 or more steps]}: a group
//    whose steps are sent together),
//    "compensation_retry"?: {...}, "compensation_timeout_ms"?: 30000,
//    "compensate_on_timeout"?: true}
//
// Step ids are unique, at most 64 bytes, without '/' (they are part of the
// commands' ids); a saga id is at most 128 bytes, without '/' at its end.

#include "saga/saga_machine.hpp"

#include <map>
#include <optional>
#include <string>

namespace warren::config {
class object_reader;
}

namespace warren::actors {

/// Reads a definition named `name` from `o` (errors go to o's reader).
std::optional<saga_definition> read_saga_definition(config::object_reader& o,
                                                    const std::string& name);

/// `def` in the config form above (the form a definition is stored in, so
/// an instance keeps the definition it started with whatever the config
/// says later).
boost::json::value encode_saga_definition(const saga_definition& def);

/// A stored definition read back; nullopt with `why` when it is not one.
std::optional<saga_definition>
decode_saga_definition(const std::string& name, const boost::json::value& v,
                       std::string& why);

/// A saga started by the seed's `execute_saga` message.
struct seed_saga {
  std::string saga_id;
  saga_definition definition;
};

/// Reads `body` (the whole message body) in the seed's format; `routes`
/// names the actor of each action and compensation name. Nullopt with
/// `why` (naming the JSON path) when it does not fit.
std::optional<seed_saga>
read_execute_saga(const boost::json::value& body,
                  const std::map<std::string, std::string>& routes,
                  std::string& why);

/// Whether `id` can name a saga (see above); `why` when not.
bool valid_saga_id(const std::string& id, std::string& why);

/// Whether `id` can name a step (see above); `why` when not.
bool valid_step_id(const std::string& id, std::string& why);

} // namespace warren::actors
