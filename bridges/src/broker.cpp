#include "warren/bridges/broker.hpp"

#include "warren/bridges/management.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/text.hpp"

#include <cctype>
#include <optional>

// The grammar follows RabbitMQ's AMQP URI spec with two deliberate
// restrictions: a host is required (a forgotten host should not silently mean
// localhost) and query strings are rejected, because heartbeat, timeouts and
// TLS come from config keys and two sources for one setting invite surprises.

namespace warren::bridges {

namespace {

constexpr uint16_t amqp_port = 5672;
constexpr uint16_t amqps_port = 5671;
// RabbitMQ's management API listens on the AMQP port + 10000.
constexpr uint16_t management_offset = 10000;

bool is_unreserved(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~';
}

/// Decodes %XX escapes; nullopt when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size())
      return std::nullopt;
    int hi = hex_digit(in[i + 1]);
    int lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

/// The URI with anything that may be a password replaced by "***", so error
/// messages can quote the input without leaking a secret.
std::string redact_text(std::string_view uri) {
  auto start = uri.find("://");
  auto at = uri.rfind('@');
  if (start == std::string_view::npos || at == std::string_view::npos ||
      at < start)
    return std::string{uri};
  start += 3;
  auto colon = uri.find(':', start);
  if (colon == std::string_view::npos || colon > at)
    return std::string{uri};
  std::string out{uri.substr(0, colon + 1)};
  out += "***";
  out += uri.substr(at);
  return out;
}

/// Parses URIs; each failure names the part that is wrong. A management
/// API's URI has the same authority, the scheme http and no path.
class uri_parser {
 public:
  explicit uri_parser(std::string_view uri, bool management = false)
    : uri_(uri), management_(management) {}

  caf::expected<broker_endpoint> run() {
    auto rest = uri_;
    if (auto err = parse_scheme(rest))
      return err;
    if (rest.find_first_of("?#") != std::string_view::npos)
      return fail("query strings and fragments are not supported (set "
                  "heartbeat, timeouts and TLS with config keys instead)");
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    auto path =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (authority.find('@') == std::string_view::npos &&
        path.find('@') != std::string_view::npos)
      return fail("'@' after the host: percent-encode '/' in the user name "
                  "or password as %2F, and '@' in the vhost as %40");
    if (auto err = parse_authority(authority))
      return err;
    if (management_ && path.size() > 1)
      return fail("expected no path after the host and port");
    if (auto err = parse_vhost(path))
      return err;
    return result_;
  }

  /// Whether the URI named a user.
  bool had_userinfo() const noexcept { return had_userinfo_; }

 private:
  caf::error fail(const std::string& what) const {
    return make_error(errc::invalid_uri,
                      std::string{management_ ? "invalid management URI \""
                                              : "invalid broker URI \""} +
                        redact_text(uri_) + "\": " + what);
  }

  caf::error parse_scheme(std::string_view& rest) {
    auto sep = rest.find("://");
    if (sep == std::string_view::npos)
      return fail(management_
                    ? "expected it to start with http://"
                    : "expected it to start with amqp:// or amqps://");
    std::string scheme;
    for (char c : rest.substr(0, sep))
      scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (management_) {
      if (scheme != "http")
        return fail("unsupported scheme \"" + scheme + "\" (expected http)");
      result_.port = amqp_port + management_offset;
    } else if (scheme == "amqps") {
      result_.tls = true;
      result_.port = amqps_port;
    } else if (scheme == "amqp") {
      result_.port = amqp_port;
    } else {
      return fail("unsupported scheme \"" + scheme +
                  "\" (expected amqp or amqps)");
    }
    rest.remove_prefix(sep + 3);
    return {};
  }

  caf::error parse_authority(std::string_view authority) {
    // The last '@' separates user info from the host, so an unencoded '@'
    // in a password still parses the way the user meant.
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
      had_userinfo_ = true;
      if (auto err = parse_userinfo(authority.substr(0, at)))
        return err;
      authority.remove_prefix(at + 1);
    }
    return parse_host_port(authority);
  }

  caf::error parse_userinfo(std::string_view info) {
    auto colon = info.find(':');
    auto user = percent_decode(info.substr(0, colon));
    if (!user)
      return fail("malformed percent-encoding in the user name");
    result_.user = std::move(*user);
    if (colon != std::string_view::npos) {
      auto password = percent_decode(info.substr(colon + 1));
      // Do not quote the password, not even in part.
      if (!password)
        return fail("malformed percent-encoding in the password");
      result_.password = std::move(*password);
    }
    return {};
  }

  caf::error parse_host_port(std::string_view hp) {
    std::string_view port_text;
    bool has_port = false;
    if (!hp.empty() && hp.front() == '[') {
      auto close = hp.find(']');
      if (close == std::string_view::npos)
        return fail("missing ']' after the IPv6 address");
      auto addr = hp.substr(1, close - 1);
      if (addr.empty() || addr.find(':') == std::string_view::npos ||
          addr.find_first_not_of("0123456789abcdefABCDEF:.") !=
            std::string_view::npos)
        return fail("invalid IPv6 address [" + std::string{addr} + "]");
      result_.host = std::string{addr};
      auto after = hp.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':')
          return fail("expected ':' or '/' after the IPv6 address");
        has_port = true;
        port_text = after.substr(1);
      }
    } else {
      auto colon = hp.find(':');
      if (auto err = parse_host(hp.substr(0, colon)))
        return err;
      if (colon != std::string_view::npos) {
        has_port = true;
        port_text = hp.substr(colon + 1);
      }
    }
    return has_port ? parse_port(port_text) : caf::error{};
  }

  caf::error parse_host(std::string_view text) {
    if (text.empty())
      return fail("the host is missing");
    for (char c : text)
      if (!is_unreserved(c) && c != '%')
        return fail(std::string{"invalid character '"} + c + "' in the host");
    auto host = percent_decode(text);
    if (!host)
      return fail("malformed percent-encoding in the host");
    result_.host = std::move(*host);
    return {};
  }

  caf::error parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5 ||
        text.find_first_not_of("0123456789") != std::string_view::npos)
      return fail("expected a port number from 1 to 65535 after ':'");
    auto port = std::stoul(std::string{text});
    if (port < 1 || port > 65535)
      return fail("expected a port number from 1 to 65535, found " +
                  std::string{text});
    result_.port = static_cast<uint16_t>(port);
    return {};
  }

  caf::error parse_vhost(std::string_view path) {
    // Both "" and "/" mean the default vhost "/"; otherwise the vhost is the
    // one path segment after the slash, with "/" inside it written as %2F.
    if (path.size() <= 1) {
      result_.vhost = "/";
      return {};
    }
    auto segment = path.substr(1);
    if (segment.find('/') != std::string_view::npos)
      return fail("the vhost must be a single path segment (write '/' "
                  "inside a vhost name as %2F)");
    auto vhost = percent_decode(segment);
    if (!vhost)
      return fail("malformed percent-encoding in the vhost");
    result_.vhost = std::move(*vhost);
    return {};
  }

  std::string_view uri_;
  bool management_ = false;
  bool had_userinfo_ = false;
  broker_endpoint result_;
};

} // namespace

std::string broker_endpoint::redacted() const {
  std::string out = tls ? "amqps://" : "amqp://";
  out += percent_encode(user);
  out += ":***@";
  if (host.find(':') != std::string::npos)
    out += "[" + host + "]";
  else
    out += percent_encode(host);
  out += ':';
  out += std::to_string(port);
  out += '/';
  if (vhost != "/")
    out += percent_encode(vhost);
  return out;
}

caf::expected<broker_endpoint> parse_broker_uri(std::string_view uri) {
  return uri_parser{uri}.run();
}

std::string management_endpoint::redacted() const {
  std::string out = "http://";
  if (host.find(':') != std::string::npos)
    out += "[" + host + "]";
  else
    out += percent_encode(host);
  return out + ':' + std::to_string(port) + '/';
}

caf::expected<management_endpoint>
parse_management_uri(std::string_view uri,
                     const management_endpoint& defaults) {
  uri_parser parser{uri, true};
  auto parsed = parser.run();
  if (!parsed)
    return parsed.error();
  management_endpoint out = defaults;
  out.host = std::move(parsed->host);
  out.port = parsed->port;
  if (parser.had_userinfo()) {
    out.user = std::move(parsed->user);
    out.password = std::move(parsed->password);
  }
  return out;
}

management_endpoint management_of(const broker_endpoint& ep) {
  management_endpoint out;
  out.host = ep.host;
  out.port = static_cast<uint16_t>(ep.port <= 65535 - management_offset
                                     ? ep.port + management_offset
                                     : ep.port);
  out.user = ep.user;
  out.password = ep.password;
  return out;
}

} // namespace warren::bridges
