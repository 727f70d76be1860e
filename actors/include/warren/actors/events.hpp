#pragma once

/// Events as the `event_store` kind keeps them and as event-sourced
/// aggregates (warren/actors/aggregate.hpp) see them.

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

namespace warren {

/// An event in a store.
struct recorded_event {
  /// 1, 2, 3 ... over the whole store, in commit order, without gaps.
  int64_t position = 0;
  std::string stream;
  /// 1, 2, 3 ... in its stream.
  int64_t version = 0;
  std::string event_id;
  std::string type;
  boost::json::value data;
  boost::json::object metadata;
  int64_t recorded_ms = 0;
};

/// An event to append: what a command decided.
struct new_event {
  std::string type;
  boost::json::value data;
  boost::json::object metadata = {};
};

/// Turns events of an old shape into the current one whenever they are read
/// (replies, aggregates' replays, projections' pages), never in the table:
/// the store keeps what was appended. An event's shape is the integer
/// `metadata.schema` (absent: 1).
///
/// ~~~
/// up.add("credited", 1, [](std::string& type, boost::json::value& data) {
///   type = "deposited";                       // renamed in schema 2
///   data = {{"amount", data.at("value")}};
/// });
/// ~~~
class upcasters {
 public:
  using step = std::function<void(std::string& type, boost::json::value& data)>;

  /// Events of `type` at schema `from` become schema `from + 1` through
  /// `fn` (which may rename the type: the next step is looked up under the
  /// new name).
  upcasters& add(std::string type, int64_t from, step fn) {
    steps_[{std::move(type), from}] = std::move(fn);
    return *this;
  }

  /// Every step that fits `e`, in order; `metadata.schema` says where it
  /// ended.
  void apply(recorded_event& e) const {
    if (steps_.empty())
      return;
    int64_t schema = 1;
    if (const auto* s = e.metadata.if_contains("schema"); s && s->is_int64())
      schema = s->get_int64();
    bool moved = false;
    for (auto i = steps_.find({e.type, schema}); i != steps_.end();
         i = steps_.find({e.type, schema})) {
      i->second(e.type, e.data);
      ++schema;
      moved = true;
    }
    if (moved)
      e.metadata["schema"] = schema;
  }

  /// The schema an event of `type` is appended at: one past its last step
  /// (1 when it has none).
  int64_t current(const std::string& type) const {
    int64_t schema = 1;
    for (auto i = steps_.lower_bound({type, 0});
         i != steps_.end() && i->first.first == type; ++i)
      schema = std::max(schema, i->first.second + 1);
    return schema;
  }

  bool empty() const noexcept { return steps_.empty(); }

 private:
  std::map<std::pair<std::string, int64_t>, step> steps_;
};

} // namespace warren
