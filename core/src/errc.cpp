#include "warren/core/errc.hpp"

#include <caf/message.hpp>

namespace warren {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none:
      return "none";
    case errc::invalid_config:
      return "invalid_config";
    case errc::invalid_uri:
      return "invalid_uri";
    case errc::connection_failed:
      return "connection_failed";
    case errc::connection_lost:
      return "connection_lost";
    case errc::topology_failed:
      return "topology_failed";
    case errc::publish_nacked:
      return "publish_nacked";
    case errc::unroutable:
      return "unroutable";
    case errc::malformed_body:
      return "malformed_body";
    case errc::unknown_type:
      return "unknown_type";
    case errc::validation_failed:
      return "validation_failed";
    case errc::oversized_body:
      return "oversized_body";
    case errc::handler_failed:
      return "handler_failed";
    case errc::timeout:
      return "timeout";
    case errc::unknown_kind:
      return "unknown_kind";
    case errc::plugin_failed:
      return "plugin_failed";
    case errc::shutting_down:
      return "shutting_down";
    case errc::remote_error:
      return "remote_error";
    case errc::actor_failed:
      return "actor_failed";
    case errc::released:
      return "released";
    case errc::supervisor_gave_up:
      return "supervisor_gave_up";
    case errc::store_failed:
      return "store_failed";
    case errc::not_found:
      return "not_found";
    case errc::access_refused:
      return "access_refused";
    case errc::channel_error:
      return "channel_error";
  }
  return "unknown_error";
}

errc errc_of_reply_code(int reply_code) noexcept {
  switch (reply_code) {
    case 404:
      return errc::not_found;
    case 403:
      return errc::access_refused;
    default:
      return errc::channel_error;
  }
}

caf::error make_error(errc code, std::string what) {
  return caf::error{static_cast<uint8_t>(code), warren_error_atom::value,
                    caf::make_message(std::move(what))};
}

caf::error make_error(errc code) {
  return caf::error{static_cast<uint8_t>(code), warren_error_atom::value};
}

errc code_of(const caf::error& err) noexcept {
  if (!err || err.category() != warren_error_atom::value)
    return errc::none;
  return static_cast<errc>(err.code());
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == warren_error_atom::value) {
    const auto& ctx = err.context();
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      return ctx.get_as<std::string>(0);
    return to_string(static_cast<errc>(err.code()));
  }
  return caf::to_string(err);
}

} // namespace warren
