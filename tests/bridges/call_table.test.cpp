// Calls waiting for replies (pure): each ends exactly once, by reply,
// deadline or failure; late and foreign replies are dropped.

#include "owner/call_table.hpp"

#include "warren/core/errc.hpp"

#include <catch2/catch.hpp>

using namespace warren;
using namespace std::chrono_literals;
using bridges::detail::call_table;
using bridges::detail::reply_body;

namespace {

struct recorder {
  int calls = 0;
  caf::expected<envelope> last = envelope{};

  call_table::reply_handler handler() {
    return [this](caf::expected<envelope> r) {
      ++calls;
      last = std::move(r);
    };
  }
};

envelope reply_to(const std::string& id, std::string body) {
  envelope env;
  env.properties.correlation_id = id;
  env.raw_body = std::move(body);
  return env;
}

} // namespace

TEST_CASE("a reply ends its call once, a late or foreign reply is dropped",
          "[call_table]") {
  call_table table;
  recorder r;
  auto now = call_table::clock_type::now();
  auto id = table.add(r.handler(), now + 5s);
  CHECK(table.on_reply(reply_to(id, R"({"ok":true})")));
  CHECK(r.calls == 1);
  REQUIRE(r.last);
  CHECK_FALSE(table.on_reply(reply_to(id, "{}")));
  CHECK_FALSE(table.on_reply(reply_to("someone-else", "{}")));
  CHECK(r.calls == 1);
  CHECK(table.empty());
}

TEST_CASE("a call ends with timeout at its deadline, and expire says how "
          "long until the next one",
          "[call_table]") {
  call_table table;
  recorder early, late;
  auto now = call_table::clock_type::now();
  table.add(early.handler(), now + 100ms);
  table.add(late.handler(), now + 300ms);
  CHECK(table.expire(now, 1000ms) <= 101ms);
  CHECK(table.expire(now + 150ms, 1000ms) <= 151ms);
  CHECK(early.calls == 1);
  REQUIRE_FALSE(early.last);
  CHECK(code_of(early.last.error()) == errc::timeout);
  CHECK(late.calls == 0);
  CHECK(table.expire(now + 150ms, 50ms) == 50ms); // Capped.
}

TEST_CASE("a lost connection fails the calls whose requests were sent, the "
          "others keep waiting",
          "[call_table]") {
  call_table table;
  recorder sent, unsent;
  auto deadline = call_table::clock_type::now() + 5s;
  auto id = table.add(sent.handler(), deadline);
  table.add(unsent.handler(), deadline);
  table.mark_sent(id);
  table.fail_sent(make_error(errc::connection_lost, "gone"));
  CHECK(sent.calls == 1);
  CHECK(code_of(sent.last.error()) == errc::connection_lost);
  CHECK(unsent.calls == 0);
  CHECK(table.size() == 1);
}

TEST_CASE("a caller's own correlation id is kept unless it is in use",
          "[call_table]") {
  call_table table;
  recorder a, b;
  auto deadline = call_table::clock_type::now() + 5s;
  CHECK(table.add(a.handler(), deadline, "corr-1") == "corr-1");
  CHECK(table.add(b.handler(), deadline, "corr-1") != "corr-1");
}

TEST_CASE("a reply's body is the call's result, an error reply is "
          "remote_error with the service's sentence, a body that is not "
          "JSON is malformed_body",
          "[call_table]") {
  auto ok = reply_body(reply_to("c", R"({"n":1})"));
  REQUIRE(ok);
  CHECK(ok->at("n") == 1);
  auto empty = reply_body(reply_to("c", ""));
  REQUIRE(empty);
  CHECK(empty->is_null());
  auto failed = reply_to("c", R"({"error":{}})");
  failed.properties.type = "warren.error";
  set_field(failed.properties.headers, header::error,
            std::string{"no such account"});
  auto err = reply_body(failed);
  REQUIRE_FALSE(err);
  CHECK(code_of(err.error()) == errc::remote_error);
  CHECK(describe(err.error()) == "no such account");
  auto bad = reply_body(reply_to("c", "not json"));
  REQUIRE_FALSE(bad);
  CHECK(code_of(bad.error()) == errc::malformed_body);
}
