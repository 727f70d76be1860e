#include "dispatch/chunks.hpp"

#include "warren/core/json_read.hpp"

namespace warren::detail {

namespace {

int nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

bool looks_like_chunk(const boost::json::value& body) {
  const auto* obj = body.if_object();
  return obj != nullptr && obj->contains("stream_id") &&
         obj->contains("chunk_id");
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  std::string bytes;
  bytes.resize(hex.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    int high = nibble(hex[2 * i]);
    int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    bytes[i] = static_cast<char>(high * 16 + low);
  }
  return bytes;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.resize(bytes.size() * 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    hex[2 * i] = digits[b >> 4];
    hex[2 * i + 1] = digits[b & 15];
  }
  return hex;
}

std::optional<chunk> read_chunk(const boost::json::value& body,
                                std::string& why) {
  const auto& obj = body.as_object();
  chunk c;
  const auto* id = obj.at("stream_id").if_string();
  if (id == nullptr || id->empty() || id->size() > 200) {
    why = "stream_id: expected a non-empty string of at most 200 bytes";
    return std::nullopt;
  }
  c.stream_id = std::string{*id};
  auto integer = [&](const char* key, int64_t& out) {
    const auto* v = obj.if_contains(key);
    if (v == nullptr || !v->is_int64()) {
      why = std::string{key} + ": expected an integer";
      return false;
    }
    out = v->get_int64();
    return true;
  };
  if (!integer("chunk_id", c.chunk_id) ||
      !integer("total_chunks", c.total_chunks))
    return std::nullopt;
  if (c.total_chunks < 1 || c.total_chunks > max_chunks) {
    why = "total_chunks: expected 1 to " + std::to_string(max_chunks);
    return std::nullopt;
  }
  if (c.chunk_id < 0 || c.chunk_id >= c.total_chunks) {
    why = "chunk_id: " + std::to_string(c.chunk_id) +
          " is not within 0 and total_chunks - 1 (" +
          std::to_string(c.total_chunks - 1) + ")";
    return std::nullopt;
  }
  if (const auto* final = obj.if_contains("is_final")) {
    if (!final->is_bool()) {
      why = "is_final: expected true or false";
      return std::nullopt;
    }
    c.is_final = final->get_bool();
    if (c.is_final != (c.chunk_id == c.total_chunks - 1)) {
      why = "is_final: " + std::string{c.is_final ? "true" : "false"} +
            " on chunk " + std::to_string(c.chunk_id) + " of " +
            std::to_string(c.total_chunks);
      return std::nullopt;
    }
  }
  const auto* data = obj.if_contains("data");
  if (data == nullptr || !data->is_string()) {
    why = "data: expected a string of hex digits";
    return std::nullopt;
  }
  auto bytes = from_hex(data->get_string());
  if (!bytes) {
    why = "data: not hex (an even number of digits 0-9, a-f)";
    return std::nullopt;
  }
  c.bytes = std::move(*bytes);
  if (const auto* meta = obj.if_contains("metadata"))
    c.metadata = *meta;
  return c;
}

boost::json::value reassembled_body(const std::string& stream_id,
                                    const boost::json::value& metadata,
                                    const std::string& payload) {
  boost::json::error_code ec;
  auto parsed = read_json(payload, ec);
  if (!ec)
    return parsed;
  return boost::json::object{{"stream_id", stream_id},
                             {"metadata", metadata},
                             {"size", payload.size()},
                             {"data", to_hex(payload)}};
}

} // namespace warren::detail
