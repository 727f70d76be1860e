// Out-of-line parts of the actor API (warren/runtime/actor.hpp and
// stateful.hpp).

#include "warren/runtime/stateful.hpp"

namespace warren {

context::~context() = default;

actor::~actor() = default;

stateful_base::stateful_base(const actor_init& init) : actor(init) {
  if (const auto* field = init.options.if_contains("key_field"))
    if (field->is_string())
      key_field_ = std::string{field->get_string()};
}

std::string stateful_base::key_of(const envelope& msg) const {
  if (const auto* key =
        warren::find_field(msg.properties.headers, "x-warren-key"))
    if (const auto* text = std::get_if<std::string>(key))
      return *text;
  if (!key_field_.empty() && msg.body.is_object())
    if (const auto* v = msg.body.get_object().if_contains(key_field_)) {
      if (v->is_string())
        return std::string{v->get_string()};
      if (v->is_int64())
        return std::to_string(v->get_int64());
    }
  return {};
}

void stateful_base::setup(handlers&) {
  // Stateful actors register through setup_json_state.
}

} // namespace warren
