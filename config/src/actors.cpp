// `$.actors[]`: the actors a node runs. Kind-specific `options` are checked
// later, by the kind's descriptor (warren::registry), once plugins are
// loaded.

#include "json.hpp"
#include "sections.hpp"

namespace warren::config::detail {

namespace json = boost::json;

namespace {

void read_actor_queue(object_reader& obj, actor_spec& spec) {
  auto& r = obj.reader();
  if (auto v = obj.find("queue")) {
    if (auto name = entity_name(r, obj.path_of("queue"), *v))
      spec.queue = std::move(*name);
    return;
  }
  // The name doubles as the queue name, so it must also be a valid one.
  if (auto v = obj.find("name"))
    if (auto name = entity_name(r, obj.path_of("name"), *v))
      spec.queue = std::move(*name);
}

/// Two actors on one queue would split its messages between unrelated
/// kinds; several consumers of one kind is what `instances` is for.
void check_actor_unique(config_reader& r, const object_reader& obj,
                        const actor_spec& spec,
                        const std::vector<actor_spec>& earlier) {
  for (std::size_t i = 0; i < earlier.size() && r.ok(); ++i) {
    if (earlier[i].name == spec.name)
      r.fail(obj.path_of("name"), "duplicate actor name \"" + spec.name +
                                    "\" (already used at " +
                                    element_path("$.actors", i) + ")");
    else if (earlier[i].queue == spec.queue)
      r.fail(obj.find("queue") ? obj.path_of("queue") : obj.path_of("name"),
             "queue \"" + spec.queue + "\" is already consumed by actor \"" +
               earlier[i].name + "\" (" + element_path("$.actors", i) +
               "); use \"instances\" for several consumers of one kind");
  }
}

/// `actors[].retry`: {"immediate": n, "delays_ms": [ms, ...]}.
void read_retry(object_reader& actor, retry_policy& out) {
  auto obj = actor.object("retry");
  if (!obj)
    return;
  obj->allow({"immediate", "delays_ms"});
  obj->integer("immediate", {0, 100}, out.immediate);
  const auto* arr = obj->array("delays_ms");
  if (arr == nullptr)
    return;
  auto path = obj->path_of("delays_ms");
  if (arr->size() > max_retry_steps) {
    obj->reader().fail(path, "expected at most " +
                               std::to_string(max_retry_steps) +
                               " delays, found " + std::to_string(arr->size()));
    return;
  }
  out.delays.clear();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    // Up to one day: RabbitMQ takes TTLs in milliseconds as 32-bit values.
    auto ms =
      obj->reader().integer((*arr)[i], element_path(path, i), {1, 86400000});
    if (!ms)
      return;
    out.delays.push_back(std::chrono::milliseconds{*ms});
  }
}

void read_actor(config_reader& r, const json::value& v, const std::string& path,
                std::vector<actor_spec>& out) {
  auto obj = r.object(v, path);
  if (!obj)
    return;
  obj->allow({"name", "kind", "handler", "queue", "prefetch", "instances",
              "retry", "commit", "require_message_id", "chunks", "shards",
              "options"});
  actor_spec spec;
  if (auto name = obj->require("name"))
    if (auto text = plain_name(r, obj->path_of("name"), *name, max_actor_name))
      spec.name = std::move(*text);
  if (obj->require("kind"))
    obj->string("kind", spec.kind, text_rule::non_empty);
  // Whether the kind takes a handler is the kind's to say (its descriptor,
  // checked once plugins are loaded); here only the syntax.
  obj->string("handler", spec.handler, text_rule::non_empty);
  read_actor_queue(*obj, spec);
  check_actor_unique(r, *obj, spec, out);
  obj->integer("prefetch", {1, 65535}, spec.prefetch);
  obj->integer("instances", {1, 64}, spec.instances);
  obj->integer("shards", {1, 1024}, spec.shards);
  read_retry(*obj, spec.retry);
  obj->boolean("require_message_id", spec.require_message_id);
  if (auto commit = obj->object("commit")) {
    commit->allow({"max_batch", "max_delay_ms"});
    commit->integer("max_batch", {1, 10000}, spec.commit.max_batch);
    commit->millis("max_delay_ms", {0, 60000}, spec.commit.max_delay);
  }
  if (auto chunks = obj->object("chunks")) {
    chunks->allow({"timeout_ms", "max_transfer_bytes", "max_staged_bytes"});
    spec.chunks.enabled = true;
    chunks->millis("timeout_ms", {1000, int64_t{7} * 24 * 3600 * 1000},
                   spec.chunks.timeout);
    chunks->integer("max_transfer_bytes", {1, int64_t{1} << 40},
                    spec.chunks.max_transfer_bytes);
    chunks->integer("max_staged_bytes", {1, int64_t{1} << 42},
                    spec.chunks.max_staged_bytes);
  }
  if (auto options = obj->object("options"))
    spec.options = options->json();
  out.push_back(std::move(spec));
}

} // namespace

void check_retry_targets(config_reader& r, const node_config& cfg) {
  for (std::size_t i = 0; i < cfg.actors.size() && r.ok(); ++i) {
    const auto& actor = cfg.actors[i];
    if (actor.retry.delays.empty())
      continue;
    for (const auto& q : cfg.topology.queues) {
      bool rejects = q.overflow == bridges::overflow_mode::reject_publish ||
                     q.overflow == bridges::overflow_mode::reject_publish_dlx;
      if (q.name != actor.queue || q.type != bridges::queue_type::classic ||
          !rejects)
        continue;
      r.fail(element_path("$.actors", i) + ".retry.delays_ms",
             "queue \"" + q.name +
               "\" is a classic queue that rejects publishes when full: a "
               "message coming back from the retry ladder then would be "
               "dropped by the broker (classic queues dead-letter at most "
               "once); declare it with \"type\": \"quorum\", or without "
               "\"overflow\"");
    }
  }
}

void read_actors(config_reader& r, const json::array& arr,
                 std::vector<actor_spec>& out) {
  for (std::size_t i = 0; i < arr.size() && r.ok(); ++i)
    read_actor(r, arr[i], element_path("$.actors", i), out);
}

} // namespace warren::config::detail
