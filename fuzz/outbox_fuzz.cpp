// libFuzzer target: the store's row codec (`encode_outgoing` and
// `decode_outgoing`, how a stateful actor's effects sit in the outbox
// between its transaction and the relay's publish). Each input is used
// twice:
//
//  1. as the text of an outbox row: decoding must return a message or an
//     error, never crash or throw (a damaged database must not take the
//     relay down);
//  2. as the description of a message (ids, headers of every field_value
//     type with any bytes in strings and any bit pattern in doubles, the
//     body): `decode_outgoing(encode_outgoing(m))` must give `m` back, since
//     the relay publishes what it decodes.
//
// WARREN_FUZZ_ROUNDTRIP=0 in the environment turns the equality check of
// (2) off and keeps only "nothing crashes", for runs that should look past
// a known round-trip bug.

#include "warren/core/envelope.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fuzzer/FuzzedDataProvider.h>
#include <limits>
#include <string>

namespace {

bool check_round_trip = true;

std::string text(FuzzedDataProvider& in) {
  return in.ConsumeRandomLengthString(64);
}

// Any bit pattern, and often the values JSON has no literal for.
double any_double(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 4)) {
    case 0:
      return std::numeric_limits<double>::quiet_NaN();
    case 1:
      return std::numeric_limits<double>::infinity();
    case 2:
      return -std::numeric_limits<double>::infinity();
    default: {
      auto bits = in.ConsumeIntegral<uint64_t>();
      double d;
      std::memcpy(&d, &bits, sizeof(d));
      return d;
    }
  }
}

warren::field_value any_field(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return in.ConsumeBool();
    case 1:
      return in.ConsumeIntegral<int64_t>();
    case 2:
      return any_double(in);
    default:
      return text(in);
  }
}

// Header keys are unique, as in every table warren builds (`set_field`).
warren::outgoing_message any_message(FuzzedDataProvider& in) {
  warren::outgoing_message m;
  m.exchange = text(in);
  m.routing_key = text(in);
  m.mandatory = in.ConsumeBool();
  auto& p = m.properties;
  p.message_id = text(in);
  p.type = text(in);
  p.correlation_id = text(in);
  p.reply_to = text(in);
  p.content_type = text(in);
  p.timestamp = in.ConsumeIntegral<uint64_t>();
  p.expiration = text(in);
  if (in.ConsumeBool())
    p.priority = in.ConsumeIntegral<uint8_t>();
  p.delivery_mode = in.ConsumeIntegral<uint8_t>();
  p.app_id = text(in);
  auto headers = in.ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < headers; ++i) {
    auto key = text(in);
    if (warren::find_field(p.headers, key) == nullptr)
      p.headers.emplace_back(std::move(key), any_field(in));
  }
  m.body = in.ConsumeRemainingBytesAsString();
  return m;
}

// Doubles compare by value, NaN equal to NaN and 0.0 not to -0.0: the codec
// must keep what was stored, not just something that compares equal.
bool same(const warren::field_value& a, const warren::field_value& b) {
  if (a.index() != b.index())
    return false;
  if (const auto* x = std::get_if<double>(&a)) {
    auto y = std::get<double>(b);
    if (std::isnan(*x) || std::isnan(y))
      return std::isnan(*x) && std::isnan(y);
    return *x == y && std::signbit(*x) == std::signbit(y);
  }
  return a == b;
}

bool same_headers(const warren::field_table& a, const warren::field_table& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !same(a[i].second, b[i].second))
      return false;
  return true;
}

// The first field that differs, or nullptr.
const char* first_difference(const warren::outgoing_message& a,
                             const warren::outgoing_message& b) {
  const auto& p = a.properties;
  const auto& q = b.properties;
  if (a.exchange != b.exchange)
    return "exchange";
  if (a.routing_key != b.routing_key)
    return "routing_key";
  if (a.mandatory != b.mandatory)
    return "mandatory";
  if (p.message_id != q.message_id || p.type != q.type ||
      p.correlation_id != q.correlation_id || p.reply_to != q.reply_to ||
      p.content_type != q.content_type || p.expiration != q.expiration ||
      p.app_id != q.app_id)
    return "a string property";
  if (p.timestamp != q.timestamp || p.priority != q.priority ||
      p.delivery_mode != q.delivery_mode)
    return "a numeric property";
  if (!same_headers(p.headers, q.headers))
    return "headers";
  if (a.body != b.body)
    return "body";
  return nullptr;
}

// A header value for the failure message: doubles to the last bit.
std::string show(const warren::field_value& v) {
  char buf[64];
  if (const auto* d = std::get_if<double>(&v))
    std::snprintf(buf, sizeof(buf), "double %.17g (%a)", *d, *d);
  else if (const auto* n = std::get_if<int64_t>(&v))
    std::snprintf(buf, sizeof(buf), "integer %lld", static_cast<long long>(*n));
  else if (const auto* b = std::get_if<bool>(&v))
    std::snprintf(buf, sizeof(buf), "bool %d", *b ? 1 : 0);
  else
    std::snprintf(buf, sizeof(buf), "string of %zu bytes",
                  std::get<std::string>(v).size());
  return buf;
}

void print_header_difference(const warren::field_table& a,
                             const warren::field_table& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (a[i].first != b[i].first || !same(a[i].second, b[i].second)) {
      std::fprintf(stderr, "header %zu: %s became %s\n", i,
                   show(a[i].second).c_str(), show(b[i].second).c_str());
      return;
    }
  std::fprintf(stderr, "%zu headers became %zu\n", a.size(), b.size());
}

void round_trip(FuzzedDataProvider& in) {
  auto msg = any_message(in);
  auto row = warren::runtime::encode_outgoing(msg);
  auto back = warren::runtime::decode_outgoing(row);
  if (!check_round_trip)
    return;
  const char* diff = back ? first_difference(msg, *back) : "the whole message";
  if (diff == nullptr)
    return;
  std::fprintf(stderr, "outbox round trip changed %s; encoded row: %s\n", diff,
               row.c_str());
  if (back && std::strcmp(diff, "headers") == 0)
    print_header_difference(msg.properties.headers, back->properties.headers);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* flag = std::getenv("WARREN_FUZZ_ROUNDTRIP");
  check_round_trip = flag == nullptr || std::strcmp(flag, "0") != 0;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string row{reinterpret_cast<const char*>(data), size};
  (void)warren::runtime::decode_outgoing(row);
  FuzzedDataProvider in{data, size};
  round_trip(in);
  return 0;
}
