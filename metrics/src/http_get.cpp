#include "warren/metrics/http_get.hpp"

#include "warren/core/errc.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <netdb.h>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace warren::metrics {

namespace {

// A metrics page is a few hundred KB at most; this only bounds a server
// that never stops talking.
constexpr std::size_t max_response_bytes = 64 * 1024 * 1024;

caf::error bad_url(std::string_view url, const std::string& why) {
  return make_error(errc::invalid_uri,
                    "'" + std::string{url} + "' is not a metrics URL: " + why);
}

caf::error failed(std::string why) {
  return make_error(errc::connection_failed, std::move(why));
}

// strerror's text starting in lower case, to sit inside our sentences.
std::string system_error(int code) {
  std::string text = std::strerror(code);
  if (!text.empty())
    text[0] =
      static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string lower(std::string_view text) {
  std::string out{text};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The body of a chunked response: hex size lines, each chunk, CRLF; a 0
// size ends it (trailers ignored).
caf::expected<std::string> unchunk(std::string_view rest) {
  std::string body;
  for (;;) {
    auto eol = rest.find("\r\n");
    if (eol == std::string_view::npos)
      return failed("the chunked body was cut short");
    auto size_text = rest.substr(0, std::min(eol, rest.find(';')));
    std::size_t size = 0;
    auto [end, err] = std::from_chars(
      size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (err != std::errc{} || end != size_text.data() + size_text.size())
      return failed("a chunk size is not hexadecimal");
    rest.remove_prefix(eol + 2);
    if (size == 0)
      return body;
    if (rest.size() < size + 2)
      return failed("the chunked body was cut short");
    body.append(rest.substr(0, size));
    rest.remove_prefix(size + 2);
  }
}

// A socket closed on scope exit.
class socket_fd {
 public:
  explicit socket_fd(int fd) : fd_(fd) {}
  ~socket_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

using clock = std::chrono::steady_clock;

// Waits for `events` on `fd` until `deadline`: true when they came.
bool wait_for(int fd, short events, clock::time_point deadline) {
  for (;;) {
    // Rounded up: a poll that wakes a fraction early would end the wait
    // before the deadline.
    auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd, events, 0};
    auto n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0)
      return true;
    if (n < 0 && errno != EINTR)
      return false;
  }
}

// Connects a non-blocking socket to the first address that answers.
caf::expected<int> connect_to(const http_target& target,
                              clock::time_point deadline,
                              std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto port = std::to_string(target.port);
  if (auto rc =
        ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found);
      rc != 0)
    return failed("cannot resolve " + target.host + ": " + gai_strerror(rc));
  std::string why = "no address";
  int connected = -1;
  for (auto* a = found; a != nullptr && connected < 0; a = a->ai_next) {
    int fd =
      ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               a->ai_protocol);
    if (fd < 0) {
      why = system_error(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        if (!wait_for(fd, POLLOUT, deadline)) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(err);
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        }
      }
    }
    if (err == 0) {
      connected = fd;
    } else {
      why = err == ETIMEDOUT ? "no connection within " +
                                 std::to_string(timeout.count()) + " ms"
                             : system_error(err);
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (connected < 0)
    return failed(why);
  return connected;
}

} // namespace

std::string http_target::authority() const {
  auto shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

caf::expected<http_target> parse_http_url(std::string_view url,
                                          std::string_view default_path) {
  auto rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    if (lower(rest.substr(0, scheme)) != "http")
      return bad_url(url, "only http:// is supported");
    rest.remove_prefix(scheme + 3);
  }
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  http_target out;
  out.path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (out.path.empty() || out.path == "/")
    out.path = default_path;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return bad_url(url, "no ']' after the IPv6 address");
    out.host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      return bad_url(url, "expected ':' and a port after ']'");
    port_text = after.empty() ? after : after.substr(1);
  } else {
    auto colon = authority.find(':');
    if (colon != authority.rfind(':'))
      return bad_url(url, "an IPv6 address goes in brackets ([::1]:9464)");
    out.host = authority.substr(0, colon);
    if (colon != std::string_view::npos)
      port_text = authority.substr(colon + 1);
  }
  if (out.host.empty())
    return bad_url(url, "no host");
  if (authority.find(':') != std::string_view::npos || !port_text.empty()) {
    unsigned port = 0;
    auto [end, err] = std::from_chars(
      port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || err != std::errc{} ||
        end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return bad_url(url, "the port is not a number from 1 to 65535");
    out.port = static_cast<uint16_t>(port);
  }
  return out;
}

caf::expected<std::string> body_of_response(std::string_view raw) {
  if (raw.substr(0, 5) != "HTTP/")
    return failed(raw.empty() ? "the server closed the connection without "
                                "an answer"
                              : "the answer is not HTTP");
  auto header_end = raw.find("\r\n\r\n");
  if (header_end == std::string_view::npos)
    return failed("the answer's header was cut short");
  auto head = raw.substr(0, header_end + 2);
  auto rest = raw.substr(header_end + 4);
  auto status_end = head.find("\r\n");
  auto status = head.substr(0, status_end);
  auto code_at = status.find(' ');
  if (code_at == std::string_view::npos)
    return failed("the answer has no status code");
  auto code = status.substr(code_at + 1, 3);
  if (code != "200")
    return failed("HTTP " + std::string{status.substr(code_at + 1)});
  bool chunked = false;
  std::optional<std::size_t> length;
  for (auto line_at = status_end + 2; line_at < head.size();) {
    auto eol = head.find("\r\n", line_at);
    auto line = head.substr(line_at, eol - line_at);
    line_at = eol + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto name = lower(line.substr(0, colon));
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    if (name == "transfer-encoding" &&
        lower(value).find("chunked") != std::string::npos) {
      chunked = true;
    } else if (name == "content-length") {
      std::size_t n = 0;
      auto [end, err] =
        std::from_chars(value.data(), value.data() + value.size(), n);
      if (err != std::errc{})
        return failed("the Content-Length is not a number");
      length = n;
    }
  }
  if (chunked)
    return unchunk(rest);
  if (length) {
    if (rest.size() < *length)
      return failed("the body was cut short (" + std::to_string(rest.size()) +
                    " of " + std::to_string(*length) + " bytes)");
    return std::string{rest.substr(0, *length)};
  }
  return std::string{rest};
}

caf::expected<std::string> http_get(const http_target& target,
                                    std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  auto connected = connect_to(target, deadline, timeout);
  if (!connected)
    return connected.error();
  socket_fd fd{*connected};
  auto late = [&] {
    return failed("no answer within " + std::to_string(timeout.count()) +
                  " ms");
  };
  std::string request = "GET " + target.path +
                        " HTTP/1.1\r\nHost: " + target.authority() +
                        "\r\nAccept: text/plain;version=0.0.4\r\n"
                        "User-Agent: warren-top\r\nConnection: close\r\n\r\n";
  std::string_view unsent = request;
  while (!unsent.empty()) {
    if (!wait_for(fd.get(), POLLOUT, deadline))
      return late();
    auto n = ::send(fd.get(), unsent.data(), unsent.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return failed("sending the request: " + system_error(errno));
    if (n > 0)
      unsent.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string response;
  char buf[16384];
  for (;;) {
    if (!wait_for(fd.get(), POLLIN, deadline))
      return late();
    auto n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0)
      break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      return failed("reading the answer: " + system_error(errno));
    }
    response.append(buf, static_cast<std::size_t>(n));
    if (response.size() > max_response_bytes)
      return failed("the answer is larger than 64 MiB");
  }
  return body_of_response(response);
}

} // namespace warren::metrics
