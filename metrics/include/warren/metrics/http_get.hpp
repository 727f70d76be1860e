#pragma once

// A tiny blocking HTTP/1.1 GET over POSIX sockets: the client side of the
// metrics endpoint, for `warren top`, the benchmark's scraper and tools.
// Plain http only (the endpoint speaks nothing else), one request per
// connection, everything within a timeout. (cpp-httplib's client would do,
// but its Debian build pulls OpenSSL, zlib and Brotli into every user of
// this library's public headers.)

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace warren::metrics {

/// Where to send a GET.
struct http_target {
  std::string host;
  uint16_t port = 80;
  /// Starts with '/'.
  std::string path;

  /// "host:port" (IPv6 addresses in brackets), for messages.
  std::string authority() const;
};

/// Reads `http://host:port/path`, `host:port` or `host` (IPv6 as
/// `[::1]:9464`). Without a path (or with "/") the path is
/// `default_path`; without a port it is 80. Errors (`errc::invalid_uri`):
/// another scheme, no host, a port that is not 1-65535.
caf::expected<http_target> parse_http_url(std::string_view url,
                                          std::string_view default_path);

/// The body of a complete HTTP/1.x response (`raw`: everything the server
/// sent until it closed): chunked or with Content-Length, or up to the end.
/// Errors (`errc::connection_failed`): not HTTP, a status other than 200
/// ("HTTP 404 Not Found"), a body cut short.
caf::expected<std::string> body_of_response(std::string_view raw);

/// GETs `target` and returns the body of a 200 response. Everything —
/// name lookup excepted, which /etc/hosts or a literal address answer at
/// once — finishes within `timeout` (default 2 s). Errors
/// (`errc::connection_failed`) say what failed: "connection refused",
/// "no answer within 2000 ms", "HTTP 404 Not Found", ...
caf::expected<std::string>
http_get(const http_target& target,
         std::chrono::milliseconds timeout = std::chrono::milliseconds{2000});

} // namespace warren::metrics
