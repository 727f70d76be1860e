#include "warren/runtime/registry.hpp"

#include <dlfcn.h>

namespace warren {

void registry::add(kind_descriptor kind) {
  if (contains(kind.name)) {
    problems_.push_back("actor kind '" + kind.name + "' is registered twice");
    return;
  }
  auto name = kind.name;
  kinds_.emplace(std::move(name), std::move(kind));
}

namespace {

kind_descriptor describe_kind(std::string name, kind_descriptor::family what,
                              kind_traits traits) {
  kind_descriptor kind;
  kind.name = std::move(name);
  kind.what = what;
  kind.takes_handler = traits.takes_handler;
  kind.check_options = std::move(traits.check_options);
  kind.not_shardable = std::move(traits.not_shardable);
  kind.check_shards = std::move(traits.check_shards);
  return kind;
}

} // namespace

void registry::add_kind(std::string name, actor_factory make,
                        kind_traits traits) {
  auto kind = describe_kind(std::move(name), kind_descriptor::family::actor,
                            std::move(traits));
  kind.make = std::move(make);
  add(std::move(kind));
}

void registry::add_stateful_kind(std::string name, stateful_factory make,
                                 kind_traits traits) {
  auto kind = describe_kind(std::move(name), kind_descriptor::family::stateful,
                            std::move(traits));
  kind.make = [make = std::move(make)](const actor_init& init) {
    return std::unique_ptr<actor>{make(init)};
  };
  add(std::move(kind));
}

void registry::add_raw_kind(std::string name, raw_factory make,
                            kind_traits traits) {
  auto kind = describe_kind(std::move(name), kind_descriptor::family::raw,
                            std::move(traits));
  kind.make_raw = std::move(make);
  add(std::move(kind));
}

void registry::add_pool_kind(std::string name, pool_factory make,
                             kind_traits traits) {
  traits.takes_handler = true;
  auto kind = describe_kind(std::move(name), kind_descriptor::family::pool,
                            std::move(traits));
  kind.make_pool = std::move(make);
  add(std::move(kind));
}

const kind_descriptor* registry::describe(const std::string& name) const {
  auto i = kinds_.find(name);
  return i == kinds_.end() ? nullptr : &i->second;
}

const registry::actor_factory* registry::find(const std::string& name) const {
  const auto* kind = describe(name);
  return kind != nullptr && kind->make ? &kind->make : nullptr;
}

const registry::raw_factory* registry::find_raw(const std::string& name) const {
  const auto* kind = describe(name);
  return kind != nullptr && kind->make_raw ? &kind->make_raw : nullptr;
}

bool registry::contains(const std::string& name) const {
  return kinds_.count(name) > 0;
}

bool registry::is_stateful(const std::string& name) const {
  const auto* kind = describe(name);
  return kind != nullptr && kind->stateful();
}

std::vector<std::string> registry::kinds() const {
  std::vector<std::string> result;
  for (const auto& entry : kinds_)
    result.push_back(entry.first);
  return result;
}

std::vector<std::string> registry::handler_kinds() const {
  std::vector<std::string> result;
  for (const auto& entry : kinds_)
    if (entry.second.takes_handler)
      result.push_back(entry.first);
  return result;
}

caf::error load_plugin(const std::string& path, registry& reg) {
  // RTLD_NODELETE: kinds registered by the plugin keep pointing into it for
  // the life of the process.
  auto* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr)
    return make_error(errc::plugin_failed,
                      "plugin " + path + ": " + ::dlerror());
  using version_fn = int (*)();
  using init_fn = void (*)(registry&);
  auto version =
    reinterpret_cast<version_fn>(::dlsym(handle, "warren_plugin_abi_version"));
  auto init = reinterpret_cast<init_fn>(::dlsym(handle, "warren_plugin_init"));
  if (version == nullptr || init == nullptr)
    return make_error(errc::plugin_failed,
                      "plugin " + path +
                        ": no WARREN_PLUGIN entry point (expected symbols "
                        "warren_plugin_init and warren_plugin_abi_version)");
  if (version() != plugin_abi_version)
    return make_error(errc::plugin_failed,
                      "plugin " + path + ": built for plugin ABI " +
                        std::to_string(version()) + ", this node has " +
                        std::to_string(plugin_abi_version));
  init(reg);
  return caf::none;
}

} // namespace warren
