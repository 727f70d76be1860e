#pragma once

/// The C++ API for custom actors.
///
/// A custom actor is a class derived from `warren::actor` that registers
/// typed handlers in `setup`. Messages are mapped to and from JSON with
/// Boost.JSON's `value_to`/`value_from`, so a message type needs either
/// `BOOST_DESCRIBE_STRUCT` or `tag_invoke` overloads:
///
/// ~~~
/// struct greet { std::string name; };
/// BOOST_DESCRIBE_STRUCT(greet, (), (name))
/// struct greeting { std::string text; };
/// BOOST_DESCRIBE_STRUCT(greeting, (), (text))
///
/// class greeter : public warren::actor {
/// public:
///   using warren::actor::actor;
///   void setup(warren::handlers& on) override {
///     on.message<greet>("greet", [](warren::context& ctx, const greet& g) {
///       ctx.reply(greeting{"hello, " + g.name});
///     });
///   }
/// };
///
/// WARREN_PLUGIN(registry) { registry.add_kind<greeter>("hello.greeter"); }
/// ~~~
///
/// Handler outcome: returning normally (or returning `status::ok()`) means
/// the message is done; everything the handler sent through the context is
/// published with confirms before the delivery is acked. An exception, or a
/// returned `status::fail`, never crashes the node: the message goes through
/// the actor's retry policy and, after its last attempt, is dead-lettered
/// with the reason in `x-warren-error` (a `service` also sends the caller a
/// structured error reply). A body that does not fit the handler's type is a
/// permanent `validation_failed`; a `type` with no handler is a permanent
/// `unknown_type`. Only `actor_failure` ends the actor instance itself (its
/// supervisor restarts it).
///
/// Where it runs: a `warren::actor` is a plain C++ object, not a CAF actor.
/// Each configured instance is one object, run by its own consumer (a CAF
/// actor on a thread of its own, which owns the instance's broker
/// connection): handlers are called on that thread, one message at a time,
/// so an instance needs no locks. Never block in a handler: it stalls that
/// instance's deliveries. To wait for another service use `context::call`,
/// whose request and reply travel on the consumer's own connection and whose
/// continuation runs on the same thread when the reply (or a timeout)
/// arrives; the message is settled only after every continuation ran.

#include "warren/core/envelope.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/json_convert.hpp"
#include "warren/runtime/handler_table.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace warren::metrics {
class registry;
} // namespace warren::metrics

namespace warren {

using warren::envelope;
using warren::field_table;
using warren::field_value;

/// What a handler made of a message.
class status {
 public:
  /// The message is done.
  static status ok() { return status{}; }

  /// The message failed. `permanent` failures (bad input the sender must
  /// fix) are never retried; transient ones may be (see the retry policy).
  static status fail(std::string reason, bool permanent = false) {
    status s;
    s.code_ = permanent ? errc::validation_failed : errc::handler_failed;
    s.reason_ = std::move(reason);
    s.permanent_ = permanent;
    return s;
  }

  static status fail(errc code, std::string reason, bool permanent) {
    status s;
    s.code_ = code;
    s.reason_ = std::move(reason);
    s.permanent_ = permanent;
    return s;
  }

  bool is_ok() const noexcept { return code_ == errc::none; }
  bool permanent() const noexcept { return permanent_; }
  errc code() const noexcept { return code_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  errc code_ = errc::none;
  std::string reason_;
  bool permanent_ = false;
};

/// Throw from a handler to fail the message permanently (no retries).
class permanent_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throw from a handler when the actor instance cannot go on (its state can
/// no longer be trusted). The message counts as a failed attempt and goes
/// through the retry policy; an immediate retry is made by the restarted
/// instance (the copy goes back through the actor's queue). The instance then
/// ends abnormally: deliveries it had not settled go back to the broker, and
/// its supervisor restarts it as a new object, or gives up (see
/// `supervision` in config/README.md). Any other exception fails only the
/// message.
class actor_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Options for `context::publish`.
struct publish_options {
  /// Fail the message if no queue takes the publish. Default true.
  bool mandatory = true;
  /// Default true (delivery_mode 2).
  bool persistent = true;
  std::optional<uint8_t> priority;
  /// Per-message TTL in milliseconds; 0 means none.
  int64_t ttl_ms = 0;
  field_table headers;
  /// An id of your own instead of the one derived from the message being
  /// handled. It must be as stable (the same input gives the same id), or
  /// the inboxes downstream cannot drop copies: a window result's id is its
  /// key, bounds and revision. Default: derived.
  std::string message_id;
  /// A request: where the reply goes (a queue, e.g. the actor's own,
  /// `actor_init::queue`), and what it carries back to match it (stateful
  /// actors cannot `call`; their replies come back as messages).
  std::string reply_to;
  std::string correlation_id;
};

/// What a call continuation receives: the reply body, or an error
/// (`errc::timeout`, `errc::remote_error` with the service's message,
/// `errc::unroutable` when no such service exists).
using call_result = caf::expected<boost::json::value>;

class context;

/// Continuation of `context::call`.
using call_continuation = std::function<void(context&, call_result)>;

/// The per-message context handed to handlers. Everything sent through it
/// is published after the handler returns, with confirms, before the
/// delivery is acked.
class context {
 public:
  virtual ~context();

  /// The message being handled.
  virtual const envelope& message() const = 0;

  /// The name of the actor handling it.
  virtual const std::string& actor_name() const = 0;

  /// The actor's `options` from the node config.
  virtual const boost::json::object& options() const = 0;

  /// Replies to the sender (`reply_to`, with the request's correlation id).
  /// Without `reply_to` the reply is dropped with a warning.
  virtual void reply_json(boost::json::value body, std::string type = {}) = 0;

  /// Replies with an error the caller can act on, not a failure of this
  /// message (which is done): type `warren.error`, body `{"error": {"code",
  /// "message", ...details}}`, headers `x-warren-error` (the message) and
  /// `x-warren-error-code`. `warren call` and `context::call` report it as
  /// `errc::remote_error`.
  virtual void reply_error(const std::string& code, const std::string& message,
                           boost::json::object details = {}) = 0;

  /// Sends to an actor by name (through the `warren.actors` exchange).
  virtual void send_json(const std::string& actor, std::string type,
                         boost::json::value body) = 0;

  /// Publishes to an exchange.
  virtual void publish_json(const std::string& exchange,
                            const std::string& routing_key, std::string type,
                            boost::json::value body,
                            publish_options opts = {}) = 0;

  /// Sends `bodies` to an actor as ONE batched envelope (header
  /// `x-warren-batch`, warren/core/batch.hpp): one AMQP message whose
  /// entries the receiver handles, de-duplicates and settles one by one.
  /// Each entry gets a stable id of its own, as every message sent does.
  /// Keep a batch within the receiver's body limit (`max_body_bytes`).
  virtual void send_batch_json(const std::string& actor, std::string type,
                               std::vector<boost::json::value> bodies) = 0;

  /// Publishes `bodies` to an exchange as one batched envelope.
  virtual void publish_batch_json(const std::string& exchange,
                                  const std::string& routing_key,
                                  std::string type,
                                  std::vector<boost::json::value> bodies,
                                  publish_options opts = {}) = 0;

  /// Calls a service actor by name and runs `then` with its reply. A zero
  /// timeout means the node's default (`calls.timeout_ms`).
  virtual void call_json(const std::string& service, std::string type,
                         boost::json::value body, call_continuation then,
                         std::chrono::milliseconds timeout = {}) = 0;

  /// Marks the message failed even though the handler returns normally
  /// (e.g. from a call continuation).
  virtual void fail(status why) = 0;

  /// Ends this actor instance normally once the message is settled (OTP's
  /// `normal` exit): its supervisor restarts it if its child spec is
  /// `permanent`, not if `transient` or `temporary`.
  virtual void stop() = 0;

  /// Typed conveniences: `T` is converted with `boost::json::value_from`.
  template<class T>
  void reply(const T& body, std::string type = {}) {
    reply_json(boost::json::value_from(body), std::move(type));
  }

  template<class T>
  void send(const std::string& actor, std::string type, const T& body) {
    send_json(actor, std::move(type), boost::json::value_from(body));
  }

  template<class T>
  void publish(const std::string& exchange, const std::string& routing_key,
               std::string type, const T& body, publish_options opts = {}) {
    publish_json(exchange, routing_key, std::move(type),
                 boost::json::value_from(body), std::move(opts));
  }

  template<class T>
  void call(const std::string& service, std::string type, const T& body,
            call_continuation then, std::chrono::milliseconds timeout = {}) {
    call_json(service, std::move(type), boost::json::value_from(body),
              std::move(then), timeout);
  }
};

/// Handlers of one actor, by message type (see handler_table.hpp for how a
/// message finds its handler).
class handlers
  : public handler_table<
      handlers, std::function<status(context&, const boost::json::value&)>> {
 public:
  using json_handler = handler_type;

  /// Handles messages of `type` whose body converts to `T`. `fn` is called
  /// as `fn(context&, const T&)` and returns `void` or `status`. A body that
  /// does not convert fails the message permanently (`validation_failed`).
  template<class T, class F>
  handlers& message(std::string type, F fn) {
    return json(
      std::move(type),
      [fn = std::move(fn)](context& ctx, const boost::json::value& body) {
        std::string why;
        auto typed = json_to<T>(body, why);
        if (!typed)
          return status::fail(errc::validation_failed,
                              "body does not match the message type: " + why,
                              true);
        return invoke(fn, ctx, *typed);
      });
  }

 private:
  template<class F, class T>
  static status invoke(F& fn, context& ctx, const T& arg) {
    if constexpr (std::is_same_v<decltype(fn(ctx, arg)), void>) {
      fn(ctx, arg);
      return status::ok();
    } else {
      return fn(ctx, arg);
    }
  }
};

class registry;

/// What an actor instance is made from.
struct actor_init {
  /// The actor's name from the config.
  std::string name;
  std::string node_name;
  /// The actor's `options` object from the config.
  boost::json::object options;
  /// 0-based index among the actor's instances.
  uint32_t instance = 0;
  /// `actors[].handler` from the config (used by `service` and `subscriber`).
  std::string handler;
  /// The node's kinds, for actors that wrap another kind.
  const registry* kinds = nullptr;
  /// The node's metrics, for a kind's own (warren/metrics/registry.hpp);
  /// null when `metrics.listen` is not set. Alive as long as the node.
  metrics::registry* metrics = nullptr;
  /// The directory of the node's config file: a kind resolves the relative
  /// paths in its options against it, as the config does its own (empty:
  /// the working directory, e.g. for a config built in code).
  std::string config_dir;
  /// The queue the actor consumes (`actors[].queue`, by default its name):
  /// where replies to the requests it sends come back (`reply_to`).
  std::string queue;
  /// A sharded actor's (`actors[].shards`, README.md "Clustering") owner of
  /// shard `shard` of `shards`; `shards` is 0 for every other instance
  /// (unsharded actors, and the routers of a sharded one).
  uint32_t shard = 0;
  uint32_t shards = 0;

  /// The `actor` label of the instance's metrics: the actor's name, or
  /// "<name>.s<shard>" for a shard's owner (as its consumer's metrics), so
  /// the shards a node owns each report their own gauges.
  std::string metrics_name() const;
};

/// Base class of custom actors. One instance per configured instance; a
/// restarted actor is a new instance.
class actor {
 public:
  explicit actor(const actor_init& init) : init_(init) {}
  virtual ~actor();

  /// Registers the handlers. Called once, before the first message.
  virtual void setup(handlers& on) = 0;

  /// True for request-response services: a failed request also gets a
  /// structured error reply so the caller need not wait for a timeout.
  virtual bool replies_with_errors() const { return false; }

  const std::string& name() const noexcept { return init_.name; }
  const boost::json::object& options() const noexcept { return init_.options; }
  const actor_init& init() const noexcept { return init_; }

 private:
  actor_init init_;
};

} // namespace warren
