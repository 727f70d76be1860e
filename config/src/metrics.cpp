// `$.metrics`: {"listen": "127.0.0.1:9464"}.

#include "sections.hpp"

#include <charconv>

namespace warren::config::detail {

void read_metrics(config_reader& r, const boost::json::value* v,
                  metrics_config& out) {
  if (v == nullptr)
    return;
  auto obj = r.object(*v, "$.metrics");
  if (!obj)
    return;
  obj->allow({"listen"});
  std::string listen;
  if (!obj->string("listen", listen))
    return;
  auto colon = listen.rfind(':');
  auto path = obj->path_of("listen");
  const char* expected = "\"host:port\" with a port from 0 to 65535 (e.g. "
                         "\"127.0.0.1:9464\")";
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    r.fail_expected(path, expected, boost::json::value(listen));
    return;
  }
  unsigned port = 0;
  const char* first = listen.data() + colon + 1;
  const char* last = listen.data() + listen.size();
  auto [end, err] = std::from_chars(first, last, port);
  if (err != std::errc{} || end != last || port > 65535) {
    r.fail_expected(path, expected, boost::json::value(listen));
    return;
  }
  out.enabled = true;
  out.host = listen.substr(0, colon);
  out.port = static_cast<uint16_t>(port);
}

} // namespace warren::config::detail
