#include "cluster/shard_directory.hpp"

#include "warren/core/shard.hpp"

namespace warren::runtime::cluster {

void shard_directory::add(std::string actor, uint32_t shards,
                          std::shared_ptr<const stateful_base> keys) {
  actors_[std::move(actor)] = sharded_actor{shards, std::move(keys)};
}

std::string shard_directory::shard_queue(const std::string& actor,
                                         const envelope& msg) const {
  auto it = actors_.find(actor);
  if (it == actors_.end())
    return {};
  auto key = it->second.keys->key_of(msg);
  if (!key)
    return {};
  return shard_name(actor, shard_of(*key, it->second.shards));
}

} // namespace warren::runtime::cluster
