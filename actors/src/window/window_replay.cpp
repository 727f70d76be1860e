#include "warren/actors/window_replay.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/json_read.hpp"
#include "window/window_codec.hpp"
#include "window/window_kernel.hpp"
#include "window/window_options.hpp"

#include <boost/json/serialize.hpp>
#include <chrono>
#include <istream>
#include <ostream>
#include <vector>

namespace warren::actors {

caf::expected<replay_summary> replay_window(const std::string& actor,
                                            const boost::json::object& options,
                                            std::istream& events,
                                            std::ostream& results,
                                            std::ostream& errors) {
  config::config_reader reader{"actor '" + actor + "'"};
  config::object_reader opts{reader, options, "$.options"};
  auto settings = read_window_settings(opts);
  if (!settings)
    return reader.error();
  window_codec codec{*settings};
  window_kernel kernel{settings->spec};
  replay_summary summary;
  std::vector<double> values(settings->fields.size());
  auto emit = [&](const window_result& r) {
    boost::json::object line;
    line["id"] = window_codec::result_id(r, actor);
    line["result"] = codec.result_body(r);
    results << boost::json::serialize(line) << '\n';
    ++(r.is_update ? summary.updates : summary.results);
  };
  auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  };
  std::string line;
  std::string key;
  for (uint64_t number = 1; std::getline(events, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    ++summary.lines;
    boost::json::error_code ec;
    auto body = read_json(line, ec);
    std::string why;
    int64_t time = 0;
    auto now = wall_ms();
    if (ec)
      why = "not valid JSON (" + ec.message() + ")";
    else if (codec.read(body, now, key, time, values.data(), why)) {
      switch (kernel.offer(kernel.intern(key), time, values.data())) {
        case offer_result::accepted:
          ++summary.accepted;
          break;
        case offer_result::late:
          ++summary.late;
          results << boost::json::serialize(boost::json::object{{"late", body}})
                  << '\n';
          break;
        case offer_result::invalid:
          why = "event time " + std::to_string(time) +
                " is outside the range a window can hold";
          break;
      }
    }
    if (!why.empty()) {
      ++summary.rejected;
      errors << "line " << number << ": " << why << '\n';
    }
    kernel.flush(now, emit);
  }
  kernel.finish(emit);
  return summary;
}

} // namespace warren::actors
