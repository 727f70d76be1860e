#pragma once

// What the warren side of the benchmark shares: a node config for the
// bench broker, and clean queues.

#include "warren/config/node_config.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

namespace warren::bench {

using clock_type = std::chrono::steady_clock;

/// A node config for `uri` (2 scheduler threads, no actors yet).
config::node_config make_config(const std::string& uri);

/// Deletes `queue` and its dead-letter queue.
void delete_queues(const config::node_config& cfg, const std::string& queue);

/// Scrapes /metrics on 127.0.0.1:`port` every `interval` on a thread of its
/// own until `stop` (or destruction); port 0: does nothing.
class scraper {
 public:
  scraper(uint16_t port, std::chrono::milliseconds interval);
  ~scraper();
  scraper(const scraper&) = delete;
  scraper& operator=(const scraper&) = delete;
  /// Stops; returns how many scrapes succeeded.
  std::size_t stop();

 private:
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> scrapes_{0};
  std::thread thread_;
};

} // namespace warren::bench
