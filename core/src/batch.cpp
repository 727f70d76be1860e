#include "warren/core/batch.hpp"

#include "warren/core/errc.hpp"

#include <boost/json/serialize.hpp>
#include <unordered_set>

namespace warren {

namespace {

caf::error bad_entry(std::size_t index, std::string_view key,
                     const std::string& what) {
  auto path = "$[" + std::to_string(index) + "]";
  if (!key.empty())
    path += "." + std::string{key};
  return make_error(errc::validation_failed,
                    "batch entry " + path + ": " + what);
}

} // namespace

bool is_batch(const message_properties& props) {
  return find_field(props.headers, header::batch) != nullptr;
}

caf::expected<std::vector<batch_entry_ref>> read_batch(const envelope& batch) {
  const auto* entries = batch.body.if_array();
  if (entries == nullptr)
    return make_error(errc::validation_failed,
                      "a batch (header x-warren-batch) needs a JSON array "
                      "body of entries {\"id\", \"type\", \"body\"}");
  if (entries->size() > max_batch_entries)
    return make_error(errc::validation_failed,
                      "a batch of " + std::to_string(entries->size()) +
                        " entries is over the limit of " +
                        std::to_string(max_batch_entries));
  if (const auto* count = find_field(batch.properties.headers, header::batch))
    if (const auto* n = std::get_if<int64_t>(count);
        n != nullptr && static_cast<uint64_t>(*n) != entries->size())
      return make_error(errc::validation_failed,
                        "the header x-warren-batch says " + std::to_string(*n) +
                          " entries, the body holds " +
                          std::to_string(entries->size()));
  // Derived ids live under `<id>#` (and, when some of them would not fit
  // in 255 bytes, under the hashed prefix batch_entry_id gives them): a
  // given id there could be one of them.
  const auto& batch_id = batch.properties.message_id;
  const std::string own_prefix = batch_id + "#";
  std::string hashed_prefix;
  if (!entry_ids_share_prefix(batch_id, entries->size())) {
    hashed_prefix = batch_entry_id(batch_id, entries->size() - 1);
    hashed_prefix.erase(hashed_prefix.rfind('#') + 1);
  }
  auto in_own_namespace = [&](std::string_view id) {
    return id.substr(0, own_prefix.size()) == own_prefix ||
           (!hashed_prefix.empty() &&
            id.substr(0, hashed_prefix.size()) == hashed_prefix);
  };
  std::vector<batch_entry_ref> read;
  read.reserve(entries->size());
  // Only entries that bring an id need checking against each other.
  std::unordered_set<std::string_view> ids;
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const auto* entry = (*entries)[i].if_object();
    if (entry == nullptr)
      return bad_entry(i, {},
                       "expected an object {\"id\", \"type\", \"body\"}, "
                       "found " +
                         boost::json::serialize((*entries)[i]).substr(0, 60));
    batch_entry_ref ref;
    bool has_id = false;
    for (const auto& member : *entry) {
      const auto& key = member.key();
      const auto& value = member.value();
      if (key == "body") {
        ref.body = &value;
      } else if (key == "id") {
        const auto* id = value.if_string();
        if (id == nullptr || id->empty() || id->size() > 255)
          return bad_entry(i, "id",
                           "expected a non-empty string of at most 255 "
                           "bytes");
        ref.id = *id;
        has_id = true;
      } else if (key == "type") {
        const auto* type = value.if_string();
        if (type == nullptr || type->size() > 255)
          return bad_entry(i, "type", "expected a string of at most 255 bytes");
        ref.type = *type;
      } else {
        return bad_entry(i, key,
                         "unknown key (an entry has \"id\", \"type\" and "
                         "\"body\")");
      }
    }
    if (ref.body == nullptr)
      return bad_entry(i, "body", "required key is missing");
    if (has_id) {
      if (in_own_namespace(ref.id))
        return bad_entry(i, "id",
                         "the id '" + std::string{ref.id} +
                           "' is in the batch's own namespace '" + own_prefix +
                           "...' (the ids of entries without one)");
      if (!ids.insert(ref.id).second)
        return bad_entry(i, "id",
                         "the id '" + std::string{ref.id} +
                           "' is used by an earlier entry of the batch");
    }
    read.push_back(ref);
  }
  return read;
}

message_properties entry_properties(const envelope& batch) {
  message_properties shared = batch.properties;
  shared.headers.clear();
  for (const auto& field : batch.properties.headers)
    if (field.first != header::batch && field.first != header::trace)
      shared.headers.push_back(field);
  shared.headers.emplace_back(header::trace,
                              std::string{trace_of(batch.properties)});
  return shared;
}

std::shared_ptr<envelope> entry_envelope(const envelope& batch,
                                         const message_properties& shared,
                                         const batch_entry_ref& entry,
                                         std::size_t index) {
  auto one = std::make_shared<envelope>();
  one->properties = shared;
  if (entry.id.empty()) {
    one->properties.message_id =
      batch_entry_id(batch.properties.message_id, index);
    one->anonymous = batch.anonymous;
  } else {
    one->properties.message_id = std::string{entry.id};
  }
  if (!entry.type.empty())
    one->properties.type = std::string{entry.type};
  one->body = *entry.body;
  one->raw_body = boost::json::serialize(one->body);
  one->body_size = one->raw_body.size();
  take_delivery_of(*one, batch);
  return one;
}

caf::expected<std::vector<std::shared_ptr<envelope>>>
split_batch(const envelope& batch) {
  auto entries = read_batch(batch);
  if (!entries)
    return entries.error();
  // Everything an entry shares with its batch, made once.
  auto shared = entry_properties(batch);
  std::vector<std::shared_ptr<envelope>> split;
  split.reserve(entries->size());
  for (std::size_t i = 0; i < entries->size(); ++i)
    split.push_back(entry_envelope(batch, shared, (*entries)[i], i));
  return split;
}

bool entry_ids_share_prefix(const std::string& batch_id, std::size_t entries) {
  if (entries == 0)
    return true;
  // batch_entry_id hashes an id longer than 255 bytes; the longest is the
  // last entry's.
  return batch_id.size() + 1 + std::to_string(entries - 1).size() <= 255;
}

std::string encode_batch(const std::vector<batch_entry>& entries,
                         message_properties& props) {
  boost::json::array body;
  body.reserve(entries.size());
  for (const auto& entry : entries) {
    boost::json::object one;
    if (!entry.id.empty())
      one["id"] = entry.id;
    if (!entry.type.empty())
      one["type"] = entry.type;
    one["body"] = entry.body;
    body.push_back(std::move(one));
  }
  set_field(props.headers, header::batch, static_cast<int64_t>(entries.size()));
  return boost::json::serialize(body);
}

} // namespace warren
