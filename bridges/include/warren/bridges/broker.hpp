#pragma once

/// Where and how to reach a RabbitMQ broker or broker cluster.

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warren::bridges {

/// One broker address, parsed from an `amqp://` or `amqps://` URI.
struct broker_endpoint {
  bool tls = false;
  std::string host = "localhost";
  /// Default 5672, or 5671 for amqps.
  uint16_t port = 5672;
  /// Default "/".
  std::string vhost = "/";
  /// Default "guest".
  std::string user = "guest";
  /// Default "guest"; the config may take it from an env var or a file.
  std::string password = "guest";

  /// The URI without the password, for logs and errors.
  std::string redacted() const;
};

/// TLS settings shared by every amqps:// endpoint. Peer and hostname
/// verification are on by default and should stay on.
struct tls_settings {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify_peer = true;
  bool verify_hostname = true;
};

/// Who opens a connection, as warren tells the broker: the client
/// properties `warren_node` and `warren_incarnation` (not sent when
/// `node` is empty). A node downing another closes its connections by them
/// (README.md, "Downing").
struct connection_owner {
  std::string node;
  std::string incarnation;
};

/// Everything a connection needs.
struct broker_settings {
  /// Tried in order, wrapping around, on every (re)connect. Several entries
  /// name the nodes of a broker cluster.
  std::vector<broker_endpoint> endpoints;
  /// AMQP heartbeat in seconds; 0 disables. Default 30.
  uint16_t heartbeat_seconds = 30;
  /// TCP connect and login timeout. Default 5 s.
  std::chrono::milliseconds connect_timeout{5000};
  /// First reconnect delay, doubled each failure up to `reconnect_max`.
  std::chrono::milliseconds reconnect_min{100};
  /// Default 2 s: a broker that is back is found within 2 s (plus the
  /// connect), at the price of one connection attempt per 2 s per
  /// connection while it is down.
  std::chrono::milliseconds reconnect_max{2000};
  tls_settings tls;
  /// Connection name shown in the management UI (client property).
  std::string connection_name = "warren";
  connection_owner owner;
};

/// Parses `amqp[s]://[user[:password]@]host[:port][/vhost]`. The vhost is
/// percent-decoded ("/%2f" is "/"; an empty path is "/"). Errors carry
/// `errc::invalid_uri` and say which part is wrong.
caf::expected<broker_endpoint> parse_broker_uri(std::string_view uri);

} // namespace warren::bridges
