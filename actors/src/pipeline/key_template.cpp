#include "pipeline/key_template.hpp"

#include <boost/json/serialize.hpp>

namespace warren::actors {

std::optional<key_template> key_template::parse(std::string_view text,
                                                std::string& why) {
  key_template result;
  result.text_ = std::string{text};
  std::string literal;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        literal += '}';
        ++i;
        continue;
      }
      why = "a '}' at offset " + std::to_string(i) +
            " closes no field (write '}}' for a literal brace)";
      return std::nullopt;
    }
    if (c != '{') {
      literal += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
      continue;
    }
    auto close = text.find('}', i + 1);
    if (close == std::string_view::npos) {
      why = "the field opened at offset " + std::to_string(i) +
            " is not closed with '}'";
      return std::nullopt;
    }
    auto name = text.substr(i + 1, close - i - 1);
    auto path = field_path::parse(name);
    if (!path) {
      why = "'{" + std::string{name} + "}' does not name a field (a dotted " +
            "path such as {device_id} or {location.city})";
      return std::nullopt;
    }
    if (!literal.empty())
      result.parts_.emplace_back(std::move(literal));
    literal.clear();
    result.parts_.emplace_back(std::move(*path));
    ++result.fields_;
    i = close;
  }
  if (!literal.empty())
    result.parts_.emplace_back(std::move(literal));
  return result;
}

bool key_template::render(const boost::json::value& body, std::string& out,
                          std::string& why, std::size_t max_bytes) const {
  out.clear();
  for (const auto& part : parts_) {
    if (const auto* literal = std::get_if<std::string>(&part)) {
      out += *literal;
      continue;
    }
    const auto& path = std::get<field_path>(part);
    const auto* value = path.find(body);
    if (value == nullptr) {
      why = "field '" + path.text() + "' is missing";
      return false;
    }
    switch (value->kind()) {
      case boost::json::kind::string:
        out.append(value->get_string().data(), value->get_string().size());
        break;
      case boost::json::kind::int64:
      case boost::json::kind::uint64:
      case boost::json::kind::double_:
      case boost::json::kind::bool_:
        out += boost::json::serialize(*value);
        break;
      default:
        why = "field '" + path.text() + "' is " +
              (value->is_null() ? "null" : "not a string, number or boolean");
        return false;
    }
  }
  if (out.size() > max_bytes) {
    why = "the key rendered from '" + text_ + "' is " +
          std::to_string(out.size()) + " bytes, more than " +
          std::to_string(max_bytes);
    return false;
  }
  return true;
}

} // namespace warren::actors
