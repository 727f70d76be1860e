#pragma once

/// One table of handlers by message type, shared by every kind of warren
/// actor (stateless `handlers`, stateful `json_state_handlers`), so they
/// find handlers by the same rule:
///
/// - a message whose `type` has a handler goes to it;
/// - any other message (no `type`, or a type nobody registered) goes to the
///   default handler (`otherwise`), if there is one;
/// - else there is no handler, and the message fails permanently with
///   `errc::unknown_type`.

#include <string>
#include <unordered_map>

namespace warren {

/// `Derived` is the table's public class (for chaining), `Handler` the
/// handler type.
template<class Derived, class Handler>
class handler_table {
 public:
  using handler_type = Handler;

  /// Handles messages of `type` (replacing an earlier handler of it).
  Derived& json(std::string type, Handler fn) {
    by_type_[std::move(type)] = std::move(fn);
    return static_cast<Derived&>(*this);
  }

  /// Handles messages without a `type`, or with a type nobody else handles.
  Derived& otherwise(Handler fn) {
    default_ = std::move(fn);
    return static_cast<Derived&>(*this);
  }

  /// The handler for `type` by the rule above, or nullptr.
  const Handler* find(const std::string& type) const {
    if (!type.empty())
      if (auto i = by_type_.find(type); i != by_type_.end())
        return &i->second;
    return default_ ? &default_ : nullptr;
  }

 private:
  std::unordered_map<std::string, Handler> by_type_;
  Handler default_;
};

} // namespace warren
