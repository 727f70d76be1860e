#pragma once

// Private to warren::actors: each family of kinds registers its own (one
// function per folder under src/), so a family is added without touching
// the others.

#include "warren/runtime/registry.hpp"

namespace warren::actors {

/// basic/: service, subscriber, echo, log, record.
void register_basic_kinds(registry& kinds);

/// pool/: worker_pool.
void register_pool_kinds(registry& kinds);

/// pipeline/: validator, transformer, enricher, router, filter.
void register_pipeline_kinds(registry& kinds);

/// window/: window.
void register_window_kinds(registry& kinds);

/// eventstore/: event_store, projection.
void register_eventstore_kinds(registry& kinds);

/// saga/: saga.
void register_saga_kinds(registry& kinds);

} // namespace warren::actors
