#include "consumer/ack_ledger.hpp"

#include <algorithm>

namespace warren::bridges::detail {

void ack_ledger::add(uint64_t tag) {
  slots_.push_back({tag, state::working});
}

std::size_t ack_ledger::index_of(uint64_t tag) const {
  // Tags increase on one channel; search rather than assume no gaps.
  auto i =
    std::lower_bound(slots_.begin(), slots_.end(), tag,
                     [](const slot& s, uint64_t t) { return s.tag < t; });
  return i != slots_.end() && i->tag == tag
           ? static_cast<std::size_t>(i - slots_.begin())
           : slots_.size();
}

bool ack_ledger::settle(uint64_t tag, state st) {
  auto i = index_of(tag);
  if (i == slots_.size() || slots_[i].st != state::working)
    return false;
  slots_[i].st = st;
  // The settled prefix grows only when its first working delivery settles;
  // kept up to date here so that reading it costs nothing.
  extend_prefix();
  return true;
}

bool ack_ledger::is_working(uint64_t tag) const {
  auto i = index_of(tag);
  return i != slots_.size() && slots_[i].st == state::working;
}

bool ack_ledger::any_working() const {
  return prefix_.length < slots_.size();
}

std::size_t ack_ledger::working() const {
  // The settled prefix has none.
  return static_cast<std::size_t>(std::count_if(
    slots_.begin() + static_cast<std::ptrdiff_t>(prefix_.length), slots_.end(),
    [](const slot& s) { return s.st == state::working; }));
}

void ack_ledger::drop_front(std::size_t n) {
  n = std::min(n, slots_.size());
  slots_.erase(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(n));
  recount();
}

void ack_ledger::clear() noexcept {
  slots_.clear();
  prefix_ = prefix{};
}

void ack_ledger::recount() {
  prefix_ = prefix{};
  extend_prefix();
}

void ack_ledger::extend_prefix() {
  while (prefix_.length < slots_.size() &&
         slots_[prefix_.length].st != state::working) {
    const auto& s = slots_[prefix_.length];
    if (s.st == state::ack_due) {
      ++prefix_.due;
      prefix_.last_due = s.tag;
    }
    ++prefix_.length;
  }
}

std::vector<uint64_t> ack_ledger::all_due() const {
  std::vector<uint64_t> due;
  for (const auto& s : slots_)
    if (s.st == state::ack_due)
      due.push_back(s.tag);
  return due;
}

} // namespace warren::bridges::detail
