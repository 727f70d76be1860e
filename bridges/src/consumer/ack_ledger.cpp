#include "consumer/ack_ledger.hpp"

#include <algorithm>

namespace warren::bridges::detail {

void ack_ledger::add(uint64_t tag) {
  slots_.push_back({tag, state::working});
}

const ack_ledger::slot* ack_ledger::find(uint64_t tag) const {
  // Tags increase on one channel; search rather than assume no gaps.
  auto i =
    std::lower_bound(slots_.begin(), slots_.end(), tag,
                     [](const slot& s, uint64_t t) { return s.tag < t; });
  return i != slots_.end() && i->tag == tag ? &*i : nullptr;
}

bool ack_ledger::settle(uint64_t tag, state st) {
  auto* s = const_cast<slot*>(find(tag));
  if (s == nullptr || s->st != state::working)
    return false;
  s->st = st;
  return true;
}

bool ack_ledger::is_working(uint64_t tag) const {
  const auto* s = find(tag);
  return s != nullptr && s->st == state::working;
}

bool ack_ledger::any_working() const {
  return std::any_of(slots_.begin(), slots_.end(),
                     [](const slot& s) { return s.st == state::working; });
}

ack_ledger::prefix ack_ledger::settled_prefix() const {
  prefix p;
  for (const auto& s : slots_) {
    if (s.st == state::working)
      break;
    ++p.length;
    if (s.st == state::ack_due) {
      ++p.due;
      p.last_due = s.tag;
    }
  }
  return p;
}

void ack_ledger::drop_front(std::size_t n) {
  n = std::min(n, slots_.size());
  slots_.erase(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(n));
}

std::vector<uint64_t> ack_ledger::all_due() const {
  std::vector<uint64_t> due;
  for (const auto& s : slots_)
    if (s.st == state::ack_due)
      due.push_back(s.tag);
  return due;
}

} // namespace warren::bridges::detail
