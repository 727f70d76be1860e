// Event-sourced aggregates end to end (warren/actors/aggregate.hpp), with
// the test plugin's `test.account` (deposits and withdrawals per account):
// decisions on the state, rejections, expected versions, replay from
// snapshots equal to the live state, and commands applied once across
// kill -9; against the private broker and a real SQLite file.

#include "support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <sqlite3.h>
#include <string>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using reply = test::call_reply;

reply call(const std::string& actor, const std::string& type,
           const json::value& body) {
  return test::call_actor(actor, type, body);
}

json::object accounts(const std::string& name, int64_t snapshot_every) {
  return {{"name", name},
          {"kind", "test.account"},
          {"options",
           {{"key_field", "account"},
            {"stream_prefix", "account-"},
            {"snapshot_every", snapshot_every}}}};
}

json::object state_of(const std::string& actor, const std::string& account) {
  auto r = call(actor, "aggregate.get", json::object{{"key", account}});
  INFO(r.err << json::serialize(r.body));
  REQUIRE(r.exit_code == 0);
  return r.body.as_object();
}

outgoing_message command(const std::string& queue, const std::string& id,
                         const char* type, const std::string& account,
                         int64_t amount) {
  outgoing_message msg;
  msg.routing_key = queue;
  msg.properties.type = type;
  msg.properties.message_id = id;
  msg.properties.delivery_mode = 2;
  msg.body =
    json::serialize(json::object{{"account", account}, {"amount", amount}});
  return msg;
}

// The balance, deposits and withdrawals of every event of `stream`, read
// from the store and folded here: a full replay the kind had no part in.
json::object replayed(const std::string& actor, const std::string& stream) {
  auto r = call(actor, "event_store.read_stream",
                json::object{{"stream", stream}, {"count", 10000}});
  REQUIRE(r.exit_code == 0);
  int64_t balance = 0, deposits = 0, withdrawals = 0;
  for (const auto& e : r.body.at("events").as_array()) {
    auto amount = e.at("data").at("amount").as_int64();
    if (e.at("type") == "deposited") {
      balance += amount;
      ++deposits;
    } else {
      balance -= amount;
      ++withdrawals;
    }
  }
  return {
    {"balance", balance}, {"deposits", deposits}, {"withdrawals", withdrawals}};
}

} // namespace

TEST_CASE("an aggregate decides on its state: it appends what it accepts, "
          "rejects what the state forbids, reports a stale expected version, "
          "and a failing handler appends nothing",
          "[broker][aggregate]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("accounts");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{accounts(name, 100)};
  test::node_process node{dir, cfg};
  auto r =
    call(name, "deposit", json::object{{"account", "a"}, {"amount", 50}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.body.at("stream") == "account-a");
  CHECK(r.body.at("version") == 1);
  CHECK(r.body.at("reply").at("accepted") == 50);
  r = call(name, "withdraw", json::object{{"account", "a"}, {"amount", 80}});
  CHECK(r.exit_code == 6);
  CHECK(r.body.at("error").at("code") == "insufficient_funds");
  r = call(
    name, "withdraw",
    json::object{{"account", "a"}, {"amount", 20}, {"expected_version", 0}});
  CHECK(r.exit_code == 6);
  CHECK(r.body.at("error").at("code") == "wrong_expected_version");
  CHECK(r.body.at("error").at("actual") == 1);
  r = call(
    name, "withdraw",
    json::object{{"account", "a"}, {"amount", 20}, {"expected_version", 1}});
  INFO(json::serialize(r.body));
  REQUIRE(r.exit_code == 0);
  CHECK(r.body.at("version") == 2);
  r = call(name, "fail", json::object{{"account", "a"}, {"amount", 1}});
  CHECK(r.exit_code == 6); // the failure, as an error reply
  auto state = state_of(name, "a");
  CHECK(state.at("version") == 2);
  CHECK(state.at("state").at("balance") == 30);
  // The store's own requests work on the aggregate's streams.
  auto events = call(name, "event_store.read_stream",
                     json::object{{"stream", "account-a"}});
  REQUIRE(events.exit_code == 0);
  CHECK(events.body.at("events").as_array().size() == 2);
  // An append through the store is seen by the next command.
  auto appended =
    call(name, "event_store.append",
         json::object{{"stream", "account-a"},
                      {"expected_version", 2},
                      {"events", json::array{{{"type", "deposited"},
                                              {"data", {{"amount", 100}}}}}}});
  REQUIRE(appended.exit_code == 0);
  r = call(name, "withdraw", json::object{{"account", "a"}, {"amount", 120}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(state_of(name, "a").at("state").at("balance") == 10);
  r = call(name, "deposit", json::object{{"amount", 1}});
  CHECK(r.exit_code == 6);
  CHECK_THAT(json::serialize(r.body), Catch::Contains("account"));
  // An event of an old shape (schema 1 "credited") is read in today's.
  auto old = call(name, "event_store.append", json::parse(R"json(
    {"stream": "account-b", "events": [{"type": "credited",
      "data": {"value": 7}, "metadata": {"schema": 1}}]})json"));
  REQUIRE(old.exit_code == 0);
  CHECK(state_of(name, "b").at("state").at("balance") == 7);
  auto read = call(name, "event_store.read_stream",
                   json::object{{"stream", "account-b"}});
  REQUIRE(read.exit_code == 0);
  const auto& upcast = read.body.at("events").at(0);
  CHECK(upcast.at("type") == "deposited");
  CHECK(upcast.at("data").at("amount") == 7);
  CHECK(upcast.at("metadata").at("schema") == 2);
  // A body that is not the command's type is dead-lettered, saying so.
  r = call(name, "deposit", json::object{{"account", "a"}, {"amount", "x"}});
  CHECK(r.exit_code == 6);
  CHECK(r.body.at("error").at("code") == "validation_failed");
  CHECK(test::eventually(
    [&] {
      for (const auto& letter :
           broker.receive(dead_letter_queue_name(name), 10, 200ms))
        if (test::header_string(letter, header::error)
              .find("does not match the command type") != std::string::npos)
          return true;
      return false;
    },
    10s));
  CHECK(state_of(name, "a").at("version") == 4);
}

TEST_CASE("an aggregate's state replayed after a restart, from its snapshot "
          "and the events after it, equals its live state and a full replay",
          "[broker][aggregate]") {
  for (int64_t every : {1, 7, 0}) {
    DYNAMIC_SECTION("snapshot every " << every << " events") {
      test::temp_dir dir;
      test::broker_scratch broker;
      auto name = broker.queue("accounts");
      auto cfg = test::node_config(dir);
      cfg["actors"] = json::array{accounts(name, every)};
      // 300 random commands over 4 accounts, and what they must give.
      std::mt19937 rng{static_cast<unsigned>(every) + 42};
      std::map<std::string, int64_t> expected;
      std::map<std::string, int64_t> count;
      std::vector<outgoing_message> commands;
      for (int i = 0; i < 300; ++i) {
        auto acct = "acc" + std::to_string(rng() % 4);
        auto amount = static_cast<int64_t>(rng() % 100) + 1;
        bool deposit = rng() % 3 != 0;
        auto& balance = expected[acct];
        if (deposit || amount <= balance) {
          balance += deposit ? amount : -amount;
          ++count[acct];
        }
        commands.push_back(command(name, "c-" + std::to_string(i),
                                   deposit ? "deposit" : "withdraw", acct,
                                   amount));
      }
      std::map<std::string, json::object> live;
      {
        test::node_process node{dir, cfg};
        for (const auto& msg : commands)
          broker.publish(msg);
        // Commands are taken in order; the reads come after them.
        for (const auto& [acct, balance] : expected) {
          live[acct] = state_of(name, acct);
          CHECK(live[acct].at("state").at("balance") == balance);
          CHECK(live[acct].at("version") == count[acct]);
        }
      }
      test::node_process node{dir, cfg};
      for (const auto& [acct, balance] : expected) {
        INFO(acct);
        auto again = state_of(name, acct);
        CHECK(again == live[acct]);
        CHECK(again.at("state") == replayed(name, "account-" + acct));
        auto snap = call(name, "event_store.load_snapshot",
                         json::object{{"stream", "account-" + acct}});
        REQUIRE(snap.exit_code == 0);
        auto version = snap.body.at("version").as_int64();
        if (every == 0) {
          CHECK(version == 0);
        } else {
          CHECK(version > 0);
          CHECK(version % every == 0);
          CHECK(version > count[acct] - every);
        }
      }
    }
  }
}

TEST_CASE("an old snapshot is passed over: one that no longer converts to "
          "the state type (the type changed) leaves the stream replayed from "
          "its first event",
          "[broker][aggregate]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("accounts");
  auto cfg = test::node_config(dir);
  cfg["actors"] = json::array{accounts(name, 3)};
  {
    test::node_process node{dir, cfg};
    for (int i = 1; i <= 10; ++i)
      broker.publish(
        command(name, "s-" + std::to_string(i), "deposit", "s", i));
    CHECK(state_of(name, "s").at("version") == 10);
  }
  // What an older build of the kind stored: `balance` of another kind.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((dir.file("state") + "/warren.db").c_str(), &db) ==
          SQLITE_OK);
  CHECK(sqlite3_exec(db,
                     "UPDATE warren_event_snapshots SET data = "
                     "'{\"balance\": \"55 EUR\"}' WHERE stream = 'account-s'",
                     nullptr, nullptr, nullptr) == SQLITE_OK);
  CHECK(sqlite3_changes(db) == 1);
  sqlite3_close(db);
  test::node_process node{dir, cfg};
  broker.publish(command(name, "s-11", "deposit", "s", 11));
  auto state = state_of(name, "s");
  CHECK(state.at("version") == 11);
  CHECK(state.at("state").at("balance") == 66);
  CHECK(state.at("state").at("deposits") == 11);
  CHECK(state.at("state") == replayed(name, "account-s"));
  CHECK(node.err().find("replaying the stream from its first event") !=
        std::string::npos);
}

TEST_CASE("kill -9 at every commit point: each command is applied once",
          "[broker][aggregate][kill]") {
  for (const auto* point : test::commit_kill_points) {
    DYNAMIC_SECTION("kill point " << point) {
      test::temp_dir dir;
      test::broker_scratch broker;
      auto name = broker.queue("accounts");
      auto cfg = test::node_config(dir);
      cfg["actors"] = json::array{accounts(name, 5)};
      constexpr int n = 40;
      auto clean =
        test::killed_then_restarted(dir, cfg, broker, name, point, [&] {
          for (int i = 0; i < n; ++i)
            broker.publish(
              command(name, "k-" + std::to_string(i), "deposit", "k", i + 1));
        });
      auto state = state_of(name, "k");
      CHECK(state.at("version") == n);
      CHECK(state.at("state").at("deposits") == n);
      CHECK(state.at("state").at("balance") == n * (n + 1) / 2);
      CHECK(state.at("state") == replayed(name, "account-k"));
    }
  }
}
