// Batched envelopes: splitting a batch into entries and encoding one (pure).

#include "warren/core/batch.hpp"

#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace warren;

namespace {

envelope batch_of(std::string_view body, std::string id = "b-1") {
  envelope env;
  env.properties.message_id = std::move(id);
  env.properties.type = "reading";
  env.properties.headers.emplace_back(header::batch, int64_t{0});
  env.properties.headers.emplace_back("x-custom", std::string{"kept"});
  env.body = boost::json::parse(body);
  if (auto* entries = env.body.if_array())
    env.properties.headers.front().second =
      static_cast<int64_t>(entries->size());
  env.exchange = "sensors";
  env.routing_key = "in";
  env.redelivered = true;
  env.delivery_tag = 7;
  env.channel_generation = 2;
  return env;
}

std::string error_of(const envelope& env) {
  auto split = split_batch(env);
  REQUIRE_FALSE(split);
  return describe(split.error());
}

} // namespace

TEST_CASE("a batch splits into entries with their own ids, types and bodies, "
          "sharing the batch's route and headers",
          "[batch]") {
  auto env = batch_of(R"([{"id": "r-1", "type": "t", "body": {"v": 1}},
                          {"body": 2}, {"body": null}])");
  REQUIRE(is_batch(env.properties));
  auto split = split_batch(env);
  REQUIRE(split);
  REQUIRE(split->size() == 3);
  const auto& first = *(*split)[0];
  CHECK(first.properties.message_id == "r-1");
  CHECK(first.properties.type == "t");
  CHECK(first.body == boost::json::parse(R"({"v": 1})"));
  CHECK(first.raw_body == R"({"v":1})");
  CHECK(first.admitted);
  CHECK_FALSE(first.anonymous);
  CHECK(first.exchange == "sensors");
  CHECK(first.redelivered);
  CHECK(first.delivery_tag == 7);
  CHECK(first.channel_generation == 2);
  // An entry is a single message: a dead letter or retry copy of it must
  // not be read as a batch again; the batch's trace goes along.
  CHECK_FALSE(is_batch(first.properties));
  REQUIRE(find_field(first.properties.headers, "x-custom") != nullptr);
  CHECK(trace_of(first.properties) == "b-1");
  CHECK((*split)[1]->properties.message_id == "b-1#1");
  CHECK((*split)[1]->properties.type == "reading");
  CHECK((*split)[2]->body.is_null());
  CHECK((*split)[2]->properties.message_id == "b-1#2");
}

TEST_CASE("entries of an id-less batch without ids of their own stay "
          "anonymous, entries with ids do not",
          "[batch]") {
  auto env = batch_of(R"([{"body": 1}, {"id": "x", "body": 1}])", "anon-1");
  env.anonymous = true;
  auto split = split_batch(env);
  REQUIRE(split);
  CHECK((*split)[0]->anonymous);
  CHECK_FALSE((*split)[1]->anonymous);
}

TEST_CASE("a malformed batch is refused with the entry's JSON path",
          "[batch]") {
  CHECK_THAT(error_of(batch_of(R"({"body": 1})")),
             Catch::Contains("JSON array"));
  CHECK_THAT(error_of(batch_of(R"([{"body": 1}, 5])")),
             Catch::Contains("$[1]"));
  CHECK_THAT(error_of(batch_of(R"([{"id": "a"}])")),
             Catch::Contains("$[0].body: required key is missing"));
  CHECK_THAT(error_of(batch_of(R"([{"id": "", "body": 1}])")),
             Catch::Contains("$[0].id"));
  CHECK_THAT(error_of(batch_of(R"([{"id": 5, "body": 1}])")),
             Catch::Contains("$[0].id"));
  CHECK_THAT(error_of(batch_of(R"([{"type": 5, "body": 1}])")),
             Catch::Contains("$[0].type"));
  CHECK_THAT(error_of(batch_of(R"([{"body": 1, "extra": 2}])")),
             Catch::Contains("$[0].extra: unknown key"));
}

TEST_CASE("two entries of one batch with the same id are refused, never "
          "merged",
          "[batch]") {
  CHECK_THAT(error_of(batch_of(R"([{"id": "a", "body": 1},
                                   {"id": "a", "body": 2}])")),
             Catch::Contains("$[1].id: the id 'a' is used by an earlier"));
  // A given id that looks like a derived one collides too, and so does any
  // id in the batch's own namespace (derived ids, the batch's record).
  CHECK_THAT(error_of(batch_of(R"([{"body": 1}, {"id": "b-1#0", "body": 2}])")),
             Catch::Contains("$[1].id"));
  CHECK_THAT(error_of(batch_of(R"([{"id": "b-1#*", "body": 1}])")),
             Catch::Contains("$[0].id: the id 'b-1#*' is in the batch's own "
                             "namespace"));
  CHECK(split_batch(batch_of(R"([{"id": "b-10#0", "body": 1}])")));
}

TEST_CASE("a batch is read in place: entries point into its body", "[batch]") {
  auto env = batch_of(R"([{"id": "r-1", "type": "t", "body": {"v": 1}},
                          {"body": 2}])");
  auto read = read_batch(env);
  REQUIRE(read);
  REQUIRE(read->size() == 2);
  CHECK((*read)[0].id == "r-1");
  CHECK((*read)[0].type == "t");
  CHECK((*read)[0].body == &env.body.as_array()[0].as_object().at("body"));
  CHECK((*read)[1].id.empty());
  CHECK((*read)[1].type.empty());
  CHECK(*(*read)[1].body == boost::json::value(2));
}

TEST_CASE("the ids of entries without one share the batch's prefix unless "
          "the batch id is too long for them",
          "[batch]") {
  CHECK(entry_ids_share_prefix("b", 100000));
  CHECK(entry_ids_share_prefix(std::string(250, 'x'), 1000));
  CHECK_FALSE(entry_ids_share_prefix(std::string(250, 'x'), 100000));
  // It agrees with the ids themselves.
  auto id = std::string(250, 'x');
  CHECK(batch_entry_id(id, 999).rfind(id + "#", 0) == 0);
  CHECK(batch_entry_id(id, 99999).rfind(id + "#", 0) != 0);
}

TEST_CASE("the header's count must match the entries", "[batch]") {
  auto env = batch_of(R"([{"body": 1}, {"body": 2}])");
  env.properties.headers.front().second = int64_t{3};
  CHECK_THAT(error_of(env), Catch::Contains("says 3 entries"));
  // Any other header value only marks a batch.
  env.properties.headers.front().second = std::string{"yes"};
  CHECK(split_batch(env));
}

TEST_CASE("derived entry ids fit in AMQP's short string", "[batch]") {
  auto long_id = std::string(254, 'x');
  auto a = batch_entry_id(long_id, 12);
  CHECK(a.size() <= 255);
  CHECK(a == batch_entry_id(long_id, 12));
  CHECK(a != batch_entry_id(long_id, 13));
  CHECK(batch_entry_id("m", 0) == "m#0");
}

TEST_CASE("an encoded batch splits back into the same entries", "[batch]") {
  std::vector<batch_entry> entries{
    {"e-1", "reading", boost::json::value(1.5)},
    {"", "", boost::json::parse(R"({"a":[1]})")}};
  message_properties props;
  props.message_id = "m-9";
  auto body = encode_batch(entries, props);
  envelope env;
  env.properties = props;
  env.body = boost::json::parse(body);
  auto split = split_batch(env);
  REQUIRE(split);
  REQUIRE(split->size() == 2);
  CHECK((*split)[0]->properties.message_id == "e-1");
  CHECK((*split)[0]->body == boost::json::value(1.5));
  CHECK((*split)[1]->properties.message_id == "m-9#1");
  CHECK((*split)[1]->body == entries[1].body);
}
