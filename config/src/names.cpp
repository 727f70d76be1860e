// Names in the config: node and actor names (plain names) and broker entity
// names (exchanges, queues).

#include "json.hpp"
#include "sections.hpp"

#include <cctype>

namespace warren::config::detail {

namespace json = boost::json;

namespace {

constexpr std::size_t max_entity_name_bytes = 255;

/// Names that travel as routing keys, file names and log fields.
bool is_plain_name(const std::string& s, std::size_t max_size) {
  if (s.empty() || s.size() > max_size)
    return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '.' && c != '_' && c != '-')
      return false;
  }
  return true;
}

} // namespace

std::optional<std::string> plain_name(config_reader& r, const std::string& path,
                                      const json::value& v,
                                      std::size_t max_size) {
  if (!r.ok())
    return std::nullopt;
  if (v.is_string()) {
    std::string s{v.get_string()};
    if (is_plain_name(s, max_size))
      return s;
  }
  r.fail_expected(path,
                  "a name of 1 to " + std::to_string(max_size) +
                    " characters from A-Z, a-z, 0-9, '.', '_' and '-'",
                  v);
  return std::nullopt;
}

std::optional<std::string>
entity_name(config_reader& r, const std::string& path, const json::value& v) {
  auto name = r.string(v, path, text_rule::non_empty);
  if (!name)
    return std::nullopt;
  if (name->size() > max_entity_name_bytes) {
    r.fail_expected(path, "a name of at most 255 bytes", v);
    return std::nullopt;
  }
  if (name->rfind("amq.", 0) == 0) {
    r.fail_expected(path,
                    "a name that does not start with \"amq.\" (reserved by "
                    "RabbitMQ)",
                    v);
    return std::nullopt;
  }
  return name;
}

} // namespace warren::config::detail
