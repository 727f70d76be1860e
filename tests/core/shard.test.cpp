#include "warren/core/shard.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

using namespace warren;

TEST_CASE("the key hash is FNV-1a mixed by SplitMix64, fixed forever",
          "[shard]") {
  // The published test vectors (README.md, "Clustering"), computed by the
  // README's Python version of the algorithm, written apart from this
  // one: a change here moves keys between shards on a running cluster.
  CHECK(stable_key_hash("") == 0xf52a15e9a9b5e89bULL);
  CHECK(stable_key_hash("acct-1") == 0xeeb4593c95e53e80ULL);
  CHECK(stable_key_hash("acct-1") != stable_key_hash("acct-2"));
  CHECK(shard_of("acct-1", 16) == 13);
  CHECK(shard_of("acct-2", 16) == 2);
  CHECK(shard_of("order-42", 7) == 1);
}

TEST_CASE("jump consistent hash puts a key in one bucket, and growing the "
          "buckets moves only the keys the new bucket takes",
          "[shard]") {
  CHECK(jump_consistent_hash(12345, 1) == 0);
  for (uint32_t n : {1u, 2u, 3u, 8u, 100u, max_shards})
    for (uint64_t h : {0ULL, 1ULL, 42ULL, ~0ULL})
      CHECK(jump_consistent_hash(h, n) < n);
  int moved = 0;
  int wrong = 0;
  for (int i = 0; i < 10000; ++i) {
    auto h = stable_key_hash("k" + std::to_string(i));
    auto before = jump_consistent_hash(h, 10);
    auto after = jump_consistent_hash(h, 11);
    if (before != after) {
      ++moved;
      if (after != 10)
        ++wrong;
    }
  }
  CHECK(wrong == 0);
  // About one key in 11 moves to the new bucket.
  CHECK(moved > 700);
  CHECK(moved < 1150);
}

TEST_CASE("keys spread evenly over the shards", "[shard]") {
  for (uint32_t shards : {3u, 16u, 64u}) {
    std::vector<int> count(shards, 0);
    const int keys = 64000;
    for (int i = 0; i < keys; ++i)
      ++count[shard_of("account-" + std::to_string(i), shards)];
    double mean = static_cast<double>(keys) / shards;
    for (uint32_t s = 0; s < shards; ++s) {
      INFO("shards " << shards << ", shard " << s << ": " << count[s]);
      // Binomial spread: well within 6 standard deviations of the mean.
      CHECK(std::abs(count[s] - mean) < 6 * std::sqrt(mean));
    }
  }
}

TEST_CASE("a shard's name is the actor's with .s and its number", "[shard]") {
  CHECK(shard_name("accounts", 0) == "accounts.s0");
  CHECK(shard_name("accounts", 15) == "accounts.s15");
}
