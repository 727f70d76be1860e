// Actor kinds for the integration tests, loaded by `warren run` as a plugin
// (`plugins` in the node config). Each kind does one thing a test needs to
// provoke; none is meant as an example of a real actor.
//
//   test.faulty     type "boom" throws std::runtime_error; type "fail" returns
//                   status::fail; type "ok" records (options.path, optional)
//                   and replies {"ok": true, "body": <body>} to a request.
//   test.strict     typed handler for type "strict", body {"a": <int>}:
//                   records and replies {"doubled": 2a}. Any other body is
//                   validation_failed, any other type unknown_type.
//   test.forwarder  on any message: with options.send_to, ctx.send()s the
//                   message (type and body) to that actor; with
//                   options.call, ctx.call()s that service and replies with
//                   its answer (a failed call fails the message).
//   test.publisher  publishes each message (type and body) to the exchange
//                   and routing key its body names ("exchange", "key"),
//                   with ctx.publish.
//   test.crashy     a service with state in memory (a count) that can be told
//                   to end: "count" adds 1 and replies {"count", "incarnation"}
//                   (how many instances of this actor name the process has
//                   made); "crash" throws warren::actor_failure; "crash-once"
//                   throws it on attempt 1 and records {"attempt",
//                   "incarnation"} on later attempts; "stop" calls
//                   ctx.stop(); "note" records its body.
//   test.counter    a stateful actor with a count per key (option
//                   key_field: "counter"): "increment" {counter, by} adds
//                   `by` and, with options.downstream, sends "counted"
//                   {counter, count, cause} there; "counted" (what another
//                   counter sends) adds 1 the same way (both keep the
//                   message's id in the state); "get" replies {count};
//                   "crash" throws warren::actor_failure; "fail" fails the
//                   message (the state must stay as it was); "sequenced"
//                   {counter, seq} adds 1 and counts in `reordered` each
//                   seq not above the key's last one (kept in `seq`).
//   test.raw        a raw CAF kind: records each delivery; type "die" makes
//                   the actor quit (abnormally) unless the message is a
//                   redelivery; type "again" is always answered `retry`.
//   test.picky      echoes, and checks its options: `mode` is required and
//                   one of "a" and "b" (a plugin kind's options validator,
//                   run by `warren check`).
//   test.step       a saga participant (stateful: one state per saga key,
//                   header x-warren-saga-key, else the body's "key"):
//                   applies each key at most once and replies {"ok",
//                   "step": type, "key", "again"} (again: a later send of a
//                   key already applied, answered without applying). Per
//                   message type, by options: `refuse` [types] answers
//                   {"success": false, "error"} (the seed's refusal);
//                   `refuse_above` {"field", "limit"} answers warren.error
//                   code "refused" when the body's field is above it;
//                   `fail_times` {type: n} answers warren.error code
//                   "unavailable" to the first n sends of a key;
//                   `fail_while_file` {type: path} does so while the file
//                   exists; `silent` [types] applies and never answers;
//                   `delay_ms` {type: ms} sleeps before answering. Records
//                   each application (options.path). "step.get" {"key"}
//                   replies the key's state {"applied", "failures",
//                   "sends" (messages of the key it took), "type"}.
//   test.branching_saga  the saga kind with a C++ definition "express":
//                   create_order (actor saga-branch.orders) -> reserve
//                   (saga-branch.inventory) -> charge (saga-branch.payment),
//                   each with a compensation; after create, a saga whose
//                   data says {"express": true} goes straight to charge.
//   test.account    an event-sourced aggregate (warren/actors/aggregate.hpp),
//                   one account per key (option key_field: "account"):
//                   "deposit" {account, amount} appends deposited;
//                   "withdraw" {account, amount} appends withdrawn, or is
//                   rejected (insufficient_funds) beyond the balance;
//                   "fail" throws (nothing may be appended). The state
//                   {balance, deposits, withdrawals} counts what it saw.
//                   An old "credited" {value} event (schema 1) is read as
//                   "deposited" {amount} (an upcaster).
//   test.lookup     a lookup service for the enricher: a request {"key": k}
//                   is recorded (options.path) and answered with
//                   options.records[k], or null when there is none; the key
//                   "fail" fails the request (an error reply).

#include "warren/actors/aggregate.hpp"
#include "warren/actors/saga.hpp"
#include "warren/core/delivery.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/text.hpp"
#include "warren/runtime/actor.hpp"
#include "warren/runtime/registry.hpp"
#include "warren/runtime/stateful.hpp"
#include "warren/runtime/stream_operator.hpp"

#include <boost/describe.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using boost::json::value;
using warren::context;
using warren::status;

/// Appends one JSON line per message to `options.path`, like the built-in
/// `record` kind, so tests read both the same way. No path: records nothing.
class recorder {
 public:
  explicit recorder(const boost::json::object& options) {
    const auto* path = options.if_contains("path");
    if (path == nullptr)
      return;
    if (!path->is_string())
      throw std::invalid_argument("options.path must be a string");
    auto name = std::string{path->as_string()};
    file_.reset(std::fopen(name.c_str(), "a"));
    if (!file_)
      throw std::invalid_argument("cannot open " + name + ": " +
                                  std::strerror(errno));
  }

  status write(const context& ctx, const value& body) {
    return write(ctx.message(), body);
  }

  status write(const warren::envelope& msg, const value& body) {
    if (!file_)
      return status::ok();
    boost::json::object line;
    line["message_id"] = msg.properties.message_id;
    line["type"] = msg.properties.type;
    line["redelivered"] = msg.redelivered;
    line["body"] = body;
    auto text = boost::json::serialize(line) + "\n";
    if (std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size() ||
        std::fflush(file_.get()) != 0)
      return status::fail("test recorder: write failed");
    return status::ok();
  }

 private:
  struct closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, closer> file_;
};

bool is_request(const context& ctx) {
  return !ctx.message().properties.reply_to.empty();
}

class faulty : public warren::actor {
 public:
  explicit faulty(const warren::actor_init& init)
    : actor(init), recorder_(init.options) {
    // Nothing else to do.
  }

  void setup(warren::handlers& on) override {
    on.json("boom", [](context&, const value&) -> status {
      throw std::runtime_error("boom requested by the test");
    });
    // Records the attempt number it sees, then fails (a transient failure).
    on.json("always-fails", [this](context& ctx, const value&) -> status {
      boost::json::object seen;
      seen["attempt"] = warren::attempt_of(ctx.message().properties);
      recorder_.write(ctx, seen);
      throw std::runtime_error("always-fails, as the test asked");
    });
    on.json("fail", [](context&, const value&) {
      return status::fail("failure requested by the test");
    });
    on.json("ok", [this](context& ctx, const value& body) {
      if (is_request(ctx)) {
        boost::json::object answer;
        answer["ok"] = true;
        answer["body"] = body;
        ctx.reply_json(std::move(answer), "ok");
      }
      return recorder_.write(ctx, body);
    });
    // Long work for shutdown tests: creates the file `started` names, then
    // takes `ms` milliseconds, then records. It blocks its scheduler thread,
    // which real handlers must not do; here it stands for work in flight.
    on.json("slow", [this](context& ctx, const value& body) {
      const auto& obj = body.as_object();
      auto started = std::string{obj.at("started").as_string()};
      if (auto* f = std::fopen(started.c_str(), "w"))
        std::fclose(f);
      std::this_thread::sleep_for(
        std::chrono::milliseconds{obj.at("ms").to_number<int64_t>()});
      return recorder_.write(ctx, body);
    });
  }

 private:
  recorder recorder_;
};

struct strict_request {
  int a = 0;
};
BOOST_DESCRIBE_STRUCT(strict_request, (), (a))

struct strict_reply {
  int doubled = 0;
};
BOOST_DESCRIBE_STRUCT(strict_reply, (), (doubled))

class strict : public warren::actor {
 public:
  explicit strict(const warren::actor_init& init)
    : actor(init), recorder_(init.options) {
    // Nothing else to do.
  }

  void setup(warren::handlers& on) override {
    on.message<strict_request>(
      "strict", [this](context& ctx, const strict_request& r) {
        if (is_request(ctx))
          ctx.reply(strict_reply{2 * r.a});
        return recorder_.write(ctx, ctx.message().body);
      });
  }

 private:
  recorder recorder_;
};

std::string string_option(const boost::json::object& options, const char* key) {
  const auto* v = options.if_contains(key);
  if (v == nullptr)
    return {};
  if (!v->is_string())
    throw std::invalid_argument(std::string{"options."} + key +
                                " must be a string");
  return std::string{v->as_string()};
}

/// A failure must carry a code: `errc::none` would read as success.
warren::errc code_or_failed(const caf::error& err) {
  auto code = warren::code_of(err);
  return code == warren::errc::none ? warren::errc::handler_failed : code;
}

class forwarder : public warren::actor {
 public:
  explicit forwarder(const warren::actor_init& init)
    : actor(init), send_to_(string_option(init.options, "send_to")),
      call_(string_option(init.options, "call")) {
    if (send_to_.empty() == call_.empty())
      throw std::invalid_argument(
        "test.forwarder needs exactly one of options.send_to, options.call");
    if (const auto* t = init.options.if_contains("timeout_ms");
        t != nullptr && t->is_int64())
      timeout_ = std::chrono::milliseconds{t->as_int64()};
  }

  void setup(warren::handlers& on) override {
    on.otherwise([this](context& ctx, const value& body) {
      const auto& type = ctx.message().properties.type;
      if (!send_to_.empty()) {
        ctx.send_json(send_to_, type, body);
        return status::ok();
      }
      ctx.call_json(
        call_, type, body,
        [](context& c, warren::call_result result) {
          if (result)
            c.reply_json(std::move(*result), "forwarded");
          else
            c.fail(status::fail(code_or_failed(result.error()),
                                warren::describe(result.error()), false));
        },
        timeout_);
      return status::ok();
    });
  }

 private:
  std::string send_to_;
  std::string call_;
  std::chrono::milliseconds timeout_{0};
};

// Publishes each message to where its body says.
class publisher_kind : public warren::actor {
 public:
  using actor::actor;

  void setup(warren::handlers& on) override {
    on.otherwise([](context& ctx, const value& body) {
      auto field = [&](const char* name) {
        const auto* v =
          body.is_object() ? body.get_object().if_contains(name) : nullptr;
        return v != nullptr && v->is_string() ? std::string{v->get_string()}
                                              : std::string{};
      };
      ctx.publish_json(field("exchange"), field("key"),
                       ctx.message().properties.type, body);
      return status::ok();
    });
  }
};

// How many instances of each actor name this process has made.
int next_incarnation(const std::string& name) {
  static std::mutex mtx;
  static std::map<std::string, int> made;
  std::lock_guard<std::mutex> guard{mtx};
  return ++made[name];
}

class crashy : public warren::actor {
 public:
  explicit crashy(const warren::actor_init& init)
    : actor(init), recorder_(init.options),
      incarnation_(next_incarnation(init.name)) {
    // Nothing else to do.
  }

  bool replies_with_errors() const override { return true; }

  void setup(warren::handlers& on) override {
    on.json("count", [this](context& ctx, const value&) {
      boost::json::object answer;
      answer["count"] = ++count_;
      answer["incarnation"] = incarnation_;
      ctx.reply_json(std::move(answer), "count");
      return status::ok();
    });
    on.json("crash", [](context&, const value&) -> status {
      throw warren::actor_failure("crash requested by the test");
    });
    on.json("crash-once", [this](context& ctx, const value&) {
      auto attempt = warren::attempt_of(ctx.message().properties);
      if (attempt <= 1)
        throw warren::actor_failure("crash-once, first attempt");
      boost::json::object seen;
      seen["attempt"] = attempt;
      seen["incarnation"] = incarnation_;
      return recorder_.write(ctx, seen);
    });
    on.json("stop", [](context& ctx, const value&) {
      ctx.stop();
      if (is_request(ctx))
        ctx.reply_json(boost::json::object{{"stopping", true}}, "stop");
      return status::ok();
    });
    on.json("note", [this](context& ctx, const value& body) {
      return recorder_.write(ctx, body);
    });
  }

 private:
  recorder recorder_;
  int incarnation_ = 0;
  int64_t count_ = 0;
};

// A message's id as JSON can carry it (ids are bytes; JSON text is UTF-8).
std::string cause_of(const warren::envelope& msg) {
  const auto& id = msg.properties.message_id;
  return warren::is_utf8(id) ? id : "hex:" + warren::to_hex(id);
}

struct counter_state {
  int64_t count = 0;
  // The id of the last message counted, byte for byte (ids need not be
  // UTF-8): state the store must read back as it wrote it.
  std::string last_cause;
  // "sequenced": the key's last sequence number, and how many came after a
  // higher one (applied out of the order they were published in).
  int64_t seq = 0;
  int64_t reordered = 0;
};
BOOST_DESCRIBE_STRUCT(counter_state, (), (count, last_cause, seq, reordered))

struct increment {
  std::string counter;
  int64_t by = 1;
};
BOOST_DESCRIBE_STRUCT(increment, (), (counter, by))

class counter : public warren::stateful_actor<counter_state> {
 public:
  explicit counter(const warren::actor_init& init)
    : stateful_actor(init),
      downstream_(string_option(init.options, "downstream")) {
    // Nothing else to do.
  }

  void setup_state(warren::state_handlers<counter_state>& on) override {
    on.message<increment>("increment", [this](context& ctx, counter_state& s,
                                              const increment& i) {
      s.count += i.by;
      s.last_cause = ctx.message().properties.message_id;
      if (!downstream_.empty())
        ctx.send_json(downstream_, "counted",
                      boost::json::object{{"counter", i.counter},
                                          {"count", s.count},
                                          {"cause", cause_of(ctx.message())}});
    });
    on.json("counted", [this](context& ctx, counter_state& s, const value& v) {
      s.count += 1;
      s.last_cause = ctx.message().properties.message_id;
      if (!downstream_.empty())
        ctx.send_json(downstream_, "counted",
                      boost::json::object{{"counter", v.at("counter")},
                                          {"count", s.count},
                                          {"cause", cause_of(ctx.message())}});
    });
    on.json("sequenced", [](context& ctx, counter_state& s, const value& v) {
      auto seq = v.at("seq").to_number<int64_t>();
      if (seq <= s.seq)
        ++s.reordered;
      s.seq = seq;
      s.count += 1;
      s.last_cause = ctx.message().properties.message_id;
    });
    on.json("get", [](context& ctx, counter_state& s, const value&) {
      ctx.reply_json(boost::json::object{{"count", s.count}}, "count");
    });
    on.json("crash", [](context&, counter_state& s, const value&) {
      s.count += 1000; // Never committed: the instance dies.
      throw warren::actor_failure("crash requested by the test");
    });
    on.json("fail", [](context&, counter_state& s, const value&) {
      s.count += 1000; // Never committed: the message fails.
      return status::fail("failure requested by the test");
    });
  }

 private:
  std::string downstream_;
};

warren::delivery_actor::behavior_type
raw_kind(warren::delivery_actor::pointer self, const warren::actor_init& init) {
  auto rec = std::make_shared<recorder>(init.options);
  return {
    [self, rec](warren::deliver_atom,
                const warren::envelope& env) -> warren::outcome {
      using warren::outcome;
      if (env.properties.type == "die" && !env.redelivered) {
        self->quit(warren::make_error(warren::errc::actor_failed,
                                      "die requested by the test"));
        return outcome::retry(warren::errc::actor_failed, "dying");
      }
      if (!rec->write(env, env.body).is_ok())
        return outcome::retry(warren::errc::handler_failed, "record failed");
      if (env.properties.type == "again")
        return outcome::retry(warren::errc::handler_failed, "again, please");
      return outcome::done();
    },
  };
}

class picky : public warren::actor {
 public:
  using actor::actor;

  static void check_options(warren::config::object_reader& options) {
    options.allow({"mode"});
    if (options.require("mode"))
      options.choice("mode", {"a", "b"});
  }

  void setup(warren::handlers& on) override {
    on.otherwise([](context& ctx, const value& body) {
      ctx.reply_json(body);
      return status::ok();
    });
  }
};

// A stream operator: a sum per key in memory, one row per key written by
// `checkpoint` for the keys changed since the last commit. "add" {"key",
// "by"} adds (a negative `by` fails the message, leaving memory as it was);
// "get" {"key"} replies {"sum"}; with option `tick_ms` each tick publishes
// {"total"} to `tick_queue` with the id "total-<total>" when the total
// changed since the last tick. With option `sql`, each add is also a row
// of a table of its own (`<name>_adds`: the message id and the amount),
// inserted by a strict SQL group in the unit of work, and "get" also
// replies {"rows", "amount"} read from that table (what was committed) and
// {"commits"}, the commits it was told of.
class tally : public warren::stream_operator {
 public:
  explicit tally(const warren::actor_init& init)
    : stream_operator(init),
      tick_queue_(string_option(init.options, "tick_queue")),
      queue_(init.queue), table_(init.name + "_adds") {
    if (const auto* ms = init.options.if_contains("tick_ms"))
      tick_ms_ = std::chrono::milliseconds{ms->to_number<int64_t>()};
    if (const auto* sql = init.options.if_contains("sql"))
      sql_ = sql->as_bool();
    for (auto& c : table_)
      if (!std::isalnum(static_cast<unsigned char>(c)))
        c = '_';
  }

  caf::error open(warren::operator_store& store) override {
    store_ = &store;
    if (!sql_)
      return caf::none;
    return store.setup("CREATE TABLE IF NOT EXISTS " + table_ +
                       " (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)");
  }

  void committed(const std::vector<warren::skipped_group>&) override {
    ++commits_;
  }

  caf::error restore(warren::operator_row_set rows) override {
    for (auto& [name, data] : rows) {
      if (name == "total")
        total_ = std::stoll(data);
      else if (name == "ticked")
        ticked_ = std::stoll(data);
      else
        sums_[name.substr(2)] = std::stoll(data);
    }
    return caf::none;
  }

  status apply(context& ctx, const warren::envelope& msg) override {
    const auto& body = msg.body.as_object();
    auto key = std::string{body.at("key").as_string()};
    if (msg.properties.type == "get") {
      auto i = sums_.find(key);
      boost::json::object reply{
        {"sum", i == sums_.end() ? int64_t{0} : i->second},
        {"commits", commits_}};
      if (sql_ && !read_table(reply))
        return status::fail("reading " + table_, false);
      ctx.reply_json(std::move(reply), "sum");
      return status::ok();
    }
    if (msg.properties.type == "ask") {
      // A request of its own, whose reply would come back to its queue.
      warren::publish_options opts;
      opts.message_id = "q-" + msg.properties.message_id;
      opts.reply_to = queue_;
      opts.correlation_id = "c-" + msg.properties.message_id;
      ctx.publish_json("", tick_queue_, "question",
                       boost::json::object{{"key", key}}, std::move(opts));
      return status::ok();
    }
    auto by = body.at("by").to_number<int64_t>();
    if (by < 0)
      return status::fail("a negative amount, as the test asked", true);
    sums_[key] += by;
    total_ += by;
    dirty_.insert(key);
    if (sql_)
      adds_.statements.push_back(
        {"INSERT INTO " + table_ + " (id, amount) VALUES (?1, ?2)",
         {msg.properties.message_id, by}});
    return status::ok();
  }

  void checkpoint(warren::operator_rows& rows) override {
    for (const auto& key : dirty_)
      rows.put("k/" + key, std::to_string(sums_[key]));
    if (!dirty_.empty())
      rows.put("total", std::to_string(total_));
    if (tick_dirty_)
      rows.put("ticked", std::to_string(ticked_));
    if (!adds_.statements.empty())
      rows.execute(std::move(adds_));
    adds_ = {};
    dirty_.clear();
    tick_dirty_ = false;
  }

  std::chrono::milliseconds tick_interval() const override { return tick_ms_; }

  void tick(warren::operator_output& out, int64_t) override {
    if (total_ == ticked_ || tick_queue_.empty())
      return;
    warren::publish_options opts;
    opts.message_id = "total-" + std::to_string(total_);
    out.publish_json("", tick_queue_, "total",
                     boost::json::object{{"total", total_}}, opts);
    ticked_ = total_;
    tick_dirty_ = true;
  }

 private:
  std::string tick_queue_;
  std::chrono::milliseconds tick_ms_{0};
  std::map<std::string, int64_t> sums_;
  std::set<std::string> dirty_;
  int64_t total_ = 0;
  int64_t ticked_ = 0;
  bool tick_dirty_ = false;
  bool sql_ = false;
  std::string queue_;
  std::string table_;
  warren::operator_store* store_ = nullptr;
  warren::sql_group adds_;
  int64_t commits_ = 0;

  // {"rows", "amount"}: what the table holds as committed.
  bool read_table(boost::json::object& reply) {
    auto err =
      store_->query("SELECT count(*), coalesce(sum(amount), 0) FROM " + table_,
                    {}, [&](const warren::sql_row& row) {
                      reply["rows"] = row.integer(0);
                      reply["amount"] = row.integer(1);
                      return caf::error{};
                    });
    return !err;
  }
};

class lookup : public warren::actor {
 public:
  explicit lookup(const warren::actor_init& init)
    : actor(init), recorder_(init.options) {
    if (const auto* r = init.options.if_contains("records"))
      records_ = r->as_object();
  }

  bool replies_with_errors() const override { return true; }

  void setup(warren::handlers& on) override {
    on.otherwise([this](context& ctx, const value& body) {
      recorder_.write(ctx, body);
      const auto* key =
        body.is_object() ? body.get_object().if_contains("key") : nullptr;
      auto text = key != nullptr && key->is_string()
                    ? std::string{key->get_string()}
                    : (key != nullptr ? boost::json::serialize(*key) : "");
      if (text == "fail")
        return status::fail("lookup failure requested by the test", true);
      const auto* found = records_.if_contains(text);
      ctx.reply_json(found != nullptr ? *found : value{}, "record");
      return status::ok();
    });
  }

 private:
  recorder recorder_;
  boost::json::object records_;
};

struct account_state {
  int64_t balance = 0;
  int64_t deposits = 0;
  int64_t withdrawals = 0;
};
BOOST_DESCRIBE_STRUCT(account_state, (), (balance, deposits, withdrawals))

struct money {
  std::string account;
  int64_t amount = 0;
};
BOOST_DESCRIBE_STRUCT(money, (), (account, amount))

class account : public warren::aggregate<account_state> {
 public:
  using aggregate::aggregate;

  void setup(warren::aggregate_handlers<account_state>& on) override {
    on.command<money>("deposit", [](const account_state&, const money& m) {
      if (m.amount <= 0)
        return warren::decision::reject("invalid_amount", "deposit > 0");
      return warren::decision::accept(
        {{"deposited", boost::json::object{{"amount", m.amount}}}},
        boost::json::object{{"accepted", m.amount}});
    });
    on.command<money>("withdraw", [](const account_state& a, const money& m) {
      if (m.amount > a.balance)
        return warren::decision::reject(
          "insufficient_funds", "balance " + std::to_string(a.balance) +
                                  ", asked " + std::to_string(m.amount));
      return warren::decision::accept(
        {{"withdrawn", boost::json::object{{"amount", m.amount}}}});
    });
    on.command<money>(
      "fail", [](const account_state&, const money&) -> warren::decision {
        throw std::runtime_error("failure requested by the test");
      });
  }

  // Schema 1 called a deposit "credited" {"value"}.
  void setup_upcasters(warren::upcasters& up) override {
    up.add("credited", 1, [](std::string& type, boost::json::value& data) {
      type = "deposited";
      data = boost::json::object{{"amount", data.at("value")}};
    });
  }

  void evolve(account_state& a,
              const warren::recorded_event& e) const override {
    auto amount = e.data.at("amount").to_number<int64_t>();
    if (e.type == "deposited") {
      a.balance += amount;
      ++a.deposits;
    } else if (e.type == "withdrawn") {
      a.balance -= amount;
      ++a.withdrawals;
    }
  }
};

bool listed(const boost::json::object& options, const char* key,
            const std::string& type) {
  const auto* v = options.if_contains(key);
  if (v == nullptr || !v->is_array())
    return false;
  for (const auto& t : v->get_array())
    if (t.is_string() && t.get_string() == type)
      return true;
  return false;
}

const value* per_type(const boost::json::object& options, const char* key,
                      const std::string& type) {
  const auto* v = options.if_contains(key);
  const auto* o = v != nullptr ? v->if_object() : nullptr;
  return o != nullptr ? o->if_contains(type) : nullptr;
}

class step : public warren::stateful_base {
 public:
  explicit step(const warren::actor_init& init)
    : stateful_base(init), recorder_(init.options) {}

  boost::json::value initial_state() const override {
    return boost::json::object{
      {"applied", 0}, {"failures", 0}, {"sends", 0}, {"type", ""}};
  }

  caf::expected<std::string>
  key_of(const warren::envelope& msg) const override {
    const auto* key =
      warren::find_field(msg.properties.headers, "x-warren-saga-key");
    if (key != nullptr && std::holds_alternative<std::string>(*key))
      return std::get<std::string>(*key);
    const auto* body = msg.body.if_object();
    const auto* k = body != nullptr ? body->if_contains("key") : nullptr;
    if (k != nullptr && k->is_string())
      return std::string{k->get_string()};
    return warren::make_error(warren::errc::validation_failed,
                              "no x-warren-saga-key header and no key");
  }

  void setup_json_state(warren::json_state_handlers& on) override {
    on.json("step.get", [](context& ctx, value& state, const value&) {
      ctx.reply_json(state, "step.state");
      return status::ok();
    });
    on.otherwise([this](context& ctx, value& state, const value& body) {
      return run(ctx, state.as_object(), body);
    });
  }

 private:
  status run(context& ctx, boost::json::object& state, const value& body) {
    const auto& type = ctx.message().properties.type;
    auto key = key_of(ctx.message());
    const auto& options = this->options();
    // Every message of the key: copies of one send are one (the inbox).
    state["sends"] = state["sends"].to_number<int64_t>() + 1;
    if (state["applied"].to_number<int64_t>() > 0) {
      ctx.reply_json(
        boost::json::object{
          {"ok", true}, {"step", type}, {"key", *key}, {"again", true}},
        "step.done");
      return status::ok();
    }
    if (listed(options, "refuse", type)) {
      ctx.reply_json(boost::json::object{{"success", false},
                                         {"error", type + " refused by the "
                                                          "test"}},
                     "step.refused");
      return status::ok();
    }
    if (const auto* above = options.if_contains("refuse_above")) {
      const auto& rule = above->as_object();
      const auto* field =
        body.is_object()
          ? body.as_object().if_contains(rule.at("field").as_string())
          : nullptr;
      if (field != nullptr && field->is_number() &&
          field->to_number<double>() > rule.at("limit").to_number<double>()) {
        ctx.reply_error("refused", type + ": above the limit");
        return status::ok();
      }
    }
    auto failures = state["failures"].to_number<int64_t>();
    const auto* times = per_type(options, "fail_times", type);
    const auto* file = per_type(options, "fail_while_file", type);
    if ((times != nullptr && failures < times->to_number<int64_t>()) ||
        (file != nullptr &&
         std::ifstream{std::string{file->as_string()}}.good())) {
      state["failures"] = failures + 1;
      ctx.reply_error("unavailable", type + " failed on purpose (failure " +
                                       std::to_string(failures + 1) + ")");
      return status::ok();
    }
    state["applied"] = 1;
    state["type"] = type;
    if (auto st = recorder_.write(
          ctx,
          boost::json::object{{"key", *key}, {"type", type}, {"body", body}});
        !st.is_ok())
      return st;
    if (const auto* delay = per_type(options, "delay_ms", type))
      std::this_thread::sleep_for(
        std::chrono::milliseconds{delay->to_number<int64_t>()});
    if (!listed(options, "silent", type))
      ctx.reply_json(
        boost::json::object{
          {"ok", true}, {"step", type}, {"key", *key}, {"again", false}},
        "step.done");
    return status::ok();
  }

  recorder recorder_;
};

} // namespace

WARREN_PLUGIN(registry) {
  registry.add_kind<faulty>("test.faulty");
  registry.add_kind<strict>("test.strict");
  registry.add_kind<forwarder>("test.forwarder");
  registry.add_kind<crashy>("test.crashy");
  registry.add_kind<publisher_kind>("test.publisher");
  registry.add_raw_kind("test.raw", raw_kind);
  registry.add_kind<counter>("test.counter");
  registry.add_kind<picky>("test.picky");
  registry.add_kind<lookup>("test.lookup");
  registry.add_kind<tally>("test.tally");
  registry.add_kind<step>("test.step");
  registry.add_kind<account>("test.account");
  auto call = [](const char* actor, const char* type) {
    return warren::saga_command_spec{std::string{"saga-branch."} + actor, type,
                                     nullptr};
  };
  auto stage = [&](const char* id, const char* actor, const char* action,
                   const char* undo) {
    warren::saga_step_spec s;
    s.id = id;
    s.action = call(actor, action);
    s.compensation = call(actor, undo);
    s.timeout = std::chrono::milliseconds{5000};
    return s;
  };
  warren::saga_spec express{"express"};
  express.step(stage("create", "orders", "create_order", "cancel_order"))
    .step(
      stage("reserve", "inventory", "reserve_inventory", "release_inventory"))
    .step(stage("charge", "payment", "charge_payment", "refund_payment"))
    .branch_after("create", [](const warren::saga_view& saga) {
      const auto* data = saga.data().if_object();
      const auto* fast =
        data != nullptr ? data->if_contains("express") : nullptr;
      return fast != nullptr && fast->is_bool() && fast->get_bool()
               ? warren::saga_choice::go_to("charge")
               : warren::saga_choice::next();
    });
  warren::add_saga_kind(registry, "test.branching_saga", {express});
}
