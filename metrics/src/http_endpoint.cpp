#include "warren/metrics/http_endpoint.hpp"

#include "status_page.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

#include <httplib.h>
#include <thread>

namespace warren::metrics {

namespace {

// Threads serving connections (one each while it is open).
constexpr std::size_t endpoint_threads = 32;

// Prometheus's text exposition format.
constexpr const char* text_format = "text/plain; version=0.0.4; charset=utf-8";

// The status page loads only its own script and Chart.js, and fetches only
// /metrics, all from this endpoint.
constexpr const char* status_page_policy =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; "
  "frame-ancestors 'none'";

// Serves a file of the status page from memory. `pattern` is a regular
// expression (cpp-httplib's routes are), matched against the whole path.
void serve(httplib::Server& srv, const char* pattern,
           const detail::asset& file) {
  srv.Get(pattern, [&file](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", file.cache_control);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Content-Security-Policy", status_page_policy);
    res.set_content(file.body.data(), file.body.size(), file.content_type);
  });
}

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
  // Each connection holds a thread while it is open: more threads than
  // cpp-httplib's default 8 (idle ones cost a stack), and short timeouts,
  // so clients that send nothing, or a byte now and then, hold them for
  // seconds, not for ever (the read timeout restarts with each byte: an
  // endpoint open to hostile clients belongs behind a proxy).
  srv.new_task_queue = [] {
    return new httplib::ThreadPool(endpoint_threads);
  };
  srv.set_read_timeout(2, 0);
  srv.set_write_timeout(5, 0);
  srv.set_keep_alive_timeout(2);
  srv.set_keep_alive_max_count(100);
  // A failing handler says 500, not what it threw (cpp-httplib's default
  // puts the exception's text in a header).
  srv.set_exception_handler(
    [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      res.status = 500;
      res.set_content("internal error\n", "text/plain");
    });
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
  serve(srv, "/", detail::status_page_html());
  serve(srv, R"(/status\.js)", detail::status_page_script());
  serve(srv, R"(/chart\.js)", detail::chart_js());
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
