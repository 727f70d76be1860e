#pragma once

/// Batched envelopes: one AMQP message carrying many events, so a stream of
/// small events gets past the broker's per-message cost (and its body limit
/// per event).
///
/// On the wire: the header `x-warren-batch` (an integer, the number of
/// entries; any other value is read as "a batch" and not checked) and a JSON
/// array body whose entries are objects:
///
/// ~~~
/// [{"id": "r-1", "type": "reading", "body": {"device_id": "d1", "t": 21.5}},
///  {"body": {"device_id": "d2", "t": 19.0}}]
/// ~~~
///
/// `body` is required; `id` (a non-empty string of at most 255 bytes,
/// unique in the batch, and not starting with `<message_id>#`, which is the
/// batch's own namespace) defaults to `<message_id>#<index>`
/// (`batch_entry_id`, stable as long as the batch is sent again with the
/// same message id);
/// `type` defaults to the message's `type`. Each entry is handled as a
/// message of its own with the batch's other properties and headers:
/// de-duplicated by its id, retried or dead-lettered alone (its copy is a
/// single message), counted one by one. The batch is acked once every entry
/// is settled.

#include "warren/core/envelope.hpp"

#include <boost/json/value.hpp>
#include <caf/expected.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace warren {

/// Entries of one batch at most (beyond, the batch is dead-lettered).
constexpr std::size_t max_batch_entries = 100000;

/// Whether a message is a batch (it has the `x-warren-batch` header).
bool is_batch(const message_properties& props);

/// One entry of a batch, read in place: it points into the batch's body.
struct batch_entry_ref {
  const boost::json::value* body = nullptr;
  /// The entry's own id; empty when it has none (its id is then
  /// `batch_entry_id(<message_id>, index)`).
  std::string_view id;
  /// Empty: the batch's type.
  std::string_view type;
};

/// Reads and checks the entries of an admitted batch (its body parsed, its
/// id set) without copying them; the same errors as `split_batch`. The
/// references live as long as the batch's body.
caf::expected<std::vector<batch_entry_ref>> read_batch(const envelope& batch);

/// The properties every entry of `batch` shares: the batch's, without
/// `x-warren-batch`, with `x-warren-trace` set to the batch's trace.
message_properties entry_properties(const envelope& batch);

/// Entry `index` of `batch` (read by `read_batch`) as an envelope of its
/// own, with `shared` (`entry_properties`) as its properties.
std::shared_ptr<envelope> entry_envelope(const envelope& batch,
                                         const message_properties& shared,
                                         const batch_entry_ref& entry,
                                         std::size_t index);

/// Whether every id-less entry of a batch with id `batch_id` and `entries`
/// entries gets `<batch_id>#<index>` (no hash: see `batch_entry_id`), so
/// they all share the prefix `<batch_id>#`.
bool entry_ids_share_prefix(const std::string& batch_id, std::size_t entries);

/// One entry to send in a batch.
struct batch_entry {
  /// Empty: `<message_id>#<index>`.
  std::string id;
  /// Empty: the batch's type.
  std::string type;
  boost::json::value body;
};

/// The entries of an admitted batch (its body parsed, its id set) as
/// envelopes of their own: the batch's route, properties and headers
/// (without `x-warren-batch`; `x-warren-trace` set to the batch's trace),
/// each entry's id, type and body (parsed, and serialized again for a
/// dead letter); id-less entries of an id-less batch stay anonymous. An
/// error (`errc::validation_failed`, naming the entry's JSON path) when the
/// body is not an array of entries, an entry is malformed, two entries
/// share an id, or the header's count differs.
caf::expected<std::vector<std::shared_ptr<envelope>>>
split_batch(const envelope& batch);

/// The body and the header of a batch of `entries`: set `props`' header and
/// publish the returned text as the body.
std::string encode_batch(const std::vector<batch_entry>& entries,
                         message_properties& props);

} // namespace warren
