#pragma once

// What the warren side of the benchmark shares: a node config for the
// bench broker, and clean queues.

#include "warren/bridges/publisher.hpp"
#include "warren/config/node_config.hpp"
#include "warren/core/envelope.hpp"
#include "warren/runtime/node.hpp"

#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace warren::bench {

using clock_type = std::chrono::steady_clock;

/// A node config for `uri` (2 scheduler threads, no actors yet).
config::node_config make_config(const std::string& uri);

/// Deletes `queue` and its dead-letter queue.
void delete_queues(const config::node_config& cfg, const std::string& queue);

/// Message `i` of a run (0-based, each asked for once, in order).
using message_maker = std::function<outgoing_message(std::size_t i)>;

/// Publishes `total` messages from `make` through `publisher` in batches of
/// `batch` (one request and one answer per batch, as the raw loop waits for
/// confirms per 100), keeping up to `window` batches outstanding, until all
/// are settled; then sets `done` to the number that failed and quits.
caf::behavior publish_driver(caf::event_based_actor* self,
                             bridges::publisher_actor publisher,
                             message_maker make, std::size_t total,
                             std::size_t batch, std::size_t window,
                             std::shared_ptr<std::promise<std::size_t>> done);

/// An actor system and a node on `cfg`, started (throws when it is not
/// ready within `ready`); the node stops when this goes.
class running_node {
 public:
  running_node(const config::node_config& cfg, const registry& kinds,
               std::chrono::seconds ready = std::chrono::seconds{30});
  ~running_node();
  running_node(const running_node&) = delete;
  running_node& operator=(const running_node&) = delete;

  caf::actor_system& system() noexcept { return *system_; }
  runtime::node& node() noexcept { return *node_; }

  /// Publishes `total` messages from `make` through the node's publisher
  /// (publish_driver: batches of 100, 4 outstanding) and waits for their
  /// confirms; throws when some fail.
  void publish(message_maker make, std::size_t total);

 private:
  std::unique_ptr<caf::actor_system_config> config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<runtime::node> node_;
};

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
