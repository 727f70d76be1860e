#include "wire/amqp_codec.hpp"

#include <amqp_framing.h>

namespace warren::bridges::detail {

amqp_bytes_t bytes_of(const std::string& str) {
  amqp_bytes_t result;
  result.len = str.size();
  result.bytes = const_cast<char*>(str.data());
  return result;
}

std::string string_of(amqp_bytes_t bytes) {
  if (bytes.len == 0)
    return {};
  return std::string{static_cast<const char*>(bytes.bytes), bytes.len};
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string describe_reply(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      switch (reply.reply.id) {
        case AMQP_CONNECTION_CLOSE_METHOD: {
          auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
          return "connection closed by broker: " +
                 std::to_string(m->reply_code) + " " + string_of(m->reply_text);
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
          auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
          return "channel closed by broker: " + std::to_string(m->reply_code) +
                 " " + string_of(m->reply_text);
        }
        default:
          return "unexpected server method " + std::to_string(reply.reply.id);
      }
  }
  return "unknown reply";
}

// Fills an AMQP table from warren's field table. `entries` must outlive the
// use of the returned table; strings point into `fields`.
amqp_table_t encode_table(const field_table& fields,
                          std::vector<amqp_table_entry_t>& entries) {
  entries.resize(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    auto& entry = entries[i];
    entry.key = bytes_of(fields[i].first);
    const auto& value = fields[i].second;
    if (auto* b = std::get_if<bool>(&value)) {
      entry.value.kind = AMQP_FIELD_KIND_BOOLEAN;
      entry.value.value.boolean = *b;
    } else if (auto* n = std::get_if<int64_t>(&value)) {
      entry.value.kind = AMQP_FIELD_KIND_I64;
      entry.value.value.i64 = *n;
    } else if (auto* d = std::get_if<double>(&value)) {
      entry.value.kind = AMQP_FIELD_KIND_F64;
      entry.value.value.f64 = *d;
    } else {
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = bytes_of(std::get<std::string>(value));
    }
  }
  amqp_table_t table;
  table.num_entries = static_cast<int>(entries.size());
  table.entries = entries.empty() ? nullptr : entries.data();
  return table;
}

namespace {

// Scalar header values come across; nested tables and arrays (the broker's
// `x-death`) are left out: warren never routes on them, and copies of a
// message (retries, dead letters) must not carry a mangled version.
bool decode_field(const amqp_field_value_t& in, field_value& out) {
  switch (in.kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
      out = static_cast<bool>(in.value.boolean);
      return true;
    case AMQP_FIELD_KIND_I8:
      out = static_cast<int64_t>(in.value.i8);
      return true;
    case AMQP_FIELD_KIND_U8:
      out = static_cast<int64_t>(in.value.u8);
      return true;
    case AMQP_FIELD_KIND_I16:
      out = static_cast<int64_t>(in.value.i16);
      return true;
    case AMQP_FIELD_KIND_U16:
      out = static_cast<int64_t>(in.value.u16);
      return true;
    case AMQP_FIELD_KIND_I32:
      out = static_cast<int64_t>(in.value.i32);
      return true;
    case AMQP_FIELD_KIND_U32:
      out = static_cast<int64_t>(in.value.u32);
      return true;
    case AMQP_FIELD_KIND_I64:
      out = static_cast<int64_t>(in.value.i64);
      return true;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
      out = static_cast<int64_t>(in.value.u64);
      return true;
    case AMQP_FIELD_KIND_F32:
      out = static_cast<double>(in.value.f32);
      return true;
    case AMQP_FIELD_KIND_F64:
      out = in.value.f64;
      return true;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      out = string_of(in.value.bytes);
      return true;
    default:
      return false;
  }
}

} // namespace

void decode_properties(const amqp_basic_properties_t& in,
                       message_properties& out) {
  auto flags = in._flags;
  out = message_properties{};
  if (flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
    out.content_type = string_of(in.content_type);
  if (flags & AMQP_BASIC_MESSAGE_ID_FLAG)
    out.message_id = string_of(in.message_id);
  if (flags & AMQP_BASIC_TYPE_FLAG)
    out.type = string_of(in.type);
  if (flags & AMQP_BASIC_CORRELATION_ID_FLAG)
    out.correlation_id = string_of(in.correlation_id);
  if (flags & AMQP_BASIC_REPLY_TO_FLAG)
    out.reply_to = string_of(in.reply_to);
  if (flags & AMQP_BASIC_TIMESTAMP_FLAG)
    out.timestamp = in.timestamp;
  if (flags & AMQP_BASIC_EXPIRATION_FLAG)
    out.expiration = string_of(in.expiration);
  if (flags & AMQP_BASIC_PRIORITY_FLAG)
    out.priority = in.priority;
  out.delivery_mode = (flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
                        ? in.delivery_mode
                        : static_cast<uint8_t>(AMQP_DELIVERY_NONPERSISTENT);
  if (flags & AMQP_BASIC_APP_ID_FLAG)
    out.app_id = string_of(in.app_id);
  if (flags & AMQP_BASIC_HEADERS_FLAG) {
    out.headers.reserve(static_cast<size_t>(in.headers.num_entries));
    for (int i = 0; i < in.headers.num_entries; ++i) {
      const auto& entry = in.headers.entries[i];
      field_value value;
      if (decode_field(entry.value, value))
        out.headers.emplace_back(string_of(entry.key), std::move(value));
    }
  }
}

const amqp_basic_properties_t*
property_encoder::encode(const message_properties& in) {
  auto& p = props_;
  p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  p.delivery_mode = in.delivery_mode;
  auto set_string = [&p](amqp_flags_t flag, amqp_bytes_t& field,
                         const std::string& value) {
    if (!value.empty()) {
      p._flags |= flag;
      field = bytes_of(value);
    }
  };
  set_string(AMQP_BASIC_CONTENT_TYPE_FLAG, p.content_type, in.content_type);
  set_string(AMQP_BASIC_MESSAGE_ID_FLAG, p.message_id, in.message_id);
  set_string(AMQP_BASIC_TYPE_FLAG, p.type, in.type);
  set_string(AMQP_BASIC_CORRELATION_ID_FLAG, p.correlation_id,
             in.correlation_id);
  set_string(AMQP_BASIC_REPLY_TO_FLAG, p.reply_to, in.reply_to);
  set_string(AMQP_BASIC_EXPIRATION_FLAG, p.expiration, in.expiration);
  set_string(AMQP_BASIC_APP_ID_FLAG, p.app_id, in.app_id);
  if (in.timestamp != 0) {
    p._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    p.timestamp = in.timestamp;
  }
  if (in.priority) {
    p._flags |= AMQP_BASIC_PRIORITY_FLAG;
    p.priority = *in.priority;
  }
  if (!in.headers.empty()) {
    p._flags |= AMQP_BASIC_HEADERS_FLAG;
    p.headers = encode_table(in.headers, header_entries_);
  }
  return &props_;
}

} // namespace warren::bridges::detail
