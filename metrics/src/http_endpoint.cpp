#include "warren/metrics/http_endpoint.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

#include <httplib.h>
#include <thread>

namespace warren::metrics {

namespace {

// Prometheus's text exposition format.
constexpr const char* text_format = "text/plain; version=0.0.4; charset=utf-8";

} // namespace

struct http_endpoint::impl {
  httplib::Server server;
  std::thread thread;
  uint16_t port = 0;
};

http_endpoint::http_endpoint(std::unique_ptr<impl> state)
  : impl_(std::move(state)) {
  // Nothing else to do.
}

http_endpoint::~http_endpoint() {
  impl_->server.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

uint16_t http_endpoint::port() const noexcept {
  return impl_->port;
}

caf::expected<std::unique_ptr<http_endpoint>>
http_endpoint::start(const std::string& host, uint16_t port, registry& metrics,
                     readiness_check ready) {
  auto state = std::make_unique<impl>();
  auto& srv = state->server;
  srv.set_read_timeout(5, 0);
  srv.set_write_timeout(5, 0);
  srv.set_keep_alive_timeout(5);
  srv.set_payload_max_length(64 * 1024);
  srv.set_pre_routing_handler(
    [](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" || req.method == "HEAD")
        return httplib::Server::HandlerResponse::Unhandled;
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("method not allowed\n", "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    });
  srv.Get("/metrics",
          [&metrics](const httplib::Request&, httplib::Response& res) {
            res.set_content(metrics.scrape(), text_format);
          });
  srv.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  srv.Get("/readyz", [ready = std::move(ready)](const httplib::Request&,
                                                httplib::Response& res) {
    auto why = ready ? ready() : std::nullopt;
    if (why) {
      res.status = 503;
      res.set_content("not ready: " + *why + "\n", "text/plain");
    } else {
      res.set_content("ready\n", "text/plain");
    }
  });
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty())
      res.set_content(std::to_string(res.status) + "\n", "text/plain");
  });
  int bound = port == 0 ? srv.bind_to_any_port(host)
                        : (srv.bind_to_port(host, port) ? port : -1);
  if (bound <= 0)
    return make_error(errc::invalid_config,
                      "metrics.listen: cannot listen on " + host + ":" +
                        std::to_string(port) +
                        " (address in use, or not an address of this host)");
  state->port = static_cast<uint16_t>(bound);
  auto* server = &state->server;
  state->thread = std::thread{[server] {
    server->listen_after_bind();
  }};
  return std::unique_ptr<http_endpoint>{new http_endpoint(std::move(state))};
}

} // namespace warren::metrics
