#pragma once

/// Keyed state sharded over a cluster (README.md, "Clustering"): which shard
/// a key belongs to. Every node, every build and every sender (the context
/// API, the router that forwards foreign clients' messages, a client in
/// another language) must agree on it forever, so the mapping is defined
/// here bit for bit: FNV-1a (64 bits) over the key's bytes, mixed by
/// SplitMix64's finalizer, into Lamping and Veach's jump consistent hash.
/// A client that wants to publish straight to a shard's queue computes the
/// same (the README gives the algorithm and test vectors).

#include <cstdint>
#include <string>
#include <string_view>

namespace warren {

/// The most shards an actor may have (each is a quorum queue).
inline constexpr uint32_t max_shards = 1024;

/// A 64-bit hash of `key`'s bytes that never changes: FNV-1a, then
/// SplitMix64's finalizer (FNV-1a alone leaves similar short keys close).
uint64_t stable_key_hash(std::string_view key) noexcept;

/// Jump consistent hash: a bucket in [0, buckets) for `hash` (buckets >= 1).
uint32_t jump_consistent_hash(uint64_t hash, uint32_t buckets) noexcept;

/// The shard of `key` for an actor with `shards` shards (>= 1).
inline uint32_t shard_of(std::string_view key, uint32_t shards) noexcept {
  return jump_consistent_hash(stable_key_hash(key), shards);
}

/// Shard `shard` of `actor` by name: "<actor>.s<shard>", its quorum queue
/// and its name in the state store (a shard's rows never mix with
/// another's, so its state can move alone).
std::string shard_name(std::string_view actor, uint32_t shard);

} // namespace warren
