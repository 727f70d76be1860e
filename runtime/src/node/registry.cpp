#include "warren/runtime/registry.hpp"

#include <algorithm>
#include <dlfcn.h>

namespace warren {

void registry::add_kind(std::string name, actor_factory make) {
  if (contains(name)) {
    problems_.push_back("actor kind '" + name + "' is registered twice");
    return;
  }
  kinds_.emplace(std::move(name), std::move(make));
}

void registry::add_raw_kind(std::string name, raw_factory make) {
  if (contains(name)) {
    problems_.push_back("actor kind '" + name + "' is registered twice");
    return;
  }
  raw_kinds_.emplace(std::move(name), std::move(make));
}

const registry::actor_factory* registry::find(const std::string& name) const {
  auto i = kinds_.find(name);
  return i == kinds_.end() ? nullptr : &i->second;
}

const registry::raw_factory* registry::find_raw(const std::string& name) const {
  auto i = raw_kinds_.find(name);
  return i == raw_kinds_.end() ? nullptr : &i->second;
}

bool registry::contains(const std::string& name) const {
  return kinds_.count(name) > 0 || raw_kinds_.count(name) > 0;
}

bool registry::is_stateful(const std::string& name) const {
  return std::find(stateful_kinds_.begin(), stateful_kinds_.end(), name) !=
         stateful_kinds_.end();
}

std::vector<std::string> registry::kinds() const {
  std::vector<std::string> result;
  for (const auto& entry : kinds_)
    result.push_back(entry.first);
  for (const auto& entry : raw_kinds_)
    result.push_back(entry.first);
  std::sort(result.begin(), result.end());
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
