// The unit of work and the outbox relay, on a real SQLite file: state,
// inbox and outbox commit together, and an outbox row leaves the store only
// once the broker confirmed it (or its dead letter).

#include "outbox/relay.hpp"
#include "warren/core/dead_letter.hpp"
#include "warren/core/errc.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <sqlite3.h>

using namespace warren;
using namespace warren::runtime;

namespace {

std::unique_ptr<checkpoint_store> fresh_store(const std::string& name) {
  auto dir =
    std::filesystem::path{WARREN_BINARY_DIR} / "test-scratch" / "outbox" / name;
  std::filesystem::remove_all(dir);
  store_settings s;
  s.path = (dir / "warren.db").string();
  auto store = checkpoint_store::open(s);
  if (!store)
    FAIL(describe(store.error()));
  return std::move(*store);
}

outgoing_message message(const std::string& id, std::string exchange = "ex") {
  outgoing_message msg;
  msg.exchange = std::move(exchange);
  msg.routing_key = "key";
  msg.properties.message_id = id;
  msg.body = "{}";
  return msg;
}

// Stands in for the consumer's publish: keeps each publish and its confirm
// callback, to be answered by the test.
struct publishes {
  std::vector<outgoing_message> sent;
  std::vector<detail::outbox_relay::confirm_callback> answers;

  detail::outbox_relay::publisher publisher() {
    return [this](const outgoing_message& msg,
                  detail::outbox_relay::confirm_callback done) {
      sent.push_back(msg);
      answers.push_back(std::move(done));
    };
  }
};

} // namespace

TEST_CASE("a unit of work commits state, inbox and outbox together, and a "
          "copy of a message within one unit is applied once",
          "[outbox]") {
  auto store = fresh_store("unit");
  unit_of_work work{"bank"};
  CHECK(work.applied("m-1"));
  CHECK_FALSE(work.applied("m-1"));
  CHECK(work.contains("m-1"));
  work.put_state({"acct", 1, R"({"balance":10})"});
  work.send(message("m-1/bank/0"));
  REQUIRE_FALSE(store->commit(work));
  auto rows = work.take_outbox();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id > 0);
  CHECK(*store->seen("bank", "m-1"));
  CHECK((*store->load("bank", "acct"))->state == R"({"balance":10})");
  CHECK(*store->outbox_size("bank") == 1);
  CHECK(*store->inbox_size("bank") == 1);
}

TEST_CASE("the relay publishes committed rows in commit order, and only the "
          "confirmed ones are deleted with the next unit of work",
          "[outbox]") {
  auto store = fresh_store("relay");
  unit_of_work work{"bank"};
  work.applied("m-1");
  for (int i = 0; i < 3; ++i)
    work.send(message("m-1/bank/" + std::to_string(i)));
  REQUIRE_FALSE(store->commit(work));
  detail::outbox_relay relay{"bank", "n1", "bank"};
  relay.committed(work.take_outbox());
  publishes p;
  relay.relay(p.publisher());
  REQUIRE(p.sent.size() == 3);
  CHECK(p.sent[0].properties.message_id == "m-1/bank/0");
  CHECK(p.sent[2].properties.message_id == "m-1/bank/2");
  p.answers[0](caf::none);
  p.answers[2](caf::none);
  unit_of_work next{"bank"};
  next.relayed(relay.take_confirmed());
  REQUIRE_FALSE(store->commit(next));
  auto pending = store->pending_outbox("bank");
  REQUIRE(pending);
  REQUIRE(pending->size() == 1);
  CHECK(pending->front().message.properties.message_id == "m-1/bank/1");
  CHECK(relay.unconfirmed() == 1);
}

TEST_CASE("a row the broker refuses goes to the actor's dead-letter queue "
          "with the reason, and leaves the outbox once that copy is "
          "confirmed",
          "[outbox]") {
  detail::outbox_relay relay{"bank", "n1", "bank"};
  relay.committed(
    {outbox_row{7, "bank", message("m-1/bank/0", "no-such"), {}}});
  publishes p;
  relay.relay(p.publisher());
  p.answers[0](make_error(errc::not_found, "no exchange 'no-such'"));
  CHECK_FALSE(relay.has_confirmed());
  CHECK(relay.dead_lettered() == 1);
  relay.relay(p.publisher());
  REQUIRE(p.sent.size() == 2);
  const auto& letter = p.sent[1];
  CHECK(letter.exchange.empty());
  CHECK(letter.routing_key == "bank.dlq");
  CHECK(letter.properties.message_id == "m-1/bank/0");
  const auto* code = find_field(letter.properties.headers, header::error_code);
  REQUIRE(code != nullptr);
  CHECK(std::get<std::string>(*code) == "not_found");
  p.answers[1](caf::none);
  CHECK(relay.take_confirmed() == std::vector<int64_t>{7});
}

TEST_CASE("a row whose publish was lost with the connection goes out again "
          "at the next relay, and the bound holds new batches back",
          "[outbox]") {
  detail::outbox_relay relay{"bank", "n1", "bank", 2};
  relay.committed({outbox_row{1, "bank", message("a"), {}},
                   outbox_row{2, "bank", message("b"), {}}});
  CHECK(relay.full());
  publishes p;
  relay.relay(p.publisher());
  p.answers[0](make_error(errc::connection_lost, "gone"));
  p.answers[1](caf::none);
  CHECK_FALSE(relay.full());
  relay.relay(p.publisher());
  REQUIRE(p.sent.size() == 3);
  CHECK(p.sent[2].properties.message_id == "a");
}

TEST_CASE("rows an earlier instance left are restored from the store and go "
          "out first",
          "[outbox]") {
  auto store = fresh_store("restore");
  unit_of_work work{"bank"};
  work.send(message("old"));
  REQUIRE_FALSE(store->commit(work));
  detail::outbox_relay relay{"bank", "n1", "bank"};
  relay.restore(*store->pending_outbox("bank"));
  relay.committed({outbox_row{99, "bank", message("new"), {}}});
  publishes p;
  relay.relay(p.publisher());
  REQUIRE(p.sent.size() == 2);
  CHECK(p.sent[0].properties.message_id == "old");
  CHECK(p.sent[1].properties.message_id == "new");
}

TEST_CASE("a row that cannot be decoded never stops the actor from starting: "
          "its text is dead-lettered with the reason and the row leaves the "
          "outbox once that copy is confirmed",
          "[outbox]") {
  auto store = fresh_store("damaged");
  auto path = store->path();
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "INSERT INTO outbox (actor, message) VALUES "
                         "('bank', '{not json')",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto rows = store->pending_outbox("bank");
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  CHECK_FALSE(rows->front().damaged.empty());
  detail::outbox_relay relay{"bank", "n1", "bank"};
  relay.restore(std::move(*rows));
  publishes p;
  relay.relay(p.publisher());
  REQUIRE(p.sent.size() == 1);
  CHECK(p.sent[0].routing_key == "bank.dlq");
  CHECK(p.sent[0].body == "{not json");
  const auto* code =
    find_field(p.sent[0].properties.headers, header::error_code);
  REQUIRE(code != nullptr);
  CHECK(std::get<std::string>(*code) == "store_failed");
  CHECK(relay.dead_lettered() == 1);
  p.answers[0](caf::none);
  unit_of_work cleanup{"bank"};
  cleanup.relayed(relay.take_confirmed());
  REQUIRE_FALSE(store->commit(cleanup));
  CHECK(store->pending_outbox("bank")->empty());
}
