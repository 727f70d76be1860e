#pragma once

/// The registry of actor kinds, and the plugin entry point.
///
/// A kind is a name for a way to make actors: a `warren::actor` subclass, or
/// (to drop down to raw CAF) a function making a CAF behavior that answers
/// `(deliver_atom, const envelope&) -> warren::outcome`. The node config
/// names kinds in `actors[].kind` (or `actors[].handler` for the built-in
/// `service` and `subscriber` kinds).
///
/// A plugin is a shared library listed under `plugins` in the node config.
/// It defines its entry point with `WARREN_PLUGIN(registry) { ... }`; the
/// node loads it with dlopen before spawning actors. Plugins exchange only
/// envelopes (metadata + JSON) with the runtime, so they never register CAF
/// type IDs and separately built plugins cannot clash.

#include "warren/core/delivery.hpp"
#include "warren/runtime/actor.hpp"
#include "warren/runtime/stateful.hpp"

#include <caf/expected.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace warren {

class registry {
 public:
  using actor_factory =
    std::function<std::unique_ptr<actor>(const actor_init&)>;
  /// Makes the behavior of a raw CAF kind's actor: it answers
  /// `(deliver_atom, envelope) -> outcome` (warren/core/delivery.hpp), so a
  /// raw kind answering anything else does not compile.
  using raw_factory = std::function<delivery_actor::behavior_type(
    delivery_actor::pointer, const actor_init&)>;

  /// Registers `T` (a `warren::actor` constructible from `actor_init`).
  template<class T>
  void add_kind(std::string name) {
    if constexpr (std::is_base_of_v<stateful_base, T>)
      stateful_kinds_.push_back(name);
    add_kind(std::move(name), [](const actor_init& init) {
      return std::unique_ptr<actor>{new T(init)};
    });
  }

  /// Registers a kind by factory. A name registered twice is an error
  /// reported by the node at start-up (the first registration stays).
  void add_kind(std::string name, actor_factory make);

  /// Registers a raw CAF kind.
  void add_raw_kind(std::string name, raw_factory make);

  const actor_factory* find(const std::string& name) const;
  const raw_factory* find_raw(const std::string& name) const;
  bool contains(const std::string& name) const;

  /// Whether `name` was registered by `add_kind<T>` with a stateful `T`.
  bool is_stateful(const std::string& name) const;

  /// Every registered kind name, sorted.
  std::vector<std::string> kinds() const;

  /// Problems found while registering (duplicate names), one per line.
  const std::vector<std::string>& problems() const noexcept {
    return problems_;
  }

 private:
  std::map<std::string, actor_factory> kinds_;
  std::map<std::string, raw_factory> raw_kinds_;
  std::vector<std::string> stateful_kinds_;
  std::vector<std::string> problems_;
};

/// Loads a plugin: dlopen, then calls its `WARREN_PLUGIN` entry point.
/// Errors: `errc::plugin_failed` naming the file and dlerror().
caf::error load_plugin(const std::string& path, registry& reg);

/// Version of the plugin ABI; a plugin built against another is refused.
constexpr int plugin_abi_version = 2;

} // namespace warren

/// Defines a plugin's entry point: `WARREN_PLUGIN(reg) {
/// reg.add_kind<...>("..."); }`
#define WARREN_PLUGIN(registry_name)                                           \
  static void warren_plugin_register(::warren::registry&);                     \
  extern "C" __attribute__((visibility("default"))) int                        \
  warren_plugin_abi_version() {                                                \
    return ::warren::plugin_abi_version;                                       \
  }                                                                            \
  extern "C" __attribute__((visibility("default"))) void warren_plugin_init(   \
    ::warren::registry& reg) {                                                 \
    warren_plugin_register(reg);                                               \
  }                                                                            \
  static void warren_plugin_register(::warren::registry& registry_name)
