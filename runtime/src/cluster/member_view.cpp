#include "cluster/member_view.hpp"

#include "warren/core/log.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <vector>

namespace warren::runtime::cluster {

namespace {

// The stream keeps announcements an hour: older words are not news.
constexpr int64_t forget_after_ms = 3'600'000;

} // namespace

void member_view::heard(membership::announcement a) {
  heard(std::move(a), now_ms());
}

void member_view::heard(membership::announcement a, int64_t heard_ms) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto newest = a.at_ms;
  for (auto i = latest_.begin(); i != latest_.end();)
    if (i->second.said.at_ms < newest - forget_after_ms)
      i = latest_.erase(i);
    else
      ++i;
  auto [slot, added] = latest_.try_emplace(a.node);
  // A node's clock runs forward: an older word is a replay.
  if (added || a.at_ms >= slot->second.said.at_ms)
    slot->second = {std::move(a), heard_ms};
}

bool member_view::knows(const std::string& node) const {
  std::lock_guard<std::mutex> guard{mutex_};
  return latest_.count(node) > 0;
}

membership::cluster_status member_view::status(int64_t now_ms) const {
  std::vector<membership::announcement> said;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    said.reserve(latest_.size());
    for (const auto& [node, h] : latest_)
      said.push_back(h.said);
  }
  return membership::summarize(said, now_ms);
}

std::vector<membership::heard_announcement> member_view::heard() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<membership::heard_announcement> out;
  out.reserve(latest_.size());
  for (const auto& [node, h] : latest_)
    out.push_back(h);
  return out;
}

member_view_reader::member_view_reader(std::shared_ptr<member_view> view,
                                       std::chrono::milliseconds replay)
  : view_(std::move(view)), replay_(replay) {}

field_table member_view_reader::consume_arguments() const {
  // A stream offset as an interval: what arrived in the last N seconds.
  auto seconds = std::chrono::ceil<std::chrono::seconds>(replay_).count();
  return {{"x-stream-offset", std::to_string(seconds) + "s"}};
}

void member_view_reader::handle(bridges::consumer_host&, bridges::delivery msg,
                                std::function<void(bridges::settlement)> done) {
  if (msg->properties.type == membership::announcement_type) {
    auto a = membership::parse_announcement(msg->raw_body);
    if (a) {
      view_->heard(std::move(*a));
    } else if (!warned_) {
      warned_ = true;
      log::warning(log::scope{"cluster"},
                   "an announcement on {} could not be read ({}); skipped "
                   "(and any more like it)",
                   membership::stream_name, describe(a.error()));
    }
  }
  done(bridges::settlement::ack());
}

} // namespace warren::runtime::cluster
