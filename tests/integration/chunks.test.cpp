// Chunked transfers end to end: a payload larger than the body limit sent
// as chunks (by `warren send --file`, or in the seed's format by hand, out
// of order and with copies) is staged in the node's store and handed to the
// actor as one message; an incomplete transfer is dead-lettered chunk by
// chunk after its timeout. Against the private broker and a real SQLite
// file.

#include "support.hpp"
#include "warren/bridges/topology.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::string hex_of(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

json::object chunked_record_actor(const std::string& name,
                                  const std::string& path,
                                  int64_t timeout_ms = 600000) {
  auto actor = test::record_actor(name, path);
  actor["chunks"] = json::object{{"timeout_ms", timeout_ms}};
  return actor;
}

outgoing_message chunk_message(const std::string& actor,
                               const std::string& stream, int64_t id,
                               int64_t total, const std::string& bytes) {
  outgoing_message msg;
  msg.exchange = bridges::actors_exchange;
  msg.routing_key = actor;
  msg.mandatory = true;
  msg.properties.message_id = stream + "/" + std::to_string(id);
  msg.properties.type = "upload";
  msg.body = json::serialize(json::object{{"stream_id", stream},
                                          {"chunk_id", id},
                                          {"total_chunks", total},
                                          {"is_final", id == total - 1},
                                          {"data", hex_of(bytes)}});
  return msg;
}

} // namespace

TEST_CASE("warren send --file sends a file larger than the body limit as "
          "chunks, and the actor gets it whole as one message",
          "[broker][chunks]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("upload");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["limits"] = json::object{{"max_body_bytes", 300000}};
  cfg["actors"] = json::array{chunked_record_actor(name, records)};
  test::node_process node{dir, cfg};
  // 1 MB of random bytes: more than three times the body limit.
  std::string bytes(1000000, '\0');
  std::mt19937 random{42};
  for (auto& b : bytes)
    b = static_cast<char>(random() & 0xff);
  auto path = dir.file("blob.bin");
  std::ofstream{path, std::ios::binary} << bytes;
  auto r = test::warren({"send", "-u", test::broker_uri(), "--actor", name,
                         "-t", "upload", "--file", path, "--chunk-size",
                         "100000", "--stream-id", "blob-1"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "blob-1\n");
  auto lines = test::wait_for_records(records, 1, 30s);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].message_id == "stream-blob-1");
  CHECK(lines[0].type == "upload");
  const auto& body = lines[0].body.as_object();
  CHECK(body.at("stream_id") == "blob-1");
  CHECK(body.at("size") == 1000000);
  CHECK(body.at("metadata").at("file_name") == "blob.bin");
  CHECK(body.at("data").as_string() == hex_of(bytes));
  // Nothing stays staged, and nothing else arrives.
  CHECK(test::read_records(records).size() == 1);
}

TEST_CASE("chunks out of order and with copies are reassembled once, a JSON "
          "payload handed on parsed",
          "[broker][chunks]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("upload");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{chunked_record_actor(name, records)};
  test::node_process node{dir, cfg};
  std::string payload = R"({"readings": [1, 2, 3], "device": "d-9"})";
  auto a = payload.substr(0, 10), b = payload.substr(10, 15),
       c = payload.substr(25);
  broker.publish(chunk_message(name, "j-1", 2, 3, c));
  broker.publish(chunk_message(name, "j-1", 0, 3, a));
  broker.publish(chunk_message(name, "j-1", 0, 3, a)); // a copy
  broker.publish(chunk_message(name, "j-1", 1, 3, b));
  auto lines = test::wait_for_records(records, 1, 20s);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].body == json::parse(payload));
  CHECK(lines[0].message_id == "stream-j-1");
  // A copy of a chunk after the transfer is done starts nothing new.
  broker.publish(chunk_message(name, "j-1", 1, 3, b));
  broker.publish(chunk_message(name, "other", 0, 1, "[7]"));
  auto more = test::wait_for_records(records, 2, 20s);
  REQUIRE(more.size() == 2);
  CHECK(more[1].message_id == "stream-other");
  CHECK(more[1].body == json::parse("[7]"));
}

TEST_CASE("an incomplete transfer is dead-lettered chunk by chunk after its "
          "timeout, with the reason, and a malformed chunk at once",
          "[broker][chunks]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("upload");
  auto records = dir.file("records.jsonl");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{chunked_record_actor(name, records, 1000)};
  test::node_process node{dir, cfg};
  broker.publish(chunk_message(name, "half", 0, 3, "ab"));
  broker.publish(chunk_message(name, "half", 2, 3, "ef"));
  auto letters = broker.wait_and_receive(name + ".dlq", 2, 20s);
  REQUIRE(letters.size() == 2);
  for (const auto& letter : letters) {
    CHECK_THAT(test::header_string(letter, header::error),
               Catch::Contains("incomplete transfer 'half': 2 of 3 chunks"));
    auto body = json::parse(letter.raw_body);
    CHECK(body.at("stream_id") == "half");
    CHECK(body.at("total_chunks") == 3);
  }
  CHECK(json::parse(letters[0].raw_body).at("data").as_string() ==
        hex_of("ab"));
  CHECK(json::parse(letters[1].raw_body).at("data").as_string() ==
        hex_of("ef"));
  auto bad = chunk_message(name, "bad", 0, 1, "x");
  bad.body = R"({"stream_id": "bad", "chunk_id": 5, "total_chunks": 1,
                 "data": ""})";
  broker.publish(bad);
  auto rejected = broker.wait_and_receive(name + ".dlq", 1, 20s);
  REQUIRE(rejected.size() == 1);
  CHECK_THAT(test::header_string(rejected[0], header::error),
             Catch::Contains("chunk_id: 5 is not within"));
  CHECK(test::read_records(records).empty());
}
