// libFuzzer target: the decoders of the stream features, all of which read
// bytes a foreign client (or a damaged store row) chose:
//
//  1. a batched envelope's body (`split_batch`): entries or an error, never
//     a crash; every entry split off has a non-empty id, unique in the
//     batch;
//  2. a chunk of a chunked transfer (`read_chunk`): a chunk whose id is
//     within its total, or an error;
//  3. a row of a window's event log (`read_event_log`), for a window of 0
//     to 3 value fields: events, or an error.

#include "dispatch/chunks.hpp"
#include "warren/core/batch.hpp"
#include "warren/core/json_read.hpp"
#include "window/event_log.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  boost::json::error_code ec;
  auto body = warren::read_json(bytes, ec);
  if (!ec) {
    warren::envelope batch;
    batch.properties.message_id = "fuzz";
    batch.properties.headers.emplace_back(warren::header::batch,
                                          std::string{"yes"});
    batch.body = body;
    if (auto entries = warren::split_batch(batch)) {
      std::set<std::string> ids;
      for (const auto& entry : *entries)
        if (entry->properties.message_id.empty() ||
            !ids.insert(entry->properties.message_id).second)
          std::abort();
    }
    if (warren::detail::looks_like_chunk(body)) {
      std::string why;
      if (auto chunk = warren::detail::read_chunk(body, why))
        if (chunk->chunk_id < 0 || chunk->chunk_id >= chunk->total_chunks)
          std::abort();
    }
  }
  for (std::size_t fields = 0; fields <= 3; ++fields)
    warren::actors::read_event_log(
      bytes, fields, [](std::string_view, int64_t, const double*) {});
  return 0;
}
