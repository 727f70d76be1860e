#include "json.hpp"
#include "sections.hpp"

#include <algorithm>
#include <limits>
#include <variant>

namespace json = boost::json;

namespace warren::config::detail {

using bridges::exchange_type;
using bridges::overflow_mode;
using bridges::queue_type;

namespace {

/// RabbitMQ keeps x-message-ttl and x-expires in 32 bits.
constexpr int64_t max_ttl_ms = std::numeric_limits<uint32_t>::max();

constexpr int_range count_range{0, std::numeric_limits<int64_t>::max()};

const std::string exchanges_path = "$.topology.exchanges";
const std::string queues_path = "$.topology.queues";
const std::string bindings_path = "$.topology.bindings";

/// The broker's own exchanges a binding may use, with their types.
struct builtin_exchange {
  const char* name;
  exchange_type type;
};

constexpr builtin_exchange builtin_exchanges[] = {
  {"amq.direct", exchange_type::direct},
  {"amq.fanout", exchange_type::fanout},
  {"amq.topic", exchange_type::topic},
  {"amq.headers", exchange_type::headers},
  {"amq.match", exchange_type::headers},
};

template<class Spec>
const Spec* find_named(const std::vector<Spec>& specs, const std::string& name,
                       std::size_t& index) {
  for (index = 0; index < specs.size(); ++index)
    if (specs[index].name == name)
      return &specs[index];
  return nullptr;
}

void read_exchange(config_reader& r, const json::value& v,
                   const std::string& path,
                   std::vector<bridges::exchange_spec>& out) {
  auto obj = r.object(v, path);
  if (!obj)
    return;
  obj->allow({"name", "type", "durable", "auto_delete", "internal"});
  bridges::exchange_spec spec;
  if (auto name = obj->require("name")) {
    if (auto text = entity_name(r, obj->path_of("name"), *name))
      spec.name = std::move(*text);
  }
  if (r.ok() && spec.name == bridges::actors_exchange)
    r.fail(obj->path_of("name"), std::string{"\""} + bridges::actors_exchange +
                                   "\" is declared by warren itself");
  std::size_t first = 0;
  if (r.ok() && find_named(out, spec.name, first))
    r.fail(obj->path_of("name"), "duplicate exchange name \"" + spec.name +
                                   "\" (already declared at " +
                                   element_path(exchanges_path, first) + ")");
  if (obj->require("type"))
    if (auto type =
          obj->choice("type", {"direct", "fanout", "topic", "headers"}))
      spec.type = static_cast<exchange_type>(*type);
  obj->boolean("durable", spec.durable);
  obj->boolean("auto_delete", spec.auto_delete);
  obj->boolean("internal", spec.internal);
  out.push_back(std::move(spec));
}

void read_queue_arguments(object_reader& obj, bridges::queue_spec& spec) {
  obj.integer("message_ttl_ms", {0, max_ttl_ms}, spec.message_ttl_ms);
  obj.integer("expires_ms", {1, max_ttl_ms}, spec.expires_ms);
  obj.string("dead_letter_exchange", spec.dead_letter_exchange);
  obj.string("dead_letter_routing_key", spec.dead_letter_routing_key);
  obj.integer("max_length", count_range, spec.max_length);
  obj.integer("max_length_bytes", count_range, spec.max_length_bytes);
  if (auto mode = obj.choice(
        "overflow", {"drop-head", "reject-publish", "reject-publish-dlx"}))
    spec.overflow = static_cast<overflow_mode>(*mode);
  obj.integer("max_priority", {1, 255}, spec.max_priority);
  obj.boolean("single_active_consumer", spec.single_active_consumer);
}

/// Settings the broker would reject at declaration, or silently ignore.
void check_queue(object_reader& obj, const bridges::queue_spec& spec) {
  auto& r = obj.reader();
  if (spec.dead_letter_routing_key && !spec.dead_letter_exchange)
    r.fail(obj.path_of("dead_letter_routing_key"),
           "needs dead_letter_exchange in the same queue (without it the "
           "broker ignores the routing key)");
  if (spec.overflow == overflow_mode::reject_publish_dlx &&
      !spec.dead_letter_exchange)
    r.fail(obj.path_of("overflow"),
           "\"reject-publish-dlx\" needs dead_letter_exchange in the same "
           "queue");
  if (spec.type != queue_type::quorum)
    return;
  // Quorum queues are replicated logs: always durable, never tied to one
  // connection, and without priorities.
  if (!spec.durable)
    r.fail(obj.path_of("durable"), "quorum queues are always durable (remove "
                                   "the key or set it to true)");
  if (spec.exclusive)
    r.fail(obj.path_of("exclusive"), "quorum queues cannot be exclusive");
  if (spec.auto_delete)
    r.fail(obj.path_of("auto_delete"), "quorum queues cannot be auto-delete");
  if (spec.max_priority)
    r.fail(obj.path_of("max_priority"),
           "quorum queues do not support priorities (use a classic queue)");
  if (spec.overflow == overflow_mode::reject_publish_dlx)
    r.fail(obj.path_of("overflow"),
           "quorum queues do not support \"reject-publish-dlx\" (use "
           "\"reject-publish\" or \"drop-head\")");
}

void read_queue(config_reader& r, const json::value& v, const std::string& path,
                std::vector<bridges::queue_spec>& out) {
  auto obj = r.object(v, path);
  if (!obj)
    return;
  obj->allow({"name", "durable", "exclusive", "auto_delete", "type",
              "message_ttl_ms", "expires_ms", "dead_letter_exchange",
              "dead_letter_routing_key", "max_length", "max_length_bytes",
              "overflow", "max_priority", "single_active_consumer",
              "dead_letter_queue"});
  bridges::queue_spec spec;
  if (auto name = obj->require("name")) {
    if (auto text = entity_name(r, obj->path_of("name"), *name))
      spec.name = std::move(*text);
  }
  std::size_t first = 0;
  if (r.ok() && find_named(out, spec.name, first))
    r.fail(obj->path_of("name"), "duplicate queue name \"" + spec.name +
                                   "\" (already declared at " +
                                   element_path(queues_path, first) + ")");
  obj->boolean("durable", spec.durable);
  obj->boolean("exclusive", spec.exclusive);
  obj->boolean("auto_delete", spec.auto_delete);
  if (auto type = obj->choice("type", {"classic", "quorum"}))
    spec.type = static_cast<queue_type>(*type);
  read_queue_arguments(*obj, spec);
  obj->boolean("dead_letter_queue", spec.dead_letter_queue);
  if (r.ok())
    check_queue(*obj, spec);
  out.push_back(std::move(spec));
}

/// AMQP field values: JSON strings, integers, booleans and numbers.
void read_binding_arguments(object_reader& obj, warren::field_table& out) {
  for (const auto& member : obj.json()) {
    std::string key{member.key()};
    const auto& v = member.value();
    auto path = obj.path_of(key);
    if (v.is_string())
      out.emplace_back(key, std::string{v.get_string()});
    else if (v.is_bool())
      out.emplace_back(key, v.get_bool());
    else if (v.is_int64())
      out.emplace_back(key, v.get_int64());
    else if (v.is_double())
      out.emplace_back(key, v.get_double());
    else if (v.is_uint64())
      obj.reader().fail_expected(
        path,
        "an integer of at most 9223372036854775807 (a signed 64-bit integer)",
        v);
    else
      obj.reader().fail_expected(path, "a string, integer, number or boolean",
                                 v);
  }
}

void read_binding(config_reader& r, const json::value& v,
                  const std::string& path,
                  std::vector<bridges::binding_spec>& out) {
  auto obj = r.object(v, path);
  if (!obj)
    return;
  obj->allow({"exchange", "queue", "routing_key", "arguments"});
  bridges::binding_spec spec;
  if (obj->require("exchange") &&
      obj->string("exchange", spec.exchange, text_rule::any) &&
      spec.exchange.empty())
    r.fail(obj->path_of("exchange"),
           "the default exchange \"\" cannot be bound (it routes by queue "
           "name already)");
  if (obj->require("queue"))
    obj->string("queue", spec.queue, text_rule::non_empty);
  obj->string("routing_key", spec.routing_key);
  if (auto args = obj->object("arguments"))
    read_binding_arguments(*args, spec.arguments);
  out.push_back(std::move(spec));
}

template<class Reader, class Spec>
void read_list(object_reader& obj, std::string_view key, Reader read,
               std::vector<Spec>& out) {
  auto arr = obj.array(key);
  if (!arr)
    return;
  for (std::size_t i = 0; i < arr->size(); ++i)
    read(obj.reader(), (*arr)[i], element_path(obj.path_of(key), i), out);
}

/// The type of the exchange a binding names, or nullopt when unknown.
std::optional<exchange_type> exchange_type_of(const node_config& cfg,
                                              const std::string& name) {
  std::size_t index = 0;
  if (auto spec = find_named(cfg.topology.exchanges, name, index))
    return spec->type;
  if (name == bridges::actors_exchange)
    return exchange_type::direct;
  for (const auto& builtin : builtin_exchanges)
    if (name == builtin.name)
      return builtin.type;
  return std::nullopt;
}

json::value to_json(const warren::field_value& value) {
  return std::visit([](const auto& x) { return json::value(x); }, value);
}

bool queue_known(const node_config& cfg, const std::string& name) {
  std::size_t index = 0;
  if (find_named(cfg.topology.queues, name, index))
    return true;
  return std::any_of(cfg.actors.begin(), cfg.actors.end(),
                     [&](const actor_spec& a) { return a.queue == name; });
}

void check_binding(config_reader& r, const node_config& cfg,
                   const bridges::binding_spec& spec, const std::string& path) {
  auto type = exchange_type_of(cfg, spec.exchange);
  if (!type) {
    r.fail_expected(member_path(path, "exchange"),
                    "an exchange declared in $.topology.exchanges, " +
                      std::string{bridges::actors_exchange} +
                      " or a built-in amq.* exchange",
                    json::string{spec.exchange});
    return;
  }
  if (!queue_known(cfg, spec.queue)) {
    r.fail_expected(member_path(path, "queue"),
                    "a queue declared in $.topology.queues or consumed by an "
                    "actor",
                    json::string{spec.queue});
    return;
  }
  if (*type != exchange_type::headers)
    return;
  for (const auto& [key, value] : spec.arguments)
    if (key == "x-match")
      r.choice(to_json(value), member_path(member_path(path, "arguments"), key),
               {"all", "any", "all-with-x", "any-with-x"});
}

} // namespace

void read_topology(config_reader& r, const json::value& v,
                   bridges::topology& out) {
  auto obj = r.object(v, "$.topology");
  if (!obj)
    return;
  obj->allow({"exchanges", "queues", "bindings"});
  read_list(*obj, "exchanges", read_exchange, out.exchanges);
  read_list(*obj, "queues", read_queue, out.queues);
  read_list(*obj, "bindings", read_binding, out.bindings);
}

void check_references(config_reader& r, const node_config& cfg) {
  const auto& bindings = cfg.topology.bindings;
  for (std::size_t i = 0; i < bindings.size() && r.ok(); ++i)
    check_binding(r, cfg, bindings[i], element_path(bindings_path, i));
}

} // namespace warren::config::detail
