#pragma once

/// Event-sourced aggregates in C++: a command handler decides events from
/// the current state, and `evolve(state, event)` is how an event changes
/// it, live and in replay alike.
///
/// ~~~
/// struct account { int64_t balance = 0; };
/// BOOST_DESCRIBE_STRUCT(account, (), (balance))
/// struct withdraw { std::string account; int64_t amount; };
/// BOOST_DESCRIBE_STRUCT(withdraw, (), (account, amount))
///
/// class accounts : public warren::aggregate<account> {
///  public:
///   using aggregate::aggregate;
///   void setup(warren::aggregate_handlers<account>& on) override {
///     on.command<withdraw>("withdraw", [](const account& a, const withdraw& w)
///     {
///       if (w.amount > a.balance)
///         return warren::decision::reject("insufficient_funds", "not enough");
///       return warren::decision::accept(
///         {{"withdrawn", boost::json::object{{"amount", w.amount}}}});
///     });
///   }
///   void evolve(account& a, const warren::recorded_event& e) const override {
///     if (e.type == "withdrawn")
///       a.balance -= e.data.at("amount").as_int64();
///   }
/// };
/// WARREN_PLUGIN(registry) { registry.add_kind<accounts>("bank.accounts"); }
/// ~~~
///
/// An aggregate kind is an `event_store` (README.md, "Event store": the same
/// table, requests, options and guarantees) whose streams are its
/// aggregates: a command of type T with key k (the `x-warren-key` header,
/// else the body's `key_field`, option) goes to stream `<stream_prefix>k`.
/// Its state is the last snapshot plus the events after it, kept in a
/// bounded cache (`max_cached`, 10,000 streams, least recently used
/// first out); the handler decides on it; accepted events are appended to
/// the stream at the version the state was built from, and they, the
/// inbox record of the command, a snapshot every `snapshot_every` (100)
/// events and the reply commit in one transaction: a command redelivered
/// after `kill -9` is applied once. A command may carry
/// `"expected_version"` (as an append's): when the stream is elsewhere the
/// reply is `wrong_expected_version` and nothing is appended. One instance
/// per node writes a store, so no other writer can race it; a writer
/// elsewhere appends through the store's requests with an expected version
/// and retries on `wrong_expected_version`.
///
/// Replies: accepted, `aggregate.accepted` {"stream", "version" (after),
/// "first_position", "last_position", "events": n, "reply": what the
/// handler gave}; rejected, a `warren.error` with the handler's code.
/// `aggregate.get` {"key"} answers {"stream", "version", "state"} (a
/// query: what is committed and staged, without a commit).

#include "warren/actors/events.hpp"
#include "warren/core/json_convert.hpp"
#include "warren/core/log.hpp"
#include "warren/runtime/handler_table.hpp"
#include "warren/runtime/stream_operator.hpp"

#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace warren {

namespace config {
class object_reader;
}

/// What a command handler decided.
class decision {
 public:
  /// Append `events` (none: nothing changes, the command is still
  /// answered) and answer with `reply`.
  static decision accept(std::vector<new_event> events,
                         boost::json::value reply = nullptr) {
    decision d;
    d.events_ = std::move(events);
    d.reply_ = std::move(reply);
    return d;
  }

  /// Answer with a `warren.error` of `code`; nothing is appended.
  static decision reject(std::string code, std::string message) {
    decision d;
    d.accepted_ = false;
    d.code_ = std::move(code);
    d.message_ = std::move(message);
    return d;
  }

  bool accepted() const noexcept { return accepted_; }
  std::vector<new_event>& events() noexcept { return events_; }
  const boost::json::value& reply() const noexcept { return reply_; }
  const std::string& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  bool accepted_ = true;
  std::vector<new_event> events_;
  boost::json::value reply_;
  std::string code_;
  std::string message_;
};

/// Thrown by a handler (and by typed handlers for a body that does not
/// convert): the command is malformed; it is dead-lettered as
/// `validation_failed` with `what()`, and its caller gets that as an error
/// reply. Nothing is appended.
class invalid_command : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One aggregate's state as the runtime holds it.
class aggregate_state {
 public:
  virtual ~aggregate_state();
  virtual void evolve(const recorded_event& e) = 0;
  virtual boost::json::value to_json() const = 0;
  virtual std::unique_ptr<aggregate_state> clone() const = 0;
};

/// Command handlers, by message type (handler_table.hpp's rule).
class aggregate_commands
  : public handler_table<aggregate_commands,
                         std::function<decision(const aggregate_state&,
                                                const envelope& command)>> {};

/// The kind's machinery, with the state type erased; derive from
/// `aggregate<State>`.
class aggregate_base : public stream_operator {
 public:
  explicit aggregate_base(const actor_init& init);
  ~aggregate_base() override;

  static void check_options(config::object_reader& options);

  bool replies_with_errors() const override { return true; }
  caf::error open(operator_store& store) override;
  caf::error restore(operator_row_set rows) override;
  status apply(context& ctx, const envelope& msg) override;
  void checkpoint(operator_rows& rows) override;
  void committed(const std::vector<skipped_group>& skipped) override;
  bool is_query(const envelope& msg) const override;
  /// A command's stream (`<stream_prefix><key>`), a store request's stream:
  /// sharded, a stream's commands and requests go to one shard.
  caf::expected<std::string> key_of(const envelope& msg) const override;
  std::optional<uint32_t> shard_asked(const envelope& msg) const override;

 protected:
  /// A state without events (`snapshot` null), or from a snapshot's data;
  /// null when the snapshot does not convert (the state type changed): the
  /// stream is then replayed from its start.
  virtual std::unique_ptr<aggregate_state>
  make_state(const boost::json::value* snapshot) const = 0;

  virtual void setup_commands(aggregate_commands& on) = 0;

  /// Old shapes of events made current on every read
  /// (warren/actors/events.hpp). Default: none.
  virtual void setup_upcasters(upcasters& up);

 private:
  // The key a command names (`aggregate.get` {"key"}, else as any stateful
  // actor's).
  caf::expected<std::string> command_key(const envelope& msg) const;

  struct impl;
  std::unique_ptr<impl> impl_;
};

template<class State>
class aggregate;

/// Typed command handlers: `fn(const State&, const Command&)` returns a
/// `decision`; a body that does not convert to `Command` fails the command
/// permanently (`validation_failed`).
template<class State>
class aggregate_handlers {
 public:
  explicit aggregate_handlers(aggregate_commands& raw) : raw_(raw) {}

  template<class Command, class F>
  aggregate_handlers& command(std::string type, F fn) {
    raw_.json(std::move(type), [fn = std::move(fn)](const aggregate_state& s,
                                                    const envelope& cmd) {
      // The expected version is the runtime's: a field the command type
      // does not describe, ignored like any other.
      std::string why;
      auto typed = json_to<Command>(cmd.body, why);
      if (!typed)
        throw invalid_command("the body does not match the command type: " +
                              why);
      return fn(state_of(s), *typed);
    });
    return *this;
  }

  /// `fn(const State&, const envelope&)`: the command as it came.
  template<class F>
  aggregate_handlers& raw(std::string type, F fn) {
    raw_.json(std::move(type), [fn = std::move(fn)](const aggregate_state& s,
                                                    const envelope& cmd) {
      return fn(state_of(s), cmd);
    });
    return *this;
  }

 private:
  static const State& state_of(const aggregate_state& s);
  aggregate_commands& raw_;
};

/// An event-sourced aggregate kind with state `State` (default
/// constructible, convertible with Boost.JSON for snapshots).
template<class State>
class aggregate : public aggregate_base {
 public:
  using aggregate_base::aggregate_base;

  /// Registers the command handlers.
  virtual void setup(aggregate_handlers<State>& on) = 0;

  /// How event `e` changes `state`: live and in replay alike, so it must
  /// depend on nothing but the two.
  virtual void evolve(State& state, const recorded_event& e) const = 0;

  /// The state held by the runtime.
  class holder : public aggregate_state {
   public:
    holder(const aggregate& kind, State state)
      : kind_(kind), state_(std::move(state)) {}
    void evolve(const recorded_event& e) override { kind_.evolve(state_, e); }
    boost::json::value to_json() const override {
      return boost::json::value_from(state_);
    }
    std::unique_ptr<aggregate_state> clone() const override {
      return std::make_unique<holder>(kind_, state_);
    }
    const State& state() const noexcept { return state_; }

   private:
    const aggregate& kind_;
    State state_;
  };

 private:
  std::unique_ptr<aggregate_state>
  make_state(const boost::json::value* snapshot) const final {
    if (snapshot == nullptr)
      return std::make_unique<holder>(*this, State{});
    std::string why;
    auto state = json_to<State>(*snapshot, why);
    if (!state) {
      log::warning("aggregate: a snapshot does not convert to the state "
                   "type ({}): replaying the stream from its first event",
                   why);
      return nullptr;
    }
    return std::make_unique<holder>(*this, std::move(*state));
  }

  void setup_commands(aggregate_commands& on) final {
    aggregate_handlers<State> typed{on};
    setup(typed);
  }
};

template<class State>
const State& aggregate_handlers<State>::state_of(const aggregate_state& s) {
  return static_cast<const typename aggregate<State>::holder&>(s).state();
}

} // namespace warren
