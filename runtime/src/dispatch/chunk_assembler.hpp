#pragma once

// Private to warren::runtime: chunked transfers (chunks.hpp) for an actor
// with `chunks` in its config. A delivery handler wrapped around the
// actor's dispatcher; messages that are not chunks go straight through.
//
// Each chunk is staged in the node's store (rows of `chunks:<actor>`: one
// per chunk, "d/<stream>/<chunk id>", and one per transfer, "m/<stream>",
// written in one transaction) and acked once staged, so a transfer of any
// number of chunks never holds more than one delivery. A chunk already
// staged is acked as a duplicate; order does not matter. When the last
// missing chunk is staged, the payload is read back in chunk order and
// handed to the actor as one message (id `stream-<stream_id>`, the first
// chunk's type); the delivery of that chunk is settled as the actor settles
// the whole (and comes back, to be assembled again, if the node dies
// before). The staged rows are deleted once the actor is done with it.
//
// Bounds: a transfer's bytes (`max_transfer_bytes`) and every staged byte
// of the actor (`max_staged_bytes`); a chunk past them is dead-lettered
// (`oversized_body`). A transfer still incomplete `timeout` after its first
// chunk is dead-lettered chunk by chunk (each as the chunk message it was,
// reason `timeout` with what was missing), so nothing is lost; then its
// rows are deleted.

#include "dispatch/admission.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/config/actor.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <memory>
#include <string>

namespace warren::detail {

std::shared_ptr<bridges::delivery_handler>
assemble_chunks(std::shared_ptr<bridges::delivery_handler> inner,
                config::chunk_policy policy, runtime::store_settings store,
                admission_rules rules, std::string actor_name,
                std::string node_name, std::string queue);

} // namespace warren::detail
