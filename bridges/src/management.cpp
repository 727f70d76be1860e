#include "warren/bridges/management.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <httplib.h>

namespace warren::bridges {

namespace {

// The client properties warren's connections carry (amqp_connection.cpp).
constexpr const char* node_property = "warren_node";
constexpr const char* incarnation_property = "warren_incarnation";

const boost::json::string* string_at(const boost::json::object& obj,
                                     const char* key) {
  auto it = obj.find(key);
  return it != obj.end() ? it->value().if_string() : nullptr;
}

httplib::Client client_of(const management_endpoint& ep,
                          std::chrono::milliseconds timeout) {
  httplib::Client cli{ep.host, ep.port};
  cli.set_basic_auth(ep.user.c_str(), ep.password.c_str());
  cli.set_connection_timeout(timeout);
  cli.set_read_timeout(timeout);
  cli.set_write_timeout(timeout);
  return cli;
}

std::string failure_of(const httplib::Result& res) {
  if (!res)
    return httplib::to_string(res.error());
  return "HTTP " + std::to_string(res->status) +
         (res->status == 401 ? " (the user or password is wrong)"
          : res->status == 403
            ? " (the user needs the management or administrator tag)"
            : "");
}

} // namespace

std::vector<std::string> connections_of(const boost::json::value& listing,
                                        const connection_owner& owner) {
  std::vector<std::string> names;
  const auto* rows = listing.if_array();
  if (rows == nullptr)
    return names;
  for (const auto& row : *rows) {
    const auto* obj = row.if_object();
    if (obj == nullptr)
      continue;
    auto props = obj->find("client_properties");
    const auto* name = string_at(*obj, "name");
    if (name == nullptr || props == obj->end() || !props->value().is_object())
      continue;
    const auto& p = props->value().get_object();
    const auto* node = string_at(p, node_property);
    const auto* incarnation = string_at(p, incarnation_property);
    if (node != nullptr && incarnation != nullptr && *node == owner.node &&
        *incarnation == owner.incarnation)
      names.emplace_back(name->c_str(), name->size());
  }
  return names;
}

management_client::management_client(std::vector<management_endpoint> endpoints,
                                     std::chrono::milliseconds timeout)
  : endpoints_(std::move(endpoints)), timeout_(timeout) {}

caf::expected<std::size_t>
management_client::close_connections_of(const connection_owner& owner,
                                        const std::string& reason) {
  std::string failures;
  for (const auto& ep : endpoints_) {
    auto cli = client_of(ep, timeout_);
    // Every node of a broker cluster lists the whole cluster's connections.
    auto listed = cli.Get("/api/connections?columns=name,client_properties");
    if (!listed || listed->status != 200) {
      failures += ep.redacted() + ": " + failure_of(listed) + "; ";
      continue;
    }
    boost::json::error_code ec;
    auto listing = boost::json::parse(listed->body, ec);
    if (ec) {
      failures += ep.redacted() + ": the listing is not JSON; ";
      continue;
    }
    std::size_t closed = 0;
    httplib::Headers headers{{"X-Reason", reason}};
    for (const auto& name : connections_of(listing, owner)) {
      auto res =
        cli.Delete("/api/connections/" + percent_encode(name), headers);
      // 404: it closed meanwhile.
      if (res && (res->status == 204 || res->status == 200))
        ++closed;
      else if (!res || res->status != 404)
        return make_error(errc::remote_error, "closing connection '" + name +
                                                "' through " + ep.redacted() +
                                                ": " + failure_of(res));
    }
    return closed;
  }
  return make_error(errc::connection_failed,
                    "no management API answered: " + failures);
}

} // namespace warren::bridges
