#include "json.hpp"

#include "warren/core/errc.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

namespace json = boost::json;

namespace warren::config::detail {

namespace {

bool is_identifier(std::string_view key) {
  if (key.empty())
    return false;
  auto first = static_cast<unsigned char>(key.front());
  if (!std::isalpha(first) && first != '_')
    return false;
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '_')
      return false;
  }
  return true;
}

/// Shortest text that reads back as `d`, always with a '.' or exponent so
/// 5.0 is shown as "5.0" and the user sees why it is not an integer.
std::string render_double(double d) {
  if (!std::isfinite(d))
    return "a number out of range";
  char buf[32];
  if (std::trunc(d) == d && std::fabs(d) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.1f", d);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d)
      break;
  }
  std::string out = buf;
  if (out.find_first_of(".e") == std::string::npos)
    out += ".0";
  return out;
}

constexpr std::size_t max_rendered_chars = 40;

/// A quoted string cut at a UTF-8 character boundary when long.
std::string render_string(std::string_view s) {
  if (s.size() <= max_rendered_chars)
    return json::serialize(json::string_view{s.data(), s.size()});
  std::size_t cut = max_rendered_chars - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  auto quoted = json::serialize(json::string_view{s.data(), cut});
  quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

/// A basic_parser handler that builds nothing: it only follows the path so
/// a duplicate key can be reported with the path it occurs at.
class duplicate_key_checker {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  /// Set when parsing stopped at a duplicate key: its path.
  std::string duplicate_path;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    enter_value();
    frames_.push_back(frame{true, {}, {}, 0, path()});
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    enter_value();
    frames_.push_back(frame{false, {}, {}, 0, path()});
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_key_part(json::string_view part, std::size_t, json::error_code&) {
    key_buffer_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view last, std::size_t, json::error_code& ec) {
    key_buffer_.append(last.data(), last.size());
    auto& top = frames_.back();
    top.key = std::move(key_buffer_);
    key_buffer_.clear();
    if (!top.keys.insert(top.key).second) {
      duplicate_path = member_path(top.path, top.key);
      ec = json::error::syntax;
      return false;
    }
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) {
    return true;
  }
  bool on_string(json::string_view, std::size_t, json::error_code&) {
    enter_value();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) {
    enter_value();
    return true;
  }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) {
    enter_value();
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) {
    enter_value();
    return true;
  }
  bool on_bool(bool, json::error_code&) {
    enter_value();
    return true;
  }
  bool on_null(json::error_code&) {
    enter_value();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct frame {
    bool is_object;
    std::set<std::string> keys;
    std::string key;
    std::size_t next_index;
    std::string path;
  };

  /// Counts array elements so nested paths carry the right index.
  void enter_value() {
    if (!frames_.empty() && !frames_.back().is_object)
      ++frames_.back().next_index;
  }

  /// The path of the value about to be entered.
  std::string path() const {
    if (frames_.empty())
      return "$";
    const auto& top = frames_.back();
    return top.is_object ? member_path(top.path, top.key)
                         : element_path(top.path, top.next_index - 1);
  }

  std::vector<frame> frames_;
  std::string key_buffer_;
};

/// Where the key that ends before `end` starts (its opening quote).
std::size_t key_start(std::string_view text, std::size_t end) {
  for (std::size_t i = end; i-- > 0;) {
    if (text[i] != '"')
      continue;
    std::size_t backslashes = 0;
    while (i > backslashes && text[i - backslashes - 1] == '\\')
      ++backslashes;
    if (backslashes % 2 == 0)
      return i;
  }
  return end;
}

char previous_non_space(std::string_view text, std::size_t offset) {
  while (offset-- > 0)
    if (!std::isspace(static_cast<unsigned char>(text[offset])))
      return text[offset];
  return '\0';
}

/// What the parser choked on, with a hint for the usual mistakes.
std::string describe_unexpected(std::string_view text, std::size_t offset) {
  if (offset >= text.size())
    return "unexpected end of input (an object, array or string is not "
           "closed)";
  auto c = static_cast<unsigned char>(text[offset]);
  if (c == '\n' || c == '\r')
    return "unexpected line break (strings cannot span lines)";
  if (c < 0x20)
    return "unexpected control character";
  if (c >= 0x80)
    return "unexpected non-ASCII character";
  std::string out = "unexpected '";
  out += static_cast<char>(c);
  out += '\'';
  if ((c == '}' || c == ']') && previous_non_space(text, offset) == ',')
    out += " (JSON allows no comma before a closing bracket)";
  else if (c == '/')
    out += " (JSON has no comments)";
  else if (c == '\'')
    out += " (JSON strings use double quotes)";
  return out;
}

caf::error error_at(std::string_view text, std::size_t offset,
                    const std::string& source, const std::string& what) {
  auto pos = position_of(text, offset);
  return make_error(errc::invalid_config,
                    source + ":" + std::to_string(pos.line) + ":" +
                      std::to_string(pos.column) + ": " + what);
}

} // namespace

std::string member_path(std::string_view parent, std::string_view key) {
  std::string out{parent};
  if (is_identifier(key)) {
    out += '.';
    out += key;
  } else {
    out += '[';
    out += json::serialize(json::string_view{key.data(), key.size()});
    out += ']';
  }
  return out;
}

std::string element_path(std::string_view parent, std::size_t index) {
  std::string out{parent};
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

std::string render_value(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return v.get_bool() ? "true" : "false";
    case json::kind::int64:
      return std::to_string(v.get_int64());
    case json::kind::uint64:
      return std::to_string(v.get_uint64());
    case json::kind::double_:
      return render_double(v.get_double());
    case json::kind::string:
      return render_string(v.get_string());
    case json::kind::array:
      return v.get_array().empty() ? "an empty array" : "an array";
    case json::kind::object:
      return v.get_object().empty() ? "an empty object" : "an object";
  }
  return "a value";
}

text_position position_of(std::string_view text, std::size_t offset) {
  text_position pos;
  offset = std::min(offset, text.size());
  for (std::size_t i = 0; i < offset; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++pos.line;
      pos.column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++pos.column;
    }
  }
  return pos;
}

caf::expected<json::value> parse_json(std::string_view text,
                                      const std::string& source) {
  // Editors on Windows like to start UTF-8 files with a byte order mark.
  std::size_t bom = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  auto body = text.substr(bom);
  json::basic_parser<duplicate_key_checker> checker{json::parse_options{}};
  json::error_code ec;
  auto consumed = checker.write_some(false, body.data(), body.size(), ec);
  if (!checker.handler().duplicate_path.empty())
    return error_at(text, bom + key_start(body, consumed), source,
                    checker.handler().duplicate_path +
                      ": duplicate key (each key may appear once per "
                      "object)");
  if (ec == json::error::syntax || ec == json::error::incomplete)
    return error_at(text, bom + consumed, source,
                    "invalid JSON: " + describe_unexpected(body, consumed));
  if (ec)
    return error_at(text, bom + consumed, source,
                    "invalid JSON: " + ec.message());
  if (consumed < body.size())
    return error_at(text, bom + consumed, source,
                    "invalid JSON: " + describe_unexpected(body, consumed) +
                      " after the end of the document");
  auto doc = json::parse(json::string_view{body.data(), body.size()}, ec);
  if (ec)
    return make_error(errc::invalid_config,
                      source + ": invalid JSON: " + ec.message());
  return doc;
}

} // namespace warren::config::detail
