#include "warren/core/text.hpp"

#include <cctype>
#include <cmath>
#include <cstdint>

namespace warren {

namespace {

// The length of the well-formed UTF-8 sequence at `p` (before `end`), or 0.
// The range of the second byte rules out overlong forms, surrogates and
// code points above U+10FFFF.
std::ptrdiff_t sequence_at(const unsigned char* p,
                           const unsigned char* end) noexcept {
  auto c = *p;
  if (c < 0x80)
    return 1;
  std::ptrdiff_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    low = c == 0xE0 ? 0xA0 : 0x80;
    high = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    low = c == 0xF0 ? 0x90 : 0x80;
    high = c == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (end - p < length || p[1] < low || p[1] > high)
    return 0;
  for (std::ptrdiff_t i = 2; i < length; ++i)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return length;
}

const unsigned char* bytes_of(std::string_view text) noexcept {
  return reinterpret_cast<const unsigned char*>(text.data());
}

} // namespace

bool is_utf8(std::string_view text) noexcept {
  const auto* p = bytes_of(text);
  const auto* end = p + text.size();
  while (p < end) {
    auto length = sequence_at(p, end);
    if (length == 0)
      return false;
    p += length;
  }
  return true;
}

std::string escape_non_utf8(std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  const auto* p = bytes_of(text);
  const auto* end = p + text.size();
  while (p < end) {
    auto length = sequence_at(p, end);
    if (length > 0) {
      out.append(reinterpret_cast<const char*>(p),
                 static_cast<std::size_t>(length));
      p += length;
    } else {
      out += "\\x";
      out += digits[*p >> 4];
      out += digits[*p & 0xF];
      ++p;
    }
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xF]);
  }
  return out;
}

namespace {

void append_index(std::string& path, std::size_t i) {
  path += '[';
  path += std::to_string(i);
  path += ']';
}

// Finds the first value JSON text cannot carry; `path` ends at it.
const char* find_unwritable(const boost::json::value& v, bool check_utf8,
                            std::string& path) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      return std::isfinite(v.get_double())
               ? nullptr
               : "a number out of the range of a double";
    case boost::json::kind::string:
      return check_utf8 && !is_utf8(v.get_string()) ? "a string that is not "
                                                      "UTF-8"
                                                    : nullptr;
    case boost::json::kind::array: {
      const auto& arr = v.get_array();
      for (std::size_t i = 0; i < arr.size(); ++i) {
        auto before = path.size();
        append_index(path, i);
        if (const auto* what = find_unwritable(arr[i], check_utf8, path))
          return what;
        path.resize(before);
      }
      return nullptr;
    }
    case boost::json::kind::object:
      for (const auto& [key, member] : v.get_object()) {
        auto before = path.size();
        path += '.';
        path += key;
        if (check_utf8 && !is_utf8(key))
          return "a key that is not UTF-8";
        if (const auto* what = find_unwritable(member, check_utf8, path))
          return what;
        path.resize(before);
      }
      return nullptr;
    default:
      return nullptr;
  }
}

} // namespace

std::string percent_encode(std::string_view in) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += digits[u >> 4];
      out += digits[u & 0xF];
    }
  }
  return out;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    auto hi = hex_digit(hex[i]);
    auto lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::optional<std::string> unwritable_json(const boost::json::value& v,
                                           bool check_utf8) {
  std::string path = "$";
  if (const auto* what = find_unwritable(v, check_utf8, path))
    return std::string{what} + " at " + escape_non_utf8(path);
  return std::nullopt;
}

} // namespace warren
