#pragma once

// The router of a sharded actor (README.md, "Clustering"): consumes the
// actor's own queue, where senders that do not know the shards (foreign
// clients publishing to the actor's name, the retry ladder coming back)
// put messages, and forwards each to its key's shard queue with its id and
// properties unchanged; acked once the broker confirmed the copy. Bad
// input (a body that does not parse, a key that cannot be read) is
// dead-lettered with the reason, as the actor itself would.

#include "dispatch/message_scope.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/runtime/stateful.hpp"

#include <memory>
#include <string>

namespace warren::runtime::cluster {

/// `keys` answers `key_of` (an instance of the actor's kind, never run).
std::shared_ptr<bridges::delivery_handler>
make_shard_router(std::shared_ptr<stateful_base> keys, uint32_t shards,
                  warren::detail::admission_rules rules, std::string node);

} // namespace warren::runtime::cluster
