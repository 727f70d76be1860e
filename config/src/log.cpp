// `$.log`: {"level": "info", "format": "text"}.

#include "sections.hpp"

namespace warren::config::detail {

void read_log(config_reader& r, const boost::json::value* v, log_config& out) {
  if (v == nullptr)
    return;
  auto obj = r.object(*v, "$.log");
  if (!obj)
    return;
  obj->allow({"level", "format"});
  if (auto index = obj->choice(
        "level", {"trace", "debug", "info", "warning", "error", "off"}))
    out.level = static_cast<log::level>(*index);
  if (auto index = obj->choice("format", {"text", "json"}))
    out.format = static_cast<log::format>(*index);
}

} // namespace warren::config::detail
