// The rules of an event store's appends (pure): expected versions and
// idempotence on event ids.

#include "eventstore/append_rules.hpp"
#include "warren/actors/events.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren::actors;

namespace {

expected_version expect(const char* json) {
  std::string why;
  auto v = boost::json::parse(json);
  auto read = read_expected_version(&v, why);
  INFO(why);
  REQUIRE(read);
  return *read;
}

std::optional<recorded_at> at(std::string stream, int64_t version) {
  return recorded_at{std::move(stream), version, version * 10};
}

} // namespace

TEST_CASE("an expected version is any, no_stream, stream_exists or exact, "
          "and says which stream versions meet it",
          "[eventstore]") {
  for (int64_t current : {0, 1, 5}) {
    INFO(current);
    CHECK(satisfied(expect(R"("any")"), current));
    CHECK(satisfied(expect("null"), current));
    CHECK(satisfied(expect(R"("no_stream")"), current) == (current == 0));
    CHECK(satisfied(expect("0"), current) == (current == 0));
    CHECK(satisfied(expect(R"("stream_exists")"), current) == (current >= 1));
    CHECK(satisfied(expect("5"), current) == (current == 5));
    CHECK(satisfied(expect("1"), current) == (current == 1));
  }
  CHECK(satisfied(expected_version{}, 0));
  CHECK(to_string(expect("7")) == "7");
  CHECK(to_string(expect("0")) == "no_stream");
  for (const char* bad : {R"("latest")", "-1", "1.5", "true", "[]"}) {
    INFO(bad);
    std::string why;
    auto v = boost::json::parse(bad);
    CHECK_FALSE(read_expected_version(&v, why));
    CHECK_THAT(why, Catch::Contains("expected_version"));
  }
}

TEST_CASE("an append of new ids is written when the stream is where it was "
          "expected, and refused otherwise",
          "[eventstore]") {
  std::vector<std::optional<recorded_at>> none(2);
  CHECK(decide_append("s", expect("3"), 3, none) == append_decision::write);
  CHECK(decide_append("s", expect("3"), 4, none) ==
        append_decision::wrong_expected_version);
  CHECK(decide_append("s", expect(R"("no_stream")"), 1, none) ==
        append_decision::wrong_expected_version);
}

TEST_CASE("an append repeated with the same ids is already done, and ids "
          "used otherwise are a conflict, never a second event",
          "[eventstore]") {
  // The first append wrote versions 4 and 5 of stream s.
  std::vector<std::optional<recorded_at>> both{at("s", 4), at("s", 5)};
  CHECK(decide_append("s", expect("3"), 5, both) == append_decision::already);
  CHECK(decide_append("s", expect(R"("any")"), 9, both) ==
        append_decision::already);
  CHECK(decide_append("s", expect(R"("stream_exists")"), 5, both) ==
        append_decision::already);
  // The expected version the first append could not have met.
  CHECK(decide_append("s", expect("2"), 5, both) ==
        append_decision::idempotency_conflict);
  CHECK(decide_append("s", expect(R"("no_stream")"), 5, both) ==
        append_decision::idempotency_conflict);
  // Some of the ids, another stream, another order, a gap.
  CHECK(decide_append("s", expect("3"), 5, {at("s", 4), std::nullopt}) ==
        append_decision::idempotency_conflict);
  CHECK(decide_append("t", expect(R"("any")"), 0, both) ==
        append_decision::idempotency_conflict);
  CHECK(decide_append("s", expect(R"("any")"), 5, {at("s", 5), at("s", 4)}) ==
        append_decision::idempotency_conflict);
  CHECK(decide_append("s", expect(R"("any")"), 9, {at("s", 4), at("s", 6)}) ==
        append_decision::idempotency_conflict);
  // From the start of a stream.
  CHECK(decide_append("s", expect(R"("no_stream")"), 2,
                      {at("s", 1), at("s", 2)}) == append_decision::already);
}

TEST_CASE("upcasters chain an event's old shapes into today's, renaming on "
          "the way, and leave current events alone",
          "[eventstore]") {
  warren::upcasters up;
  up.add("credited", 1,
         [](std::string& type, boost::json::value& data) {
           type = "deposited";
           data = boost::json::object{{"cents", data.at("value")}};
         })
    .add("deposited", 2, [](std::string&, boost::json::value& data) {
      data = boost::json::object{{"amount", data.at("cents").as_int64() / 100}};
    });
  warren::recorded_event old;
  old.type = "credited";
  old.data = boost::json::object{{"value", 700}};
  up.apply(old);
  CHECK(old.type == "deposited");
  CHECK(old.data == boost::json::object{{"amount", 7}});
  CHECK(old.metadata.at("schema") == 3);
  warren::recorded_event mid;
  mid.type = "deposited";
  mid.data = boost::json::object{{"cents", 500}};
  mid.metadata["schema"] = 2;
  up.apply(mid);
  CHECK(mid.data == boost::json::object{{"amount", 5}});
  warren::recorded_event today;
  today.type = "deposited";
  today.data = boost::json::object{{"amount", 1}};
  today.metadata["schema"] = 3;
  up.apply(today);
  CHECK(today.data == boost::json::object{{"amount", 1}});
  CHECK(up.current("deposited") == 3);
  CHECK(up.current("withdrawn") == 1);
  CHECK(warren::upcasters{}.empty());
}
