#include "projection.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <iostream>
#include <optional>
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

// What `warren call` prints for `opts`, read back.
std::string captured_call(const call_options& opts, int& code) {
  std::ostringstream captured;
  auto* saved = std::cout.rdbuf(captured.rdbuf());
  code = call(opts);
  std::cout.rdbuf(saved);
  return captured.str();
}

// A sharded projection's status lists its shards.
std::optional<boost::json::array> shards_of(const std::string& status) {
  boost::json::error_code ec;
  auto v = boost::json::parse(status, ec);
  const auto* o = v.if_object();
  const auto* shards = o != nullptr ? o->if_contains("shards") : nullptr;
  if (ec || shards == nullptr || !shards->is_array())
    return std::nullopt;
  return shards->get_array();
}

int64_t integer_at(const boost::json::value& v, const char* key) {
  const auto* o = v.if_object();
  const auto* n = o != nullptr ? o->if_contains(key) : nullptr;
  return n != nullptr && n->is_int64() ? n->get_int64() : 0;
}

} // namespace

int projection_status(const projection_options& opts) {
  return call(request(opts, "projection.status"));
}

int projection_rebuild(const projection_options& opts) {
  if (!opts.wait)
    return call(request(opts, "projection.rebuild"));
  int code = exit_ok;
  auto asked = captured_call(request(opts, "projection.rebuild"), code);
  std::cout << asked;
  if (code != exit_ok)
    return code;
  // A sharded projection: its shards start their rebuilds one after the
  // other, so "none rebuilding" alone could be read before the last has
  // started; each shard's generation must have moved past the one it had.
  std::vector<int64_t> before;
  // (An unsharded projection of a sharded store lists the store's shards,
  // without generations.)
  if (auto shards = shards_of(asked))
    for (const auto& s : *shards)
      if (s.is_object() && s.get_object().contains("generation"))
        before.push_back(integer_at(s, "generation"));
  auto deadline =
    std::chrono::steady_clock::now() + std::chrono::milliseconds{opts.wait_ms};
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    auto text = captured_call(request(opts, "projection.status"), code);
    if (code != exit_ok)
      return code;
    boost::json::error_code ec;
    auto status = boost::json::parse(text, ec);
    const auto* o = status.if_object();
    if (ec || o == nullptr)
      continue;
    const auto* rebuilding = o->if_contains("rebuilding");
    bool done =
      rebuilding != nullptr && rebuilding->is_bool() && !rebuilding->get_bool();
    if (auto shards = shards_of(text); shards && !before.empty())
      for (std::size_t i = 0; i < shards->size() && i < before.size(); ++i)
        done = done && integer_at((*shards)[i], "generation") > before[i];
    if (done) {
      std::cout << text;
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
