#pragma once

/// Stateful actors: state that survives the death of the process, changed
/// effectively once per message.
///
/// A stateful actor keeps one `State` per key (an account per account id, a
/// counter per counter name); the key of a message comes from `key_of`
/// (default: the `x-warren-key` header, else the body field named by the
/// actor's option `key_field`, else "" for one state per actor; a message
/// whose key field is missing, empty or neither a string nor an integer
/// fails permanently as `validation_failed`). A handler
/// gets the key's state and changes it in place:
///
/// ~~~
/// struct account { int64_t balance = 0; };
/// BOOST_DESCRIBE_STRUCT(account, (), (balance))
/// struct deposit { std::string account; int64_t amount; };
/// BOOST_DESCRIBE_STRUCT(deposit, (), (account, amount))
///
/// class bank : public warren::stateful_actor<account> {
///  public:
///   using stateful_actor::stateful_actor;
///   void setup_state(warren::state_handlers<account>& on) override {
///     on.message<deposit>("deposit", [](warren::context& ctx, account& a,
///                                        const deposit& d) {
///       a.balance += d.amount;
///       ctx.send("ledger", "deposited", d);
///     });
///   }
/// };
/// ~~~
///
/// What the runtime guarantees: the state change, the id of the message (its
/// inbox record) and everything the handler sent (outbox rows) are written to
/// the node's SQLite database in one transaction, and the delivery is acked
/// only after that transaction commits. A redelivered message whose id is in
/// the inbox is acked without running the handler again. Messages sent by a
/// stateful actor carry stable ids (`<incoming id>/<actor>/<n>`), so the
/// inboxes downstream de-duplicate them too; they are published after the
/// commit, from the outbox, and leave it when the broker confirms them. A
/// failed handler changes nothing (it ran on a copy of the state). At start
/// and at every restart the state is read from the database as last
/// committed.
///
/// Limits of this version: a stateful actor runs as one instance per node
/// (its keys are not partitioned among instances), and its handlers cannot
/// `call` (send a request and handle the reply as a message instead).

#include "warren/core/json_convert.hpp"
#include "warren/runtime/actor.hpp"

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace warren {

/// Handlers of a stateful actor with the state as JSON (what the runtime
/// runs; `state_handlers<State>` registers typed handlers through it). A
/// message finds its handler as in every warren actor (handler_table.hpp).
class json_state_handlers
  : public handler_table<
      json_state_handlers,
      std::function<status(context&, boost::json::value& state,
                           const boost::json::value& body)>> {
 public:
  using json_handler = handler_type;
};

/// Typed handlers: `State` and the message types convert with Boost.JSON.
template<class State>
class state_handlers {
 public:
  explicit state_handlers(json_state_handlers& raw) : raw_(raw) {}

  /// Handles `type` with a body that converts to `T`:
  /// `fn(context&, State&, const T&)` returning `void` or `status`. The
  /// state is written back only when the handler succeeds.
  template<class T, class F>
  state_handlers& message(std::string type, F fn) {
    raw_.json(std::move(type),
              [fn = std::move(fn)](context& ctx, boost::json::value& state,
                                   const boost::json::value& body) -> status {
                std::string why;
                auto typed = json_to<T>(body, why);
                if (!typed)
                  return status::fail(
                    errc::validation_failed,
                    "body does not match the message type: " + why, true);
                return with_state(
                  state, [&](State& s) { return invoke(fn, ctx, s, *typed); });
              });
    return *this;
  }

  /// Handles `type` with the body as JSON: `fn(context&, State&, const
  /// boost::json::value&)`.
  template<class F>
  state_handlers& json(std::string type, F fn) {
    raw_.json(std::move(type),
              [fn = std::move(fn)](context& ctx, boost::json::value& state,
                                   const boost::json::value& body) -> status {
                return with_state(
                  state, [&](State& s) { return invoke(fn, ctx, s, body); });
              });
    return *this;
  }

 private:
  template<class G>
  static status with_state(boost::json::value& state, G&& run) {
    std::string why;
    auto typed = json_to<State>(state, why);
    if (!typed)
      return status::fail(errc::handler_failed,
                          "the stored state does not convert to the actor's "
                          "state type: " +
                            why,
                          false);
    auto result = run(*typed);
    if (result.is_ok())
      state = boost::json::value_from(*typed);
    return result;
  }

  template<class F, class S, class T>
  static status invoke(F& fn, context& ctx, S& s, const T& arg) {
    if constexpr (std::is_same_v<decltype(fn(ctx, s, arg)), void>) {
      fn(ctx, s, arg);
      return status::ok();
    } else {
      return fn(ctx, s, arg);
    }
  }

  json_state_handlers& raw_;
};

/// The part of a stateful actor the runtime uses.
class stateful_base : public actor {
 public:
  explicit stateful_base(const actor_init& init);

  /// Registers the handlers (called once, before the first message).
  virtual void setup_json_state(json_state_handlers& on) = 0;

  /// The state of a key that has none yet.
  virtual boost::json::value initial_state() const = 0;

  /// The key of a message's state (see above); an error
  /// (`errc::validation_failed`, say why) dead-letters the message without
  /// running a handler.
  virtual caf::expected<std::string> key_of(const envelope& msg) const;

  /// For a request about one shard of a sharded actor rather than about one
  /// key (an event store's `read_all` of one shard's events): that shard,
  /// where senders and routers send it instead of its key's (a number past
  /// the actor's shards is ignored). Like `key_of`, it must not change the
  /// instance. Default: none.
  virtual std::optional<uint32_t> shard_asked(const envelope& msg) const;

  /// Whether the state of `key` belongs to this instance: always, except
  /// for a sharded actor's owner of one shard, which owns the keys that
  /// hash to it (warren/core/shard.hpp). A kind that keeps its own tables
  /// restores and runs timers only for the keys it owns: the other shards'
  /// rows are in the same file (every node is a standby of every shard).
  bool owns_key(std::string_view key) const noexcept;

 private:
  // Stateful actors register state handlers instead.
  void setup(handlers&) final;

  std::string key_field_;
};

/// Base class of stateful actors with state type `State` (default
/// constructible, convertible with Boost.JSON).
template<class State>
class stateful_actor : public stateful_base {
 public:
  using stateful_base::stateful_base;

  /// Registers the handlers.
  virtual void setup_state(state_handlers<State>& on) = 0;

  boost::json::value initial_state() const override {
    return boost::json::value_from(State{});
  }

 private:
  void setup_json_state(json_state_handlers& on) final {
    state_handlers<State> typed{on};
    setup_state(typed);
  }
};

} // namespace warren
