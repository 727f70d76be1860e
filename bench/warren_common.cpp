#include "warren_common.hpp"

#include "warren/bridges/client.hpp"
#include "warren/core/errc.hpp"
#include "warren/metrics/http_get.hpp"

#include <stdexcept>

namespace warren::bench {

config::node_config make_config(const std::string& uri) {
  config::node_config cfg;
  cfg.source_file = "bench";
  cfg.node_name = "bench";
  auto ep = bridges::parse_broker_uri(uri);
  if (!ep)
    throw std::runtime_error("bad URI: " + describe(ep.error()));
  cfg.broker.endpoints.push_back(*ep);
  cfg.broker.connection_name = "warren bench";
  cfg.scheduler_threads = 2;
  return cfg;
}

void delete_queues(const config::node_config& cfg, const std::string& queue) {
  auto client = bridges::blocking_client::connect(cfg.broker);
  if (!client)
    throw std::runtime_error("connect: " + describe(client.error()));
  (*client)->delete_queue(queue);
  (*client)->delete_queue(warren::dead_letter_queue_name(queue));
}

scraper::scraper(uint16_t port, std::chrono::milliseconds interval) {
  if (port == 0)
    return;
  thread_ = std::thread{[this, port, interval] {
    while (!stopping_) {
      if (metrics::http_get({"127.0.0.1", port, "/metrics"}))
        ++scrapes_;
      for (auto waited = std::chrono::milliseconds{0};
           waited < interval && !stopping_;
           waited += std::chrono::milliseconds{10})
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }};
}

scraper::~scraper() {
  stop();
}

std::size_t scraper::stop() {
  stopping_ = true;
  if (thread_.joinable())
    thread_.join();
  return scrapes_;
}

} // namespace warren::bench
