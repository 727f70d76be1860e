// The stateful-actor API without a broker: typed state handlers, keys, and
// the node's check that a stateful kind runs in one instance.

#include "warren/runtime/stateful.hpp"

#include "cluster/shard_directory.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/shard.hpp"
#include "warren/runtime/node.hpp"

#include <boost/describe.hpp>
#include <catch2/catch.hpp>

using namespace warren;

namespace {

struct tally {
  int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(tally, (), (n))

struct add {
  int64_t by = 0;
};
BOOST_DESCRIBE_STRUCT(add, (), (by))

class adder : public stateful_actor<tally> {
 public:
  using stateful_actor::stateful_actor;
  void setup_state(state_handlers<tally>& on) override {
    on.message<add>("add", [](context&, tally& t, const add& a) -> status {
      t.n += a.by;
      if (a.by < 0)
        return status::fail("negative", true);
      return status::ok();
    });
  }
};

// Handlers under test here never use their context; this one has nothing.
class empty_context : public context {
 public:
  const envelope& message() const override { return message_; }
  const std::string& actor_name() const override { return name_; }
  const boost::json::object& options() const override { return options_; }
  void reply_json(boost::json::value, std::string) override {}
  void reply_error(const std::string&, const std::string&,
                   boost::json::object) override {}
  void send_json(const std::string&, std::string, boost::json::value) override {
  }
  void publish_json(const std::string&, const std::string&, std::string,
                    boost::json::value, publish_options) override {}
  void send_batch_json(const std::string&, std::string,
                       std::vector<boost::json::value>) override {}
  void publish_batch_json(const std::string&, const std::string&, std::string,
                          std::vector<boost::json::value>,
                          publish_options) override {}
  void call_json(const std::string&, std::string, boost::json::value,
                 call_continuation, std::chrono::milliseconds) override {}
  void fail(status) override {}
  void stop() override {}

 private:
  envelope message_;
  std::string name_;
  boost::json::object options_;
};

actor_init init_with(boost::json::object options) {
  actor_init init;
  init.name = "adder";
  init.options = std::move(options);
  return init;
}

} // namespace

TEST_CASE("typed state handlers write the state back only on success",
          "[stateful]") {
  adder a{init_with({})};
  json_state_handlers table;
  static_cast<stateful_base&>(a).setup_json_state(table);
  const auto* handler = table.find("add");
  REQUIRE(handler != nullptr);
  auto state = a.initial_state();
  CHECK(state == boost::json::value{{"n", 0}});
  empty_context ctx;
  CHECK((*handler)(ctx, state, boost::json::value{{"by", 5}}).is_ok());
  CHECK(state == boost::json::value{{"n", 5}});
  auto failed = (*handler)(ctx, state, boost::json::value{{"by", -1}});
  CHECK_FALSE(failed.is_ok());
  CHECK(state == boost::json::value{{"n", 5}});
  auto bad = (*handler)(ctx, state, boost::json::value{{"by", "x"}});
  CHECK(bad.code() == errc::validation_failed);
  CHECK(table.find("other") == nullptr);
}

TEST_CASE("a state stored before its type gained or lost a member, and a "
          "body with a field more or one less, convert (the missing ones "
          "take their defaults), and a wrong kind fails naming the field",
          "[stateful][convert]") {
  adder a{init_with({})};
  json_state_handlers table;
  static_cast<stateful_base&>(a).setup_json_state(table);
  const auto* handler = table.find("add");
  REQUIRE(handler != nullptr);
  empty_context ctx;
  // Stored by a version of `tally` that had a member more, since dropped.
  boost::json::value state{{"n", 2}, {"last_by", 9}};
  CHECK((*handler)(ctx, state, boost::json::value{{"by", 3}}).is_ok());
  CHECK(state == boost::json::value{{"n", 5}});
  // Stored before `n` existed: it starts from its default.
  boost::json::value older = boost::json::object{};
  CHECK((*handler)(ctx, older, boost::json::value{{"by", 4}}).is_ok());
  CHECK(older == boost::json::value{{"n", 4}});
  // A client a version ahead (a field more), and one that leaves `by` out.
  CHECK((*handler)(ctx, state, boost::json::value{{"by", 1}, {"note", "x"}})
          .is_ok());
  CHECK((*handler)(ctx, state, boost::json::object{}).is_ok());
  CHECK(state == boost::json::value{{"n", 6}});
  auto bad = (*handler)(ctx, state, boost::json::value{{"by", "x"}});
  CHECK(bad.code() == errc::validation_failed);
  CHECK_THAT(bad.reason(),
             Catch::Contains("at /by:") && Catch::Contains("(found a string)"));
  // A stored state of another shape altogether is an error, not a reset.
  boost::json::value wrong{{"n", "many"}};
  auto unreadable = (*handler)(ctx, wrong, boost::json::value{{"by", 1}});
  CHECK_FALSE(unreadable.is_ok());
  CHECK_THAT(unreadable.reason(), Catch::Contains("at /n:"));
  CHECK(wrong == boost::json::value{{"n", "many"}});
}

TEST_CASE("a message's key comes from x-warren-key, else the key_field",
          "[stateful]") {
  adder a{init_with({{"key_field", "account"}})};
  envelope msg;
  msg.body = boost::json::value{{"account", "alice"}};
  CHECK(*a.key_of(msg) == "alice");
  msg.body = boost::json::value{{"account", 42}};
  CHECK(*a.key_of(msg) == "42");
  warren::set_field(msg.properties.headers, "x-warren-key", std::string{"bob"});
  CHECK(*a.key_of(msg) == "bob");
  adder plain{init_with({})};
  envelope other;
  other.body = boost::json::value{{"account", "alice"}};
  CHECK(plain.key_of(other)->empty());
}

namespace {

// A kind whose messages of type "about_shard" ask for the shard in their
// body's "shard".
class shard_asker : public adder {
 public:
  using adder::adder;
  std::optional<uint32_t> shard_asked(const envelope& msg) const override {
    if (msg.properties.type != "about_shard")
      return std::nullopt;
    return static_cast<uint32_t>(msg.body.at("shard").as_int64());
  }
};

} // namespace

TEST_CASE("a message goes to the shard it asks for, else to its key's, and a "
          "key that cannot be read is the error",
          "[stateful][shard]") {
  shard_asker a{init_with({{"key_field", "account"}})};
  envelope keyed;
  keyed.body = boost::json::value{{"account", "acct-1"}};
  CHECK(*runtime::cluster::shard_of_message(a, keyed, 16) == 13);
  envelope asking;
  asking.properties.type = "about_shard";
  asking.body = boost::json::value{{"shard", 5}, {"account", "acct-1"}};
  CHECK(*runtime::cluster::shard_of_message(a, asking, 16) == 5);
  // A shard past the actor's count is ignored: the key decides.
  CHECK(*runtime::cluster::shard_of_message(a, asking, 4) ==
        shard_of("acct-1", 4));
  envelope keyless;
  keyless.body = boost::json::value{{"other", 1}};
  auto none = runtime::cluster::shard_of_message(a, keyless, 16);
  REQUIRE_FALSE(none);
  CHECK(code_of(none.error()) == errc::validation_failed);
}

TEST_CASE("a key field that is missing, empty, an object or a float is a "
          "validation failure that says why, never the empty key",
          "[stateful]") {
  adder a{init_with({{"key_field", "account"}})};
  envelope msg;
  auto reason_for = [&](boost::json::value body) {
    msg.body = std::move(body);
    auto key = a.key_of(msg);
    REQUIRE_FALSE(key);
    CHECK(code_of(key.error()) == errc::validation_failed);
    return describe(key.error());
  };
  CHECK_THAT(reason_for({{"amount", 1}}),
             Catch::Contains("'account' is missing"));
  CHECK_THAT(reason_for({{"account", ""}}), Catch::Contains("an empty string"));
  CHECK_THAT(reason_for({{"account", {{"id", 1}}}}),
             Catch::Contains("an object"));
  CHECK_THAT(reason_for({{"account", 1.5}}), Catch::Contains("fraction"));
  CHECK_THAT(reason_for(boost::json::value{"alice"}),
             Catch::Contains("missing"));
}

TEST_CASE("a stateful kind in more than one instance is refused with its "
          "JSON path",
          "[stateful]") {
  registry kinds;
  kinds.add_kind<adder>("test.adder");
  CHECK(kinds.is_stateful("test.adder"));
  config::node_config cfg;
  cfg.source_file = "node.json";
  config::actor_spec spec;
  spec.name = "adder";
  spec.kind = "test.adder";
  spec.instances = 2;
  cfg.actors.push_back(spec);
  auto err = runtime::check_kinds(cfg, kinds);
  REQUIRE(err);
  CHECK_THAT(describe(err),
             Catch::StartsWith("node.json: $.actors[0].instances: expected 1 "
                               "for the stateful kind 'test.adder'"));
  cfg.actors[0].instances = 1;
  CHECK_FALSE(runtime::check_kinds(cfg, kinds));
}
