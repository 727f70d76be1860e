// `$.supervision`: the node's supervision tree.
//
//   "supervision": {
//     "strategy": "one_for_one", "max_restarts": 1, "period_ms": 5000,
//     "backoff": {"min_ms": 100, "max_ms": 10000, "jitter_percent": 20},
//     "children": [
//       {"actor": "orders", "restart": "permanent", "shutdown_ms": 5000},
//       {"supervisor": "billing", "strategy": "rest_for_one",
//        "children": [{"actor": "ledger"}, {"actor": "invoices"}]}
//     ]
//   }
//
// Every actor appears at most once in the tree; the ones that do not appear
// are appended to the root as permanent children, in config order.

#include "json.hpp"
#include "sections.hpp"

#include <algorithm>
#include <map>

namespace warren::config::detail {

namespace {

namespace json = boost::json;

// Nesting deeper than this is surely a mistake (and would recurse far).
constexpr int max_depth = 16;

struct tree_reader {
  config_reader& r;
  const std::vector<actor_spec>& actors;
  std::chrono::milliseconds default_shutdown;
  // Actor or supervisor id -> the path where it was placed.
  std::map<std::string, std::string> placed;

  void read_limits(object_reader& obj, supervisor_config& out) {
    if (auto index = obj.choice("strategy",
                                {"one_for_one", "one_for_all", "rest_for_one"}))
      out.strategy = static_cast<restart_strategy>(*index);
    obj.integer("max_restarts", {0, 1'000'000}, out.intensity.max_restarts);
    obj.millis("period_ms", {1, 86'400'000}, out.intensity.period);
    if (auto backoff = obj.object("backoff")) {
      backoff->allow({"min_ms", "max_ms", "jitter_percent"});
      backoff->millis("min_ms", {0, 3'600'000}, out.backoff.min);
      backoff->millis("max_ms", {0, 3'600'000}, out.backoff.max);
      int64_t percent = 0;
      if (backoff->integer("jitter_percent", {0, 100}, percent))
        out.backoff.jitter = static_cast<double>(percent) / 100.0;
      if (r.ok() && out.backoff.max < out.backoff.min)
        r.fail(backoff->path_of("max_ms"),
               "expected at least min_ms (" +
                 std::to_string(out.backoff.min.count()) + "), found " +
                 std::to_string(out.backoff.max.count()));
    }
  }

  void claim(const std::string& name, const std::string& path,
             const char* what) {
    auto [where, fresh] = placed.emplace(name, path);
    if (!fresh)
      r.fail(path, std::string{what} + " '" + name +
                     "' is already in the tree at " + where->second);
  }

  void read_child(const json::value& v, const std::string& path, int depth,
                  supervisor_config& parent) {
    auto obj = r.object(v, path);
    if (!obj)
      return;
    supervisor_config::child child;
    child.spec.shutdown = default_shutdown;
    bool is_actor = obj->find("actor") != nullptr;
    bool is_supervisor = obj->find("supervisor") != nullptr;
    if (is_actor == is_supervisor) {
      r.fail(path, "expected exactly one of \"actor\" (an actor's name) and "
                   "\"supervisor\" (a nested supervisor's id)");
      return;
    }
    if (is_actor) {
      obj->allow({"actor", "restart", "shutdown_ms"});
      obj->string("actor", child.actor, text_rule::non_empty);
      auto known =
        std::any_of(actors.begin(), actors.end(),
                    [&](const auto& a) { return a.name == child.actor; });
      if (r.ok() && !known) {
        std::string names;
        for (const auto& a : actors)
          names += (names.empty() ? "" : ", ") + a.name;
        r.fail(obj->path_of("actor"),
               "expected the name of an actor in $.actors (" +
                 (names.empty() ? std::string{"none configured"} : names) +
                 "), found \"" + child.actor + "\"");
        return;
      }
      claim(child.actor, obj->path_of("actor"), "actor");
      child.spec.id = child.actor;
    } else {
      obj->allow({"supervisor", "restart", "shutdown_ms", "strategy",
                  "max_restarts", "period_ms", "backoff", "children"});
      obj->string("supervisor", child.supervisor.id, text_rule::non_empty);
      claim("supervisor " + child.supervisor.id, obj->path_of("supervisor"),
            "supervisor id");
      child.spec.id = child.supervisor.id;
      // A supervisor waits for its own children; it is never killed early.
      child.spec.shutdown = std::chrono::milliseconds::max();
      read_limits(*obj, child.supervisor);
      read_children(*obj, depth + 1, child.supervisor);
    }
    if (auto index =
          obj->choice("restart", {"permanent", "transient", "temporary"}))
      child.spec.restart = static_cast<restart_type>(*index);
    if (is_actor)
      obj->millis("shutdown_ms", {0, 3'600'000}, child.spec.shutdown);
    else if (obj->find("shutdown_ms") != nullptr)
      r.fail(obj->path_of("shutdown_ms"),
             "a supervisor waits for its children to stop; set shutdown_ms "
             "on the actors instead");
    if (r.ok())
      parent.children.push_back(std::move(child));
  }

  void read_children(object_reader& obj, int depth, supervisor_config& out) {
    if (depth > max_depth) {
      r.fail(obj.path(), "supervisors nested more than " +
                           std::to_string(max_depth) + " deep");
      return;
    }
    auto arr = obj.array("children");
    if (arr == nullptr)
      return;
    for (std::size_t i = 0; i < arr->size() && r.ok(); ++i)
      read_child((*arr)[i], element_path(obj.path_of("children"), i), depth,
                 out);
  }
};

} // namespace

void read_supervision(config_reader& r, const boost::json::value* v,
                      const std::vector<actor_spec>& actors,
                      std::chrono::milliseconds default_shutdown,
                      supervisor_config& out) {
  tree_reader reader{r, actors, default_shutdown, {}};
  if (v != nullptr) {
    if (auto obj = r.object(*v, "$.supervision")) {
      obj->allow(
        {"strategy", "max_restarts", "period_ms", "backoff", "children"});
      reader.read_limits(*obj, out);
      reader.read_children(*obj, 1, out);
    }
  }
  if (r.ok())
    place_unlisted_actors(out, actors, default_shutdown);
}

} // namespace warren::config::detail

namespace warren::config {

namespace {

bool placed(const supervisor_config& tree, const std::string& actor) {
  for (const auto& child : tree.children)
    if (child.is_actor() ? child.actor == actor
                         : placed(child.supervisor, actor))
      return true;
  return false;
}

} // namespace

void place_unlisted_actors(supervisor_config& root,
                           const std::vector<actor_spec>& actors,
                           std::chrono::milliseconds default_shutdown) {
  for (const auto& a : actors) {
    if (placed(root, a.name))
      continue;
    supervisor_config::child child;
    child.spec.id = a.name;
    child.spec.shutdown = default_shutdown;
    child.actor = a.name;
    root.children.push_back(std::move(child));
  }
}

} // namespace warren::config
