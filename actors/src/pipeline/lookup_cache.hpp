#pragma once

// Private to warren::actors: the enricher's cache of service lookups, a
// bounded LRU with a time to live. Pure logic: the caller passes the time,
// so tests step it by hand. One instance per actor instance, used only on
// its consumer thread (no locks).
//
// An entry is a found record (kept `ttl`) or a known miss (kept
// `negative_ttl`; 0 keeps no misses). At `max_entries` the least recently
// used entry makes room; an expired entry is dropped when it is next looked
// up (or falls off the end). A lookup that finds no live entry is a cache
// miss: the caller asks the service and `put`s the answer. Errors and
// timeouts are never cached.

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace warren::actors {

class lookup_cache {
 public:
  using clock = std::chrono::steady_clock;

  struct settings {
    /// Entries at most; 0 disables the cache. Default 10000.
    std::size_t max_entries = 10000;
    /// How long a found record is used. Default 60 s.
    std::chrono::milliseconds ttl{60000};
    /// How long a miss is remembered; 0 (the default): misses are not cached.
    std::chrono::milliseconds negative_ttl{0};
  };

  /// What a live entry says.
  struct entry {
    /// False for a cached miss.
    bool found = false;
    /// The record (null for a miss).
    boost::json::value record;
  };

  explicit lookup_cache(settings s) : settings_(s) {
    // Nothing else to do.
  }

  /// The live entry of `key`, or nullptr (counted as a cache miss). The
  /// pointer is valid until the next `put`.
  const entry* find(std::string_view key, clock::time_point now);

  /// Remembers a found record (`record` set) or a miss (nullopt) for `key`,
  /// replacing what was there. Returns how many entries were evicted to
  /// make room (0 or 1).
  std::size_t put(const std::string& key,
                  std::optional<boost::json::value> record,
                  clock::time_point now);

  std::size_t size() const noexcept { return index_.size(); }
  uint64_t hits() const noexcept { return hits_; }
  uint64_t misses() const noexcept { return misses_; }
  uint64_t evictions() const noexcept { return evictions_; }

  const settings& config() const noexcept { return settings_; }

 private:
  struct node {
    std::string key;
    entry value;
    clock::time_point expires;
  };
  using list_type = std::list<node>;

  void erase(list_type::iterator at);

  settings settings_;
  // Most recently used first.
  list_type lru_;
  // Keys view the strings in `lru_`, whose nodes never move.
  std::unordered_map<std::string_view, list_type::iterator> index_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
};

} // namespace warren::actors
