#include "stats.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/runtime/call.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/stateful.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"
#include "warren_common.hpp"
#include "warren_side.hpp"

#include <atomic>
#include <boost/describe.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>

// Request-response through warren: the raw client calling a warren service,
// calls from a handler, and calls from outside actors.

namespace warren::bench {

namespace {

// Calls from a handler (warren to warren): on "go" {"calls": n, "service":
// name}, the handler calls the service n times one after the other, each
// call made from the previous one's continuation, on the consumer's own
// connection; each round trip is timed from the call to its continuation.
struct call_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<double> us;
  std::string error;
  bool done = false;
  clock_type::time_point first;
  clock_type::time_point last;
};

call_log* current_calls = nullptr;

class caller : public warren::actor {
 public:
  using warren::actor::actor;
  void setup(handlers& on) override {
    on.json("go", [](context& ctx, const boost::json::value& body) {
      auto left = std::make_shared<int64_t>(body.at("calls").as_int64());
      auto service = std::string{body.at("service").as_string()};
      auto started = std::make_shared<clock_type::time_point>();
      auto next = std::make_shared<call_continuation>();
      auto call = [service, started, next](context& c) {
        *started = clock_type::now();
        c.call_json(service, "echo",
                    boost::json::object{{"op", "echo"},
                                        {"payload", "0123456789abcdef0123"}},
                    *next);
      };
      *next = [left, started, call, next](context& c, call_result reply) {
        auto& log = *current_calls;
        auto now = clock_type::now();
        std::unique_lock<std::mutex> guard{log.mtx};
        if (!reply) {
          log.error = describe(reply.error());
          log.done = true;
          log.cv.notify_all();
          *next = nullptr; // break the self-reference
          return;
        }
        if (log.us.empty())
          log.first = *started;
        log.us.push_back(
          std::chrono::duration<double, std::micro>(now - *started).count());
        log.last = now;
        if (--*left > 0) {
          guard.unlock();
          call(c);
          return;
        }
        log.done = true;
        log.cv.notify_all();
        *next = nullptr;
      };
      call(ctx);
      return status::ok();
    });
  }
};

} // namespace

namespace {

// Sends "go" to the caller actor and waits for its chain of calls.
latency_result handler_calls(runtime::node& node, const std::string& caller,
                             const std::string& service, std::size_t calls) {
  call_log log;
  current_calls = &log;
  // The first calls declare the reply queue and warm the path up; they are
  // made and left out.
  constexpr std::size_t warm_up = 20;
  outgoing_message go;
  go.exchange = bridges::actors_exchange;
  go.routing_key = caller;
  go.properties.type = "go";
  go.properties.message_id = make_message_id();
  go.body = boost::json::serialize(boost::json::object{
    {"calls", static_cast<int64_t>(calls + warm_up)}, {"service", service}});
  caf::scoped_actor self{node.publisher().home_system()};
  self
    ->request(node.publisher(), std::chrono::seconds{10},
              bridges::publish_atom::value, go)
    .receive([](caf::ok_atom) {},
             [](caf::error& err) {
               throw std::runtime_error("publishing go: " + describe(err));
             });
  std::unique_lock<std::mutex> guard{log.mtx};
  if (!log.cv.wait_for(guard, std::chrono::seconds{120},
                       [&] { return log.done; }))
    throw std::runtime_error("handler calls did not finish in 120 s");
  current_calls = nullptr;
  if (!log.error.empty())
    throw std::runtime_error("handler call failed: " + log.error);
  latency_result result{calls, 0, 0, 0, 0};
  std::vector<double> us(log.us.begin() + warm_up, log.us.end());
  result.seconds = std::accumulate(us.begin(), us.end(), 0.0) / 1e6;
  result.calls_per_sec = static_cast<double>(calls) / result.seconds;
  std::sort(us.begin(), us.end());
  result.p50_us = percentile_sorted(us, 50);
  result.p99_us = percentile_sorted(us, 99);
  return result;
}

// Calls from outside any actor, through the node's requester.
latency_result node_calls(caf::actor_system& sys, runtime::node& node,
                          const std::string& service, std::size_t calls) {
  latency_result result{calls, 0, 0, 0, 0};
  warren::outgoing_message prototype;
  prototype.exchange = bridges::actors_exchange;
  prototype.routing_key = service;
  prototype.mandatory = true;
  prototype.properties.delivery_mode = 1;
  prototype.body = R"({"op":"echo","payload":"0123456789abcdef0123456789ab"})";
  std::vector<double> latencies;
  latencies.reserve(calls);
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  for (std::size_t i = 0; i < calls; ++i) {
    auto t0 = clock_type::now();
    bool ok = false;
    std::string why;
    self
      ->request(node.requester(), caf::infinite, call_atom::value, prototype,
                int64_t{10000})
      .receive([&](boost::json::value&) { ok = true; },
               [&](caf::error& err) { why = describe(err); });
    if (!ok)
      throw std::runtime_error("warren call failed: " + why);
    latencies.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0)
        .count());
  }
  result.seconds =
    std::chrono::duration<double>(clock_type::now() - start).count();
  result.calls_per_sec = static_cast<double>(calls) / result.seconds;
  std::sort(latencies.begin(), latencies.end());
  result.p50_us = percentile_sorted(latencies, 50);
  result.p99_us = percentile_sorted(latencies, 99);
  return result;
}

} // namespace

warren_rpc_result warren_rpc(const std::string& uri, const std::string& service,
                             std::size_t calls) {
  auto cfg = make_config(uri);
  delete_queues(cfg, service);
  config::actor_spec spec;
  spec.name = service;
  spec.kind = "service";
  spec.handler = "echo";
  spec.queue = service;
  spec.prefetch = 100;
  cfg.actors.push_back(spec);
  config::actor_spec caller_spec;
  caller_spec.name = service + ".caller";
  caller_spec.kind = "bench.caller";
  caller_spec.queue = caller_spec.name;
  cfg.actors.push_back(caller_spec);
  delete_queues(cfg, caller_spec.queue);
  registry kinds;
  actors::register_builtin_kinds(kinds);
  kinds.add_kind<caller>("bench.caller");
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  warren_rpc_result both{
    {calls, 0, 0, 0, 0}, {calls, 0, 0, 0, 0}, {calls, 0, 0, 0, 0}};
  {
    runtime::node node{sys, cfg, kinds};
    if (auto err = node.start(std::chrono::seconds{30}))
      throw std::runtime_error("node start: " + describe(err));
    both.service =
      raw_rpc(parse_target(uri), service, calls, rpc_server::external);
    both.node_call = node_calls(sys, node, service, calls);
    both.call = handler_calls(node, caller_spec.name, service, calls);
    node.stop();
  }
  delete_queues(cfg, service);
  delete_queues(cfg, caller_spec.queue);
  return both;
}

} // namespace warren::bench
