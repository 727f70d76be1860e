#pragma once

/// The protocol of an actor that handles deliveries itself: a raw CAF kind
/// (`registry::add_raw_kind`), fed by its instance's consumer.
///
///   (deliver_atom, envelope) -> outcome
///
/// The consumer acks, requeues, retries or dead-letters the delivery as the
/// outcome says, once the actor answers. An actor that quits instead of
/// answering ends its instance (abnormally unless it quit normally); the
/// delivery goes back to the broker.

#include "warren/core/envelope.hpp"
#include "warren/core/outcome.hpp"

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace warren {

/// A delivery handed to the actor that handles it.
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;

/// An actor that handles deliveries (a raw CAF kind).
using delivery_actor =
  caf::typed_actor<caf::replies_to<deliver_atom, envelope>::with<outcome>>;

} // namespace warren
