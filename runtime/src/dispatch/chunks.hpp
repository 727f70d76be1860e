#pragma once

// Private to warren::runtime: chunked transfers, the pure part. A payload
// larger than the broker's (or warren's) body limit travels as ordered
// chunks in the format of the seed documents, accepted as they are:
//
//   {"stream_id": "f-1", "chunk_id": 0, "total_chunks": 3, "is_final": false,
//    "data": "<hex bytes>", "metadata": {...}}
//
// A message is a chunk when its body is an object with both `stream_id` and
// `chunk_id`; one that says so and is malformed is refused with the key at
// fault. The reassembled payload is handed on as one message: parsed as
// JSON when it is JSON, else as {"stream_id", "metadata", "size", "data"}
// (hex, as it came).

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace warren::detail {

/// Chunks of one transfer at most.
constexpr int64_t max_chunks = 1'000'000;

struct chunk {
  std::string stream_id;
  int64_t chunk_id = 0;
  int64_t total_chunks = 0;
  bool is_final = false;
  /// Decoded.
  std::string bytes;
  boost::json::value metadata;
};

/// Whether `body` claims to be a chunk.
bool looks_like_chunk(const boost::json::value& body);

/// The chunk in `body`, or nullopt with `why` (the key at fault).
std::optional<chunk> read_chunk(const boost::json::value& body,
                                std::string& why);

/// Hex (either case) to bytes; nullopt when not hex.
std::optional<std::string> from_hex(std::string_view hex);
std::string to_hex(std::string_view bytes);

/// The body handed on for a reassembled payload.
boost::json::value reassembled_body(const std::string& stream_id,
                                    const boost::json::value& metadata,
                                    const std::string& payload);

} // namespace warren::detail
