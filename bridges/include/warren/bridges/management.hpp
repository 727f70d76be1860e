#pragma once

/// The RabbitMQ management API (the plugin rabbitmq_management), as far as
/// warren uses it: closing the connections of a node taken for dead, so
/// that the broker hands its single-active-consumer queues to the next
/// consumer at once instead of after its heartbeat timeout (README.md,
/// "Downing"). HTTP with basic authentication; http:// only.

#include "warren/bridges/broker.hpp"

#include <boost/json/fwd.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warren::bridges {

/// One broker's management API.
struct management_endpoint {
  std::string host = "localhost";
  /// Default 15672.
  uint16_t port = 15672;
  std::string user = "guest";
  std::string password = "guest";

  /// `http://host:port/`, for logs and errors.
  std::string redacted() const;
};

/// Parses `http://[user[:password]@]host[:port][/]` (user and password
/// percent-decoded; without them, those of `defaults`). Errors carry
/// `errc::invalid_uri` and say which part is wrong.
caf::expected<management_endpoint>
parse_management_uri(std::string_view uri, const management_endpoint& defaults);

/// `ep`'s management API on RabbitMQ's default port for it: the AMQP port
/// + 10000 (5672 -> 15672, 5671 -> 15671), same host and credentials
/// (a port above 55535 is kept).
management_endpoint management_of(const broker_endpoint& ep);

/// The names of the connections `owner` opened in a listing of
/// `GET /api/connections` (anything else in it is skipped). Pure.
std::vector<std::string> connections_of(const boost::json::value& listing,
                                        const connection_owner& owner);

/// Closes connections through the first management API that answers.
/// Blocking (HTTP): call it from a thread of its own.
class management_client {
 public:
  /// Each request waits at most `timeout` per endpoint.
  management_client(std::vector<management_endpoint> endpoints,
                    std::chrono::milliseconds timeout);

  /// Closes every connection `owner` opened, telling it `reason` (the
  /// broker logs it): how many; an error naming each endpoint's failure
  /// when none answered.
  caf::expected<std::size_t> close_connections_of(const connection_owner& owner,
                                                  const std::string& reason);

 private:
  std::vector<management_endpoint> endpoints_;
  std::chrono::milliseconds timeout_;
};

} // namespace warren::bridges
