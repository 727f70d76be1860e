// Writes the seed corpus of the envelope target (fuzz/corpus/envelope/):
// content-header properties encoded by rabbitmq-c's own
// `amqp_encode_properties`, so every AMQP field kind is in the corpus from
// the start instead of waiting for libFuzzer to guess the table encoding.
// Deterministic; the files are checked in, and this regenerates them:
//
//   build-fuzz/fuzz/warren-fuzz-seeds fuzz/corpus/envelope

#include <amqp.h>
#include <amqp_framing.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

amqp_bytes_t text(const char* s) {
  return amqp_cstring_bytes(s);
}

amqp_field_value_t field(amqp_field_value_kind_t kind) {
  amqp_field_value_t v;
  std::memset(&v, 0, sizeof(v));
  v.kind = static_cast<uint8_t>(kind);
  return v;
}

amqp_table_entry_t entry(const char* key, amqp_field_value_t value) {
  return amqp_table_entry_t{text(key), value};
}

// Storage for one seed's tables and arrays, which rabbitmq-c only points to.
struct seed_tables {
  std::vector<amqp_table_entry_t> inner;
  std::vector<amqp_field_value_t> array;
  std::vector<amqp_table_entry_t> headers;
};

// Appends `key` of `kind`, with `set` filling in its value.
template<class Set>
void add(std::vector<amqp_table_entry_t>& out, const char* key,
         amqp_field_value_kind_t kind, Set set) {
  auto v = field(kind);
  set(v.value);
  out.push_back(entry(key, v));
}

// Every scalar kind, with the values at the edges of each width.
void add_scalars(std::vector<amqp_table_entry_t>& out) {
  using k = amqp_field_value_kind_t;
  using value = decltype(amqp_field_value_t::value);
  add(out, "bool", k::AMQP_FIELD_KIND_BOOLEAN, [](value& x) { x.boolean = 1; });
  add(out, "i8", k::AMQP_FIELD_KIND_I8, [](value& x) { x.i8 = -128; });
  add(out, "u8", k::AMQP_FIELD_KIND_U8, [](value& x) { x.u8 = 255; });
  add(out, "i16", k::AMQP_FIELD_KIND_I16, [](value& x) { x.i16 = -32768; });
  add(out, "u16", k::AMQP_FIELD_KIND_U16, [](value& x) { x.u16 = 65535; });
  add(out, "i32", k::AMQP_FIELD_KIND_I32, [](value& x) { x.i32 = INT32_MIN; });
  add(out, "u32", k::AMQP_FIELD_KIND_U32, [](value& x) { x.u32 = UINT32_MAX; });
  add(out, "i64", k::AMQP_FIELD_KIND_I64, [](value& x) { x.i64 = INT64_MIN; });
  add(out, "u64", k::AMQP_FIELD_KIND_U64, [](value& x) { x.u64 = UINT64_MAX; });
  add(out, "f32", k::AMQP_FIELD_KIND_F32, [](value& x) { x.f32 = -1.5e38f; });
  add(out, "f64", k::AMQP_FIELD_KIND_F64, [](value& x) { x.f64 = 3.25; });
  add(out, "f64-nan", k::AMQP_FIELD_KIND_F64,
      [](value& x) { x.f64 = std::numeric_limits<double>::quiet_NaN(); });
  add(out, "f64-inf", k::AMQP_FIELD_KIND_F64,
      [](value& x) { x.f64 = -std::numeric_limits<double>::infinity(); });
  add(out, "decimal", k::AMQP_FIELD_KIND_DECIMAL, [](value& x) {
    x.decimal = {2, 31415};
  });
  add(out, "timestamp", k::AMQP_FIELD_KIND_TIMESTAMP,
      [](value& x) { x.u64 = 1700000000; });
  add(out, "utf8", k::AMQP_FIELD_KIND_UTF8,
      [](value& x) { x.bytes = text("caf\xc3\xa9"); });
  add(out, "utf8-invalid", k::AMQP_FIELD_KIND_UTF8,
      [](value& x) { x.bytes = text("\xff\xfe not utf-8 \xc3"); });
  add(out, "bytes", k::AMQP_FIELD_KIND_BYTES, [](value& x) {
    x.bytes = {3, const_cast<char*>("\0\1\2")};
  });
  add(out, "void", k::AMQP_FIELD_KIND_VOID, [](value&) {});
}

// Scalars, then a nested table (like the broker's `x-death`) and an array.
amqp_table_t every_kind(seed_tables& t) {
  add_scalars(t.headers);
  add_scalars(t.inner);
  auto v = field(AMQP_FIELD_KIND_I64);
  for (int64_t i = 0; i < 3; ++i) {
    v.value.i64 = i;
    t.array.push_back(v);
  }
  v = field(AMQP_FIELD_KIND_UTF8);
  v.value.bytes = text("in-array");
  t.array.push_back(v);
  v = field(AMQP_FIELD_KIND_TABLE);
  v.value.table = {static_cast<int>(t.inner.size()), t.inner.data()};
  t.array.push_back(v);
  t.headers.push_back(entry("table", v));
  v = field(AMQP_FIELD_KIND_ARRAY);
  v.value.array = {static_cast<int>(t.array.size()), t.array.data()};
  t.headers.push_back(entry("array", v));
  v = field(AMQP_FIELD_KIND_I64);
  v.value.i64 = 3;
  t.headers.push_back(entry("x-warren-attempt", v));
  return {static_cast<int>(t.headers.size()), t.headers.data()};
}

void set_all_strings(amqp_basic_properties_t& p, const char* content_type) {
  p._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
              AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
              AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_EXPIRATION_FLAG |
              AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
              AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  p.content_type = text(content_type);
  p.message_id = text("m-1");
  p.type = text("deposit");
  p.correlation_id = text("c-1");
  p.reply_to = text("amq.rabbitmq.reply-to");
  p.expiration = text("60000");
  p.app_id = text("seeds");
  p.timestamp = 1700000000;
  p.priority = 9;
  p.delivery_mode = 2;
}

// One seed file: length of the properties (2 bytes), properties, body.
bool write_seed(const std::string& dir, const char* name,
                amqp_basic_properties_t& props, const std::string& body) {
  std::vector<uint8_t> buf(65536);
  int len = amqp_encode_properties(AMQP_BASIC_CLASS, &props,
                                   amqp_bytes_t{buf.size(), buf.data()});
  if (len < 0 || len > 0xffff) {
    std::fprintf(stderr, "%s: %s\n", name, amqp_error_string2(len));
    return false;
  }
  std::string out{static_cast<char>(len >> 8), static_cast<char>(len & 0xff)};
  out.append(reinterpret_cast<const char*>(buf.data()),
             static_cast<size_t>(len));
  out += body;
  auto path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr)
    return false;
  std::fwrite(out.data(), 1, out.size(), f);
  return std::fclose(f) == 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  seed_tables tables;
  amqp_basic_properties_t p;
  std::memset(&p, 0, sizeof(p));
  bool ok = write_seed(dir, "seed-empty", p, "");
  p._flags = AMQP_BASIC_HEADERS_FLAG;
  p.headers = every_kind(tables);
  ok = write_seed(dir, "seed-every-field-kind", p,
                  R"({"amount": 12.5, "to": ["a", {"b": null}]})") &&
       ok;
  set_all_strings(p, "application/json; charset=utf-8");
  ok = write_seed(dir, "seed-every-property", p, R"({"n": -1e308})") && ok;
  p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG;
  p.content_type = text("text/plain");
  ok = write_seed(dir, "seed-not-json", p, "plain text") && ok;
  p.content_type = text("application/vnd.warren+json");
  ok = write_seed(dir, "seed-bad-json", p, "{\"a\": [1, 2,, }") && ok;
  return ok ? 0 : 1;
}
