#pragma once

// Private to warren::runtime: batched envelopes (warren/core/batch.hpp) for
// every family of kinds. A delivery handler wrapped around an instance's
// dispatcher: a message without `x-warren-batch` goes straight through; a
// batch is admitted as a whole (size, content type, JSON) and its entries
// read. A dispatcher that applies batches whole (`whole_batches`: stream
// operators) gets it as it is; any other gets each entry as a delivery of
// its own, so it is de-duplicated, handled, retried or dead-lettered alone.
// The batch is settled once every entry is (batch_settlement.hpp).
//
// A stateful dispatcher stages the entries in its unit of work one after
// the other on the consumer's thread, so a batch shorter than the commit
// batch (`commit.max_batch`) commits in one transaction; an operator's
// whole batch always commits in one.

#include "dispatch/message_scope.hpp"
#include "warren/metrics/sets.hpp"

#include <memory>

namespace warren::detail {

std::shared_ptr<bridges::delivery_handler>
split_batches(std::shared_ptr<bridges::delivery_handler> inner,
              admission_rules rules, std::string actor_name,
              std::string node_name, metrics::batch_metrics metrics = {});

} // namespace warren::detail
