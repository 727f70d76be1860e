// The outbox's encoding of a message: one JSON object with every AMQP field
// warren sets, headers keeping their types (bool, integer, double, string).

#include "warren/core/errc.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>

namespace warren::runtime {

namespace json = boost::json;

std::string encode_outgoing(const warren::outgoing_message& msg) {
  const auto& p = msg.properties;
  json::object headers;
  for (const auto& [key, value] : p.headers)
    std::visit([&, &k = key](const auto& v) { headers[k] = v; }, value);
  json::object obj{
    {"exchange", msg.exchange},
    {"routing_key", msg.routing_key},
    {"mandatory", msg.mandatory},
    {"message_id", p.message_id},
    {"type", p.type},
    {"correlation_id", p.correlation_id},
    {"reply_to", p.reply_to},
    {"content_type", p.content_type},
    {"timestamp", p.timestamp},
    {"expiration", p.expiration},
    {"delivery_mode", p.delivery_mode},
    {"app_id", p.app_id},
    {"headers", std::move(headers)},
    {"body", msg.body},
  };
  if (p.priority)
    obj["priority"] = *p.priority;
  return json::serialize(obj);
}

caf::expected<warren::outgoing_message>
decode_outgoing(const std::string& text) {
  json::error_code ec;
  auto doc = json::parse(text, ec);
  if (ec || !doc.is_object())
    return make_error(errc::store_failed, "outbox message is not a JSON "
                                          "object");
  const auto& obj = doc.get_object();
  warren::outgoing_message msg;
  auto text_of = [&](const char* key, std::string& out) {
    if (const auto* v = obj.if_contains(key); v != nullptr && v->is_string())
      out = std::string{v->get_string()};
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
  if (const auto* v = obj.if_contains("timestamp"); v && v->is_number())
    msg.properties.timestamp = v->to_number<uint64_t>();
  if (const auto* v = obj.if_contains("delivery_mode"); v && v->is_number())
    msg.properties.delivery_mode = v->to_number<uint8_t>();
  if (const auto* v = obj.if_contains("priority"); v && v->is_number())
    msg.properties.priority = v->to_number<uint8_t>();
  if (const auto* v = obj.if_contains("headers"); v && v->is_object()) {
    for (const auto& [key, value] : v->get_object()) {
      std::string k{key};
      if (value.is_bool())
        msg.properties.headers.emplace_back(k, value.get_bool());
      else if (value.is_int64())
        msg.properties.headers.emplace_back(k, value.get_int64());
      else if (value.is_uint64())
        msg.properties.headers.emplace_back(
          k, static_cast<int64_t>(value.get_uint64()));
      else if (value.is_double())
        msg.properties.headers.emplace_back(k, value.get_double());
      else if (value.is_string())
        msg.properties.headers.emplace_back(k, std::string{value.get_string()});
    }
  }
  return msg;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace warren::runtime
