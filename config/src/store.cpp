// `$.store`: {"synchronous": "full", "inbox_retention_ms": 604800000}.

#include "sections.hpp"

namespace warren::config::detail {

void read_store(config_reader& r, const boost::json::value* v,
                store_config& out) {
  if (v == nullptr)
    return;
  auto obj = r.object(*v, "$.store");
  if (!obj)
    return;
  obj->allow({"synchronous", "inbox_retention_ms"});
  if (auto index = obj->choice("synchronous", {"full", "normal"}))
    out.synchronous = static_cast<sync_mode>(*index);
  obj->millis("inbox_retention_ms", {1000, 3650LL * 24 * 3600 * 1000},
              out.inbox_retention);
}

} // namespace warren::config::detail
