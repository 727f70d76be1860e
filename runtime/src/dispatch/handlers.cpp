#include "warren/runtime/actor.hpp"

namespace warren {

context::~context() = default;

actor::~actor() = default;

handlers& handlers::json(std::string type, json_handler fn) {
  by_type_[std::move(type)] = std::move(fn);
  return *this;
}

handlers& handlers::otherwise(json_handler fn) {
  default_ = std::move(fn);
  return *this;
}

const handlers::json_handler* handlers::find(const std::string& type) const {
  if (!type.empty()) {
    auto i = by_type_.find(type);
    if (i != by_type_.end())
      return &i->second;
  }
  return default_ ? &default_ : nullptr;
}

} // namespace warren
