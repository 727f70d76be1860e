#include "pipeline/lookup_cache.hpp"

namespace warren::actors {

const lookup_cache::entry* lookup_cache::find(std::string_view key,
                                              clock::time_point now) {
  auto i = index_.find(key);
  if (i == index_.end()) {
    ++misses_;
    return nullptr;
  }
  auto at = i->second;
  if (at->expires <= now) {
    erase(at);
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, at);
  return &at->value;
}

std::size_t lookup_cache::put(const std::string& key,
                              std::optional<boost::json::value> record,
                              clock::time_point now) {
  bool found = record.has_value();
  auto ttl = found ? settings_.ttl : settings_.negative_ttl;
  if (settings_.max_entries == 0 || ttl.count() <= 0) {
    // Not cached; an older entry of the key must not outlive this answer.
    if (auto i = index_.find(key); i != index_.end())
      erase(i->second);
    return 0;
  }
  entry value{found, found ? std::move(*record) : boost::json::value{}};
  if (auto i = index_.find(key); i != index_.end()) {
    auto at = i->second;
    at->value = std::move(value);
    at->expires = now + ttl;
    lru_.splice(lru_.begin(), lru_, at);
    return 0;
  }
  std::size_t evicted = 0;
  if (index_.size() >= settings_.max_entries) {
    erase(std::prev(lru_.end()));
    ++evictions_;
    evicted = 1;
  }
  lru_.push_front(node{key, std::move(value), now + ttl});
  index_.emplace(lru_.front().key, lru_.begin());
  return evicted;
}

void lookup_cache::erase(list_type::iterator at) {
  index_.erase(at->key);
  lru_.erase(at);
}

} // namespace warren::actors
