#include "dispatch/admission.hpp"

#include "warren/core/json_read.hpp"
#include "warren/core/text.hpp"

namespace warren::detail {

bool is_json_content_type(const std::string& type) {
  if (type.empty() || type == "application/json" || type == "text/json")
    return true;
  // "application/json; charset=utf-8", "application/vnd.x+json"
  auto base = type.substr(0, type.find(';'));
  while (!base.empty() && base.back() == ' ')
    base.pop_back();
  return base == "application/json" || base == "text/json" ||
         (base.size() > 5 && base.compare(base.size() - 5, 5, "+json") == 0);
}

std::optional<outcome> admit(envelope& env, const admission_rules& rules) {
  if (env.admitted)
    return std::nullopt;
  auto max_body_bytes = rules.max_body_bytes;
  if (env.properties.message_id.empty()) {
    env.properties.message_id = "anon-" + make_message_id();
    env.anonymous = true;
    if (rules.require_message_id)
      return outcome::reject(errc::validation_failed,
                             "the message has no message_id, and this actor "
                             "requires one (require_message_id)");
  }
  if (env.raw_body.size() > max_body_bytes)
    return outcome::reject(errc::oversized_body,
                           "body of " + std::to_string(env.raw_body.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(max_body_bytes) + " bytes");
  if (!is_json_content_type(env.properties.content_type))
    return outcome::reject(errc::malformed_body,
                           "unsupported content type '" +
                             env.properties.content_type +
                             "' (expected application/json)");
  if (env.raw_body.empty()) {
    env.body = nullptr;
    return std::nullopt;
  }
  boost::json::error_code ec;
  env.body = read_json(env.raw_body, ec);
  if (ec)
    return outcome::reject(errc::malformed_body,
                           "body is not valid JSON: " + ec.message());
  // A number too large for a double parses as infinity, which no JSON
  // writer can put back: refused here rather than stored or sent on as
  // text nobody can read.
  if (auto what = unwritable_json(env.body, false))
    return outcome::reject(errc::malformed_body, "body holds " + *what);
  return std::nullopt;
}

} // namespace warren::detail
