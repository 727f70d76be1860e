#pragma once

/// The node's HTTP endpoint (`metrics.listen`), on cpp-httplib's server
/// and its own threads, so a scrape never runs on a consumer's thread:
///
/// - `GET /metrics`: every metric, Prometheus text format 0.0.4;
/// - `GET /healthz`: 200 "ok" while the process serves at all;
/// - `GET /readyz`: 200 "ready", or 503 with the reason (not connected, a
///   consumer not consuming, the store unusable);
/// - `GET /`: the live status page, with `/status.js` and `/chart.js`
///   (Debian's Chart.js), all embedded at build time (status_page.hpp);
/// - any other path 404, any other method 405 (with `Allow: GET, HEAD`);
///   a request line over 8 KiB 414; a handler that throws 500. A pool of 32
///   threads serves the connections, one each; a client that sends nothing
///   for 2 s is dropped. A slow client holds one thread, never the node;
///   32 clients trickling bytes can hold them all (the read timeout
///   restarts with each byte): keep the endpoint on an internal address.

#include "warren/metrics/registry.hpp"

#include <caf/expected.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace warren::metrics {

/// Why the node is not ready, or nullopt when it is. Called on an endpoint
/// thread: it must only read what is safe to read from any thread.
using readiness_check = std::function<std::optional<std::string>()>;

class http_endpoint {
 public:
  /// Listens on `host:port` (port 0: any free port) and serves until
  /// destroyed. An address that cannot be bound is an error naming it.
  static caf::expected<std::unique_ptr<http_endpoint>>
  start(const std::string& host, uint16_t port, registry& metrics,
        readiness_check ready);

  ~http_endpoint();
  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  /// The port it listens on (the one chosen when asked for port 0).
  uint16_t port() const noexcept;

 private:
  struct impl;
  explicit http_endpoint(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

} // namespace warren::metrics
