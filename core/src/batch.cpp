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

caf::expected<std::vector<std::shared_ptr<envelope>>>
split_batch(const envelope& batch) {
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
  // Everything an entry shares with its batch, made once.
  message_properties shared = batch.properties;
  shared.headers.clear();
  for (const auto& field : batch.properties.headers)
    if (field.first != header::batch && field.first != header::trace)
      shared.headers.push_back(field);
  shared.headers.emplace_back(header::trace,
                              std::string{trace_of(batch.properties)});
  std::vector<std::shared_ptr<envelope>> split;
  split.reserve(entries->size());
  std::unordered_set<std::string_view> ids;
  ids.reserve(entries->size());
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const auto* entry = (*entries)[i].if_object();
    if (entry == nullptr)
      return bad_entry(i, {},
                       "expected an object {\"id\", \"type\", \"body\"}, "
                       "found " +
                         boost::json::serialize((*entries)[i]).substr(0, 60));
    auto one = std::make_shared<envelope>();
    one->properties = shared;
    bool has_body = false;
    for (const auto& [key, value] : *entry) {
      if (key == "body") {
        one->body = value;
        has_body = true;
      } else if (key == "id") {
        const auto* id = value.if_string();
        if (id == nullptr || id->empty() || id->size() > 255)
          return bad_entry(i, "id",
                           "expected a non-empty string of at most 255 "
                           "bytes");
        one->properties.message_id = std::string{*id};
      } else if (key == "type") {
        const auto* type = value.if_string();
        if (type == nullptr || type->size() > 255)
          return bad_entry(i, "type", "expected a string of at most 255 bytes");
        one->properties.type = std::string{*type};
      } else {
        return bad_entry(i, key,
                         "unknown key (an entry has \"id\", \"type\" and "
                         "\"body\")");
      }
    }
    if (!has_body)
      return bad_entry(i, "body", "required key is missing");
    if (entry->if_contains("id") == nullptr) {
      one->properties.message_id =
        batch_entry_id(batch.properties.message_id, i);
      one->anonymous = batch.anonymous;
    }
    if (!ids.insert(one->properties.message_id).second)
      return bad_entry(i, "id",
                       "the id '" + one->properties.message_id +
                         "' is used by an earlier entry of the batch");
    one->raw_body = boost::json::serialize(one->body);
    one->body_size = one->raw_body.size();
    one->exchange = batch.exchange;
    one->routing_key = batch.routing_key;
    one->queue = batch.queue;
    one->redelivered = batch.redelivered;
    one->delivery_tag = batch.delivery_tag;
    one->channel_generation = batch.channel_generation;
    one->admitted = true;
    split.push_back(std::move(one));
  }
  return split;
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
