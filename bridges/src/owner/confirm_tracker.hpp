#pragma once

/// Publisher-confirm bookkeeping for one channel in confirm mode (pure logic,
/// no I/O).
///
/// The broker numbers the messages published on a confirm channel 1, 2, 3...
/// and acks or nacks them, one tag or every tag up to one (`multiple`), in
/// any order. A mandatory message that no queue took comes back with
/// basic.return, which carries no tag but precedes the ack of that message;
/// it is matched by message id to the oldest unsettled message with that id
/// not returned yet (the broker handles a channel's publishes in order, so
/// messages sharing an id, even an empty one, are returned in publish
/// order).

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace warren::bridges::detail {

/// How a published message ended.
enum class confirm_result {
  /// Acked and routed.
  confirmed,
  /// Nacked by the broker.
  nacked,
  /// Acked, but a mandatory message no queue took (returned first).
  returned,
};

template<class Payload>
class confirm_tracker {
 public:
  struct entry {
    uint64_t tag = 0;
    std::string message_id;
    Payload payload;
    bool returned = false;
    std::string return_reason;
    bool settled = false;
  };

  /// Records the message just published; it gets the next tag.
  void add(std::string message_id, Payload payload) {
    entry e;
    e.tag = next_tag_++;
    e.message_id = std::move(message_id);
    e.payload = std::move(payload);
    entries_.push_back(std::move(e));
  }

  /// basic.return of the message with `message_id`.
  void returned(const std::string& message_id, std::string reason) {
    for (auto i = entries_.begin(); i != entries_.end(); ++i) {
      if (!i->settled && !i->returned && i->message_id == message_id) {
        i->returned = true;
        i->return_reason = std::move(reason);
        return;
      }
    }
  }

  /// basic.ack (`ack`) or basic.nack for `tag`. Calls
  /// `settle(entry&, confirm_result)` for each message it settles, in tag
  /// order, after updating the bookkeeping, so `settle` may publish more.
  template<class F>
  void confirm(uint64_t tag, bool multiple, bool ack, F&& settle) {
    std::vector<entry> done;
    if (!entries_.empty() && tag >= entries_.front().tag) {
      // One allocation for a multiple-ack of many messages.
      done.reserve(multiple ? std::min<std::size_t>(
                                tag - entries_.front().tag + 1, entries_.size())
                            : 1);
      if (multiple) {
        while (!entries_.empty() && entries_.front().tag <= tag) {
          if (!entries_.front().settled)
            done.push_back(std::move(entries_.front()));
          entries_.pop_front();
        }
      } else {
        // Entries keep their tags until popped, so the position follows.
        auto index = tag - entries_.front().tag;
        if (index < entries_.size() && !entries_[index].settled) {
          // Moved out; the husk keeps its tag and `settled` until popped.
          entries_[index].settled = true;
          done.push_back(std::move(entries_[index]));
        }
      }
      while (!entries_.empty() && entries_.front().settled)
        entries_.pop_front();
    }
    for (auto& e : done)
      settle(e, !ack         ? confirm_result::nacked
                : e.returned ? confirm_result::returned
                             : confirm_result::confirmed);
  }

  /// Removes every unsettled message, in publish order, and restarts the
  /// tags at 1 (the channel is gone; a new one counts afresh).
  std::vector<entry> take_unsettled() {
    std::vector<entry> result;
    for (auto& e : entries_)
      if (!e.settled)
        result.push_back(std::move(e));
    entries_.clear();
    next_tag_ = 1;
    return result;
  }

  /// Messages published and not yet settled (plus settled ones held behind
  /// an unsettled one).
  std::size_t size() const noexcept { return entries_.size(); }

  bool empty() const noexcept { return entries_.empty(); }

 private:
  std::deque<entry> entries_;
  uint64_t next_tag_ = 1;
};

} // namespace warren::bridges::detail
