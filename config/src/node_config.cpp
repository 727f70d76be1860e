#include "warren/config/node_config.hpp"

#include "json.hpp"
#include "sections.hpp"
#include "warren/config/reader.hpp"
#include "warren/core/errc.hpp"

#include <algorithm>
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

using detail::element_path;

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

// `$.cluster`: membership announcements, rebalancing, and the changelogs'
// retention and snapshots (README.md, "Clustering").
// `$.cluster.management_uris`: the management APIs downing uses (without
// it, read_cluster gives the broker URIs', their port + 10000).
void read_management(object_reader& obj, const bridges::broker_settings& broker,
                     cluster_settings& out) {
  const auto* list = obj.array("management_uris");
  if (list == nullptr)
    return;
  auto defaults = broker.endpoints.empty()
                    ? bridges::management_endpoint{}
                    : bridges::management_of(broker.endpoints.front());
  auto& r = obj.reader();
  if (list->empty())
    r.fail(obj.path_of("management_uris"),
           "expected a non-empty array of http:// URIs, found []");
  for (std::size_t i = 0; i < list->size() && r.ok(); ++i) {
    auto path = obj.path_of("management_uris") + "[" + std::to_string(i) + "]";
    auto text = r.string((*list)[i], path, text_rule::non_empty);
    if (!text)
      return;
    auto ep = bridges::parse_management_uri(*text, defaults);
    if (!ep)
      r.fail(path, describe(ep.error()));
    else
      out.management.push_back(std::move(*ep));
  }
}

void read_cluster_section(object_reader& root,
                          const bridges::broker_settings& broker,
                          cluster_settings& out) {
  auto obj = root.object("cluster");
  if (!obj)
    return;
  obj->allow({"announce_interval_ms", "rebalance", "rebalance_hold_ms",
              "changelog_max_bytes", "changelog_snapshot_bytes",
              "down_after_ms", "management_uris"});
  obj->millis("announce_interval_ms", {100, 600'000}, out.announce_interval);
  obj->millis("down_after_ms", {0, 3'600'000}, out.down_after);
  if (out.down_after.count() > 0 && out.down_after < 2 * out.announce_interval)
    // Closer than that, a node whose announcement is a little late would be
    // downed.
    root.reader().fail(obj->path_of("down_after_ms"),
                       "expected 0 (off) or at least twice "
                       "$.cluster.announce_interval_ms (" +
                         std::to_string(2 * out.announce_interval.count()) +
                         "), found " + std::to_string(out.down_after.count()));
  read_management(*obj, broker, out);
  obj->boolean("rebalance", out.rebalance);
  obj->millis("rebalance_hold_ms", {0, 3'600'000}, out.rebalance_hold);
  obj->integer("changelog_max_bytes", {64 * 1024, int64_t{1} << 50},
               out.changelog_max_bytes);
  bool snapshot_set =
    obj->integer("changelog_snapshot_bytes", {4096, int64_t{1} << 50},
                 out.changelog_snapshot_bytes);
  if (!snapshot_set)
    out.changelog_snapshot_bytes =
      std::min(out.changelog_snapshot_bytes, out.changelog_max_bytes / 16);
  else if (out.changelog_snapshot_bytes > out.changelog_max_bytes / 5)
    // Retention must keep a whole snapshot and the records after it.
    root.reader().fail(obj->path_of("changelog_snapshot_bytes"),
                       "expected at most a fifth of "
                       "$.cluster.changelog_max_bytes (" +
                         std::to_string(out.changelog_max_bytes / 5) +
                         "), found " +
                         std::to_string(out.changelog_snapshot_bytes));
}

void read_cluster(object_reader& root, const bridges::broker_settings& broker,
                  cluster_settings& out) {
  read_cluster_section(root, broker, out);
  if (out.management.empty())
    for (const auto& ep : broker.endpoints)
      out.management.push_back(bridges::management_of(ep));
}

void read_node_name(object_reader& root, node_config& cfg) {
  if (auto v = root.require("node"))
    if (auto name = detail::plain_name(root.reader(), "$.node", *v,
                                       detail::max_node_name))
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
    detail::read_actors(r, *arr, cfg.actors);
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
  read_cluster(root, cfg.broker, cfg.cluster);
  detail::read_store(r, root.find("store"), cfg.store);
  detail::read_log(r, root.find("log"), cfg.log);
  detail::read_metrics(r, root.find("metrics"), cfg.metrics);
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
                 "supervision", "store", "log", "metrics", "cluster"});
    read_node_name(*root, cfg);
    if (r.ok())
      read_sections(*root, base_dir, cfg);
  }
  if (r.ok())
    detail::check_references(r, cfg);
  if (r.ok())
    detail::check_retry_targets(r, cfg);
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

int64_t changelog_segment_bytes(int64_t max_bytes) {
  return std::clamp<int64_t>(max_bytes / 8, 8 * 1024, 500'000'000);
}

} // namespace warren::config
