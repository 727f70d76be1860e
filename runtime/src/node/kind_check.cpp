// Every actor of a config checked against its kind's descriptor, once the
// plugins are loaded (`warren check` and every node start).

#include "warren/config/reader.hpp"
#include "warren/runtime/node.hpp"

namespace warren::runtime {

namespace {

std::string quoted_list(const std::vector<std::string>& names,
                        const char* separator) {
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      list += i + 1 == names.size() ? " and " : separator;
    list += "\"" + names[i] + "\"";
  }
  return list;
}

std::string plain_list(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names)
    list += (list.empty() ? "" : ", ") + n;
  return list;
}

caf::error check_handler(const std::string& where,
                         const config::actor_spec& spec,
                         const kind_descriptor& kind, const registry& kinds) {
  if (kind.takes_handler && spec.handler.empty())
    return make_error(errc::invalid_config,
                      where + ".handler: required key is missing (kind \"" +
                        spec.kind + "\" needs a handler)");
  if (!kind.takes_handler && !spec.handler.empty()) {
    auto takers = kinds.handler_kinds();
    return make_error(
      errc::invalid_config,
      where + ".handler: only the kind" + (takers.size() == 1 ? " " : "s ") +
        quoted_list(takers, ", ") + (takers.size() == 1 ? " takes" : " take") +
        " a handler (this actor's kind is \"" + spec.kind + "\")");
  }
  if (spec.handler.empty())
    return caf::none;
  const auto* handler = kinds.describe(spec.handler);
  if (handler == nullptr)
    return make_error(
      errc::unknown_kind,
      where + ".handler: unknown handler kind '" + spec.handler +
        "' (registered kinds: " + plain_list(kinds.kinds()) + ")");
  if (kind.what == kind_descriptor::family::pool && handler->stateful())
    // A stateful kind's state is one instance per node: a pool of them
    // would split (and corrupt) it.
    return make_error(errc::invalid_config,
                      where + ".handler: the stateful kind '" + spec.handler +
                        "' cannot be pooled (its state lives in this node, "
                        "in one instance; a pool runs several); give it an "
                        "actor of its own, or pool a stateless kind");
  if (kind.what == kind_descriptor::family::pool && handler->takes_handler)
    return make_error(errc::invalid_config,
                      where + ".handler: kind '" + spec.handler +
                        "' needs a handler of its own and cannot be pooled; "
                        "pool the kind that does the work");
  if (handler->what != kind_descriptor::family::actor)
    return make_error(errc::invalid_config,
                      where + ".handler: kind '" + spec.handler +
                        "' cannot do another kind's work (it is " +
                        (handler->stateful() ? "stateful" : "a raw CAF kind") +
                        "); use it as the actor's kind");
  return caf::none;
}

// The kind's options validator (and the handler kind's), and for stateful
// kinds the one option the runtime itself reads (`key_field`).
caf::error check_options(const std::string& source, const std::string& path,
                         const config::actor_spec& spec,
                         const kind_descriptor& kind, const registry& kinds) {
  config::config_reader r{source};
  config::object_reader options{r, spec.options, path + ".options"};
  try {
    if (kind.stateful()) {
      std::string key_field;
      options.string("key_field", key_field, config::text_rule::non_empty);
    }
    if (kind.check_options)
      kind.check_options(options);
    if (kind.check_shards && spec.shards > 0 && r.ok())
      kind.check_shards(options, spec.shards);
    const auto* handler = kinds.describe(spec.handler);
    if (handler != nullptr && handler->check_options && r.ok()) {
      if (kind.what == kind_descriptor::family::pool) {
        // A pool's workers get `options.worker` (warren/runtime/pool.hpp).
        boost::json::object none;
        auto worker = options.object(pool_worker_options_key);
        config::object_reader empty{r, none,
                                    options.path_of(pool_worker_options_key)};
        if (r.ok())
          handler->check_options(worker ? *worker : empty);
      } else {
        handler->check_options(options);
      }
    }
  } catch (const std::exception& e) {
    r.fail(path + ".options",
           "the options check of kind '" + spec.kind + "' threw: " + e.what());
  }
  return r.ok() ? caf::error{} : r.error();
}

} // namespace

caf::error check_kinds(const config::node_config& cfg, const registry& kinds) {
  for (std::size_t i = 0; i < cfg.actors.size(); ++i) {
    const auto& spec = cfg.actors[i];
    auto path = "$.actors[" + std::to_string(i) + "]";
    auto where = cfg.source_file + ": " + path;
    const auto* kind = kinds.describe(spec.kind);
    if (kind == nullptr)
      return make_error(errc::unknown_kind,
                        where + ".kind: unknown actor kind '" + spec.kind +
                          "' (registered kinds: " + plain_list(kinds.kinds()) +
                          "; is its plugin listed under plugins?)");
    if (spec.shards > 0 && !kind->stateful())
      return make_error(errc::invalid_config,
                        where +
                          ".shards: only a stateful kind's keys are "
                          "sharded; '" +
                          spec.kind +
                          "' is not stateful (run more instances "
                          "or nodes instead)");
    if (spec.shards > 0 && !kind->not_shardable.empty())
      return make_error(errc::invalid_config,
                        where + ".shards: the kind '" + spec.kind +
                          "' cannot be sharded: " + kind->not_shardable +
                          "; remove \"shards\"");
    if (spec.shards > 0 && spec.chunks.enabled)
      return make_error(errc::invalid_config,
                        where + ".shards: a sharded actor takes no chunked "
                                "transfers (not supported yet); remove "
                                "\"chunks\"");
    if (kind->stateful() && spec.instances > 1 && spec.shards == 0)
      return make_error(
        errc::invalid_config,
        where + ".instances: expected 1 for the stateful kind '" + spec.kind +
          "' (its state lives in this node; run it in one instance), found " +
          std::to_string(spec.instances));
    if (kind->what == kind_descriptor::family::pool && spec.instances != 1)
      return make_error(errc::invalid_config,
                        where +
                          ".instances: a worker pool sizes itself "
                          "(options.min_workers and "
                          "options.max_workers); leave instances out, "
                          "found " +
                          std::to_string(spec.instances));
    if (auto err = check_handler(where, spec, *kind, kinds))
      return err;
    if (auto err = check_options(cfg.source_file, path, spec, *kind, kinds))
      return err;
  }
  return caf::none;
}

} // namespace warren::runtime
