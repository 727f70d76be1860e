#include "warren/config/node_config.hpp"

#include "json.hpp"
#include "reader.hpp"
#include "sections.hpp"
#include "warren/core/errc.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

// Reading order: the document's shape, `node` (other defaults derive from
// it), each section in the order the README documents them, and finally the
// references between sections. The first error wins.

namespace json = boost::json;

namespace warren::config {

namespace detail {

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p{path};
  if (p.is_absolute() || base_dir.empty())
    return path;
  // No lexical normalization: "a/link/.." is not "a" when link is a symlink.
  return (std::filesystem::path{base_dir} / p).string();
}

bool read_text_file(const std::string& path, std::string& out,
                    std::string& error) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{
    std::fopen(path.c_str(), "rb"), &std::fclose};
  if (!file) {
    error = std::strerror(errno);
    return false;
  }
  out.clear();
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), file.get())) > 0)
    out.append(buf, n);
  // fopen succeeds on a directory; the read is what fails (EISDIR).
  if (std::ferror(file.get())) {
    error = std::strerror(errno);
    return false;
  }
  return true;
}

} // namespace detail

namespace {

using detail::config_reader;
using detail::element_path;
using detail::int_range;
using detail::object_reader;
using detail::text_rule;

constexpr std::size_t max_node_name = 64;
constexpr std::size_t max_actor_name = 255;

/// Names that travel as routing keys, file names and log fields.
bool is_plain_name(const std::string& s, std::size_t max_size) {
  if (s.empty() || s.size() > max_size)
    return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '.' && c != '_' && c != '-')
      return false;
  }
  return true;
}

std::optional<std::string> plain_name(config_reader& r, const std::string& path,
                                      const json::value& v,
                                      std::size_t max_size) {
  if (!r.ok())
    return std::nullopt;
  if (v.is_string()) {
    std::string s{v.get_string()};
    if (is_plain_name(s, max_size))
      return s;
  }
  r.fail_expected(path,
                  "a name of 1 to " + std::to_string(max_size) +
                    " characters from A-Z, a-z, 0-9, '.', '_' and '-'",
                  v);
  return std::nullopt;
}

bool takes_handler(const std::string& kind) {
  return kind == service_kind || kind == subscriber_kind;
}

void read_handler(object_reader& obj, actor_spec& spec) {
  auto& r = obj.reader();
  if (!r.ok())
    return;
  if (!takes_handler(spec.kind)) {
    if (obj.find("handler"))
      r.fail(obj.path_of("handler"),
             "only the kinds \"service\" and \"subscriber\" take a handler "
             "(this actor's kind is \"" +
               spec.kind + "\")");
    return;
  }
  if (!obj.find("handler")) {
    r.fail(obj.path_of("handler"), "required key is missing (kind \"" +
                                     spec.kind + "\" needs a handler)");
    return;
  }
  obj.string("handler", spec.handler, text_rule::non_empty);
}

void read_actor_queue(object_reader& obj, actor_spec& spec) {
  auto& r = obj.reader();
  if (auto v = obj.find("queue")) {
    if (auto name = detail::entity_name(r, obj.path_of("queue"), *v))
      spec.queue = std::move(*name);
    return;
  }
  // The name doubles as the queue name, so it must also be a valid one.
  if (auto v = obj.find("name"))
    if (auto name = detail::entity_name(r, obj.path_of("name"), *v))
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
              "retry", "commit", "options"});
  actor_spec spec;
  if (auto name = obj->require("name"))
    if (auto text = plain_name(r, obj->path_of("name"), *name, max_actor_name))
      spec.name = std::move(*text);
  if (obj->require("kind"))
    obj->string("kind", spec.kind, text_rule::non_empty);
  read_handler(*obj, spec);
  read_actor_queue(*obj, spec);
  check_actor_unique(r, *obj, spec, out);
  obj->integer("prefetch", {1, 65535}, spec.prefetch);
  obj->integer("instances", {1, 64}, spec.instances);
  read_retry(*obj, spec.retry);
  if (auto commit = obj->object("commit")) {
    commit->allow({"max_batch", "max_delay_ms"});
    commit->integer("max_batch", {1, 10000}, spec.commit.max_batch);
    commit->millis("max_delay_ms", {0, 60000}, spec.commit.max_delay);
  }
  if (auto options = obj->object("options"))
    spec.options = options->json();
  out.push_back(std::move(spec));
}

void read_plugins(config_reader& r, const json::value& v,
                  const std::string& base_dir, std::vector<std::string>& out) {
  const std::string path = "$.plugins";
  auto arr = r.array(v, path);
  if (!arr)
    return;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto item_path = element_path(path, i);
    auto file = r.string((*arr)[i], item_path, text_rule::non_empty);
    if (!file)
      return;
    auto resolved = detail::resolve_path(base_dir, *file);
    for (std::size_t j = 0; j < out.size(); ++j)
      if (out[j] == resolved)
        r.fail(item_path, "duplicate plugin \"" + *file + "\" (already at " +
                            element_path(path, j) + ")");
    out.push_back(std::move(resolved));
  }
}

/// Sections holding one number each: `{"threads": 4}` and the like.
template<class Value>
void read_single(object_reader& root, std::string_view section,
                 std::string_view key, int_range range, Value& out) {
  if (auto obj = root.object(section)) {
    obj->allow({key});
    if constexpr (std::is_same_v<Value, std::chrono::milliseconds>)
      obj->millis(key, range, out);
    else
      obj->integer(key, range, out);
  }
}

void read_node_name(object_reader& root, node_config& cfg) {
  if (auto v = root.require("node"))
    if (auto name = plain_name(root.reader(), "$.node", *v, max_node_name))
      cfg.node_name = std::move(*name);
}

void read_sections(object_reader& root, const std::string& base_dir,
                   node_config& cfg) {
  auto& r = root.reader();
  cfg.state_dir = ".state/" + cfg.node_name;
  root.string("state_dir", cfg.state_dir, text_rule::non_empty);
  cfg.state_dir = detail::resolve_path(base_dir, cfg.state_dir);
  detail::read_broker(r, root.find("broker"), cfg.node_name, base_dir,
                      cfg.broker);
  if (auto v = root.find("topology"))
    detail::read_topology(r, *v, cfg.topology);
  if (auto arr = root.array("actors"))
    for (std::size_t i = 0; i < arr->size(); ++i)
      read_actor(r, (*arr)[i], element_path("$.actors", i), cfg.actors);
  if (auto v = root.find("plugins"))
    read_plugins(r, *v, base_dir, cfg.plugins);
  read_single(root, "scheduler", "threads", {0, 256}, cfg.scheduler_threads);
  read_single(root, "publisher", "max_unconfirmed", {1, 100'000},
              cfg.publisher.max_unconfirmed);
  read_single(root, "limits", "max_body_bytes", {1, 128 * 1024 * 1024},
              cfg.max_body_bytes);
  read_single(root, "calls", "timeout_ms", {1, 3'600'000}, cfg.call_timeout);
  read_single(root, "shutdown", "timeout_ms", {0, 3'600'000},
              cfg.shutdown_timeout);
  if (auto store = root.object("store")) {
    store->allow({"synchronous", "inbox_retention_ms"});
    if (auto index = store->choice("synchronous", {"full", "normal"}))
      cfg.store.synchronous = static_cast<sync_mode>(*index);
    store->millis("inbox_retention_ms", {1000, 3650LL * 24 * 3600 * 1000},
                  cfg.store.inbox_retention);
  }
  if (r.ok())
    detail::read_supervision(r, root.find("supervision"), cfg.actors,
                             cfg.shutdown_timeout, cfg.supervision);
}

} // namespace

caf::expected<node_config> parse_config(const std::string& text,
                                        const std::string& source_name,
                                        const std::string& base_dir) {
  auto doc = detail::parse_json(text, source_name);
  if (!doc)
    return doc.error();
  config_reader r{source_name};
  node_config cfg;
  cfg.source_file = source_name;
  if (auto root = r.object(*doc, "$")) {
    root->allow({"node", "state_dir", "broker", "topology", "actors", "plugins",
                 "scheduler", "publisher", "limits", "calls", "shutdown",
                 "supervision", "store"});
    read_node_name(*root, cfg);
    if (r.ok())
      read_sections(*root, base_dir, cfg);
  }
  if (r.ok())
    detail::check_references(r, cfg);
  if (!r.ok())
    return r.error();
  return cfg;
}

caf::expected<node_config> load_config(const std::string& path) {
  std::string text;
  std::string error;
  if (!detail::read_text_file(path, text, error))
    return make_error(errc::invalid_config, path + ": cannot read: " + error);
  auto base_dir = std::filesystem::path{path}.parent_path().string();
  return parse_config(text, path, base_dir);
}

} // namespace warren::config
