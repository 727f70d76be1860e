// The outbox's encoding of a message: one JSON object with every AMQP field
// warren sets, headers as [key, value] pairs in order, keeping their types
// (bool, integer, double, string). Lossless for what JSON cannot carry as
// such (warren/core/text.hpp): bytes that are not UTF-8 are written as
// {"hex": "..."}, and a NaN or infinite double as {"double": "nan"},
// {"double": "inf"} or {"double": "-inf"}. Rows written by earlier builds
// (headers as an object) still decode.

#include "warren/core/errc.hpp"
#include "warren/core/json_read.hpp"
#include "warren/core/text.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cmath>
#include <limits>

namespace warren::runtime {

namespace json = boost::json;

namespace {

json::value encode_text(const std::string& text) {
  if (is_utf8(text))
    return json::string{text};
  return json::object{{"hex", to_hex(text)}};
}

std::optional<std::string> decode_text(const json::value& v) {
  if (v.is_string())
    return std::string{v.get_string()};
  if (const auto* obj = v.if_object())
    if (const auto* hex = obj->if_contains("hex"); hex && hex->is_string())
      return from_hex(hex->get_string());
  return std::nullopt;
}

json::value encode_double(double d) {
  if (std::isfinite(d))
    return d;
  const char* name = std::isnan(d) ? "nan" : d > 0 ? "inf" : "-inf";
  return json::object{{"double", name}};
}

std::optional<double> decode_double(const json::object& obj) {
  const auto* name = obj.if_contains("double");
  if (name == nullptr || !name->is_string())
    return std::nullopt;
  if (name->get_string() == "nan")
    return std::numeric_limits<double>::quiet_NaN();
  if (name->get_string() == "inf")
    return std::numeric_limits<double>::infinity();
  if (name->get_string() == "-inf")
    return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

json::value encode_field(const field_value& value) {
  return std::visit(
    [](const auto& v) -> json::value {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, std::string>)
        return encode_text(v);
      else if constexpr (std::is_same_v<T, double>)
        return encode_double(v);
      else
        return v;
    },
    value);
}

std::optional<field_value> decode_field(const json::value& v) {
  if (v.is_bool())
    return field_value{v.get_bool()};
  if (v.is_int64())
    return field_value{v.get_int64()};
  if (v.is_uint64())
    return field_value{static_cast<int64_t>(v.get_uint64())};
  if (v.is_double())
    return field_value{v.get_double()};
  if (v.is_object())
    if (auto d = decode_double(v.get_object()))
      return field_value{*d};
  if (auto text = decode_text(v))
    return field_value{std::move(*text)};
  return std::nullopt;
}

// Headers as [[key, value], ...], or (earlier builds) {key: value, ...}.
void decode_headers(const json::value& v, field_table& out) {
  auto add = [&](std::optional<std::string> key, const json::value& value) {
    auto field = decode_field(value);
    if (key && field)
      out.emplace_back(std::move(*key), std::move(*field));
  };
  if (const auto* pairs = v.if_array()) {
    for (const auto& pair : *pairs)
      if (pair.is_array() && pair.get_array().size() == 2)
        add(decode_text(pair.get_array()[0]), pair.get_array()[1]);
  } else if (const auto* obj = v.if_object()) {
    for (const auto& [key, value] : *obj)
      add(std::string{key}, value);
  }
}

} // namespace

std::string encode_outgoing(const warren::outgoing_message& msg) {
  const auto& p = msg.properties;
  json::array headers;
  headers.reserve(p.headers.size());
  for (const auto& [key, value] : p.headers)
    headers.push_back(json::array{encode_text(key), encode_field(value)});
  json::object obj{
    {"exchange", encode_text(msg.exchange)},
    {"routing_key", encode_text(msg.routing_key)},
    {"mandatory", msg.mandatory},
    {"message_id", encode_text(p.message_id)},
    {"type", encode_text(p.type)},
    {"correlation_id", encode_text(p.correlation_id)},
    {"reply_to", encode_text(p.reply_to)},
    {"content_type", encode_text(p.content_type)},
    {"timestamp", p.timestamp},
    {"expiration", encode_text(p.expiration)},
    {"delivery_mode", p.delivery_mode},
    {"app_id", encode_text(p.app_id)},
    {"headers", std::move(headers)},
    {"body", encode_text(msg.body)},
  };
  if (p.priority)
    obj["priority"] = *p.priority;
  return json::serialize(obj);
}

caf::expected<warren::outgoing_message>
decode_outgoing(const std::string& text) {
  json::error_code ec;
  auto doc = read_json(text, ec);
  if (ec || !doc.is_object())
    return make_error(errc::store_failed, "outbox message is not a JSON "
                                          "object");
  const auto& obj = doc.get_object();
  warren::outgoing_message msg;
  auto text_of = [&](const char* key, std::string& out) {
    if (const auto* v = obj.if_contains(key))
      if (auto decoded = decode_text(*v))
        out = std::move(*decoded);
  };
  auto number_of = [&](const char* key, auto& out) {
    using T = std::decay_t<decltype(out)>;
    if (const auto* v = obj.if_contains(key); v && v->is_number()) {
      json::error_code conversion;
      auto n = v->to_number<T>(conversion);
      if (!conversion)
        out = n;
    }
  };
  text_of("exchange", msg.exchange);
  text_of("routing_key", msg.routing_key);
  text_of("message_id", msg.properties.message_id);
  text_of("type", msg.properties.type);
  text_of("correlation_id", msg.properties.correlation_id);
  text_of("reply_to", msg.properties.reply_to);
  text_of("content_type", msg.properties.content_type);
  text_of("expiration", msg.properties.expiration);
  text_of("app_id", msg.properties.app_id);
  text_of("body", msg.body);
  if (const auto* v = obj.if_contains("mandatory"); v && v->is_bool())
    msg.mandatory = v->get_bool();
  number_of("timestamp", msg.properties.timestamp);
  number_of("delivery_mode", msg.properties.delivery_mode);
  if (obj.contains("priority")) {
    uint8_t priority = 0;
    number_of("priority", priority);
    msg.properties.priority = priority;
  }
  if (const auto* v = obj.if_contains("headers"))
    decode_headers(*v, msg.properties.headers);
  return msg;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace warren::runtime
