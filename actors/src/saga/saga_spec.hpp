#pragma once

// Private to warren::actors: C++ saga definitions (warren/actors/saga.hpp)
// as the state machine's, their branches wrapped.

#include "saga/saga_machine.hpp"
#include "warren/actors/saga.hpp"

#include <vector>

namespace warren::actors {

/// `specs` as definitions; throws std::invalid_argument naming what is
/// wrong.
std::vector<saga_definition>
definitions_of(const std::vector<saga_spec>& specs);

} // namespace warren::actors
