#pragma once

// Private to warren::actors: a routing-key (or any text) template with
// fields of the message body, as in `metrics.device.{device_id}` or
// `alerts.{location.city}.{level}`. `{path}` is replaced by the field at that
// dotted path (field_path.hpp): a string as it is, a number or a boolean as
// JSON writes it; `{{` and `}}` are a literal brace. A field that is missing,
// null, an object or an array makes the rendering fail with the field's
// path, so a message is never routed by half a key. Pure logic.

#include "pipeline/field_path.hpp"

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace warren::actors {

class key_template {
 public:
  /// Nullopt and `why` set when `text` is not a template (an unclosed or
  /// empty `{}`, a lone `}`, a bad field path).
  static std::optional<key_template> parse(std::string_view text,
                                           std::string& why);

  /// Renders into `out` (cleared first). False with `why` set when a field
  /// cannot be rendered, or the result is longer than `max_bytes` (an AMQP
  /// routing key is at most 255 bytes).
  bool render(const boost::json::value& body, std::string& out,
              std::string& why, std::size_t max_bytes = 255) const;

  /// True when the template names no field.
  bool constant() const noexcept { return fields_ == 0; }
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  std::vector<std::variant<std::string, field_path>> parts_;
  std::size_t fields_ = 0;
};

} // namespace warren::actors
