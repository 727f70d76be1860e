// Out-of-line parts of the actor API (warren/runtime/actor.hpp and
// stateful.hpp).

#include "warren/core/errc.hpp"
#include "warren/core/json_convert.hpp"
#include "warren/core/shard.hpp"
#include "warren/runtime/stateful.hpp"

namespace warren {

context::~context() = default;

actor::~actor() = default;

std::string actor_init::metrics_name() const {
  return shards == 0 ? name : shard_name(name, shard);
}

bool stateful_base::owns_key(std::string_view key) const noexcept {
  const auto& at = init();
  return at.shards == 0 || shard_of(key, at.shards) == at.shard;
}

std::optional<uint32_t> stateful_base::shard_asked(const envelope&) const {
  return std::nullopt;
}

stateful_base::stateful_base(const actor_init& init) : actor(init) {
  if (const auto* field = init.options.if_contains("key_field"))
    if (field->is_string())
      key_field_ = std::string{field->get_string()};
}

caf::expected<std::string> stateful_base::key_of(const envelope& msg) const {
  if (const auto* key =
        warren::find_field(msg.properties.headers, "x-warren-key")) {
    if (const auto* text = std::get_if<std::string>(key);
        text && !text->empty())
      return *text;
    if (const auto* number = std::get_if<int64_t>(key))
      return std::to_string(*number);
    return make_error(errc::validation_failed,
                      "header x-warren-key is not a non-empty string or an "
                      "integer");
  }
  if (key_field_.empty())
    return std::string{};
  const auto* v = msg.body.is_object()
                    ? msg.body.get_object().if_contains(key_field_)
                    : nullptr;
  if (v == nullptr)
    return make_error(errc::validation_failed,
                      "the message has no key: body field '" + key_field_ +
                        "' is missing");
  if (v->is_string() && !v->get_string().empty())
    return std::string{v->get_string()};
  if (v->is_int64())
    return std::to_string(v->get_int64());
  if (v->is_uint64())
    return std::to_string(v->get_uint64());
  return make_error(errc::validation_failed,
                    "the message has no key: body field '" + key_field_ +
                      "' is " +
                      (v->is_string() ? "an empty string" : json_kind_of(*v)) +
                      ", expected a non-empty string or an integer");
}

void stateful_base::setup(handlers&) {
  // Stateful actors register through setup_json_state.
}

} // namespace warren
