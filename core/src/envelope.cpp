#include "warren/core/envelope.hpp"

#include <array>
#include <cstdio>
#include <random>
#include <string_view>
#include <type_traits>
#include <variant>

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

namespace {

// Two independent 64-bit FNV-1a hashes over `parts`, each part followed by a
// separator, as 32 hex digits: good enough to recognise content; not a
// security boundary.
template<class Parts>
std::string hash_of(const Parts& parts) {
  uint64_t a = 14695981039346656037ull;
  uint64_t b = 1469598103934665603ull;
  for (std::string_view part : parts) {
    a = fnv1a(fnv1a(a, part), "\x1f");
    b = fnv1a(fnv1a(b, part), "\x1e");
  }
  return to_hex(a, b);
}

std::string text_of(const field_value& v) {
  return std::visit(
    [](const auto& x) -> std::string {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, std::string>)
        return "s" + x;
      else if constexpr (std::is_same_v<T, bool>)
        return x ? "b1" : "b0";
      else
        return (std::is_same_v<T, double> ? "d" : "i") + std::to_string(x);
    },
    v);
}

} // namespace

std::string content_key(const envelope& env) {
  const auto& p = env.properties;
  std::vector<std::string> parts{env.exchange,
                                 env.routing_key,
                                 p.type,
                                 p.correlation_id,
                                 p.reply_to,
                                 p.content_type,
                                 std::to_string(p.timestamp),
                                 p.expiration,
                                 p.priority ? std::to_string(*p.priority) : "",
                                 p.app_id};
  for (const auto& [key, value] : p.headers) {
    // warren's own attempt counter changes between a message's copies.
    if (key == header::attempt)
      continue;
    parts.push_back(key);
    parts.push_back(text_of(value));
  }
  parts.push_back(env.raw_body);
  return "content-" + hash_of(parts);
}

std::string content_hash(std::string_view text) {
  std::string_view parts[] = {text};
  return hash_of(parts);
}

std::string effect_id(const std::string& cause_id, const std::string& actor,
                      std::size_t index) {
  auto id = cause_id + "/" + actor + "/" + std::to_string(index);
  if (id.size() <= 255)
    return id;
  std::string_view parts[] = {cause_id, actor};
  return "effect-" + hash_of(parts) + "/" + std::to_string(index);
}

void take_delivery_of(envelope& made, const envelope& from) {
  made.exchange = from.exchange;
  made.routing_key = from.routing_key;
  made.queue = from.queue;
  made.redelivered = from.redelivered;
  made.delivery_tag = from.delivery_tag;
  made.channel_generation = from.channel_generation;
  made.admitted = true;
}

std::string batch_entry_id(const std::string& batch_id, std::size_t index) {
  auto id = batch_id + "#" + std::to_string(index);
  if (id.size() <= 255)
    return id;
  std::string_view parts[] = {batch_id};
  return "batch-" + hash_of(parts) + "#" + std::to_string(index);
}

std::string_view trace_of(const message_properties& props) {
  if (const auto* v = find_field(props.headers, header::trace))
    if (const auto* s = std::get_if<std::string>(v))
      return *s;
  return props.message_id;
}

int64_t attempt_of(const message_properties& props) {
  if (auto* value = find_field(props.headers, header::attempt))
    if (auto* n = std::get_if<int64_t>(value); n != nullptr && *n >= 1)
      return *n;
  return 1;
}

} // namespace warren
