#include "cluster/shard_directory.hpp"

#include "warren/core/shard.hpp"

namespace warren::runtime::cluster {

caf::expected<uint32_t> shard_of_message(const stateful_base& keys,
                                         const envelope& msg, uint32_t shards) {
  if (auto asked = keys.shard_asked(msg); asked && *asked < shards)
    return *asked;
  auto key = keys.key_of(msg);
  if (!key)
    return key.error();
  return shard_of(*key, shards);
}

void shard_directory::add(std::string actor, uint32_t shards,
                          std::shared_ptr<const stateful_base> keys) {
  actors_[std::move(actor)] = sharded_actor{shards, std::move(keys)};
}

std::string shard_directory::shard_queue(const std::string& actor,
                                         const envelope& msg) const {
  auto it = actors_.find(actor);
  if (it == actors_.end())
    return {};
  auto shard = shard_of_message(*it->second.keys, msg, it->second.shards);
  if (!shard)
    return {};
  return shard_name(actor, *shard);
}

} // namespace warren::runtime::cluster
