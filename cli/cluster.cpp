#include "cluster.hpp"

#include "warren/bridges/client.hpp"
#include "warren/runtime/membership.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/serialize.hpp>
#include <iostream>

namespace warren::cli {

namespace membership = runtime::membership;

namespace {

// The announcements of the last `since_seconds` (the stream from that
// point on, up to its end).
caf::expected<std::vector<membership::announcement>>
read_announcements(bridges::blocking_client& client, int64_t since_seconds) {
  field_table from{{"x-stream-offset", std::to_string(since_seconds) + "s"}};
  auto got = client.receive(membership::stream_name, 65535,
                            std::chrono::milliseconds{1000}, true, from,
                            std::chrono::milliseconds{3000});
  if (!got)
    return got.error();
  std::vector<membership::announcement> heard;
  for (const auto& env : *got) {
    auto a = membership::parse_announcement(env.raw_body);
    if (!a) {
      std::cerr << "warren cluster status: skipped a message of "
                << membership::stream_name << ": " << describe(a.error())
                << "\n";
      continue;
    }
    heard.push_back(std::move(*a));
  }
  return heard;
}

} // namespace

int cluster_status(const cluster_options& opts) {
  auto settings = broker_settings_for(opts.broker);
  if (!settings)
    return report("cluster status", settings.error());
  auto client = bridges::blocking_client::connect(*settings);
  if (!client)
    return report("cluster status", client.error());
  auto heard = read_announcements(**client, opts.since_seconds);
  if (!heard)
    return report("cluster status", heard.error());
  auto status = membership::summarize(*heard, runtime::now_ms(), opts.actor);
  for (auto& actor : status.actors)
    for (auto& shard : actor.shard) {
      auto counts = (*client)->queue_counts(shard.queue);
      if (!counts)
        return report("cluster status", counts.error());
      shard.queue_state =
        membership::queue_figures{counts->first, counts->second};
    }
  if (opts.json)
    std::cout << boost::json::serialize(membership::to_json(status)) << "\n";
  else if (status.nodes.empty())
    std::cout << "no node announced itself on " << membership::stream_name
              << " in the last " << opts.since_seconds << " s\n";
  else
    std::cout << membership::to_text(status);
  if (auto stuck = status.stuck_shards(); stuck > 0) {
    std::cerr << "warren cluster status: " << stuck
              << " shard(s) with messages waiting and no live owner\n";
    return exit_failure;
  }
  return exit_ok;
}

} // namespace warren::cli
