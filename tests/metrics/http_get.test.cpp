// `warren top`'s HTTP client: URLs, responses, and its timeout against
// sockets of the test's own on 127.0.0.1 (no broker, no node).

#include "warren/metrics/http_get.hpp"

#include "warren/core/errc.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <chrono>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace warren::metrics;
using namespace std::chrono_literals;

namespace {

std::string error_of(const caf::expected<std::string>& r) {
  REQUIRE(!r);
  return warren::describe(r.error());
}

// A listening socket on 127.0.0.1 with a port the kernel chose.
class listener {
 public:
  listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(fd_, 4) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~listener() { ::close(fd_); }
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  http_target target() const { return {"127.0.0.1", port_, "/metrics"}; }

  /// Accepts one connection, reads the request and answers `response`.
  std::string answer_once(const std::string& response) {
    int conn = ::accept(fd_, nullptr, nullptr);
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      auto n = ::recv(conn, buf, sizeof(buf), 0);
      if (n <= 0)
        break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    ::send(conn, response.data(), response.size(), MSG_NOSIGNAL);
    ::close(conn);
    return request;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

} // namespace

TEST_CASE("a metrics URL may be http://host:port[/path] or host:port, "
          "/metrics is the path when none is given",
          "[http_get]") {
  auto t = parse_http_url("http://127.0.0.1:9464", "/metrics");
  REQUIRE(t);
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == 9464);
  CHECK(t->path == "/metrics");
  t = parse_http_url("node-a:9000/", "/metrics");
  REQUIRE(t);
  CHECK(t->host == "node-a");
  CHECK(t->path == "/metrics");
  t = parse_http_url("HTTP://[::1]:9464/custom/path", "/metrics");
  REQUIRE(t);
  CHECK(t->host == "::1");
  CHECK(t->authority() == "[::1]:9464");
  CHECK(t->path == "/custom/path");
  t = parse_http_url("localhost", "/metrics");
  REQUIRE(t);
  CHECK(t->port == 80);
}

TEST_CASE("a metrics URL with another scheme, no host or a bad port is "
          "refused with the reason",
          "[http_get]") {
  auto why = [](const char* url) {
    auto t = parse_http_url(url, "/metrics");
    REQUIRE(!t);
    CHECK(warren::code_of(t.error()) == warren::errc::invalid_uri);
    return warren::describe(t.error());
  };
  CHECK(why("https://h:1") ==
        "'https://h:1' is not a metrics URL: only http:// is supported");
  CHECK(why(":9464") == "':9464' is not a metrics URL: no host");
  CHECK(why("h:0") ==
        "'h:0' is not a metrics URL: the port is not a number from 1 to "
        "65535");
  CHECK(why("h:70000").find("the port") != std::string::npos);
  CHECK(why("h:").find("the port") != std::string::npos);
  CHECK(why("::1:9464").find("brackets") != std::string::npos);
}

TEST_CASE("a response's body is read by Content-Length, chunks, or up to "
          "the end, and another status than 200 is an error that names it",
          "[http_get]") {
  auto body = body_of_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                               "hello, and more");
  REQUIRE(body);
  CHECK(*body == "hello");
  body =
    body_of_response("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n"
                     "\r\n5;x=y\r\nhello\r\nb\r\n, world 123\r\n0\r\n\r\n");
  REQUIRE(body);
  CHECK(*body == "hello, world 123");
  body = body_of_response("HTTP/1.0 200 OK\r\n\r\nall of it");
  REQUIRE(body);
  CHECK(*body == "all of it");
  CHECK(error_of(body_of_response("HTTP/1.1 404 Not Found\r\n\r\n")) ==
        "HTTP 404 Not Found");
  CHECK(error_of(body_of_response(
          "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")) ==
        "the body was cut short (5 of 10 bytes)");
  CHECK(error_of(body_of_response("")) ==
        "the server closed the connection without an answer");
  CHECK(error_of(body_of_response("SSH-2.0-OpenSSH\r\n")) ==
        "the answer is not HTTP");
}

TEST_CASE("http_get sends a GET for the path and returns the body",
          "[http_get]") {
  listener server;
  std::string request;
  std::thread answering{[&] {
    request =
      server.answer_once("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nup 1");
  }};
  auto body = http_get(server.target());
  answering.join();
  REQUIRE(body);
  CHECK(*body == "up 1");
  CHECK(request.rfind("GET /metrics HTTP/1.1\r\n", 0) == 0);
  CHECK(request.find("\r\nHost: 127.0.0.1:") != std::string::npos);
}

TEST_CASE("http_get fails at once on a closed port and within its timeout "
          "on a server that never answers",
          "[http_get]") {
  http_target closed;
  {
    listener gone;
    closed = gone.target();
  }
  CHECK(error_of(http_get(closed)) == "connection refused");

  listener silent; // accepts (the kernel's backlog) and never answers
  auto start = std::chrono::steady_clock::now();
  CHECK(error_of(http_get(silent.target(), 300ms)) ==
        "no answer within 300 ms");
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 300ms);
  CHECK(took < 1500ms);
}
