// libFuzzer target: a delivery as it comes off the wire, through everything
// warren does with it before a handler runs. rabbitmq-c decodes the content
// header's properties (its public decoder, the one `amqp_read_message`
// uses), warren turns them and the body into an envelope (what
// `amqp_connection::read_content` does), admission parses the JSON body, and
// the content key hashes every header. The properties are then encoded
// again, as a retry or dead-letter copy would be.
//
// Input: two bytes, big-endian, giving the length N of the encoded
// properties (clamped to what is there), N bytes of properties as in a
// content header frame (flags, then the fields), and the body.
// fuzz/make_seeds.cpp writes seeds in this shape with header tables of every
// AMQP field kind.

#include "dispatch/admission.hpp"
#include "warren/core/envelope.hpp"
#include "wire/amqp_codec.hpp"

#include <algorithm>
#include <amqp.h>
#include <amqp_framing.h>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

amqp_bytes_t bytes_at(const uint8_t* data, size_t len) {
  amqp_bytes_t result;
  result.len = len;
  result.bytes = const_cast<uint8_t*>(data);
  return result;
}

// Encodes what warren would publish for `env`: the same encoder and the same
// rabbitmq-c call the connection uses for a copy of a delivery.
void encode_again(const warren::envelope& env) {
  warren::bridges::detail::property_encoder encoder;
  const auto* props = encoder.encode(env.properties);
  std::vector<uint8_t> buf(64 * 1024);
  amqp_encode_properties(AMQP_BASIC_CLASS,
                         const_cast<amqp_basic_properties_t*>(props),
                         bytes_at(buf.data(), buf.size()));
}

void admit_and_hash(warren::envelope& env) {
  warren::detail::admission_rules rules;
  rules.max_body_bytes = 64 * 1024;
  warren::detail::admit(env, rules);
  // Rejected or not, a delivery gets a content key when it has no id.
  auto key = warren::content_key(env);
  if (key.size() != 8 + 32)
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  size_t props_len =
    std::min<size_t>((size_t{data[0]} << 8) | data[1], size - 2);
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  void* decoded = nullptr;
  auto rc = amqp_decode_properties(AMQP_BASIC_CLASS, &pool,
                                   bytes_at(data + 2, props_len), &decoded);
  if (rc == AMQP_STATUS_OK && decoded != nullptr) {
    warren::envelope env;
    env.exchange = "fuzz.exchange";
    env.routing_key = "fuzz.key";
    env.queue = "fuzz.queue";
    namespace wire = warren::bridges::detail;
    wire::decode_properties(*static_cast<amqp_basic_properties_t*>(decoded),
                            env.properties);
    env.raw_body =
      wire::string_of(bytes_at(data + 2 + props_len, size - 2 - props_len));
    encode_again(env);
    admit_and_hash(env);
  }
  empty_amqp_pool(&pool);
  return 0;
}
