#include "json.hpp"
#include "sections.hpp"
#include "warren/config/broker_uris.hpp"
#include "warren/core/errc.hpp"

#include <cstdlib>

namespace json = boost::json;

namespace warren::config::detail {

namespace {

constexpr const char* default_broker_uri = "amqp://guest:guest@localhost:5672/";

/// The environment variable that replaces the configured URI list, so one
/// config file serves every environment.
constexpr const char* broker_uri_env = "WARREN_BROKER_URI";

constexpr int_range timeout_range{1, 3'600'000};

/// A URI with the JSON path (or variable) it came from, for errors.
struct uri_source {
  std::string text;
  std::string path;
};

/// Password replacement chosen in the config, applied to every endpoint.
struct password_source {
  std::string env_var;
  std::string file;
};

std::string trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return {};
  auto last = s.find_last_not_of(" \t");
  return std::string{s.substr(first, last - first + 1)};
}

void read_uris(object_reader& obj, std::vector<uri_source>& out) {
  const auto* single = obj.find("uri");
  const auto* list = obj.find("uris");
  if (single && list) {
    obj.reader().fail(obj.path_of("uris"),
                      "cannot be combined with uri (give one of them)");
    return;
  }
  if (single) {
    if (auto text = obj.reader().string(*single, obj.path_of("uri"),
                                        text_rule::non_empty))
      out = {{*text, obj.path_of("uri")}};
    return;
  }
  auto arr = obj.array("uris");
  if (!arr)
    return;
  if (arr->empty()) {
    obj.reader().fail_expected(obj.path_of("uris"), "a non-empty array of URIs",
                               json::array{});
    return;
  }
  out.clear();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto path = element_path(obj.path_of("uris"), i);
    if (auto text = obj.reader().string((*arr)[i], path, text_rule::non_empty))
      out.push_back({*text, path});
  }
}

/// WARREN_BROKER_URI, when set and non-empty, replaces the configured list;
/// it may hold several URIs separated by commas.
void apply_uri_override(std::vector<uri_source>& uris) {
  const char* value = std::getenv(broker_uri_env);
  if (!value || !*value)
    return;
  uris.clear();
  std::size_t index = 0;
  for (auto& uri : split_broker_uris(value))
    uris.push_back({std::move(uri), std::string{"environment variable "} +
                                      broker_uri_env + " (URI " +
                                      std::to_string(++index) + ")"});
}

void parse_endpoints(config_reader& r, const std::vector<uri_source>& uris,
                     bridges::broker_settings& out) {
  out.endpoints.clear();
  for (const auto& uri : uris) {
    if (!r.ok())
      return;
    if (uri.text.empty()) {
      r.fail(uri.path, "expected a broker URI, found an empty entry");
      return;
    }
    auto endpoint = bridges::parse_broker_uri(uri.text);
    if (!endpoint) {
      r.fail(uri.path, describe(endpoint.error()));
      return;
    }
    out.endpoints.push_back(std::move(*endpoint));
  }
}

void read_password_source(object_reader& obj, const std::string& base_dir,
                          password_source& out) {
  if (obj.find("password_env") && obj.find("password_file")) {
    obj.reader().fail(obj.path_of("password_file"),
                      "cannot be combined with password_env (give one of "
                      "them)");
    return;
  }
  obj.string("password_env", out.env_var, text_rule::non_empty);
  if (obj.string("password_file", out.file, text_rule::non_empty))
    out.file = resolve_path(base_dir, out.file);
}

/// Looks the password up (only now, so a config without the keys never
/// touches the environment or the disk) and puts it in every endpoint.
void apply_password(config_reader& r, const std::string& broker_path,
                    const password_source& source,
                    bridges::broker_settings& out) {
  std::string password;
  if (!source.env_var.empty()) {
    auto path = member_path(broker_path, "password_env");
    const char* value = std::getenv(source.env_var.c_str());
    if (!value || !*value) {
      r.fail(path,
             "environment variable " + source.env_var + " is not set or empty");
      return;
    }
    password = value;
  } else if (!source.file.empty()) {
    auto path = member_path(broker_path, "password_file");
    std::string error;
    if (!read_text_file(source.file, password, error)) {
      r.fail(path, "cannot read \"" + source.file + "\": " + error);
      return;
    }
    // Editors and `echo secret > file` leave a line break at the end.
    while (!password.empty() &&
           (password.back() == '\n' || password.back() == '\r'))
      password.pop_back();
    if (password.empty()) {
      r.fail(path, "\"" + source.file + "\" is empty");
      return;
    }
  } else {
    return;
  }
  for (auto& endpoint : out.endpoints)
    endpoint.password = password;
}

void read_reconnect(object_reader& obj, bridges::broker_settings& out) {
  obj.allow({"min_ms", "max_ms"});
  obj.millis("min_ms", timeout_range, out.reconnect_min);
  obj.millis("max_ms", timeout_range, out.reconnect_max);
  if (!obj.reader().ok() || out.reconnect_min <= out.reconnect_max)
    return;
  // Blame the key the user wrote, not the default it collides with.
  auto min = std::to_string(out.reconnect_min.count());
  auto max = std::to_string(out.reconnect_max.count());
  if (obj.find("min_ms"))
    obj.reader().fail(obj.path_of("min_ms"),
                      "expected at most max_ms (" + max + "), found " + min);
  else
    obj.reader().fail(obj.path_of("max_ms"), "expected at least min_ms (" +
                                               min + ", the default), found " +
                                               max);
}

void read_tls(object_reader& obj, const std::string& base_dir,
              bridges::tls_settings& out) {
  obj.allow(
    {"ca_file", "cert_file", "key_file", "verify_peer", "verify_hostname"});
  for (auto [key, field] : {std::pair{"ca_file", &out.ca_file},
                            std::pair{"cert_file", &out.cert_file},
                            std::pair{"key_file", &out.key_file}})
    if (obj.string(key, *field, text_rule::non_empty))
      *field = resolve_path(base_dir, *field);
  obj.boolean("verify_peer", out.verify_peer);
  obj.boolean("verify_hostname", out.verify_hostname);
  // A client certificate is useless without its key, and vice versa.
  if (!out.cert_file.empty() && out.key_file.empty())
    obj.reader().fail(obj.path_of("key_file"),
                      "required key is missing (cert_file is given, and a "
                      "client certificate needs its key)");
  if (out.cert_file.empty() && !out.key_file.empty())
    obj.reader().fail(obj.path_of("cert_file"),
                      "required key is missing (key_file is given, and a "
                      "private key needs its client certificate)");
}

} // namespace

void read_broker(config_reader& r, const json::value* v,
                 const std::string& node_name, const std::string& base_dir,
                 bridges::broker_settings& out) {
  const std::string path = "$.broker";
  out.connection_name = "warren-" + node_name;
  std::vector<uri_source> uris{{default_broker_uri, member_path(path, "uri")}};
  password_source password;
  if (v) {
    auto obj = r.object(*v, path);
    if (!obj)
      return;
    obj->allow({"uri", "uris", "password_env", "password_file",
                "heartbeat_seconds", "connect_timeout_ms", "reconnect", "tls",
                "connection_name"});
    read_uris(*obj, uris);
    read_password_source(*obj, base_dir, password);
    obj->integer("heartbeat_seconds", {0, 3600}, out.heartbeat_seconds);
    obj->millis("connect_timeout_ms", timeout_range, out.connect_timeout);
    if (auto reconnect = obj->object("reconnect"))
      read_reconnect(*reconnect, out);
    if (auto tls = obj->object("tls"))
      read_tls(*tls, base_dir, out.tls);
    obj->string("connection_name", out.connection_name, text_rule::non_empty);
  }
  // The configured URIs are validated even when the environment replaces
  // them, so a broken file does not hide behind a working override.
  parse_endpoints(r, uris, out);
  apply_uri_override(uris);
  parse_endpoints(r, uris, out);
  if (r.ok())
    apply_password(r, path, password, out);
}

} // namespace warren::config::detail

namespace warren::config {

std::vector<std::string> split_broker_uris(std::string_view list) {
  std::vector<std::string> out;
  for (;;) {
    auto comma = list.find(',');
    out.push_back(detail::trim(list.substr(0, comma)));
    if (comma == std::string_view::npos)
      return out;
    list.remove_prefix(comma + 1);
  }
}

} // namespace warren::config
