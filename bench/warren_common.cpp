#include "warren_common.hpp"

#include "warren/bridges/client.hpp"
#include "warren/core/errc.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

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

std::optional<std::string> http_get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    auto request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[16384];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0)
        response.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  auto body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos)
    return std::nullopt;
  return response.substr(body + 4);
}

scraper::scraper(uint16_t port, std::chrono::milliseconds interval) {
  if (port == 0)
    return;
  thread_ = std::thread{[this, port, interval] {
    while (!stopping_) {
      if (http_get(port, "/metrics"))
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
