#include "projection.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

namespace warren::cli {

namespace {

call_options request(const projection_options& opts, const char* type) {
  call_options call_opts;
  call_opts.broker = opts.broker;
  call_opts.service = opts.actor;
  call_opts.type = type;
  call_opts.timeout_ms = opts.timeout_ms;
  call_opts.body = "{}";
  return call_opts;
}

} // namespace

int projection_status(const projection_options& opts) {
  return call(request(opts, "projection.status"));
}

int projection_rebuild(const projection_options& opts) {
  if (auto code = call(request(opts, "projection.rebuild"));
      code != exit_ok || !opts.wait)
    return code;
  auto deadline =
    std::chrono::steady_clock::now() + std::chrono::milliseconds{opts.wait_ms};
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    // The status as `warren call` prints it, read back.
    std::ostringstream captured;
    auto* saved = std::cout.rdbuf(captured.rdbuf());
    auto code = call(request(opts, "projection.status"));
    std::cout.rdbuf(saved);
    if (code != exit_ok)
      return code;
    boost::json::error_code ec;
    auto status = boost::json::parse(captured.str(), ec);
    const auto* o = status.if_object();
    if (ec || o == nullptr)
      continue;
    const auto* rebuilding = o->if_contains("rebuilding");
    if (rebuilding != nullptr && rebuilding->is_bool() &&
        !rebuilding->get_bool()) {
      std::cout << captured.str();
      return exit_ok;
    }
    std::cerr << "warren projection rebuild: at position "
              << (o->contains("rebuild_position")
                    ? boost::json::serialize(o->at("rebuild_position"))
                    : std::string{"?"})
              << " of " << boost::json::serialize(o->at("head")) << "\n";
  }
  std::cerr << "warren projection rebuild: not done within " << opts.wait_ms
            << " ms\n";
  return exit_timeout;
}

} // namespace warren::cli
