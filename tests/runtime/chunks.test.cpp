// Chunked transfers, the pure part: reading the seed's chunk format, hex,
// and the body a reassembled payload is handed on as.

#include "dispatch/chunks.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren::detail;
namespace json = boost::json;

namespace {

std::string why_not(const char* body) {
  std::string why;
  auto v = json::parse(body);
  REQUIRE(looks_like_chunk(v));
  CHECK_FALSE(read_chunk(v, why));
  return why;
}

} // namespace

TEST_CASE("a chunk in the seed's format is read with its bytes decoded",
          "[chunks]") {
  auto v = json::parse(R"({"stream_id": "s", "chunk_id": 1,
    "total_chunks": 2, "is_final": true, "data": "00ff41",
    "metadata": {"file_name": "a.bin"}})");
  REQUIRE(looks_like_chunk(v));
  std::string why;
  auto c = read_chunk(v, why);
  REQUIRE(c);
  CHECK(c->stream_id == "s");
  CHECK(c->chunk_id == 1);
  CHECK(c->total_chunks == 2);
  CHECK(c->is_final);
  CHECK(c->bytes == std::string{"\x00\xff"
                                "A",
                                3});
  CHECK(c->metadata.at("file_name") == "a.bin");
  CHECK_FALSE(looks_like_chunk(json::parse(R"({"stream_id": "s"})")));
  CHECK_FALSE(looks_like_chunk(json::parse(R"([1])")));
}

TEST_CASE("a malformed chunk is refused with the key at fault", "[chunks]") {
  CHECK_THAT(why_not(R"({"stream_id": "", "chunk_id": 0, "total_chunks": 1,
                         "data": ""})"),
             Catch::StartsWith("stream_id"));
  CHECK_THAT(why_not(R"({"stream_id": "s", "chunk_id": "0",
                         "total_chunks": 1, "data": ""})"),
             Catch::StartsWith("chunk_id"));
  CHECK_THAT(why_not(R"({"stream_id": "s", "chunk_id": 3, "total_chunks": 3,
                         "data": ""})"),
             Catch::StartsWith("chunk_id: 3 is not within"));
  CHECK_THAT(why_not(R"({"stream_id": "s", "chunk_id": 0, "total_chunks": 0,
                         "data": ""})"),
             Catch::StartsWith("total_chunks"));
  CHECK_THAT(why_not(R"({"stream_id": "s", "chunk_id": 0, "total_chunks": 2,
                         "is_final": true, "data": ""})"),
             Catch::StartsWith("is_final"));
  CHECK_THAT(why_not(R"({"stream_id": "s", "chunk_id": 0, "total_chunks": 1,
                         "data": "abc"})"),
             Catch::StartsWith("data: not hex"));
  CHECK_THAT(why_not(R"({"stream_id": "s", "chunk_id": 0, "total_chunks": 1,
                         "data": "zz"})"),
             Catch::StartsWith("data: not hex"));
  CHECK_THAT(why_not(R"({"stream_id": "s", "chunk_id": 0,
                         "total_chunks": 1})"),
             Catch::StartsWith("data"));
}

TEST_CASE("hex round-trips every byte", "[chunks]") {
  std::string all;
  for (int b = 0; b < 256; ++b)
    all += static_cast<char>(b);
  CHECK(from_hex(to_hex(all)) == all);
  CHECK(from_hex("ABcd") == std::string{"\xab\xcd"});
}

TEST_CASE("a reassembled payload is handed on parsed when it is JSON, else "
          "as hex with its stream id and metadata",
          "[chunks]") {
  auto meta = json::parse(R"({"file_name": "x"})");
  CHECK(reassembled_body("s", meta, R"({"big": [1, 2]})") ==
        json::parse(R"({"big": [1, 2]})"));
  auto bytes = reassembled_body("s", meta, std::string{"\x01{", 2});
  CHECK(bytes.at("stream_id") == "s");
  CHECK(bytes.at("metadata") == meta);
  CHECK(bytes.at("size") == 2);
  CHECK(bytes.at("data") == "017b");
}
