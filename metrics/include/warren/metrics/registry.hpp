#pragma once

/// The metrics of one node: every metric is made here once (at start, or
/// when an actor starts) and updated through the handles of cells.hpp; a
/// scrape (`scrape`) renders them all in the Prometheus text format 0.0.4.
///
/// Asking again for a metric with the same name and labels returns the
/// same metric, so counters stay monotonic when an actor restarts or a
/// connection is made again. Every metric carries the label `node`.
///
/// How a new kind adds its own (pools, windows, sagas, projections): take
/// the node's registry (`actor_init::metrics`, may be null when metrics are
/// off), ask it once for handles with the kind's names (`warren_<what>_<unit>`,
/// `_total` for counters) and the label `actor`, keep them, and update them
/// per message; README.md "Metrics" lists every name.

#include "warren/metrics/cells.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prometheus {
class Collectable;
class Registry;
} // namespace prometheus

namespace warren::metrics {

using labels = std::map<std::string, std::string>;

/// Bucket bounds for durations in seconds: 10 µs to 60 s (1, 2.5, 5 per
/// decade).
const std::vector<double>& duration_buckets();

/// Bucket bounds for counts (messages per commit): 1 to 10,000.
const std::vector<double>& count_buckets();

class registry {
 public:
  explicit registry(std::string node_name);
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  const std::string& node_name() const noexcept { return node_; }

  counter make_counter(const std::string& name, const std::string& help,
                       const labels& extra = {});
  gauge make_gauge(const std::string& name, const std::string& help,
                   const labels& extra = {});
  /// Seconds (`scale` 1e9: nanoseconds counted) or counts (`scale` 1).
  histogram make_histogram(const std::string& name, const std::string& help,
                           const std::vector<double>& bounds,
                           const labels& extra = {}, double scale = 1e9);

  /// Something else that renders metric families at each scrape (the
  /// process collector, a kind's own).
  void add_collectable(std::shared_ptr<prometheus::Collectable> source);

  /// Every metric, in the Prometheus text format 0.0.4. Safe from any
  /// thread; scrapes are serialized.
  std::string scrape();

 private:
  struct fed_histogram;

  labels with_node(const labels& extra) const;

  std::string node_;
  std::shared_ptr<prometheus::Registry> prom_;
  std::mutex mutex_; // metric creation and scrapes
  std::vector<std::unique_ptr<fed_histogram>> histograms_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
};

} // namespace warren::metrics
