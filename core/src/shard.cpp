#include "warren/core/shard.hpp"

namespace warren {

uint64_t stable_key_hash(std::string_view key) noexcept {
  uint64_t h = 14695981039346656037ULL; // FNV-1a offset basis
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL; // FNV-1a prime
  }
  // SplitMix64's finalizer: every input bit reaches every output bit.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

uint32_t jump_consistent_hash(uint64_t hash, uint32_t buckets) noexcept {
  // Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm"
  // (2014), figure 1.
  int64_t b = -1;
  int64_t j = 0;
  while (j < static_cast<int64_t>(buckets)) {
    b = j;
    hash = hash * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(
      static_cast<double>(b + 1) *
      (static_cast<double>(1LL << 31) / static_cast<double>((hash >> 33) + 1)));
  }
  return static_cast<uint32_t>(b < 0 ? 0 : b);
}

std::string shard_name(std::string_view actor, uint32_t shard) {
  std::string out{actor};
  out += ".s";
  out += std::to_string(shard);
  return out;
}

} // namespace warren
