#include "warren/core/envelope.hpp"

#include <array>
#include <cstdio>
#include <random>

namespace warren {

const field_value* find_field(const field_table& table, std::string_view key) {
  for (const auto& [name, value] : table)
    if (name == key)
      return &value;
  return nullptr;
}

void set_field(field_table& table, std::string key, field_value value) {
  for (auto& entry : table) {
    if (entry.first == key) {
      entry.second = std::move(value);
      return;
    }
  }
  table.emplace_back(std::move(key), std::move(value));
}

namespace {

std::string to_hex(uint64_t hi, uint64_t lo) {
  std::array<char, 33> buf;
  std::snprintf(buf.data(), buf.size(), "%016llx%016llx",
                static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return std::string{buf.data(), 32};
}

// FNV-1a, 64 bit: good enough to derive an id that is stable across
// redeliveries; it is not a security boundary.
uint64_t fnv1a(uint64_t hash, std::string_view data) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

} // namespace

std::string make_message_id() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return to_hex(engine(), engine());
}

std::string derive_message_id(const std::string& exchange,
                              const std::string& routing_key,
                              uint64_t timestamp, const std::string& body) {
  auto ts = std::to_string(timestamp);
  uint64_t a = 14695981039346656037ull;
  uint64_t b = 1469598103934665603ull; // a second, independent basis
  for (auto part : {std::string_view{exchange}, std::string_view{routing_key},
                    std::string_view{ts}, std::string_view{body}}) {
    a = fnv1a(a, part);
    a = fnv1a(a, "\x1f");
    b = fnv1a(b, part);
    b = fnv1a(b, "\x1e");
  }
  return "derived-" + to_hex(a, b);
}

int64_t attempt_of(const message_properties& props) {
  if (auto* value = find_field(props.headers, header::attempt))
    if (auto* n = std::get_if<int64_t>(value); n != nullptr && *n >= 1)
      return *n;
  return 1;
}

} // namespace warren
