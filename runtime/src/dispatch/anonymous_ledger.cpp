#include "dispatch/anonymous_ledger.hpp"

#include <algorithm>

namespace warren::detail {

anonymous_ledger::anonymous_ledger(std::chrono::milliseconds window,
                                   std::size_t max_entries)
  : window_(window), max_entries_(max_entries) {
  // Nothing else to do.
}

void anonymous_ledger::applied(std::string id, std::string key,
                               uint64_t generation, uint64_t tag) {
  entries_.push_back({std::move(id), std::move(key), generation, tag, {}});
}

void anonymous_ledger::restore(
  std::vector<std::pair<std::string, std::string>> entries,
  clock::time_point now) {
  // Generation 0 comes before every generation of this run.
  for (auto& [id, key] : entries)
    entries_.push_back({std::move(id), std::move(key), 0, 0, now});
}

void anonymous_ledger::seen(uint64_t generation, clock::time_point now) {
  if (generation == generation_)
    return;
  generation_ = generation;
  for (auto& e : entries_)
    if (e.generation < generation && !e.released)
      e.released = now;
}

bool anonymous_ledger::repeats(const std::string& key, uint64_t generation,
                               uint64_t tag) {
  auto found = std::find_if(entries_.begin(), entries_.end(), [&](auto& e) {
    return e.released && e.generation < generation && e.key == key;
  });
  if (found == entries_.end())
    return false;
  found->generation = generation;
  found->tag = tag;
  found->released.reset();
  return true;
}

template<class Pred>
void anonymous_ledger::forget_if(Pred pred,
                                 std::vector<std::string>& forgotten) {
  auto kept = std::stable_partition(entries_.begin(), entries_.end(),
                                    [&](const entry& e) { return !pred(e); });
  for (auto i = kept; i != entries_.end(); ++i)
    forgotten.push_back(std::move(i->id));
  entries_.erase(kept, entries_.end());
}

void anonymous_ledger::acked(uint64_t generation, uint64_t tag, bool multiple,
                             std::vector<std::string>& forgotten) {
  if (entries_.empty())
    return;
  forget_if(
    [&](const entry& e) {
      return !e.released && e.generation == generation &&
             (multiple ? e.tag <= tag : e.tag == tag);
    },
    forgotten);
}

void anonymous_ledger::expire(clock::time_point now,
                              std::vector<std::string>& forgotten) {
  if (entries_.empty())
    return;
  forget_if(
    [&](const entry& e) { return e.released && now - *e.released >= window_; },
    forgotten);
  auto released = static_cast<std::size_t>(
    std::count_if(entries_.begin(), entries_.end(),
                  [](const entry& e) { return e.released.has_value(); }));
  // Entries are in the order they were applied: the oldest go first.
  for (auto i = entries_.begin();
       released > max_entries_ && i != entries_.end();) {
    if (i->released) {
      forgotten.push_back(std::move(i->id));
      i = entries_.erase(i);
      --released;
    } else {
      ++i;
    }
  }
}

} // namespace warren::detail
