#include "warren_common.hpp"

#include "warren/bridges/atoms.hpp"
#include "warren/bridges/client.hpp"
#include "warren/core/errc.hpp"
#include "warren/metrics/http_get.hpp"

#include <caf/all.hpp>
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

running_node::running_node(const config::node_config& cfg,
                           const registry& kinds, std::chrono::seconds ready)
  : config_(std::make_unique<caf::actor_system_config>()) {
  runtime::configure_system(*config_, cfg);
  system_ = std::make_unique<caf::actor_system>(*config_);
  node_ = std::make_unique<runtime::node>(*system_, cfg, kinds);
  if (auto err = node_->start(ready))
    throw std::runtime_error("node start: " + describe(err));
}

running_node::~running_node() {
  node_->stop();
}

void running_node::publish(message_maker make, std::size_t total) {
  auto done = std::make_shared<std::promise<std::size_t>>();
  auto confirmed = done->get_future();
  system_->spawn(publish_driver, node_->publisher(), std::move(make), total,
                 std::size_t{100}, std::size_t{4}, done);
  if (auto failed = confirmed.get(); failed > 0)
    throw std::runtime_error(std::to_string(failed) + " publishes failed");
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

caf::behavior publish_driver(caf::event_based_actor* self,
                             bridges::publisher_actor publisher,
                             message_maker make, std::size_t total,
                             std::size_t batch, std::size_t window,
                             std::shared_ptr<std::promise<std::size_t>> done) {
  struct state {
    std::size_t sent = 0;
    std::size_t confirmed = 0;
    std::size_t failed = 0;
  };
  auto st = std::make_shared<state>();
  auto send_one = std::make_shared<std::function<void()>>();
  auto settled = [=](std::size_t n, bool ok) {
    (ok ? st->confirmed : st->failed) += n;
    if (st->confirmed + st->failed == total) {
      done->set_value(st->failed);
      *send_one = nullptr; // break the self-reference
      self->quit();
      return;
    }
    (*send_one)();
  };
  *send_one = [=] {
    if (st->sent >= total)
      return;
    bridges::publish_batch msgs;
    auto n = std::min(batch, total - st->sent);
    msgs.messages.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      msgs.messages.push_back(make(st->sent++));
    self
      ->request(publisher, caf::infinite, bridges::publish_atom::value,
                std::move(msgs))
      .then([=](caf::ok_atom) { settled(n, true); },
            [=](caf::error&) { settled(n, false); });
  };
  for (std::size_t i = 0; i < window && i * batch < total; ++i)
    (*send_one)();
  return {[](caf::ok_atom) {
  }};
}

} // namespace warren::bench
