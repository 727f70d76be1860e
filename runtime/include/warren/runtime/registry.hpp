#pragma once

/// The registry of actor kinds, and the plugin entry point.
///
/// A kind is a name for a way to make actors, described by a
/// `kind_descriptor`: how to make one (a `warren::actor` subclass, a
/// stateful one, or, to drop down to raw CAF, the behavior of a typed
/// `delivery_actor`: `(deliver_atom, envelope) -> outcome`), whether it is
/// stateful (its state lives in the node: one instance per node), whether it
/// takes a `handler` (another kind that does its work, as `service` and
/// `subscriber` do), and how its `options` are checked. The node config names
/// kinds in `actors[].kind` and `actors[].handler`; `warren check` and every
/// node start check each actor against its kind's descriptor, plugin kinds
/// included, and report errors with the file and JSON path.
///
/// A plugin is a shared library listed under `plugins` in the node config.
/// It defines its entry point with `WARREN_PLUGIN(registry) { ... }`; the
/// node loads it with dlopen before spawning actors. Plugins exchange only
/// envelopes (metadata + JSON) with the runtime, so they never register CAF
/// type IDs and separately built plugins cannot clash.

#include "warren/config/node_config.hpp"
#include "warren/config/reader.hpp"
#include "warren/core/delivery.hpp"
#include "warren/runtime/actor.hpp"
#include "warren/runtime/pool.hpp"
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

/// Checks an actor's `options` object. Use the reader's checks (`allow`,
/// `require`, `string`, `integer`, ...): they record the first error with the
/// config file and the JSON path (`node.json: $.actors[2].options.path:
/// ...`). A stateful kind must allow `key_field` if it uses the default key.
using options_validator = std::function<void(config::object_reader& options)>;

/// Checks the options of an actor of `shards` shards (kind_traits).
using shard_options_validator =
  std::function<void(config::object_reader& options, uint32_t shards)>;

/// What a kind says of itself when it is registered.
struct kind_traits {
  /// The kind needs `actors[].handler`: the registered kind that does its
  /// work (as `service` and `subscriber`). Default false.
  bool takes_handler = false;
  /// Checks `actors[].options`. Default: none; a class registered with
  /// `add_kind<T>` that has `static void check_options(config::object_reader&)`
  /// gets that.
  options_validator check_options;
  /// Why an actor of this stateful kind cannot declare `shards` (README.md,
  /// "Clustering"); empty when it can. Checked with the config.
  std::string not_shardable;
  /// Checks `actors[].options` of an actor declaring `shards` (> 0), after
  /// `check_options`: what sharding asks more of them. Default: none.
  shard_options_validator check_shards;
};

/// Everything the registry knows of one kind.
struct kind_descriptor {
  using actor_factory =
    std::function<std::unique_ptr<actor>(const actor_init&)>;
  /// Makes the behavior of a raw CAF kind's actor: it answers
  /// `(deliver_atom, envelope) -> outcome` (warren/core/delivery.hpp), so a
  /// raw kind answering anything else does not compile.
  using raw_factory = std::function<delivery_actor::behavior_type(
    delivery_actor::pointer, const actor_init&)>;
  /// Makes a pool kind's scaling policy (warren/runtime/pool.hpp).
  using pool_factory =
    std::function<std::unique_ptr<pool_policy>(const actor_init&)>;

  enum class family : uint8_t {
    /// A `warren::actor`: stateless, as many instances as configured.
    actor,
    /// A `warren::stateful_base`: state in the node's store, one instance
    /// per node.
    stateful,
    /// A raw CAF actor fed by its instance's consumer.
    raw,
    /// A worker pool: the runtime runs `min_workers` to `max_workers`
    /// instances of its handler kind, as its `pool_policy` decides.
    pool,
  };

  std::string name;
  family what = family::actor;
  /// For `actor` and `stateful`.
  actor_factory make;
  /// For `raw`.
  raw_factory make_raw;
  /// For `pool`.
  pool_factory make_pool;
  bool takes_handler = false;
  options_validator check_options;
  /// Why it cannot be sharded (kind_traits::not_shardable).
  std::string not_shardable;
  shard_options_validator check_shards;

  bool stateful() const noexcept { return what == family::stateful; }
};

class registry {
 public:
  using actor_factory = kind_descriptor::actor_factory;
  using raw_factory = kind_descriptor::raw_factory;
  using pool_factory = kind_descriptor::pool_factory;
  using stateful_factory =
    std::function<std::unique_ptr<stateful_base>(const actor_init&)>;

  /// Registers `T`, a `warren::actor` (or `warren::stateful_actor<S>`)
  /// constructible from `actor_init`. Whether it is stateful follows from
  /// `T`.
  template<class T>
  void add_kind(std::string name, kind_traits traits = {}) {
    if constexpr (has_check_options<T>::value)
      if (!traits.check_options)
        traits.check_options = [](config::object_reader& options) {
          T::check_options(options);
        };
    if constexpr (std::is_base_of_v<stateful_base, T>)
      add_stateful_kind(
        std::move(name),
        [](const actor_init& init) {
          return std::unique_ptr<stateful_base>{new T(init)};
        },
        std::move(traits));
    else
      add_kind(
        std::move(name),
        [](const actor_init& init) {
          return std::unique_ptr<actor>{new T(init)};
        },
        std::move(traits));
  }

  /// Registers a stateless kind by factory. An actor it makes that turns
  /// out to be stateful fails its start: register stateful kinds with
  /// `add_stateful_kind` (or `add_kind<T>`), so the one-instance rule of
  /// stateful kinds is checked with the config.
  void add_kind(std::string name, actor_factory make, kind_traits traits = {});

  /// Registers a stateful kind by factory.
  void add_stateful_kind(std::string name, stateful_factory make,
                         kind_traits traits = {});

  /// Registers a raw CAF kind.
  void add_raw_kind(std::string name, raw_factory make,
                    kind_traits traits = {});

  /// Registers a worker pool kind (warren/runtime/pool.hpp). It always
  /// takes a handler: the stateless kind its workers run, whose options are
  /// checked under `options.worker`.
  void add_pool_kind(std::string name, pool_factory make,
                     kind_traits traits = {});

  /// The descriptor of kind `name`, or nullptr.
  const kind_descriptor* describe(const std::string& name) const;

  /// The factory of a warren actor kind (stateless or stateful), or nullptr.
  const actor_factory* find(const std::string& name) const;

  /// The factory of a raw kind, or nullptr.
  const raw_factory* find_raw(const std::string& name) const;

  bool contains(const std::string& name) const;

  /// Whether kind `name` is stateful.
  bool is_stateful(const std::string& name) const;

  /// Every registered kind name, sorted.
  std::vector<std::string> kinds() const;

  /// The kinds that take a handler, sorted.
  std::vector<std::string> handler_kinds() const;

  /// Problems found while registering (duplicate names), one per line.
  const std::vector<std::string>& problems() const noexcept {
    return problems_;
  }

 private:
  template<class T, class = void>
  struct has_check_options : std::false_type {};

  template<class T>
  struct has_check_options<T, std::void_t<decltype(T::check_options(
                                std::declval<config::object_reader&>()))>>
    : std::true_type {};

  void add(kind_descriptor kind);

  std::map<std::string, kind_descriptor> kinds_;
  std::vector<std::string> problems_;
};

/// Loads a plugin: dlopen, then calls its `WARREN_PLUGIN` entry point.
/// Errors: `errc::plugin_failed` naming the file and dlerror().
caf::error load_plugin(const std::string& path, registry& reg);

/// Version of the plugin ABI; a plugin built against another is refused.
constexpr int plugin_abi_version = 5;

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
