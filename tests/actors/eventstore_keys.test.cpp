// Where an event store's and an aggregate's messages go when sharded
// (pure): a request's key is its stream, a command's is its aggregate's
// stream, and a read_all asks for its shard.

#include "eventstore/event_store.hpp"
#include "warren/actors/aggregate.hpp"

#include <boost/describe.hpp>
#include <catch2/catch.hpp>

using namespace warren;
using warren::actors::event_store;

namespace {

envelope request(const std::string& type, boost::json::value body) {
  envelope msg;
  msg.properties.type = type;
  msg.body = std::move(body);
  return msg;
}

actor_init init_of(boost::json::object options) {
  actor_init init;
  init.name = "orders";
  init.options = std::move(options);
  return init;
}

struct tally {
  int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(tally, (), (n))

struct bump {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(bump, (), (id))

class counters : public aggregate<tally> {
 public:
  using aggregate::aggregate;
  void setup(aggregate_handlers<tally>& on) override {
    on.command<bump>("bump", [](const tally&, const bump&) {
      return decision::accept({{"bumped", boost::json::object{}}});
    });
  }
  void evolve(tally& t, const recorded_event&) const override { ++t.n; }
};

} // namespace

TEST_CASE("an event store request's key is its stream, and a read_all asks "
          "for the shard in its body",
          "[eventstore][shard]") {
  event_store store{init_of({})};
  CHECK(*store.key_of(request("event_store.append",
                              {{"stream", "order-1"}, {"events", {}}})) ==
        "order-1");
  CHECK(*store.key_of(request("event_store.read_stream",
                              {{"stream", "order-2"}})) == "order-2");
  CHECK(store.key_of(request("event_store.read_all", {{"shard", 2}}))->empty());
  CHECK(store.shard_asked(request("event_store.read_all", {{"shard", 2}})) ==
        2U);
  // Only a read_all asks for a shard, and only with a shard number.
  CHECK_FALSE(
    store.shard_asked(request("event_store.read_stream", {{"shard", 2}})));
  CHECK_FALSE(store.shard_asked(request("event_store.read_all", {})));
  CHECK_FALSE(
    store.shard_asked(request("event_store.read_all", {{"shard", -1}})));
  CHECK_FALSE(
    store.shard_asked(request("event_store.read_all", {{"shard", "2"}})));
}

TEST_CASE("aggregate keys: a command goes by its stream, the store requests on "
          "it by theirs, so one stream's messages share a shard",
          "[aggregate][shard]") {
  counters agg{init_of({{"key_field", "id"}, {"stream_prefix", "c-"}})};
  auto command = request("bump", {{"id", "7"}});
  CHECK(*agg.key_of(command) == "c-7");
  CHECK(*agg.key_of(request("aggregate.get", {{"key", "7"}})) == "c-7");
  CHECK(*agg.key_of(request("event_store.read_stream", {{"stream", "c-7"}})) ==
        "c-7");
  CHECK(agg.shard_asked(request("event_store.read_all", {{"shard", 1}})) == 1U);
  CHECK_FALSE(agg.key_of(request("bump", {{"other", 1}})));
}
